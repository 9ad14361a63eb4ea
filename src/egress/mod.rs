//! Egress (sidecar) mode: the local agent calls peers as
//! `http://127.0.0.1:PORT/agents/NAME/...` (or over a Unix socket) with no
//! TLS code at all; actgate forwards each call to the remote gateway over
//! mTLS, presenting the agent's workload certificate and accepting only the
//! gateway's configured SPIFFE ID.
//!
//! - [`settings`]: `[egress]` checked and resolved, the rotating material
//!   (certificate, key, gateway bundle) loaded into a client.
//! - [`forward`]: one request: the browser protections (a web page cannot
//!   make this listener call with the workload's identity), header hygiene,
//!   the agent's bearer token as the subject token, forwarding, streaming back.
//! - [`card`]: cards rewritten so their interfaces point at this listener.
//!
//! The workload certificate rotates (`actgate cert renew`, SPIRE, cert-manager
//! write new files): the files are polled every `watch_interval`; a complete,
//! matching new set becomes a new client, swapped in atomically. Requests in
//! progress finish on the client they started with; a half-written or
//! mismatched set keeps the old client and is retried at the next change.

pub mod card;
pub mod forward;
pub mod mcp;
pub mod metrics;
pub mod settings;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

use crate::browser_guard::{HostRule, RefusalCounters};
use crate::config::{ConfigErrors, EgressConfigFile};
use crate::server::accept::{accept_until_stopped, wait_true, Accept, ConnSlots, Lifecycle};
use crate::server::conn::{self, ConnLimits};
use crate::server::watch::fingerprints;
pub use settings::{EgressSettings, Material, MaterialError};

/// What requests share: fixed settings and the current material.
pub struct EgressState {
    pub settings: EgressSettings,
    pub material: ArcSwap<Material>,
    /// Base URL of the interfaces in cards served to the local agent.
    pub local_url: String,
    /// The `Host` values the TCP listener answers to (its own port).
    pub host_rule: HostRule,
    /// Requests refused as browser-driven, by reason (`/metrics`).
    pub refusals: RefusalCounters,
    /// Request and gateway latency histograms (`/metrics`).
    pub metrics: metrics::EgressMetrics,
}

/// Which of the sidecar's listeners a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Tcp,
    /// A browser cannot open a Unix socket (the file mode decides who
    /// connects), so there is no rebound `Host` to refuse there.
    Unix,
}

#[derive(Debug, thiserror::Error)]
pub enum EgressStartError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error("cannot listen on {what}: {source}")]
    Bind {
        what: String,
        source: std::io::Error,
    },
}

/// A running sidecar; [`RunningEgress::shutdown`] drains it.
pub struct RunningEgress {
    pub addr: Option<SocketAddr>,
    pub unix_socket: Option<PathBuf>,
    pub admin_addr: Option<SocketAddr>,
    pub state: Arc<EgressState>,
    /// The drain and stop signals, the forwarding listeners' slots, the tasks.
    life: Lifecycle,
}

impl RunningEgress {
    /// Drain like the gateway (the same sequence): not ready at once, no new
    /// connections, requests and streams in progress finish up to
    /// `server.drain_timeout`. Returns the number of connections cut at the
    /// deadline.
    pub async fn shutdown(self) -> usize {
        let deadline = self.state.settings.conn_limits.drain_timeout;
        let cut = self.life.drain_and_stop(deadline).await;
        if let Some(p) = &self.unix_socket {
            let _ = std::fs::remove_file(p);
        }
        cut
    }
}

/// Check `cfg`, load the material and start the listeners and the file watcher.
pub async fn start(cfg: &EgressConfigFile) -> Result<RunningEgress, EgressStartError> {
    let (settings, material) = settings::build(cfg)?;
    let mut life = Lifecycle::default();
    let (draining, stopped) = (life.draining(), life.stopped());
    let limits = settings.conn_limits.clone();

    let tcp = match settings.listen {
        Some(a) => {
            if !a.ip().is_loopback() {
                // Allowed only with allow_non_loopback (checked at build).
                tracing::warn!(listen = %a, "the egress listener is not on loopback: anyone who can reach it calls with this workload's identity");
            }
            let l = TcpListener::bind(a)
                .await
                .map_err(|source| EgressStartError::Bind {
                    what: a.to_string(),
                    source,
                })?;
            Some(l)
        }
        None => None,
    };
    let addr = tcp.as_ref().and_then(|l| l.local_addr().ok());
    let uds = match &settings.unix_socket {
        Some(p) => Some(bind_unix(p, settings.unix_socket_mode)?),
        None => None,
    };
    let local_url = settings.local_url.clone().unwrap_or_else(|| match addr {
        Some(a) => format!("http://{a}"),
        None => "http://localhost".to_string(),
    });
    tracing::info!(
        workload = %material.spiffe_id,
        gateway = %settings.gateway_id,
        gateway_url = %settings.gateway_base,
        "egress: calls go to the gateway with this workload's certificate"
    );
    let host_rule = HostRule {
        port: addr.map(|a| a.port()),
        extra: settings.allowed_hosts.clone(),
    };
    let state = Arc::new(EgressState {
        settings,
        material: ArcSwap::from_pointee(material),
        local_url,
        host_rule,
        refusals: RefusalCounters::default(),
        metrics: metrics::EgressMetrics::default(),
    });

    if let Some(l) = tcp {
        spawn_forwarding(&mut life, l, Via::Tcp, &state);
    }
    if let Some(l) = uds {
        spawn_forwarding(&mut life, l, Via::Unix, &state);
    }
    let mut admin_addr = None;
    if let Some(a) = state.settings.admin_listen {
        let l = TcpListener::bind(a)
            .await
            .map_err(|source| EgressStartError::Bind {
                what: a.to_string(),
                source,
            })?;
        admin_addr = l.local_addr().ok();
        // Serves through the drain (`/readyz` 503), stops at the end.
        let (st, draining) = (state.clone(), draining.clone());
        let handler = move |req: Request<Incoming>| {
            let resp = admin_response(&st, *draining.borrow(), req.uri().path());
            async move { Ok::<_, std::convert::Infallible>(resp) }
        };
        let slots = ConnSlots::new(limits.max_connections);
        life.spawn(serve_listener(
            l,
            slots,
            stopped.clone(),
            limits.clone(),
            handler,
        ));
    }
    life.spawn(watch_files(state.clone(), stopped));
    let admin = admin_addr.map_or_else(|| "-".to_string(), |a| a.to_string());
    let listen = addr.map_or_else(|| "-".to_string(), |a| a.to_string());
    tracing::info!(%listen, unix_socket = ?state.settings.unix_socket, %admin, "egress listening");
    Ok(RunningEgress {
        addr,
        unix_socket: state.settings.unix_socket.clone(),
        admin_addr,
        state,
        life,
    })
}

