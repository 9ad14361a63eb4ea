//! The `[approvals]` part of building a snapshot: the store human approvals
//! are kept in, checked with the rest of the config (and with the rules that
//! ask for a human), each problem reported under its field.

use std::sync::Arc;

use super::pg::PgStore;
use super::store::StoreLimits;
use super::{ApprovalStore, FileStore, Place};
use crate::config::{ApprovalSetting, ConfigFile, Problems};

/// The approval store the config asks for: the previous snapshot's store
/// (`prior`) when its place (directory, or database settings) is unchanged
/// (a reload must not fork the single-use state), else opened from disk or
/// a new pool for the database (which connects lazily: `config check`
/// reaches nothing). The limits are returned, not applied: a shared
/// store takes them only once the whole reload has succeeded.
pub(crate) fn approvals(
    p: &mut Problems,
    cfg: &ConfigFile,
    prior: Option<&Arc<ApprovalStore>>,
) -> (Option<Arc<ApprovalStore>>, Option<StoreLimits>) {
    let raw = &cfg.raw;
    // Checked whether or not approvals are on: a `[state]` problem is
    // reported either way.
    let state = crate::state::settings::settings(p, cfg);
    let needing: Vec<usize> = raw
        .rule
        .iter()
        .enumerate()
        .filter(|(_, r)| r.approval == ApprovalSetting::Human)
        .map(|(i, _)| i)
        .collect();
    let Some(a) = &raw.approvals else {
        if let Some(i) = needing.first() {
            p.add(
                format!("rule[{i}].approval"),
                "\"human\" needs an [approvals] section with the directory approvals are kept in",
            );
        }
        return (None, None);
    };
    if let (Some(i), None) = (needing.first(), raw.gateway.admin_listen) {
        p.add(
            format!("rule[{i}].approval"),
            "\"human\" needs gateway.admin_listen: approvals are decided through the admin listener",
        );
    }
    let limits = StoreLimits {
        ttl_secs: p.duration("approvals.ttl", &a.ttl).as_secs() as i64,
        retention_secs: p.duration("approvals.retention", &a.retention).as_secs() as i64,
        max_pending: a.max_pending,
        max_pending_per_caller: a.max_pending_per_caller,
    };
    if a.max_pending == 0 {
        p.add("approvals.max_pending", "must be at least 1");
    }
    if a.max_pending_per_caller == 0 || a.max_pending_per_caller > a.max_pending {
        p.add(
            "approvals.max_pending_per_caller",
            format!(
                "must be at least 1 and at most approvals.max_pending ({})",
                a.max_pending
            ),
        );
    }
    if let (crate::config::StateBackend::Postgres, Some(_)) = (raw.state.backend, &a.dir) {
        // Said, not ignored: an operator who set a directory expects the
        // approvals there, and they are in the database.
        p.add(
            "approvals.dir",
            "not used with [state] backend = \"postgres\" (approvals are kept in the database): remove it",
        );
    }
    let place = match (&state, &a.dir) {
        (Some(s), _) => Place::Postgres(s.fingerprint.clone()),
        (None, Some(dir)) => Place::Dir(cfg.resolve(dir)),
        (None, None) => {
            if cfg.raw.state.backend == crate::config::StateBackend::Files {
                p.add(
                    "approvals.dir",
                    "required with [state] backend = \"files\" (the default): the directory approvals are kept in",
                );
            }
            return (None, None);
        }
    };
    if let Some(store) = prior.filter(|s| s.place() == place) {
        return (Some(store.clone()), Some(limits));
    }
    let opened = match (state, place) {
        (Some(s), _) => {
            let db = p.take("state", crate::state::Database::new(s));
            db.map(|db| ApprovalStore::postgres(PgStore::new(Arc::new(db), limits)))
        }
        (None, Place::Dir(dir)) => p
            .take("approvals.dir", FileStore::open(&dir, limits))
            .map(ApprovalStore::files),
        (None, Place::Postgres(_)) => None,
    };
    (opened.map(Arc::new), None)
}
