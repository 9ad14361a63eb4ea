//! Listeners: the mTLS accept loop (handshake slots apart from connection
//! slots; one connection, its handshake and per-request checks, in
//! [`conn`]), the optional admin
//! listener (`/metrics`, `/healthz`, plus the approvals API and console of
//! [`crate::admin`], plain on loopback or mTLS), and hot reload.
//!
//! Reload: the live [`Gateway`] is one immutable snapshot behind an
//! `ArcSwap`. A new connection takes the snapshot current at accept (its TLS
//! config, so its trust bundles and CRLs); each request takes the snapshot
//! current when it starts and keeps it to its end. A reload (SIGHUP, or a
//! changed file) builds a complete new snapshot and swaps it in only if every
//! file is good; otherwise the old one keeps serving and the failure is
//! logged and counted.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::admin::{self, AdminPeer};
use crate::config::{ConfigErrors, ConfigFile};
use crate::gateway::Gateway;
use crate::identity::CallerIdentity;
use crate::listener::{self, ConnLimits, ConnSlots};
use crate::metrics::Metrics;

mod conn;

/// A gateway running on its own tasks; dropping it does not stop it, call
/// [`RunningGateway::shutdown`].
pub struct RunningGateway {
    /// Where the mTLS listener is bound (useful with port 0).
    pub addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    /// Where the probes-and-metrics listener is bound (`gateway.health_listen`).
    pub health_addr: Option<SocketAddr>,
    /// The live material; replaced whole on reload.
    pub shared: Arc<ArcSwap<Gateway>>,
    /// Stops the admin listener and the reload loop (the very end).
    stop: watch::Sender<bool>,
    /// Draining: `/readyz` fails, the mTLS listener stops accepting and its
    /// connections shut down gracefully.
    drain: watch::Sender<bool>,
    /// The mTLS listener's connection slots.
    slots: ConnSlots,
    limits: ConnLimits,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// How long after the drain deadline the cut connections may take to go.
const CUT_GRACE: Duration = Duration::from_secs(2);

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainOutcome {
    /// Connections still open at the drain deadline (cut off); 0 is a clean drain.
    pub connections_cut: usize,
}

impl RunningGateway {
    /// The snapshot currently serving.
    pub fn current(&self) -> Arc<Gateway> {
        self.shared.load_full()
    }

    /// Reload from `config` now (what SIGHUP does).
    pub fn reload(&self, config: &Path) -> Result<(), ConfigErrors> {
        reload(&self.shared, config)
    }

    /// Drain and stop (what SIGTERM does): report not-ready at once, stop
    /// accepting, let requests and streams in progress finish for up to
    /// `server.drain_timeout`, then stop the admin listener and write out the audit records still
    /// buffered. `/healthz` answers until the end.
    pub async fn shutdown(self) -> DrainOutcome {
        let _ = self.drain.send(true);
        let open = self.slots.open();
        tracing::info!(
            connections = open,
            deadline_ms = self.limits.drain_timeout.as_millis() as u64,
            "draining: not ready, no new connections, waiting for requests in progress"
        );
        let cut = self.slots.wait_all_closed(self.limits.drain_timeout).await;
        if cut > 0 {
            tracing::warn!(
                connections = cut,
                "drain deadline reached; closing the remaining connections"
            );
            // Each connection cuts itself just after this deadline (see
            // `listener::serve`); wait for that, so the records of the
            // requests it ends are submitted before the final flush.
            let left = self.slots.wait_all_closed(CUT_GRACE).await;
            if left > 0 {
                tracing::warn!(connections = left, "connections still open after the cut");
            }
        } else {
            tracing::info!("drained");
        }
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        if let Err(e) = self.shared.load().audit.flush().await {
            tracing::error!(error = %e, "audit log not flushed at shutdown");
        }
        DrainOutcome {
            connections_cut: cut,
        }
    }

