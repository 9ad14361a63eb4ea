//! One mTLS connection: the handshake under its own slot and deadline, the
//! verified identity, and the checks every request on it passes before the
//! proxy sees it — the certificate is still valid and not revoked, and the
//! caller is under its in-flight cap.
//!
//! Identity lives as long as its proof: a certificate verified at the
//! handshake is only evidence until its `notAfter`, and only while the
//! current trust material (bundles, CRLs) still accepts it. A connection
//! outliving either is refused at its next request and closed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use bytes::Bytes;
use futures_util::future::{Either, OptionFuture};
use futures_util::FutureExt;
use http::header::{HeaderValue, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use rustls::server::danger::ClientCertVerifier;
use rustls::CertificateError;
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::accept::{wait_true, ConnSlots};
use super::conn::{self, CloseConnection, ConnLimits};
use crate::audit::{Decision as AuditDecision, RecordGuard};
use crate::identity::CallerIdentity;
use crate::metrics::{HandshakeRejection, Metrics};
use crate::proxy::{self, ConnContext, ResponseBody};
use crate::snapshot::Snapshot;
use crate::trace::RequestMeta;

/// What a freshly accepted socket brings.
pub(super) struct NewConn {
    pub shared: Arc<ArcSwap<Snapshot>>,
    pub tcp: TcpStream,
    pub remote: SocketAddr,
    pub limits: ConnLimits,
    pub draining: watch::Receiver<bool>,
    /// The handshake slot this socket was accepted under.
    pub handshake: Option<OwnedSemaphorePermit>,
    /// The verified-connection slots, taken after the handshake.
    pub slots: ConnSlots,
    pub callers: Arc<CallerLoad>,
}

/// Handshake, then serve. The socket holds its handshake slot until it has
/// a verified identity *and* a connection slot: unverified sockets are
/// bounded by `max_handshakes` and never occupy `max_connections`.
pub(super) fn serve_connection(c: NewConn) -> impl Future<Output = ()> + Send + 'static {
    // Not an `async fn`: a task's future is as large as its largest state,
    // for its whole life, and the handshake's (rustls in progress) and the
    // slot wait's are larger than serving's. So they run boxed, freed when
    // they end, and the task keeps room only for the served connection.
    Box::pin(verify(c)).then(OptionFuture::from).map(drop)
}

/// The handshake, then a connection slot: the connection ready to be
/// served, or `None` when it failed or the listener drains meanwhile.
async fn verify(c: NewConn) -> Option<impl Future<Output = ()> + Send + 'static> {
    let v = handshake(c).await?;
    slot_and_handler(v).await
}

/// A socket whose handshake succeeded, with the caller it proved.
struct Verified {
    shared: Arc<ArcSwap<Snapshot>>,
    tls: TlsStream<TcpStream>,
    remote: SocketAddr,
    limits: ConnLimits,
    draining: watch::Receiver<bool>,
    handshake: Option<OwnedSemaphorePermit>,
    slots: ConnSlots,
    callers: Arc<CallerLoad>,
    identity: CallerIdentity,
    /// Checked against the verifier of the handshake's snapshot, the one
    /// that verified the chain.
    proof: Proof,
}

/// The TLS handshake with the material current at accept time, and the
/// caller's identity from its verified chain; `None` (counted, logged) when
/// either fails.
async fn handshake(c: NewConn) -> Option<Verified> {
    let gw = c.shared.load_full();
    let acceptor = TlsAcceptor::from(gw.tls.clone());
    let remote = c.remote;
    let started = std::time::Instant::now();
    let rejected = || gw.metrics.observe_handshake(false, started.elapsed());
    let tls = match tokio::time::timeout(gw.limits.handshake_timeout, acceptor.accept(c.tcp)).await
    {
        Err(_) => {
            rejected();
            gw.metrics.handshake_rejected(HandshakeRejection::Timeout);
            tracing::warn!(%remote, "TLS handshake timed out");
            return None;
        }
        Ok(Err(e)) => {
            rejected();
            record_handshake_failure(&gw.metrics, remote, &e);
            return None;
        }
        Ok(Ok(s)) => s,
    };
    let (identity, chain) = {
        let (_, conn) = tls.get_ref();
        let chain = conn.peer_certificates().unwrap_or_default();
        match CallerIdentity::from_peer_chain(chain) {
            Ok(id) => (id, chain.iter().map(|c| c.clone().into_owned()).collect()),
            // Unreachable with a mandatory client verifier; fail closed anyway.
            Err(_) => {
                rejected();
                gw.metrics
                    .handshake_rejected(HandshakeRejection::NoCertificate);
                return None;
            }
        }
    };
    gw.metrics.observe_handshake(true, started.elapsed());
    Metrics::inc(&gw.metrics.handshakes_accepted);
    let proof = Proof::new(chain, identity.not_after, &gw.client_verifier);
    Some(Verified {
        shared: c.shared,
        tls,
        remote,
        limits: c.limits,
        draining: c.draining,
        handshake: c.handshake,
        slots: c.slots,
        callers: c.callers,
        identity,
        proof,
    })
}