fn bind_unix(path: &std::path::Path, mode: u32) -> Result<UnixListener, EgressStartError> {
    let err = |source| EgressStartError::Bind {
        what: path.display().to_string(),
        source,
    };
    // A socket left by a previous run would make bind fail; anything that is
    // not a socket is left alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(m) = std::fs::symlink_metadata(path) {
            if m.file_type().is_socket() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
    let l = UnixListener::bind(path).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    }
    Ok(l)
}

/// Forward what the local agent sends on `listener` to the gateway; the
/// drain waits for these connections.
fn spawn_forwarding<L: Accept>(
    life: &mut Lifecycle,
    listener: L,
    via: Via,
    state: &Arc<EgressState>,
) {
    let limits = state.settings.conn_limits.clone();
    let slots = ConnSlots::new(limits.max_connections);
    life.drains(slots.clone());
    let st = state.clone();
    let handler = move |req: Request<Incoming>| forward::handle(st.clone(), req, via);
    life.spawn(serve_listener(
        listener,
        slots,
        life.draining(),
        limits,
        handler,
    ));
}

/// Serve every connection `listener` accepts (under `slots`) with
/// `handler` until `stop`, when each connection shuts down gracefully.
async fn serve_listener<L, H, F>(
    listener: L,
    slots: ConnSlots,
    stop: watch::Receiver<bool>,
    limits: ConnLimits,
    handler: H,
) where
    L: Accept,
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<
            Output = Result<Response<crate::proxy::ResponseBody>, std::convert::Infallible>,
        > + Send
        + 'static,
{
    let conn_stop = stop.clone();
    accept_until_stopped(listener, stop, slots, |io, _, slot| {
        L::no_delay(&io);
        let serving = conn::serve(io, handler.clone(), &limits, conn_stop.clone(), slot);
        tokio::spawn(serving);
    })
    .await
}

/// `/healthz`: up while the process serves (also while draining).
/// `/readyz`: not draining, and the workload certificate currently loaded is
/// within its validity (a sidecar with an expired certificate cannot call).
/// `/metrics`: request and gateway latency, the refusal counters, build and
/// process (no names, no identities: open to any scraper that reaches this
/// listener, like the probes).
fn admin_response(
    state: &EgressState,
    draining: bool,
    path: &str,
) -> Response<crate::proxy::ResponseBody> {
    use http_body_util::BodyExt;
    let now = crate::unix_now();
    let mut ctype = "text/plain";
    let (status, body) = match path {
        "/healthz" => (StatusCode::OK, "ok\n".to_string()),
        "/readyz" => {
            let m = state.material.load();
            if draining {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: draining\n".into(),
                )
            } else if m.not_after <= now {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: the workload certificate has expired\n".into(),
                )
            } else {
                (StatusCode::OK, "ready\n".into())
            }
        }
        "/metrics" => {
            ctype = crate::metrics::text::CONTENT_TYPE;
            (StatusCode::OK, state.metrics.render(&state.refusals))
        }
        _ => (StatusCode::NOT_FOUND, "not found\n".into()),
    };
    let mut r = Response::new(
        http_body_util::Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(ctype),
    );
    r
}

/// Poll the certificate, key and bundle; on a change load a new client.
async fn watch_files(state: Arc<EgressState>, mut stop: watch::Receiver<bool>) {
    let files = state.settings.watched_files();
    let mut seen = fingerprints(&files);
    let interval = state.settings.watch_interval;
    loop {
        tokio::select! {
            _ = wait_true(&mut stop) => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let now = fingerprints(&files);
        if now == seen {
            continue;
        }
        let st = state.clone();
        let loaded = tokio::task::spawn_blocking(move || st.settings.load_material()).await;
        match loaded {
            Ok(Ok(m)) => {
                tracing::info!(
                    workload = %m.spiffe_id,
                    not_after = m.not_after,
                    "workload certificate reloaded; new connections to the gateway use it"
                );
                state.material.store(Arc::new(m));
            }
            Ok(Err(e)) => {
                tracing::warn!(problem = %e, "workload certificate not reloaded; the previous one stays in use")
            }
            Err(e) => tracing::error!(error = %e, "reload task failed"),
        }
        // Whatever the outcome, remember the files as they are: a bad set is
        // retried at its next change (a rotation writes key and certificate
        // separately; the second write completes the set).
        seen = now;
    }
}
