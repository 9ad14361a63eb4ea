//! The `[authorize]` listener: server-authenticated TLS for people's
//! browsers (no client certificate is asked for), the same accept loop,
//! slots and HTTP limits as every other listener, and [`super::routes`]
//! behind it. Its TLS config and pages come from the snapshot current at
//! each connection and request; what a browser is in the middle of (logins,
//! consent pages) lives here, across reloads.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::Request;
use hyper::body::Incoming;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio_rustls::TlsAcceptor;

use super::routes::BrowserState;
use crate::server::accept::{accept_until_stopped, ConnSlots};
use crate::server::conn::{self, ConnLimits};
use crate::snapshot::Snapshot;

/// What every connection of the listener shares.
#[derive(Clone)]
pub(crate) struct UserAuthListener {
    pub shared: Arc<ArcSwap<Snapshot>>,
    pub stopped: watch::Receiver<bool>,
    pub limits: ConnLimits,
    pub state: Arc<BrowserState>,
}

/// Serve `listener` until stopped.
pub(crate) async fn serve(l: UserAuthListener, listener: TcpListener) {
    let slots = ConnSlots::new(l.limits.max_connections);
    let handshakes = ConnSlots::new(l.limits.max_handshakes);
    let stopped = l.stopped.clone();
    accept_until_stopped(listener, stopped, handshakes, |tcp, remote, handshake| {
        tokio::spawn(connection(l.clone(), slots.clone(), tcp, remote, handshake));
    })
    .await
}

async fn connection(
    l: UserAuthListener,
    slots: ConnSlots,
    tcp: TcpStream,
    remote: SocketAddr,
    handshake: Option<OwnedSemaphorePermit>,
) {
    let gw = l.shared.load_full();
    // `[authorize]` removed by a reload: the listener stays bound until
    // restart, but serves nothing.
    let Some(ua) = gw.user_auth.clone() else {
        return;
    };
    let timeout = gw.limits.handshake_timeout;
    drop(gw);
    let stream =
        match tokio::time::timeout(timeout, TlsAcceptor::from(ua.tls.clone()).accept(tcp)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%remote, reason = %e, "authorize TLS handshake failed");
                return;
            }
            Err(_) => return,
        };
    let slot = slots.acquire().await;
    drop(handshake);
    let UserAuthListener {
        shared,
        stopped,
        limits,
        state,
    } = l;
    let handler = move |req: Request<Incoming>| {
        let (gw, state) = (shared.load_full(), state.clone());
        async move { Ok::<_, std::convert::Infallible>(super::routes::handle(gw, &state, req).await) }
    };
    conn::serve(stream, handler, &limits, stopped, slot).await
}