/// A verified connection under its connection slot, ready to be served.
async fn slot_and_handler(c: Verified) -> Option<impl Future<Output = ()> + Send + 'static> {
    let Verified {
        tls,
        identity,
        proof,
        ..
    } = c;
    // A verified connection waits for its slot still holding the handshake
    // slot, so waiting connections stay bounded by `max_handshakes`.
    let mut draining = c.draining.clone();
    let slot = tokio::select! {
        s = c.slots.acquire() => s,
        _ = wait_true(&mut draining) => return None,
    };
    drop(c.handshake);
    let remote = c.remote;
    tracing::debug!(%remote, caller = %identity.spiffe_id, "mTLS connection");
    let guard = Arc::new(ConnGuard {
        proof,
        load: c.callers.counter(identity.spiffe_id.as_str()),
        max_in_flight: c.limits.max_in_flight_per_caller,
    });
    let ctx = Arc::new(ConnContext {
        identity,
        remote,
        draining: Some(c.draining.clone()),
    });
    let shared = c.shared;
    // Each request takes the snapshot current when it starts.
    let handler = move |req: Request<Incoming>| {
        let gw = shared.load_full();
        match guard.admit(&gw.client_verifier) {
            Ok(held) => {
                let watch = ProofWatch {
                    guard: guard.clone(),
                    shared: shared.clone(),
                };
                Either::Left(
                    proxy::handle(gw, ctx.clone(), req)
                        .map(move |r| r.map(|resp| held.wrap(resp, watch))),
                )
            }
            Err(refusal) => Either::Right(refused(gw, ctx.clone(), req, refusal)),
        }
    };
    // ALPN settled the protocol: no sniffing of the first bytes.
    let protocol = conn::Protocol::from_alpn(tls.get_ref().1.alpn_protocol());
    Some(conn::serve_as(
        protocol, tls, handler, &c.limits, c.draining, slot,
    ))
}

/// Log and count a failed handshake. Certificate failures were already
/// counted (with their precise reason) by the client verifier.
fn record_handshake_failure(metrics: &Metrics, remote: SocketAddr, e: &std::io::Error) {
    let rustls_err = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_err {
        Some(rustls::Error::NoCertificatesPresented) => {
            metrics.handshake_rejected(HandshakeRejection::NoCertificate);
            tracing::warn!(%remote, "TLS handshake rejected: no client certificate");
        }
        Some(rustls::Error::InvalidCertificate(_)) => {
            // The verifier already logged this at warn, with the SPIFFE ID and
            // serial; here only the peer address is new.
            tracing::debug!(%remote, reason = %e, "TLS handshake rejected");
        }
        _ => {
            metrics.handshake_rejected(HandshakeRejection::Other);
            tracing::info!(%remote, reason = %e, "TLS handshake failed");
        }
    }
}

/// Why a request on a verified connection is refused before the proxy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the client certificate expired (notAfter {not_after}); reconnect with a current certificate")]
    Expired { not_after: i64 },
    #[error("the client certificate has been revoked")]
    Revoked,
    #[error("the client certificate is no longer trusted: {0}")]
    Untrusted(String),
    #[error("too many requests in progress for this caller (at most {max}); retry later")]
    Busy { max: usize },
}

impl Refusal {
    /// A lapsed proof ends the connection; a busy caller may retry on it.
    fn closes(&self) -> bool {
        !matches!(self, Refusal::Busy { .. })
    }
}

/// The certificate a connection was verified with, and the verdict of the
/// trust material it was last checked against.
pub(crate) struct Proof {
    chain: Vec<CertificateDer<'static>>,
    not_after: i64,
    checked: Mutex<Checked>,
}

