//! Serving one HTTP connection under limits, and draining it: what every
//! listener (gateway mTLS, admin, health, egress) shares. Nothing here knows
//! the gateway; the listeners' slots and accept loop are in [`super::accept`].
//!
//! - **Connection limit**: a listener takes a slot before it accepts; with
//!   every slot taken, new connections wait in the kernel's accept queue.
//! - **Per-connection request limit**: after that many requests the
//!   connection is shut down gracefully (the current response completes).
//! - **Header size**: HTTP/1.1 read buffer and HTTP/2 header-list limits.
//! - **Idle timeout**: no request in progress for that long closes the
//!   connection.
//! - **Header timeout**: on HTTP/1.1 hyper's header-read timer bounds how
//!   long a client may take to send a request's headers (it runs from the
//!   moment the connection waits for a request, so it also bounds the wait
//!   between requests).
//! - **Body deadline**: every request carries a [`BodyDeadline`]
//!   (`body_timeout` after its headers were read); the body reader refuses
//!   a body not complete by then with 408, however it was trickled.
//! - **HTTP/2 streams**: at most `max_concurrent_streams` per connection, so
//!   with the body deadline one connection holds a bounded amount, briefly.
//! - **Close on demand**: a response carrying [`CloseConnection`] (a
//!   certificate that lapsed, a body that timed out) shuts its connection
//!   down gracefully once it has been sent.
//! - **Drain**: when the listener's drain signal turns true, every
//!   connection is shut down gracefully (HTTP/1.1: after the response in
//!   progress, including a streaming one; HTTP/2: `GOAWAY`, open streams
//!   finish); [`ConnSlots::wait_all_closed`](super::accept::ConnSlots::wait_all_closed) waits for them up to a deadline.
//!   At that deadline (`drain_timeout` after the drain signal) each
//!   connection still open is dropped: the requests in progress end there,
//!   and each leaves its audit record (see `audit::guard`), before the
//!   process flushes the log and exits.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit};

use super::accept::wait_true;
use super::served;
pub use super::served::Protocol;
use tokio::time::Instant;

use crate::config::{ConfigProblem, ServerSection};
use crate::duration::parse as parse_duration;

/// `[server]`, resolved.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub max_connections: usize,
    /// 0: no limit.
    pub max_requests_per_connection: u64,
    pub max_header_bytes: usize,
    pub idle_timeout: Duration,
    pub drain_timeout: Duration,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_handshakes: usize,
    pub max_concurrent_streams: u32,
    pub max_in_flight_per_caller: usize,
}

/// A draining connection cuts itself this long after `drain_timeout`: the
/// owner's drain (which waits `drain_timeout`, then reports and waits for
/// the cut) decides first, the connection's own deadline is the backstop.
const CUT_MARGIN: Duration = Duration::from_millis(250);

/// hyper's HTTP/1.1 read buffer cannot be smaller.
pub(super) const MIN_HEADER_BYTES: usize = 8192;

impl Default for ConnLimits {
    fn default() -> Self {
        Self::from_section(&ServerSection::default(), |f| f.to_string())
            .unwrap_or_else(|_| unreachable_defaults())
    }
}

/// The defaults, should parsing the default strings ever fail (it cannot).
fn unreachable_defaults() -> ConnLimits {
    ConnLimits {
        max_connections: 10_000,
        max_requests_per_connection: 10_000,
        max_header_bytes: 64 * 1024,
        idle_timeout: Duration::from_secs(60),
        drain_timeout: Duration::from_secs(30),
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(30),
        max_handshakes: 1024,
        max_concurrent_streams: 100,
        max_in_flight_per_caller: 256,
    }
}

