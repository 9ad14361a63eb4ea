//! Issuer key refresh: the keys of every `[[subject_issuer]]` fetched by URL
//! are fetched at start, then again as each set comes due, on whatever
//! snapshot is current (a reload's new issuers are due at once; an issuer
//! whose configuration did not change kept its slot and its schedule).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::Snapshot;
use crate::server::accept::wait_true;

/// Longest sleep of the refresher: a reload's new issuers are picked up
/// within this time.
const TICK: Duration = Duration::from_secs(1);

/// Refresh fetched issuer keys as they come due, until `stopped`.
pub(crate) async fn issuer_key_refresh_loop(
    shared: Arc<ArcSwap<Snapshot>>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let gw = shared.load_full();
        refresh_due(&gw).await;
        let now = Instant::now();
        let wait = gw
            .subject_tokens
            .issuer_slots()
            .filter_map(|s| s.next_due())
            .min()
            .map_or(TICK, |t| t.saturating_duration_since(now))
            .min(TICK);
        drop(gw);
        tokio::select! {
            _ = wait_true(&mut stopped) => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Fetch the keys of every issuer that is due, concurrently, and wait for all.
async fn refresh_due(gw: &Arc<Snapshot>) {
    let now = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for slot in gw.subject_tokens.issuer_slots() {
        if slot.next_due().is_none_or(|t| t > now) {
            continue;
        }
        let (slot, metrics) = (slot.clone(), gw.metrics.clone());
        set.spawn(async move { slot.refresh_if_due(&metrics).await });
    }
    while set.join_next().await.is_some() {}
}
