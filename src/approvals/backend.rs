//! [`ApprovalStore`]: the one store API the proxy and the admin API use,
//! over either backend — files on this node ([`FileStore`]) or the shared
//! PostgreSQL database ([`PgStore`]). Callers have one code path; the
//! choice is `[state] backend`.

use std::path::PathBuf;
use std::sync::Arc;

use super::pg::PgStore;
use super::store::{DecideError, FileStore, StoreError, StoreLimits};
use super::{Approval, ApprovalRequest, Refusal};
use crate::audit::{AuditLog, AuditRecord};

/// Where a store keeps its approvals (a reload keeps a store whose place
/// did not change: forking the single-use state would let one through twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Dir(PathBuf),
    /// The settings' fingerprint (URL, CA, replica).
    Postgres(String),
}

/// An approve or deny, with how its audit record is made and written.
pub struct Decision {
    pub approve: bool,
    /// The admin identity deciding.
    pub by: String,
    pub reason: Option<String>,
    /// The log the decision's record goes to, durably, before it takes effect.
    pub audit: AuditLog,
    pub record: fn(&Approval) -> AuditRecord,
}

enum Backend {
    Files(Arc<FileStore>),
    Postgres(PgStore),
}

pub struct ApprovalStore {
    backend: Backend,
}

impl ApprovalStore {
    pub fn files(store: FileStore) -> Self {
        ApprovalStore {
            backend: Backend::Files(Arc::new(store)),
        }
    }

    pub fn postgres(store: PgStore) -> Self {
        ApprovalStore {
            backend: Backend::Postgres(store),
        }
    }

    pub fn place(&self) -> Place {
        match &self.backend {
            Backend::Files(f) => Place::Dir(f.dir().to_path_buf()),
            Backend::Postgres(p) => Place::Postgres(p.db().settings().fingerprint.clone()),
        }
    }

    /// Apply the limits of a reloaded configuration.
    pub fn set_limits(&self, limits: StoreLimits) {
        match &self.backend {
            Backend::Files(f) => f.set_limits(limits),
            Backend::Postgres(p) => p.set_limits(limits),
        }
    }

    /// The pending approval for `req` (an identical pending request gets
    /// the same one), or a new one.
    pub async fn request(&self, req: ApprovalRequest, now: i64) -> Result<Approval, StoreError> {
        match &self.backend {
            Backend::Files(f) => {
                let f = f.clone();
                // The file store fsyncs: keep that off the async workers.
                let r = tokio::task::spawn_blocking(move || f.request(req, now)).await;
                r.unwrap_or(Err(StoreError::Task))
            }
            Backend::Postgres(p) => p.request(req, now).await,
        }
    }

    /// Let `req` through on approval `id`; the use is durable (or
    /// committed) before this returns `Ok`.
    pub async fn consume(
        &self,
        id: String,
        req: ApprovalRequest,
        now: i64,
    ) -> Result<Approval, Refusal> {
        match &self.backend {
            Backend::Files(f) => {
                let f = f.clone();
                let r = tokio::task::spawn_blocking(move || f.consume(&id, &req, now)).await;
                r.unwrap_or(Err(Refusal::Storage))
            }
            Backend::Postgres(p) => p.consume(&id, &req, now).await,
        }
    }

    /// Approve or deny a pending approval; the decision's audit record is
    /// on disk before the decision takes effect.
    pub async fn decide(&self, id: String, d: Decision, now: i64) -> Result<Approval, DecideError> {
        match &self.backend {
            Backend::Files(f) => {
                let f = f.clone();
                // Record and change under the store's lock (fsyncs: off the
                // async workers).
                let r = tokio::task::spawn_blocking(move || {
                    let Decision {
                        approve,
                        by,
                        reason,
                        audit,
                        record,
                    } = d;
                    f.decide(&id, approve, &by, reason, now, |a| {
                        audit.append_synced_blocking(record(a))
                    })
                })
                .await;
                r.unwrap_or(Err(DecideError::Storage(StoreError::Task)))
            }
            Backend::Postgres(p) => p.decide(&id, d, now).await,
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        match &self.backend {
            Backend::Files(f) => Ok(f.get(id)),
            Backend::Postgres(p) => p.get(id).await,
        }
    }

    /// Every approval kept, newest first.
    pub async fn list(&self) -> Result<Vec<Approval>, StoreError> {
        match &self.backend {
            Backend::Files(f) => Ok(f.list()),
            Backend::Postgres(p) => p.list().await,
        }
    }

    /// Approvals waiting for a person (the metrics gauge; for PostgreSQL as
    /// last counted, never waiting on the database).
    pub fn pending_count(&self, now: i64) -> usize {
        match &self.backend {
            Backend::Files(f) => f.pending_count(now),
            Backend::Postgres(p) => p.pending_count(),
        }
    }

    /// The shared database, when approvals are kept in it (the audit
    /// shipper uses the same pool).
    pub fn database(&self) -> Option<&std::sync::Arc<crate::state::Database>> {
        match &self.backend {
            Backend::Files(_) => None,
            Backend::Postgres(p) => Some(p.db()),
        }
    }

    /// Whether the shared state backend answers (`None`: files).
    pub fn backend_up(&self) -> Option<bool> {
        match &self.backend {
            Backend::Files(_) => None,
            Backend::Postgres(p) => Some(p.db().is_up()),
        }
    }

    /// Start-up: the schema migrated before the first call needs it. A
    /// database that is down is not fatal: the refresher retries, and
    /// calls needing an approval get 503 meanwhile. `Err` only for an
    /// older schema this gateway may not migrate (`[state] migrate =
    /// false`): it would never become usable, so the operator is told at
    /// once rather than by every approval failing.
    pub async fn prepare(&self) -> Result<(), crate::state::StateError> {
        if let Backend::Postgres(p) = &self.backend {
            match p.db().prepare().await {
                Ok(n) => tracing::info!(
                    migrations_applied = n,
                    replica = p.db().replica(),
                    "state backend ready"
                ),
                Err(e @ crate::state::StateError::SchemaTooOld { .. }) => return Err(e),
                Err(e) => {
                    tracing::error!(error = %e, "state backend not ready at start; approvals are refused until it is")
                }
            }
        }
        Ok(())
    }

    /// The state refresher's tick (PostgreSQL only).
    pub async fn refresh(&self, now: i64) {
        if let Backend::Postgres(p) = &self.backend {
            p.refresh(now).await;
        }
    }
}