    /// Whether the gateway is draining (not ready).
    pub fn is_draining(&self) -> bool {
        *self.drain.borrow()
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
    #[error("cannot open the audit log: {0}")]
    Audit(#[from] crate::audit::AuditError),
}

/// Build the gateway from `cfg` and start its listeners, with SIGHUP and
/// file-change reload from `cfg.path`.
pub async fn start(cfg: &ConfigFile) -> Result<RunningGateway, StartError> {
    let metrics = Arc::new(Metrics::default());
    let mut gw = Gateway::build(cfg, metrics)?;
    // Opened here, not in `build`: building also serves `config check`,
    // which must not create files. Reloads carry this handle over.
    gw.audit = crate::audit::AuditLog::open(&gw.audit_settings)?;
    let gw = Arc::new(gw);
    let mut running = start_gateway(gw).await?;
    let (stopped, shared) = (running.stop.subscribe(), running.shared.clone());
    running
        .tasks
        .push(tokio::spawn(reload_loop(shared, cfg.path.clone(), stopped)));
    Ok(running)
}

/// Reload the gateway in `shared` from the config file at `path`. On any
/// problem the old material stays and the problems are returned (and logged).
pub fn reload(shared: &ArcSwap<Gateway>, path: &Path) -> Result<(), ConfigErrors> {
    let old = shared.load_full();
    let result = ConfigFile::load(path)
        .and_then(|cfg| Gateway::build_after(&cfg, old.metrics.clone(), Some(&old)));
    match result {
        Ok(new) => {
            if new.audit_settings != old.audit_settings {
                tracing::warn!("[audit] changed; the audit settings take effect only on restart");
            }
            if new.listen != old.listen {
                tracing::warn!(
                    old = %old.listen, new = %new.listen,
                    "gateway.listen changed; the listener address takes effect only on restart"
                );
            }
            Metrics::inc(&old.metrics.reloads);
            warn_expiry(&new);
            shared.store(Arc::new(new));
            tracing::info!(config = %path.display(), "configuration reloaded");
            Ok(())
        }
        Err(e) => {
            Metrics::inc(&old.metrics.reload_failures);
            for p in &e.0 {
                tracing::error!(location = %p.location, problem = %p.message, "reload refused; previous material keeps serving");
            }
            Err(e)
        }
    }
}

/// Log ahead of time when the listener certificate expires or the signing
/// key is due for rotation.
fn warn_expiry(gw: &Gateway) {
    const AHEAD: i64 = 7 * 86400;
    let now = crate::unix_now();
    if let Some(t) = gw.server_cert_not_after {
        if t - now < AHEAD {
            tracing::warn!(
                seconds_left = t - now,
                "the gateway's server certificate expires soon"
            );
        }
    }
    if let Some(t) = gw.signing_key_rotate_at {
        if t - now < AHEAD {
            tracing::warn!(
                seconds_left = t - now,
                kid = gw.keys.current.kid(),
                "the token signing key is due for rotation"
            );
        }
    }
}

/// (modification time, length) of each watched file; a missing file counts.
pub(crate) fn fingerprints(files: &[PathBuf]) -> HashMap<PathBuf, Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|f| {
            let fp = std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            (f.clone(), fp)
        })
        .collect()
}

/// Reload on SIGHUP, and when a watched file changes.
async fn reload_loop(shared: Arc<ArcSwap<Gateway>>, path: PathBuf, stopped: watch::Receiver<bool>) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let stop = wait_stop(stopped);
    tokio::pin!(stop);
    warn_expiry(&shared.load());
    let mut seen = fingerprints(&shared.load().files);
    let mut last_expiry_check = std::time::Instant::now();
    loop {
        let interval = shared.load().watch_interval;
        let tick = tokio::time::sleep(interval.unwrap_or(Duration::from_secs(3600)));
        #[cfg(unix)]
        let hup_recv = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup_recv = std::future::pending::<()>();
        let by_signal = tokio::select! {
            _ = &mut stop => return,
            _ = hup_recv => true,
            _ = tick => false,
        };
        if last_expiry_check.elapsed() > Duration::from_secs(3600) {
            warn_expiry(&shared.load());
            last_expiry_check = std::time::Instant::now();
        }
        if !by_signal {
            if interval.is_none() {
                continue;
            }
            let now = fingerprints(&shared.load().files);
            if now == seen {
                continue;
            }
            tracing::info!("a watched file changed; reloading");
        } else {
            tracing::info!("SIGHUP; reloading");
        }
        // The build reads files and parses keys: keep it off the async workers.
        let (s, p) = (shared.clone(), path.clone());
        let _ = tokio::task::spawn_blocking(move || reload(&s, &p)).await;
        // Whatever the outcome, remember the files as they are now, so a bad
        // file is not retried every tick; its next change is.
        seen = fingerprints(&shared.load().files);
    }
}