struct Checked {
    /// The verifier of the snapshot the verdict is for. A `Weak` keeps its
    /// allocation (not the verifier) alive, so a later snapshot's verifier
    /// can never reuse the address and pass for it.
    against: Weak<dyn ClientCertVerifier>,
    verdict: Result<(), Refusal>,
}

impl Proof {
    pub(crate) fn new(
        chain: Vec<CertificateDer<'static>>,
        not_after: i64,
        verified_by: &Arc<dyn ClientCertVerifier>,
    ) -> Proof {
        Proof {
            chain,
            not_after,
            checked: Mutex::new(Checked {
                against: Arc::downgrade(verified_by),
                verdict: Ok(()),
            }),
        }
    }

    /// Still good under the current snapshot's client `verifier`? Per
    /// request: a clock read, an uncontended lock and a pointer compare; the
    /// chain is verified again only when a reload replaced the trust
    /// material, once per connection and reload.
    pub(crate) fn check(&self, verifier: &Arc<dyn ClientCertVerifier>) -> Result<(), Refusal> {
        // RFC 5280 §4.1.2.5: valid through notAfter inclusive.
        if crate::unix_now() > self.not_after {
            return Err(Refusal::Expired {
                not_after: self.not_after,
            });
        }
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        let current = Arc::as_ptr(verifier);
        if !std::ptr::addr_eq(checked.against.as_ptr(), current) {
            checked.verdict = self.verify(verifier.as_ref());
            checked.against = Arc::downgrade(verifier);
        }
        checked.verdict.clone()
    }

    /// The same verifier the handshake used: the one core decides.
    fn verify(&self, verifier: &dyn ClientCertVerifier) -> Result<(), Refusal> {
        let Some((leaf, intermediates)) = self.chain.split_first() else {
            return Err(Refusal::Untrusted("no certificate".into()));
        };
        match verifier.verify_client_cert(leaf, intermediates, UnixTime::now()) {
            Ok(_) => Ok(()),
            Err(rustls::Error::InvalidCertificate(CertificateError::Revoked)) => {
                Err(Refusal::Revoked)
            }
            Err(rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. },
            )) => Err(Refusal::Expired {
                not_after: self.not_after,
            }),
            Err(e) => Err(Refusal::Untrusted(e.to_string())),
        }
    }
}

/// Everything a request on one connection is admitted by.
struct ConnGuard {
    proof: Proof,
    /// Requests in progress for this connection's caller, all connections.
    load: Arc<AtomicUsize>,
    max_in_flight: usize,
}

impl ConnGuard {
    fn admit(&self, verifier: &Arc<dyn ClientCertVerifier>) -> Result<Held, Refusal> {
        self.proof.check(verifier)?;
        let before = self.load.fetch_add(1, Ordering::AcqRel);
        let held = Held(self.load.clone());
        if before >= self.max_in_flight {
            // `held` undoes the increment as it drops.
            return Err(Refusal::Busy {
                max: self.max_in_flight,
            });
        }
        Ok(held)
    }
}

/// One request counted against its caller until dropped (with the
/// response body: an SSE stream counts until its end).
struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Held {
    fn wrap(self, resp: Response<ResponseBody>, watch: ProofWatch) -> Response<Counted> {
        resp.map(|inner| Counted {
            inner,
            _held: Some(self),
            watch: Some(watch),
        })
    }
}

/// What a response body re-checks before each frame it passes on: a stream
/// (SSE) outlives the request that opened it, and its events must stop when
/// the caller's certificate expires or a reload revokes it, just as the
/// connection's next request would be refused.
struct ProofWatch {
    guard: Arc<ConnGuard>,
    shared: Arc<ArcSwap<Snapshot>>,
}

/// The error a stream ends with when its caller's proof lapsed.
#[derive(Debug, thiserror::Error)]
#[error("response stream ended: {0}")]
struct ProofLapsed(Refusal);

