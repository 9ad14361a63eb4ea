//! Hot reload: the live [`Snapshot`] is immutable and sits behind an
//! `ArcSwap`. A reload (SIGHUP, or a changed file) builds a complete new
//! snapshot and swaps it in only if every file is good; otherwise the old
//! one keeps serving and the failure is logged and counted. Also here: the
//! early warnings that the listener certificate or the signing key is due.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::accept::wait_true;
use super::watch::fingerprints;
use crate::config::{ConfigErrors, ConfigFile};
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;

/// Reload the gateway in `shared` from the config file at `path`. On any
/// problem the old material stays and the problems are returned (and logged).
pub fn reload(shared: &ArcSwap<Snapshot>, path: &Path) -> Result<(), ConfigErrors> {
    let old = shared.load_full();
    let result = ConfigFile::load(path).and_then(|cfg| {
        let new = Snapshot::build_after(&cfg, old.metrics.clone(), Some(&old))?;
        // A new grants file is opened now: a reload that cannot open it
        // keeps the old material.
        super::open_grants(&new).map_err(|e| {
            crate::config::one_problem(&cfg, "authorize.grants_file", e.to_string())
        })?;
        Ok(new)
    });
    match result {
        Ok(mut new) => {
            // Set at start from the state backend, as the open log uses it.
            new.audit_settings
                .replica
                .clone_from(&old.audit_settings.replica);
            if new.audit_settings != old.audit_settings {
                tracing::warn!("[audit] changed; the audit settings take effect only on restart");
            }
            let listen = |g: &Snapshot| g.user_auth.as_ref().map(|u| u.listen);
            if listen(&new) != listen(&old) {
                tracing::warn!("[authorize] listen changed (or [authorize] was added or removed); its listener takes effect only on restart");
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
fn warn_expiry(gw: &Snapshot) {
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

/// The SIGHUP handler, where there are such signals and it could be installed.
#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

fn hangup_handler() -> Hangup {
    #[cfg(unix)]
    return tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    #[cfg(not(unix))]
    ()
}

/// Resolves at SIGHUP; never without a handler.
async fn hangup(hup: &mut Hangup) {
    #[cfg(unix)]
    if let Some(h) = hup.as_mut() {
        h.recv().await;
        return;
    }
    #[cfg(not(unix))]
    let _ = hup;
    std::future::pending::<()>().await
}

/// Reload on SIGHUP, and when a watched file changes.
pub(super) async fn reload_loop(
    shared: Arc<ArcSwap<Snapshot>>,
    path: PathBuf,
    mut stopped: watch::Receiver<bool>,
) {
    let mut hup = hangup_handler();
    warn_expiry(&shared.load());
    let mut seen = fingerprints(&shared.load().files);
    let mut last_expiry_check = std::time::Instant::now();
    loop {
        let interval = shared.load().watch_interval;
        let tick = tokio::time::sleep(interval.unwrap_or(Duration::from_secs(3600)));
        let by_signal = tokio::select! {
            _ = wait_true(&mut stopped) => return,
            _ = hangup(&mut hup) => true,
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
