//! The gateway's lifecycle: build, start the listeners, reload, drain and
//! stop. In flow order:
//!
//! - [`accept`]: what every listener shares (the gateway's and the
//!   sidecar's): connection slots, the accept loop, the drain → stop → join
//!   sequence. This file: the mTLS accept loop under handshake slots.
//! - [`mtls`]: one mTLS connection: the handshake, the caller's identity,
//!   its proof re-checked per request, the per-caller in-flight cap.
//! - [`conn`]: serving one HTTP connection under limits (every listener).
//! - [`reload`]: SIGHUP and file watching ([`watch`]), the swap, and the
//!   certificate and key expiry warnings.
//!
//! The admin and health listeners are in [`crate::admin::listener`], card
//! refresh in [`crate::registry::refresh`].
//!
//! Reload: the live [`Snapshot`] is immutable and sits behind an
//! `ArcSwap`. A new connection takes the snapshot current at accept (its TLS
//! config, so its trust bundles and CRLs); each request takes the snapshot
//! current when it starts and keeps it to its end. A reload (SIGHUP, or a
//! changed file) builds a complete new snapshot and swaps it in only if every
//! file is good; otherwise the old one keeps serving and the failure is
//! logged and counted.

pub(crate) mod accept;
pub(crate) mod conn;
pub(crate) mod mtls;
mod reload;
mod served;
pub(crate) mod watch;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use self::accept::{accept_until_stopped, ConnSlots, Lifecycle};
use self::conn::ConnLimits;
use crate::admin::listener::{AdminListener, AdminScope};
use crate::config::{ConfigErrors, ConfigFile};
use crate::metrics::Metrics;
use crate::registry::refresh;
use crate::snapshot::Snapshot;

pub use self::reload::reload;
/// Moved to [`crate::admin::health`] (issue 13); kept at this path for callers.
pub use crate::admin::health::{readiness, render_metrics};

/// A gateway running on its own tasks; dropping it does not stop it, call
/// [`RunningGateway::shutdown`].
pub struct RunningGateway {
    /// Where the mTLS listener is bound (useful with port 0).
    pub addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    /// Where the probes-and-metrics listener is bound (`gateway.health_listen`).
    pub health_addr: Option<SocketAddr>,
    /// Where the `[authorize]` listener (people's browsers) is bound.
    pub authorize_addr: Option<SocketAddr>,
    /// The live material; replaced whole on reload.
    pub shared: Arc<ArcSwap<Snapshot>>,
    /// The drain and stop signals, the mTLS listener's slots, the tasks.
    life: Lifecycle,
    limits: ConnLimits,
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainOutcome {
    /// Connections still open at the drain deadline (cut off); 0 is a clean drain.
    pub connections_cut: usize,
}

impl RunningGateway {
    /// The snapshot currently serving.
    pub fn current(&self) -> Arc<Snapshot> {
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
        let cut = self.life.drain_and_stop(self.limits.drain_timeout).await;
        if let Err(e) = self.shared.load().audit.flush().await {
            tracing::error!(error = %e, "audit log not flushed at shutdown");
        }
        DrainOutcome {
            connections_cut: cut,
        }
    }