impl ConnLimits {
    /// Check and resolve `[server]`; `at(field)` gives a problem's location.
    pub fn from_section(
        s: &ServerSection,
        at: impl Fn(&str) -> String,
    ) -> Result<ConnLimits, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(ConfigProblem {
                location: at(field),
                message,
            })
        };
        if s.max_connections == 0 || s.max_connections > u32::MAX as usize {
            problem(
                "server.max_connections",
                format!("must be between 1 and {}", u32::MAX),
            );
        }
        if s.max_header_bytes < MIN_HEADER_BYTES || s.max_header_bytes > u32::MAX as usize {
            problem(
                "server.max_header_bytes",
                format!("must be at least {MIN_HEADER_BYTES} (and fit in 32 bits)"),
            );
        }
        if s.max_handshakes == 0 || s.max_handshakes > u32::MAX as usize {
            problem(
                "server.max_handshakes",
                format!("must be between 1 and {}", u32::MAX),
            );
        }
        if s.max_concurrent_streams == 0 {
            problem("server.max_concurrent_streams", "must be at least 1".into());
        }
        if s.max_in_flight_per_caller == 0 {
            problem(
                "server.max_in_flight_per_caller",
                "must be at least 1".into(),
            );
        }
        let mut duration = |field: &str, v: &str| match parse_duration(v) {
            Ok(d) => d,
            Err(e) => {
                problem(field, e.to_string());
                Duration::from_secs(1)
            }
        };
        let idle_timeout = duration("server.idle_timeout", &s.idle_timeout);
        let drain_timeout = duration("server.drain_timeout", &s.drain_timeout);
        let header_timeout = duration("server.header_timeout", &s.header_timeout);
        let body_timeout = duration("server.body_timeout", &s.body_timeout);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ConnLimits {
            max_connections: s.max_connections,
            max_requests_per_connection: s.max_requests_per_connection,
            max_header_bytes: s.max_header_bytes,
            idle_timeout,
            drain_timeout,
            header_timeout,
            body_timeout,
            max_handshakes: s.max_handshakes,
            max_concurrent_streams: s.max_concurrent_streams,
            max_in_flight_per_caller: s.max_in_flight_per_caller,
        })
    }
}

/// When the body of a request must have arrived completely: set by
/// [`serve`] on every request's extensions, enforced by the body reader.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Instant);

impl BodyDeadline {
    /// The deadline of a request served by [`serve`]; a request from
    /// elsewhere (none today) gets the default `body_timeout` from now, so
    /// no body read is ever unbounded.
    pub fn of(extensions: &http::Extensions) -> Instant {
        match extensions.get::<BodyDeadline>() {
            Some(d) => d.0,
            None => Instant::now() + unreachable_defaults().body_timeout,
        }
    }
}

/// Put in a response's extensions to close its connection gracefully once
/// the response has been sent (HTTP/1.1: no keep-alive; HTTP/2: `GOAWAY`,
/// streams already open finish). Never sent on the wire.
#[derive(Debug, Clone, Copy)]
pub struct CloseConnection;

/// Per-connection bookkeeping shared with the service and response bodies.
struct ConnState {
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// Milliseconds since `start` of the last request start or end.
    last_active_ms: AtomicU64,
    start: Instant,
    close: Notify,
}

impl ConnState {
    fn new() -> ConnState {
        ConnState {
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            last_active_ms: AtomicU64::new(0),
            start: Instant::now(),
            close: Notify::new(),
        }
    }

    fn touch(&self) {
        self.last_active_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    fn last_active(&self) -> Instant {
        self.start + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed))
    }
}

/// Held by a response body: the request is in progress until it is dropped
/// (an SSE stream counts until its last event is sent).
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A response body that keeps its request counted as in flight.
pub struct TrackedBody<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What every request on a connection is given and counted by.
#[derive(Clone, Copy)]
struct PerRequest {
    /// 0: no limit.
    max_requests: u64,
    body_timeout: Duration,
}

impl PerRequest {
    /// Start one request: its body deadline, the request count (at the
    /// limit, the connection closes after it), in flight until its response
    /// body is dropped; a response asking for it closes the connection.
    fn admit<H, F, B>(
        self,
        st: &Arc<ConnState>,
        mut req: Request<Incoming>,
        handler: &H,
    ) -> RequestFuture<B>
    where
        H: Fn(Request<Incoming>) -> F,
        F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
        B: Send + 'static,
    {
        // The body deadline runs from here: the headers are in.
        req.extensions_mut()
            .insert(BodyDeadline(Instant::now() + self.body_timeout));
        let n = st.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if self.max_requests > 0 && n >= self.max_requests {
            // This one is served; the connection then closes.
            st.close.notify_one();
        }
        st.in_flight.fetch_add(1, Ordering::Relaxed);
        st.touch();
        let guard = InFlight(st.clone());
        // `map`, not an async block awaiting the handler's future: an async
        // block keeps the captured future and the awaited one in separate
        // slots (twice the size). Boxed: HTTP/1.1 hyper keeps room for one
        // service future per connection for the connection's life (its
        // `in_flight`, several KiB for the proxy's); a box is that room only
        // while a request is in progress, for one allocation per request.
        let st = st.clone();
        Box::pin(handler(req).map(move |r| {
            r.map(|resp| {
                if resp.extensions().get::<CloseConnection>().is_some() {
                    st.close.notify_one();
                }
                resp.map(|inner| TrackedBody {
                    inner,
                    _in_flight: guard,
                })
            })
        }))
    }
}

