//! The PostgreSQL backend (`[state] backend = "postgres"`): approvals in
//! one table every replica reads and writes, so an approval requested
//! through one replica is decided through any and used once in all.
//!
//! - request: one transaction under an advisory lock, so the count of
//!   pending approvals and the insert are one step cluster-wide
//!   (`max_pending` and the per-caller cap hold across replicas);
//! - consume: a conditional `UPDATE … WHERE state = 'approved' …`: of any
//!   number of concurrent retries on any replicas exactly one changes the
//!   row, and only that one is forwarded;
//! - decide: the row locked (`FOR UPDATE`), the audit record written, the
//!   row changed, committed.
//!
//! A statement that fails or does not answer in time is an error, never a
//! guess: the proxy answers 503 (fail closed).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use deadpool_postgres::GenericClient;

use super::store::{DecideError, LiveLimits, StoreError, StoreLimits};
use super::{valid_id, Approval, ApprovalRequest, Refusal};
use crate::state::{bounded, Database, StateError};

/// Key of the advisory lock request transactions take (the count-then-insert
/// of one replica must not interleave with another's).
const REQUEST_LOCK: i64 = 0x0061_6374_6761_7070;

pub struct PgStore {
    db: Arc<Database>,
    limits: LiveLimits,
    /// Pending approvals as last counted (the gauge; rendering metrics
    /// never waits on the database).
    pending: AtomicUsize,
}

fn parse(text: &str) -> Result<Approval, StateError> {
    let a: Approval =
        serde_json::from_str(text).map_err(|e| StateError::Corrupt(format!("approval: {e}")))?;
    if !valid_id(&a.id) {
        return Err(StateError::Corrupt("approval with an invalid id".into()));
    }
    Ok(a)
}

fn text(a: &Approval) -> Result<String, StateError> {
    serde_json::to_string(a).map_err(|e| StateError::Corrupt(e.to_string()))
}

/// The stored approval `id`, if any.
async fn load(
    c: &impl GenericClient,
    id: &str,
    lock: bool,
) -> Result<Option<Approval>, StateError> {
    let sql = if lock {
        "SELECT record FROM approvals WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT record FROM approvals WHERE id = $1"
    };
    let row = c.query_opt(sql, &[&id]).await?;
    row.map(|r| parse(r.get(0))).transpose()
}

impl PgStore {
    pub fn new(db: Arc<Database>, limits: StoreLimits) -> PgStore {
        PgStore {
            db,
            limits: LiveLimits::new(limits),
            pending: AtomicUsize::new(0),
        }
    }

    pub fn db(&self) -> &Arc<Database> {
        &self.db
    }

    pub fn set_limits(&self, limits: StoreLimits) {
        self.limits.set(limits);
    }

    pub fn pending_count(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    pub async fn request(&self, req: ApprovalRequest, now: i64) -> Result<Approval, StoreError> {
        let limits = self.limits.get();
        bounded(&self.db, self.request_tx(req, now, limits)).await
    }

    async fn request_tx(
        &self,
        req: ApprovalRequest,
        now: i64,
        limits: StoreLimits,
    ) -> Result<Approval, StoreError> {
        let db = &self.db;
        let mut c = db.client().await?;
        let tx = db.seen(c.transaction().await)?;
        let locked = tx
            .execute("SELECT pg_advisory_xact_lock($1)", &[&REQUEST_LOCK])
            .await;
        db.seen(locked)?;
        // Forget finished approvals older than the retention, as the file
        // store does: a pruned ID is then unknown (still refused).
        let pruned = tx
            .execute(
                "DELETE FROM approvals WHERE (finished_at IS NOT NULL AND finished_at + $2 < $1)
                   OR (state IN ('pending', 'approved') AND expires_at + $2 < $1)",
                &[&now, &limits.retention_secs],
            )
            .await;
        db.seen(pruned)?;
        // An identical request still pending gets the same approval (a
        // caller retrying before the decision does not pile them up).
        let mine = tx
            .query(
                "SELECT record FROM approvals WHERE state = 'pending' AND expires_at > $1 AND caller = $2",
                &[&now, &req.caller],
            )
            .await;
        let mine = db.seen(mine)?;
        for row in &mine {
            let a = parse(row.get(0))?;
            if a.request == req {
                return Ok(a);
            }
        }
        let pending = tx
            .query_one(
                "SELECT count(*) FROM approvals WHERE state = 'pending' AND expires_at > $1",
                &[&now],
            )
            .await;
        let pending: i64 = db.seen(pending)?.get(0);
        let pending = usize::try_from(pending).unwrap_or(usize::MAX);
        let a = Approval::new_pending(req, now, &limits, pending, mine.len())?;
        let inserted = tx
            .execute(
                "INSERT INTO approvals (id, state, caller, created_at, expires_at, replica, record)
                 VALUES ($1, 'pending', $2, $3, $4, $5, $6)",
                &[
                    &a.id,
                    &a.request.caller,
                    &a.created_at,
                    &a.expires_at,
                    &db.replica(),
                    &text(&a)?,
                ],
            )
            .await;
        db.seen(inserted)?;
        db.seen(tx.commit().await)?;
        self.pending.store(pending + 1, Ordering::Relaxed);
        Ok(a)
    }

    /// Let `req` through on approval `id` (see [`super::FileStore::consume`]):
    /// the use is committed before this returns `Ok`, and of concurrent
    /// retries on any replicas only one gets `Ok`.
    pub async fn consume(
        &self,
        id: &str,
        req: &ApprovalRequest,
        now: i64,
    ) -> Result<Approval, Refusal> {
        if !valid_id(id) {
            return Err(Refusal::Unknown);
        }
        match bounded(&self.db, self.consume_once(id, req, now)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(approval = id, error = %e, "cannot record the use of an approval; refusing the request");
                Err(Refusal::Storage)
            }
        }
    }