/// A response body that keeps its request counted against the caller.
pub(super) struct Counted {
    inner: ResponseBody,
    _held: Option<Held>,
    watch: Option<ProofWatch>,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = proxy::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(_))), Some(w)) = (&polled, &self.watch) {
            // Per frame: a clock read and a pointer compare (see Proof::check).
            if let Err(why) = w.guard.proof.check(&w.shared.load().client_verifier) {
                tracing::info!(reason = %why, "response stream cut: the caller's certificate lapsed");
                // Dropping the frame and failing the body resets the stream
                // (HTTP/2) or closes the connection (HTTP/1.1).
                self.watch = None;
                return Poll::Ready(Some(Err(Box::new(ProofLapsed(why)))));
            }
        }
        polled
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Answer and audit a request refused before the proxy: 401 (and close)
/// for a lapsed certificate, 429 with `Retry-After` for a busy caller.
async fn refused(
    gw: Arc<Snapshot>,
    conn: Arc<ConnContext>,
    req: Request<Incoming>,
    why: Refusal,
) -> Result<Response<Counted>, Infallible> {
    let started = std::time::Instant::now();
    let meta = RequestMeta::from_headers(req.headers());
    // A guard, as on the proxy route: even this short answer's record is
    // written if the future is dropped while submitting it.
    let mut rec = RecordGuard::new(
        &gw.audit,
        proxy::request_record(&conn, &req, &meta),
        started,
    );
    let (status, code, decision) = match why {
        Refusal::Busy { .. } => {
            Metrics::inc(&gw.metrics.requests_denied);
            (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                AuditDecision::Deny,
            )
        }
        _ => {
            Metrics::inc(&gw.metrics.requests_unauthenticated);
            (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                AuditDecision::Unauthenticated,
            )
        }
    };
    let message = why.to_string();
    tracing::info!(caller = %conn.identity.spiffe_id, reason = %message, "request refused on the connection");
    let mut resp = proxy::error(status, code, &message);
    if matches!(why, Refusal::Busy { .. }) {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if why.closes() {
        resp.extensions_mut().insert(CloseConnection);
    }
    resp.headers_mut()
        .insert(crate::trace::REQUEST_ID.clone(), meta.id.header_value());
    rec.refuse(decision, message);
    rec.submit(status.as_u16()).await;
    Ok(resp.map(|inner| Counted {
        inner,
        _held: None,
        watch: None,
    }))
}

/// In-flight counters per caller (SPIFFE ID), shared by all of a caller's
/// connections on one listener. A connection holds its caller's counter, so
/// a request costs one atomic add, not a map lookup; the map only keeps
/// `Weak`s, swept as it grows.
pub(super) struct CallerLoad {
    inner: Mutex<Counters>,
}

struct Counters {
    by_caller: HashMap<String, Weak<AtomicUsize>>,
    /// Sweep dead entries when the map reaches this size.
    sweep_at: usize,
}

const SWEEP_MIN: usize = 1024;

impl CallerLoad {
    pub(super) fn new() -> CallerLoad {
        CallerLoad {
            inner: Mutex::new(Counters {
                by_caller: HashMap::new(),
                sweep_at: SWEEP_MIN,
            }),
        }
    }

    /// The counter of `caller`, shared with its other open connections.
    fn counter(&self, caller: &str) -> Arc<AtomicUsize> {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(live) = c.by_caller.get(caller).and_then(Weak::upgrade) {
            return live;
        }
        if c.by_caller.len() >= c.sweep_at {
            c.by_caller.retain(|_, w| w.strong_count() > 0);
            c.sweep_at = (c.by_caller.len() * 2).max(SWEEP_MIN);
        }
        let fresh = Arc::new(AtomicUsize::new(0));
        c.by_caller
            .insert(caller.to_owned(), Arc::downgrade(&fresh));
        fresh
    }
}

#[cfg(test)]
mod tests {
    use crate::server::mtls::*;

    #[test]
    fn a_caller_shares_one_counter_across_connections_and_it_is_freed() {
        let load = CallerLoad::new();
        let a = load.counter("spiffe://td/a");
        let a2 = load.counter("spiffe://td/a");
        assert!(Arc::ptr_eq(&a, &a2));
        let b = load.counter("spiffe://td/b");
        assert!(!Arc::ptr_eq(&a, &b));
        drop((a, a2));
        // Gone with its last connection: a new one starts from zero.
        let a3 = load.counter("spiffe://td/a");
        assert_eq!(a3.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn held_requests_count_until_dropped() {
        let n = Arc::new(AtomicUsize::new(0));
        let h = Held(n.clone());
        n.fetch_add(1, Ordering::AcqRel);
        assert_eq!(n.load(Ordering::Relaxed), 1);
        drop(h);
        assert_eq!(n.load(Ordering::Relaxed), 0);
    }
}
