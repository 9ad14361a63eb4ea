//! Card refresh: the cards the config says to fetch from their upstreams
//! are fetched before the first request is served, then again as each
//! comes due, on whatever snapshot is current (a reload's new slots are due
//! at once). A failed fetch keeps the last good card ([`CardSlot::refresh`](super::card_slot::CardSlot::refresh)).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::server::accept::wait_true;
use crate::snapshot::Snapshot;

/// Longest sleep of the card refresher: a reload's new snapshot (whose
/// fetches are due at once) is picked up within this time.
const CARD_REFRESH_TICK: Duration = Duration::from_secs(1);

/// Refresh fetched cards as they come due, on whatever snapshot is current,
/// until `stopped`.
pub(crate) async fn card_refresh_loop(
    shared: Arc<ArcSwap<Snapshot>>,
    mut stopped: watch::Receiver<bool>,
) {
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
            _ = wait_true(&mut stopped) => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Fetch every card that is due, concurrently, and wait for all.
pub(crate) async fn refresh_due_cards(gw: &Arc<Snapshot>) {
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
