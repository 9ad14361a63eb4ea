//! The console's recent decisions: with `[state]` postgres, read from the
//! cluster's shared audit table, so any replica's console shows what every
//! replica decided; otherwise (or while PostgreSQL does not answer) this
//! replica's own in-memory ring.

use http::StatusCode;
use serde_json::json;

use super::respond::json_response;
use super::AdminResponse;
use crate::audit::recent::{DecisionRecord, CAPACITY};
use crate::snapshot::Snapshot;

/// `GET /api/recent`: `{"decisions": [...], "source": "cluster" | "replica"}`,
/// newest first.
pub async fn recent(gw: &Snapshot) -> AdminResponse {
    let db = gw.approvals.as_ref().and_then(|s| s.database());
    if let Some(db) = db {
        // Records ship about a second after they are written: read a wider
        // window by shipping time, then order by when the calls happened.
        match crate::state::audit_table::recent(db, (CAPACITY * 4) as i64).await {
            Ok(rows) => {
                let mut v: Vec<DecisionRecord> = rows
                    .iter()
                    .filter_map(|(replica, r)| DecisionRecord::from_audit(replica, r))
                    .collect();
                v.sort_by_key(|d| std::cmp::Reverse(d.time));
                v.truncate(CAPACITY);
                return json_response(StatusCode::OK, json!({"decisions": v, "source": "cluster"}));
            }
            Err(e) => {
                tracing::warn!(error = %e, "console: shared audit table unavailable; showing this replica's decisions");
            }
        }
    }
    json_response(
        StatusCode::OK,
        json!({"decisions": gw.recent.snapshot(), "source": "replica"}),
    )
}