    async fn consume_once(
        &self,
        id: &str,
        req: &ApprovalRequest,
        now: i64,
    ) -> Result<Result<Approval, Refusal>, StateError> {
        let db = &self.db;
        let c = db.client().await?;
        let Some(a) = db.seen_state(load(&c, id, false).await)? else {
            return Ok(Err(Refusal::Unknown));
        };
        if let Err(r) = a.check_use(req, now) {
            return Ok(Err(r));
        }
        let used = a.used(now);
        // The one step that makes it single-use: only a row still approved
        // and unexpired changes, and only one retry can change it.
        let changed = c
            .execute(
                "UPDATE approvals SET state = 'used', finished_at = $2, record = $3
                 WHERE id = $1 AND state = 'approved' AND expires_at > $2",
                &[&id, &now, &text(&used)?],
            )
            .await;
        if db.seen(changed)? == 1 {
            return Ok(Ok(used));
        }
        // Another retry (here or on another replica) won, or it expired or
        // was pruned meanwhile: say which.
        let now_stored = db.seen_state(load(&c, id, false).await)?;
        Ok(Err(match now_stored {
            None => Refusal::Unknown,
            Some(a) => a.check_use(req, now).err().unwrap_or(Refusal::Used(a.id)),
        }))
    }

    /// Approve or deny (see [`super::FileStore::decide`]): the row is
    /// locked, `record` is on disk, then the change is committed.
    pub async fn decide(
        &self,
        id: &str,
        decision: super::Decision,
        now: i64,
    ) -> Result<Approval, DecideError> {
        if !valid_id(id) {
            return Err(DecideError::Unknown);
        }
        let r = tokio::time::timeout(crate::state::TIMEOUT * 2, self.decide_tx(id, decision, now))
            .await;
        r.unwrap_or_else(|_| {
            Err(StoreError::State(StateError::Unavailable(
                "no answer within the time allowed".into(),
            ))
            .into())
        })
    }

    async fn decide_tx(
        &self,
        id: &str,
        d: super::Decision,
        now: i64,
    ) -> Result<Approval, DecideError> {
        let db = &self.db;
        let store = |e: StateError| DecideError::Storage(e.into());
        let mut c = db.client().await.map_err(store)?;
        let tx = db.seen(c.transaction().await).map_err(store)?;
        let a = db.seen_state(load(&tx, id, true).await).map_err(store)?;
        let a = a.ok_or(DecideError::Unknown)?;
        let decided = a.decided(d.approve, &d.by, d.reason, now)?;
        // Durable first: the decision's record, then the change.
        d.audit
            .append_synced((d.record)(&decided))
            .await
            .map_err(DecideError::NotRecorded)?;
        let changed = tx
            .execute(
                "UPDATE approvals SET state = $2, finished_at = $3, record = $4 WHERE id = $1",
                &[
                    &id,
                    &decided.state.as_str(),
                    &decided.finished_column(),
                    &text(&decided).map_err(store)?,
                ],
            )
            .await;
        db.seen(changed).map_err(store)?;
        db.seen(tx.commit().await).map_err(store)?;
        Ok(decided)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        if !valid_id(id) {
            return Ok(None);
        }
        bounded(&self.db, async {
            let c = self.db.client().await?;
            Ok(self.db.seen_state(load(&c, id, false).await)?)
        })
        .await
    }

    /// Every approval kept, newest first.
    pub async fn list(&self) -> Result<Vec<Approval>, StoreError> {
        bounded(&self.db, async {
            let c = self.db.client().await?;
            let rows = c
                .query(
                    "SELECT record FROM approvals ORDER BY created_at DESC, id",
                    &[],
                )
                .await;
            let rows = self.db.seen(rows)?;
            let list: Result<Vec<_>, _> = rows.iter().map(|r| parse(r.get(0))).collect();
            Ok(list?)
        })
        .await
    }

    /// The state refresher's tick: the database's health, and the pending
    /// count for the gauge.
    pub async fn refresh(&self, now: i64) {
        self.db.probe().await;
        if !self.db.is_up() {
            return;
        }
        let counted: Result<i64, StoreError> = bounded(&self.db, async {
            let c = self.db.client().await?;
            let row = c
                .query_one(
                    "SELECT count(*) FROM approvals WHERE state = 'pending' AND expires_at > $1",
                    &[&now],
                )
                .await;
            Ok(self.db.seen(row)?.get(0))
        })
        .await;
        if let Ok(n) = counted {
            self.pending
                .store(usize::try_from(n).unwrap_or(usize::MAX), Ordering::Relaxed);
        }
    }
}