/// Start listeners for an already built gateway (no reload).
pub async fn start_gateway(gw: Arc<Gateway>) -> Result<RunningGateway, StartError> {
    let (stop, stopped) = watch::channel(false);
    let (drain, draining) = watch::channel(false);
    let limits = gw.conn_limits.clone();
    let slots = ConnSlots::new(limits.max_connections);
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
    // Cards the config says to fetch are fetched before the first request
    // is served (each bounded by the upstream timeout); failures are logged
    // and leave the agent at its file card, or unavailable.
    refresh_due_cards(&gw).await;
    let shared = Arc::new(ArcSwap::new(gw.clone()));
    let mut tasks = vec![
        tokio::spawn(accept_loop(
            shared.clone(),
            listener,
            draining.clone(),
            slots.clone(),
            limits.clone(),
        )),
        tokio::spawn(card_refresh_loop(shared.clone(), stopped.clone())),
    ];
    let mut admin_addr = None;
    if let Some(a) = gw.admin_listen {
        let l = TcpListener::bind(a)
            .await
            .map_err(|source| StartError::Bind { addr: a, source })?;
        admin_addr = l.local_addr().ok();
        tasks.push(tokio::spawn(admin_loop(
            shared.clone(),
            l,
            stopped.clone(),
            draining.clone(),
            limits.clone(),
            AdminScope::Full,
        )));
    }
    let mut health_addr = None;
    if let Some(a) = gw.health_listen {
        let l = TcpListener::bind(a)
            .await
            .map_err(|source| StartError::Bind { addr: a, source })?;
        health_addr = l.local_addr().ok();
        tasks.push(tokio::spawn(admin_loop(
            shared.clone(),
            l,
            stopped.clone(),
            draining.clone(),
            limits.clone(),
            AdminScope::ProbesOnly,
        )));
    }
    let admin = admin_addr.map_or_else(|| "-".to_string(), |a| a.to_string());
    let health = health_addr.map_or_else(|| "-".to_string(), |a| a.to_string());
    tracing::info!(%addr, %admin, %health, agents = gw.registry.agents().count(), "gateway listening");
    Ok(RunningGateway {
        addr,
        admin_addr,
        health_addr,
        shared,
        stop,
        drain,
        slots,
        limits,
        tasks,
    })
}

/// Longest sleep of the card refresher: a reload's new snapshot (whose
/// fetches are due at once) is picked up within this time.
const CARD_REFRESH_TICK: Duration = Duration::from_secs(1);

