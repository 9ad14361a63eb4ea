//! The state refresher: every few seconds the shared state backend of
//! whatever snapshot is current is probed (migrations retried until they
//! succeed, the `actgate_state_backend_up` gauge and the pending count
//! kept current). Files: nothing to do.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::Snapshot;
use crate::server::accept::wait_true;

/// How often the backend is probed: how soon the gauge (and the log) say
/// it is down or back. Calls never wait for a probe.
const TICK: Duration = Duration::from_secs(2);

pub(crate) async fn state_refresh_loop(
    shared: Arc<ArcSwap<Snapshot>>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let store = shared.load().approvals.clone();
        if let Some(store) = store {
            store.refresh(crate::unix_now()).await;
        }
        tokio::select! {
            _ = wait_true(&mut stopped) => return,
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}
