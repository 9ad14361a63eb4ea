//! The admin listener (`admin_listen`: probes, metrics, the approvals API
//! and console, plain on loopback or mTLS) and the probes-only health
//! listener (`health_listen`). Both keep serving while the gateway drains
//! (`/healthz` up, `/readyz` 503) and stop with the gateway's stop signal.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio_rustls::TlsAcceptor;

use super::access::{authorize, is_probe, AdminPeer};
use super::health;
use super::respond::error;
use crate::identity::CallerIdentity;
use crate::server::accept::{accept_until_stopped, ConnSlots};
use crate::server::conn::{self, CloseConnection, ConnLimits};
use crate::server::mtls::Proof;
use crate::snapshot::Snapshot;

/// What a listener of the admin kind serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdminScope {
    /// `admin_listen`: probes, metrics, approvals API, console.
    Full,
    /// `health_listen`: probes and metrics only, plain HTTP on any address.
    /// Nothing here can change state, so it needs no operator check.
    ProbesOnly,
}

/// What every connection of one admin-kind listener shares.
#[derive(Clone)]
pub(crate) struct AdminListener {
    pub scope: AdminScope,
    pub shared: Arc<ArcSwap<Snapshot>>,
    pub draining: watch::Receiver<bool>,
    pub stopped: watch::Receiver<bool>,
    pub limits: ConnLimits,
}

/// Serve `listener` until stopped. The admin listener keeps serving while
/// the gateway drains (`/healthz` up, `/readyz` 503).
pub(crate) async fn serve(l: AdminListener, listener: TcpListener) {
    let slots = ConnSlots::new(l.limits.max_connections);
    // As on the mTLS listener: accept under a handshake slot, take the
    // connection slot once the peer is verified (or at once when plain).
    let handshakes = ConnSlots::new(l.limits.max_handshakes);
    let stopped = l.stopped.clone();
    accept_until_stopped(listener, stopped, handshakes, |tcp, remote, handshake| {
        let conn = AdminConn {
            listener: l.clone(),
            handshake,
            slots: slots.clone(),
        };
        tokio::spawn(serve_admin_connection(conn, tcp, remote));
    })
    .await
}

/// What an admin connection needs besides its socket.
struct AdminConn {
    listener: AdminListener,
    /// Held until the connection has its slot.
    handshake: Option<OwnedSemaphorePermit>,
    slots: ConnSlots,
}

/// One admin connection: plain HTTP, or (with `[admin] mtls`) a TLS
/// handshake with a mandatory client SVID first. The mode is taken from the
/// snapshot current at accept.
async fn serve_admin_connection(mut conn: AdminConn, tcp: TcpStream, remote: SocketAddr) {
    let gw = conn.listener.shared.load_full();
    let (tls, handshake_timeout) = (gw.admin.tls.clone(), gw.limits.handshake_timeout);
    drop(gw);
    // The probes listener is always plain: kubelet presents no certificate.
    let tls = tls.filter(|_| conn.listener.scope == AdminScope::Full);
    let Some(cfg) = tls else {
        let peer = AdminPeer {
            identity: None,
            remote,
        };
        let slot = conn.slots.acquire().await;
        drop(conn.handshake.take());
        return serve_admin_http(conn.listener, tcp, peer, None, slot).await;
    };
    let stream =
        match tokio::time::timeout(handshake_timeout, TlsAcceptor::from(cfg).accept(tcp)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::info!(%remote, reason = %e, "admin TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!(%remote, "admin TLS handshake timed out");
                return;
            }
        };
    let chain = stream.get_ref().1.peer_certificates().unwrap_or_default();
    let identity = match CallerIdentity::from_peer_chain(chain) {
        Ok(id) => id,
        // Unreachable with a mandatory client verifier; fail closed anyway.
        Err(_) => return,
    };
    // An operator's identity lives as long as its proof, as a caller's does
    // on the mTLS listener: expired, or no longer accepted by reloaded
    // trust material (a CRL), the open connection serves nothing more.
    let proof = {
        let gw = conn.listener.shared.load();
        Proof::new(
            chain.iter().map(|c| c.clone().into_owned()).collect(),
            identity.not_after,
            &gw.client_verifier,
        )
    };
    let peer = AdminPeer {
        identity: Some(identity.spiffe_id),
        remote,
    };
    let slot = conn.slots.acquire().await;
    drop(conn.handshake.take());
    serve_admin_http(conn.listener, stream, peer, Some(Arc::new(proof)), slot).await
}

async fn serve_admin_http<I>(
    l: AdminListener,
    io: I,
    peer: AdminPeer,
    proof: Option<Arc<Proof>>,
    slot: Option<OwnedSemaphorePermit>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer = Arc::new(peer);
    let AdminListener {
        shared,
        draining,
        limits,
        stopped,
        scope,
    } = l;
    let handler = move |req: Request<Incoming>| {
        let (gw, peer, draining) = (shared.load_full(), peer.clone(), *draining.borrow());
        let proof = proof.clone();
        async move {
            if let Some(why) = proof
                .as_ref()
                .and_then(|p| p.check(&gw.client_verifier).err())
            {
                tracing::warn!(remote = %peer.remote, reason = %why, "admin request refused: the operator's certificate lapsed");
                let mut r = error(StatusCode::UNAUTHORIZED, "invalid_client", &why.to_string());
                r.extensions_mut().insert(CloseConnection);
                return Ok(r);
            }
            let resp = match scope {
                AdminScope::Full => admin_request(gw, &peer, draining, req).await,
                AdminScope::ProbesOnly => health::response(&gw, draining, req.uri().path()),
            };
            Ok::<_, std::convert::Infallible>(resp)
        }
    };
    conn::serve(io, handler, &limits, stopped, slot).await
}

/// Probes are open to whoever reaches the listener; everything else needs
/// an operator ([`authorize`]).
async fn admin_request(
    gw: Arc<Snapshot>,
    peer: &AdminPeer,
    draining: bool,
    req: Request<Incoming>,
) -> Response<http_body_util::Full<Bytes>> {
    if is_probe(req.uri().path()) {
        return health::response(&gw, draining, req.uri().path());
    }
    let op = match authorize(&gw.admin, peer, &req) {
        Ok(op) => op,
        Err(r) => return r,
    };
    match super::handle(gw.clone(), op, req).await {
        Ok(r) => r,
        Err(req) => health::response(&gw, draining, req.uri().path()),
    }
}