/// One request's future, as [`PerRequest::admit`] hands it to hyper.
type RequestFuture<B> =
    Pin<Box<dyn Future<Output = Result<Response<TrackedBody<B>>, Infallible>> + Send>>;

/// Serve one HTTP/1.1 or HTTP/2 connection with `handler` under `limits`
/// until it ends, shutting it down gracefully when `shutdown` turns true.
/// `slot` is released when the connection ends.
///
/// Not an `async fn`: the connection (and the I/O moved into it) goes onto
/// the heap here, so the returned future holds a pointer, not reserved
/// space for `io` as well. That keeps an idle connection's memory down.
pub fn serve<I, H, F, B>(
    io: I,
    handler: H,
    limits: &ConnLimits,
    shutdown: watch::Receiver<bool>,
    slot: Option<OwnedSemaphorePermit>,
) -> impl Future<Output = ()> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_as(Protocol::Sniff, io, handler, limits, shutdown, slot)
}

/// [`serve`] a connection whose `protocol` is already known (the TLS
/// handshake's ALPN): no sniffing of the first bytes.
pub fn serve_as<I, H, F, B>(
    protocol: Protocol,
    io: I,
    handler: H,
    limits: &ConnLimits,
    shutdown: watch::Receiver<bool>,
    slot: Option<OwnedSemaphorePermit>,
) -> impl Future<Output = ()> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let state = Arc::new(ConnState::new());
    let per_request = PerRequest {
        max_requests: limits.max_requests_per_connection,
        body_timeout: limits.body_timeout,
    };
    let st = state.clone();
    let svc = service_fn(move |req: Request<Incoming>| per_request.admit(&st, req, &handler));
    let conn = served::serve(protocol, TokioIo::new(io), svc, limits);
    let idle_timeout = limits.idle_timeout;
    let drain_timeout = limits.drain_timeout;
    // How long a closing connection may stay with nothing in flight.
    let linger = limits.header_timeout.min(limits.idle_timeout);
    let mut shutdown = shutdown;
    // The driver: run the connection to its end, starting a graceful
    // shutdown on drain, at the request limit, or when idle.
    async move {
        // Declared before `conn`, so dropped after it: the requests cut
        // below have submitted their audit records (their guards run when
        // `conn` drops) before the slot tells the drain this one is gone.
        let _slot = slot;
        let mut conn = conn;
        let mut closing = false;
        let mut idle_check = state.start + idle_timeout;
        // Set on drain: past it the connection is dropped, not waited for,
        // so a request still in progress is ended here (and leaves its
        // record) rather than vanishing when the process exits.
        let mut cut_at: Option<Instant> = None;
        loop {
            tokio::select! {
                r = std::future::poll_fn(|cx| conn.as_mut().poll_served(cx)) => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = async { tokio::time::sleep_until(cut_at.unwrap_or_else(Instant::now)).await }, if cut_at.is_some() => {
                    tracing::debug!("drain deadline reached; connection cut");
                    return;
                }
                // Also for a connection already closing (request limit,
                // idle): its request in progress must end by the deadline too.
                _ = wait_true(&mut shutdown), if cut_at.is_none() => {
                    if !closing {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                        idle_check = Instant::now() + linger;
                    }
                    cut_at = Some(Instant::now() + drain_timeout + CUT_MARGIN);
                }
                _ = state.close.notified(), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                    idle_check = Instant::now() + linger;
                }
                _ = tokio::time::sleep_until(idle_check) => {
                    let now = Instant::now();
                    let busy = state.in_flight.load(Ordering::Relaxed) > 0;
                    if closing {
                        // A graceful close needs the peer's part (HTTP/2:
                        // the ack of the GOAWAY's PING); a peer that never
                        // gives it would hold its slot forever. Once nothing
                        // has been in flight for `linger`, the connection is
                        // dropped.
                        if !busy && state.last_active() + linger <= now {
                            tracing::debug!("closing connection lingered; dropped");
                            return;
                        }
                        idle_check = now + linger;
                    } else if busy {
                        idle_check = now + idle_timeout;
                    } else if state.last_active() + idle_timeout <= now {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                        idle_check = now + linger;
                    } else {
                        idle_check = state.last_active() + idle_timeout;
                    }
                }
            }
        }
    }
}
