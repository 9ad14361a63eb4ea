//! Listeners: the mTLS accept loop (handshake timeout, rejection logging and
//! counting, identity attached once per connection) and the optional admin
//! listener (`/metrics`, `/healthz`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::{ConfigErrors, ConfigFile};
use crate::gateway::Gateway;
use crate::identity::CallerIdentity;
use crate::metrics::{HandshakeRejection, Metrics};
use crate::proxy::{self, ConnContext};

/// A gateway running on its own tasks; dropping it does not stop it, call
/// [`RunningGateway::shutdown`].
pub struct RunningGateway {
    /// Where the mTLS listener is bound (useful with port 0).
    pub addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    pub gateway: Arc<Gateway>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningGateway {
    /// Stop accepting connections and wait for the listeners to close.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Build the gateway from `cfg` and start its listeners.
pub async fn start(cfg: &ConfigFile) -> Result<RunningGateway, StartError> {
    let metrics = Arc::new(Metrics::default());
    let gw = Arc::new(Gateway::build(cfg, metrics)?);
    start_gateway(gw).await
}

/// Start listeners for an already built gateway.
pub async fn start_gateway(gw: Arc<Gateway>) -> Result<RunningGateway, StartError> {
    let (stop, stopped) = watch::channel(false);
    let listener = TcpListener::bind(gw.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: gw.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: gw.listen,
        source,
    })?;
    let mut tasks = vec![tokio::spawn(accept_loop(
        gw.clone(),
        listener,
        stopped.clone(),
    ))];
    let mut admin_addr = None;
    if let Some(a) = gw.admin_listen {
        let l = TcpListener::bind(a)
            .await
            .map_err(|source| StartError::Bind { addr: a, source })?;
        admin_addr = l.local_addr().ok();
        tasks.push(tokio::spawn(admin_loop(gw.metrics.clone(), l, stopped)));
    }
    tracing::info!(%addr, admin = ?admin_addr, agents = gw.registry.agents().count(), "gateway listening");
    Ok(RunningGateway {
        addr,
        admin_addr,
        gateway: gw,
        stop,
        tasks,
    })
}

async fn wait_stop(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn accept_loop(gw: Arc<Gateway>, listener: TcpListener, stopped: watch::Receiver<bool>) {
    let acceptor = TlsAcceptor::from(gw.tls.clone());
    let stop = wait_stop(stopped);
    tokio::pin!(stop);
    loop {
        let (tcp, remote) = tokio::select! {
            _ = &mut stop => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly
                    // rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(serve_connection(gw.clone(), acceptor.clone(), tcp, remote));
    }
}

async fn serve_connection(
    gw: Arc<Gateway>,
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    remote: SocketAddr,
) {
    let tls = match tokio::time::timeout(gw.limits.handshake_timeout, acceptor.accept(tcp)).await {
        Err(_) => {
            gw.metrics.handshake_rejected(HandshakeRejection::Timeout);
            tracing::warn!(%remote, "TLS handshake timed out");
            return;
        }
        Ok(Err(e)) => {
            record_handshake_failure(&gw.metrics, remote, &e);
            return;
        }
        Ok(Ok(s)) => s,
    };
    let identity = {
        let (_, conn) = tls.get_ref();
        match conn
            .peer_certificates()
            .map(CallerIdentity::from_peer_chain)
        {
            Some(Ok(id)) => id,
            // Unreachable with a mandatory client verifier; fail closed anyway.
            _ => {
                gw.metrics
                    .handshake_rejected(HandshakeRejection::NoCertificate);
                return;
            }
        }
    };
    Metrics::inc(&gw.metrics.handshakes_accepted);
    tracing::debug!(%remote, caller = %identity.spiffe_id, "mTLS connection");
    let ctx = Arc::new(ConnContext { identity, remote });
    let svc = service_fn(move |req: Request<Incoming>| proxy::handle(gw.clone(), ctx.clone(), req));
    if let Err(e) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), svc)
        .await
    {
        tracing::debug!(%remote, error = %e, "connection ended with an error");
    }
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
            tracing::warn!(%remote, reason = %e, "TLS handshake rejected");
        }
        _ => {
            metrics.handshake_rejected(HandshakeRejection::Other);
            tracing::info!(%remote, reason = %e, "TLS handshake failed");
        }
    }
}

async fn admin_loop(metrics: Arc<Metrics>, listener: TcpListener, stopped: watch::Receiver<bool>) {
    let stop = wait_stop(stopped);
    tokio::pin!(stop);
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut stop => return,
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let metrics = metrics.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(admin_response(&metrics, req.uri().path()))
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

fn admin_response(metrics: &Metrics, path: &str) -> Response<http_body_util::Full<Bytes>> {
    let (status, body, ctype) = match path {
        "/metrics" => (
            StatusCode::OK,
            metrics.render(),
            "text/plain; version=0.0.4",
        ),
        "/healthz" | "/readyz" => (StatusCode::OK, "ok\n".to_string(), "text/plain"),
        _ => (
            StatusCode::NOT_FOUND,
            "not found\n".to_string(),
            "text/plain",
        ),
    };
    let mut r = Response::new(http_body_util::Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

/// Run until `shutdown` resolves.
pub async fn run_until(
    cfg: &ConfigFile,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let running = start(cfg).await?;
    shutdown.await;
    running.shutdown().await;
    Ok(())
}