    /// Whether the gateway is draining (not ready).
    pub fn is_draining(&self) -> bool {
        self.life.is_draining()
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
    #[error("[state]: {0}")]
    State(#[from] crate::state::StateError),
    #[error("authorize.grants_file: {0}")]
    Grants(#[from] crate::grants::GrantsError),
    #[error("[authorize]: the system random source failed")]
    Random,
}

/// Build the gateway from `cfg` and start its listeners, with SIGHUP and
/// file-change reload from `cfg.path`.
pub async fn start(cfg: &ConfigFile) -> Result<RunningGateway, StartError> {
    let metrics = Arc::new(Metrics::default());
    let mut gw = Snapshot::build(cfg, metrics)?;
    // Opened here, not in `build`: building also serves `config check`,
    // which must not create files. Reloads carry this handle over.
    // In a cluster each file's log_start names the replica whose chain it is.
    gw.audit_settings.replica = gw
        .approvals
        .as_ref()
        .and_then(|a| a.database())
        .map(|db| db.replica().to_owned());
    gw.audit = crate::audit::AuditLog::open(&gw.audit_settings)?;
    // The shared schema migrated before the first call (a database that
    // is down is retried by the state refresher, not fatal).
    if let Some(store) = &gw.approvals {
        store.prepare().await?;
    }
    open_grants(&gw)?;
    let gw = Arc::new(gw);
    let mut running = start_gateway(gw).await?;
    let (stopped, shared) = (running.life.stopped(), running.shared.clone());
    running
        .life
        .spawn(reload::reload_loop(shared, cfg.path.clone(), stopped));
    Ok(running)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Start listeners for an already built gateway (no reload).
pub async fn start_gateway(gw: Arc<Snapshot>) -> Result<RunningGateway, StartError> {
    let mut life = Lifecycle::default();
    let limits = gw.conn_limits.clone();
    let slots = ConnSlots::new(limits.max_connections);
    let listener = bind(gw.listen).await?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: gw.listen,
        source,
    })?;
    // Cards the config says to fetch are fetched before the first request
    // is served (each bounded by the upstream timeout); failures are logged
    // and leave the agent at its file card, or unavailable.
    refresh::refresh_due_cards(&gw).await;
    let shared = Arc::new(ArcSwap::new(gw.clone()));
    life.drains(slots.clone());
    let draining = life.draining();
    life.spawn(accept_loop(
        shared.clone(),
        listener,
        draining,
        slots,
        limits.clone(),
    ));
    life.spawn(refresh::card_refresh_loop(shared.clone(), life.stopped()));
    // Fetched issuer keys: at once, then as they come due (`/readyz` waits
    // for the first good fetch of each, bounded by its startup_timeout).
    life.spawn(crate::snapshot::issuer_refresh::issuer_key_refresh_loop(
        shared.clone(),
        life.stopped(),
    ));
    life.spawn(crate::snapshot::state_refresh::state_refresh_loop(
        shared.clone(),
        life.stopped(),
    ));
    // Each replica's audit chain to PostgreSQL, when `[state]` is there.
    let ship_from = shared.clone();
    life.spawn(crate::state::audit_ship::ship_loop(
        move || {
            let gw = ship_from.load();
            let db = gw.approvals.as_ref()?.database()?.clone();
            gw.audit.is_enabled().then(|| (gw.audit.clone(), db))
        },
        life.stopped(),
    ));
    let (draining, stopped) = (life.draining(), life.stopped());
    let admin = |scope| AdminListener {
        scope,
        shared: shared.clone(),
        draining: draining.clone(),
        stopped: stopped.clone(),
        limits: limits.clone(),
    };
    let admin_addr = spawn_admin(&mut life, gw.admin_listen, admin(AdminScope::Full)).await?;
    let health_addr =
        spawn_admin(&mut life, gw.health_listen, admin(AdminScope::ProbesOnly)).await?;
    let authorize_addr = spawn_authorize(&mut life, &gw, &shared, &limits).await?;
    let admin = admin_addr.map_or_else(|| "-".to_string(), |a| a.to_string());
    let health = health_addr.map_or_else(|| "-".to_string(), |a| a.to_string());
    tracing::info!(%addr, %admin, %health, agents = gw.registry.agents().count(), "gateway listening");
    Ok(RunningGateway {
        addr,
        admin_addr,
        health_addr,
        authorize_addr,
        shared,
        life,
        limits,
    })
}

/// Open the grant store `[authorize]` names, unless the snapshot already
/// holds it (kept across a reload, or installed by the caller). Opened at
/// start and by reloads, never by `config check`: opening takes its lock.
pub(crate) fn open_grants(gw: &Snapshot) -> Result<(), crate::grants::GrantsError> {
    let Some(ua) = &gw.user_auth else {
        return Ok(());
    };
    if gw.grants.load().is_none() {
        let store = crate::grants::GrantStore::open(&ua.grants_file)?;
        gw.grants.store(Some(Arc::new(store)));
    }
    Ok(())
}

/// Bind and serve the `[authorize]` listener, if configured. It is bound
/// for the gateway's life: a reload that changes its address warns.
async fn spawn_authorize(
    life: &mut Lifecycle,
    gw: &Snapshot,
    shared: &Arc<ArcSwap<Snapshot>>,
    limits: &ConnLimits,
) -> Result<Option<SocketAddr>, StartError> {
    let Some(ua) = &gw.user_auth else {
        return Ok(None);
    };
    let state = crate::user_auth::routes::BrowserState::new(ua.consent_timeout)
        .map_err(|_| StartError::Random)?;
    let l = bind(ua.listen).await?;
    let bound = l.local_addr().ok();
    let listener = crate::user_auth::listener::UserAuthListener {
        shared: shared.clone(),
        stopped: life.stopped(),
        limits: limits.clone(),
        state: Arc::new(state),
    };
    life.spawn(crate::user_auth::listener::serve(listener, l));
    Ok(bound)
}

/// Bind and serve an admin-kind listener, if configured; where it is bound.
async fn spawn_admin(
    life: &mut Lifecycle,
    at: Option<SocketAddr>,
    listener: AdminListener,
) -> Result<Option<SocketAddr>, StartError> {
    let Some(a) = at else { return Ok(None) };
    let l = bind(a).await?;
    let bound = l.local_addr().ok();
    life.spawn(crate::admin::listener::serve(listener, l));
    Ok(bound)
}

/// The mTLS accept loop. What gates `accept` is a *handshake* slot, not a
/// connection slot: a socket takes a connection slot only once its
/// handshake succeeded ([`mtls::serve_connection`]), so sockets that never
/// finish a handshake cannot hold the slots of callers with certificates.
async fn accept_loop(
    shared: Arc<ArcSwap<Snapshot>>,
    listener: TcpListener,
    draining: tokio::sync::watch::Receiver<bool>,
    slots: ConnSlots,
    limits: ConnLimits,
) {
    let handshakes = ConnSlots::new(limits.max_handshakes);
    let callers = Arc::new(mtls::CallerLoad::new());
    let conn_draining = draining.clone();
    accept_until_stopped(listener, draining, handshakes, |tcp, remote, handshake| {
        let _ = tcp.set_nodelay(true);
        tokio::spawn(mtls::serve_connection(mtls::NewConn {
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