/// Refresh fetched cards as they come due, on whatever snapshot is current.
async fn card_refresh_loop(shared: Arc<ArcSwap<Gateway>>, stopped: watch::Receiver<bool>) {
    let stop = wait_stop(stopped);
    tokio::pin!(stop);
    loop {
        let gw = shared.load_full();
        refresh_due_cards(&gw).await;
        let now = std::time::Instant::now();
        let wait = gw
            .registry
            .agents()
            .filter_map(|a| a.card.next_due())
            .min()
            .map_or(CARD_REFRESH_TICK, |t| t.saturating_duration_since(now))
            .min(CARD_REFRESH_TICK);
        drop(gw);
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Fetch every card that is due, concurrently, and wait for all.
async fn refresh_due_cards(gw: &Arc<Gateway>) {
    let now = std::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for agent in gw.registry.agents() {
        if !agent.card.due(now) {
            continue;
        }
        let (agent, gw) = (agent.clone(), gw.clone());
        set.spawn(async move {
            if let Some(client) = gw.upstreams.get(&agent.name) {
                agent
                    .card
                    .refresh(client, gw.limits.upstream_timeout, &gw.metrics)
                    .await;
            }
        });
    }
    while set.join_next().await.is_some() {}
}

async fn wait_stop(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Accept connections until `stopped`, handing each to `on_conn` with a
/// permit of `slots` (taken before accepting: with every permit in use, new
/// connections wait in the kernel's queue). Both listeners pass handshake
/// slots here and take the connection slot after the handshake. Accept
/// errors (out of file descriptors and the like) back off briefly rather
/// than spin. The listener is closed on return.
async fn accept_until_stopped(
    listener: TcpListener,
    stopped: watch::Receiver<bool>,
    slots: ConnSlots,
    mut on_conn: impl FnMut(TcpStream, SocketAddr, Option<tokio::sync::OwnedSemaphorePermit>),
) {
    let stop = wait_stop(stopped);
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            _ = &mut stop => return,
            s = slots.acquire() => s,
        };
        tokio::select! {
            _ = &mut stop => return,
            r = listener.accept() => match r {
                Ok((tcp, remote)) => on_conn(tcp, remote, slot),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// The mTLS accept loop. What gates `accept` is a *handshake* slot, not a
/// connection slot: a socket takes a connection slot only once its
/// handshake succeeded ([`conn::serve_connection`]), so sockets that never
/// finish a handshake cannot hold the slots of callers with certificates.
async fn accept_loop(
    shared: Arc<ArcSwap<Gateway>>,
    listener: TcpListener,
    draining: watch::Receiver<bool>,
    slots: ConnSlots,
    limits: ConnLimits,
) {
    let handshakes = ConnSlots::new(limits.max_handshakes);
    let callers = Arc::new(conn::CallerLoad::new());
    let conn_draining = draining.clone();
    accept_until_stopped(listener, draining, handshakes, |tcp, remote, handshake| {
        let _ = tcp.set_nodelay(true);
        tokio::spawn(conn::serve_connection(conn::NewConn {
            shared: shared.clone(),
            tcp,
            remote,
            limits: limits.clone(),
            draining: conn_draining.clone(),
            handshake,
            slots: slots.clone(),
            callers: callers.clone(),
        }));
    })
    .await
}

/// The admin listener keeps serving while the gateway drains (`/healthz`
/// up, `/readyz` 503) and stops with `stopped`.
async fn admin_loop(
    shared: Arc<ArcSwap<Gateway>>,
    listener: TcpListener,
    stopped: watch::Receiver<bool>,
    draining: watch::Receiver<bool>,
    limits: ConnLimits,
    scope: AdminScope,
) {
    let slots = ConnSlots::new(limits.max_connections);
    // As on the mTLS listener: accept under a handshake slot, take the
    // connection slot once the peer is verified (or at once when plain).
    let handshakes = ConnSlots::new(limits.max_handshakes);
    let conn_stopped = stopped.clone();
    accept_until_stopped(listener, stopped, handshakes, |tcp, remote, handshake| {
        let conn = AdminConn {
            shared: shared.clone(),
            draining: draining.clone(),
            limits: limits.clone(),
            stopped: conn_stopped.clone(),
            handshake,
            slots: slots.clone(),
            scope,
        };
        tokio::spawn(serve_admin_connection(conn, tcp, remote));
    })
    .await
}

/// What a listener of the admin kind serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AdminScope {
    /// `admin_listen`: probes, metrics, approvals API, console.
    Full,
    /// `health_listen`: probes and metrics only, plain HTTP on any address.
    /// Nothing here can change state, so it needs no operator check.
    ProbesOnly,
}

/// What an admin connection needs besides its socket.
struct AdminConn {
    scope: AdminScope,
    shared: Arc<ArcSwap<Gateway>>,
    draining: watch::Receiver<bool>,
    limits: ConnLimits,
    stopped: watch::Receiver<bool>,
    /// Held until the connection has its slot.
    handshake: Option<tokio::sync::OwnedSemaphorePermit>,
    slots: ConnSlots,
}

/// One admin connection: plain HTTP, or (with `[admin] mtls`) a TLS
/// handshake with a mandatory client SVID first. The mode is taken from the
/// snapshot current at accept.
async fn serve_admin_connection(mut conn: AdminConn, tcp: TcpStream, remote: SocketAddr) {
    let gw = conn.shared.load_full();
    let (tls, handshake_timeout) = (gw.admin.tls.clone(), gw.limits.handshake_timeout);
    drop(gw);
    // The probes listener is always plain: kubelet presents no certificate.
    let tls = tls.filter(|_| conn.scope == AdminScope::Full);
    let Some(cfg) = tls else {
        let peer = AdminPeer {
            identity: None,
            remote,
        };
        let slot = conn.slots.acquire().await;
        drop(conn.handshake.take());
        return serve_admin_http(conn, tcp, peer, None, slot).await;
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
        let gw = conn.shared.load();
        conn::Proof::new(
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
    serve_admin_http(conn, stream, peer, Some(Arc::new(proof)), slot).await
}

async fn serve_admin_http<I>(
    conn: AdminConn,
    io: I,
    peer: AdminPeer,
    proof: Option<Arc<conn::Proof>>,
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer = Arc::new(peer);
    let AdminConn {
        shared,
        draining,
        limits,
        stopped,
        scope,
        ..
    } = conn;
    let handler = move |req: Request<Incoming>| {
        let (gw, peer, draining) = (shared.load_full(), peer.clone(), *draining.borrow());
        let proof = proof.clone();
        async move {
            if let Some(why) = proof.as_ref().and_then(|p| p.check(&gw).err()) {
                tracing::warn!(remote = %peer.remote, reason = %why, "admin request refused: the operator's certificate lapsed");
                let mut r =
                    admin::error(StatusCode::UNAUTHORIZED, "invalid_client", &why.to_string());
                r.extensions_mut().insert(listener::CloseConnection);
                return Ok(r);
            }
            let resp = match scope {
                AdminScope::Full => admin_request(gw, &peer, draining, req).await,
                AdminScope::ProbesOnly => admin_response(&gw, draining, req.uri().path()),
            };
            Ok::<_, std::convert::Infallible>(resp)
        }
    };
    listener::serve(io, handler, &limits, stopped, slot).await
}

/// Probes are open to whoever reaches the listener; everything else needs
/// an operator ([`admin::authorize`]).
async fn admin_request(
    gw: Arc<Gateway>,
    peer: &AdminPeer,
    draining: bool,
    req: Request<Incoming>,
) -> Response<http_body_util::Full<Bytes>> {
    if admin::is_probe(req.uri().path()) {
        return admin_response(&gw, draining, req.uri().path());
    }
    let op = match admin::authorize(&gw, peer, &req) {
        Ok(op) => op,
        Err(r) => return r,
    };
    match admin::handle(gw.clone(), op, req).await {
        Ok(r) => r,
        Err(req) => admin_response(&gw, draining, req.uri().path()),
    }
}

/// Ready: not draining, and the material serving is complete and current.
/// A gateway only exists once every certificate, key, card and rule loaded
/// and validated (a failed reload keeps the previous, valid material), so
/// what can still go wrong is time: the listener certificate expiring.
pub fn readiness(gw: &Gateway, draining: bool) -> Result<(), &'static str> {
    if draining {
        return Err("draining");
    }
    if gw
        .server_cert_not_after
        .is_some_and(|t| t <= crate::unix_now())
    {
        return Err("the server certificate has expired");
    }
    Ok(())
}

/// Metrics of `gw`: the counters plus gauges derived from its material.
pub fn render_metrics(gw: &Gateway) -> String {
    let now = crate::unix_now();
    let mut gauges = Vec::new();
    if let Some(t) = gw.server_cert_not_after {
        gauges.push(("actgate_server_cert_expiry_seconds", (t - now) as f64));
    }
    if let Some(t) = gw.signing_key_rotate_at {
        gauges.push(("actgate_token_signing_key_expiry_seconds", (t - now) as f64));
    }
    if gw.audit.is_enabled() {
        // 0 while audit writes fail (agent calls are refused meanwhile).
        let healthy = if gw.audit.is_healthy() { 1.0 } else { 0.0 };
        gauges.push(("actgate_audit_healthy", healthy));
        gauges.push(("actgate_audit_records_lost", gw.audit.stats().1 as f64));
    }
    if let Some(store) = &gw.approvals {
        gauges.push(("actgate_approvals_pending", store.pending_count(now) as f64));
    }
    let mut out = gw.metrics.render_with(&gauges);
    // 1 when the agent has a card in service, 0 when it answers 503.
    out.push_str("# TYPE actgate_agent_card_available gauge\n");
    let mut agents: Vec<_> = gw.registry.agents().collect();
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    for a in agents {
        let up = u8::from(a.card.live().is_some());
        out.push_str(&format!(
            "actgate_agent_card_available{{agent=\"{}\"}} {up}\n",
            a.name
        ));
    }
    out
}

fn admin_response(
    gw: &Gateway,
    draining: bool,
    path: &str,
) -> Response<http_body_util::Full<Bytes>> {
    let (status, body, ctype) = match path {
        "/metrics" => (
            StatusCode::OK,
            render_metrics(gw),
            "text/plain; version=0.0.4",
        ),
        // Alive as long as the process serves; draining is not a failure.
        "/healthz" => (StatusCode::OK, "ok\n".to_string(), "text/plain"),
        "/readyz" => match readiness(gw, draining) {
            Ok(()) => (StatusCode::OK, "ready\n".to_string(), "text/plain"),
            Err(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
                "text/plain",
            ),
        },
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
