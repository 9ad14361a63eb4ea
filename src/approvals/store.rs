//! The files backend (`[state] backend = "files"`, the default).
//! Approvals on disk: one JSON file per approval in the configured
//! directory, each write atomic (temporary file, fsync, rename, fsync of the
//! directory), all of them loaded at start.
//!
//! Every state change happens under one lock and is on disk before the lock
//! is released and before anyone acts on it: an approval is never reported
//! approved unless that is durable, and a retry is never forwarded unless the
//! approval's consumption is durable — so a crash can lose a request, never
//! let one approval through twice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::durable_file::{self, Durability, DurableFileError, Secrecy};

use super::{valid_id, Approval, ApprovalRequest, Refusal, State};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a valid approval record: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("too many approvals are pending ({0}); decide some first")]
    Full(usize),
    #[error("this caller has too many approvals pending ({0}); decide some first")]
    CallerFull(usize),
    #[error("no randomness for an approval ID")]
    Random,
    #[error(transparent)]
    Locked(#[from] crate::dir_lock::DirLockError),
    #[error("the approval store's task failed")]
    Task,
    /// The shared state backend (PostgreSQL) cannot be reached.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

/// Why an approve/deny was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("no such approval")]
    Unknown,
    #[error("approval {id} is {} and can no longer be decided", state.as_str())]
    NotPending { id: String, state: State },
    /// The decider is the caller of the request, or acts in its delegation
    /// chain: an agent must never approve its own irreversible action.
    #[error("{by} is the caller of this request or in its delegation chain and may not decide it")]
    SelfDecision { by: String },
    #[error(transparent)]
    Storage(#[from] StoreError),
    /// The decision's audit record could not be written: the decision did
    /// not take effect.
    #[error("the decision could not be recorded in the audit log: {0}")]
    NotRecorded(crate::audit::AuditError),
}

/// Limits that a reload may change on a live store.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    pub ttl_secs: i64,
    pub retention_secs: i64,
    pub max_pending: usize,
    pub max_pending_per_caller: usize,
}

/// [`StoreLimits`] as a live store holds them (a reload swaps them).
pub struct LiveLimits {
    ttl_secs: AtomicI64,
    retention_secs: AtomicI64,
    max_pending: AtomicUsize,
    max_pending_per_caller: AtomicUsize,
}

impl LiveLimits {
    pub fn new(l: StoreLimits) -> Self {
        LiveLimits {
            ttl_secs: AtomicI64::new(l.ttl_secs),
            retention_secs: AtomicI64::new(l.retention_secs),
            max_pending: AtomicUsize::new(l.max_pending),
            max_pending_per_caller: AtomicUsize::new(l.max_pending_per_caller),
        }
    }

    pub fn get(&self) -> StoreLimits {
        StoreLimits {
            ttl_secs: self.ttl_secs.load(Ordering::Relaxed),
            retention_secs: self.retention_secs.load(Ordering::Relaxed),
            max_pending: self.max_pending.load(Ordering::Relaxed),
            max_pending_per_caller: self.max_pending_per_caller.load(Ordering::Relaxed),
        }
    }

    pub fn set(&self, l: StoreLimits) {
        self.ttl_secs.store(l.ttl_secs, Ordering::Relaxed);
        self.retention_secs
            .store(l.retention_secs, Ordering::Relaxed);
        self.max_pending.store(l.max_pending, Ordering::Relaxed);
        self.max_pending_per_caller
            .store(l.max_pending_per_caller, Ordering::Relaxed);
    }
}

pub struct FileStore {
    dir: PathBuf,
    limits: LiveLimits,
    approvals: Mutex<HashMap<String, Approval>>,
    /// One gateway per directory, for the store's life.
    _lock: crate::dir_lock::DirLock,
}

impl FileStore {
    /// Open (creating if needed) the directory and load every approval in
    /// it. A record that does not parse refuses the start: it was not
    /// written by the gateway (writes are atomic), and guessing what it
    /// meant could let a request through.
    pub fn open(dir: &Path, limits: StoreLimits) -> Result<Self, StoreError> {
        let io = |source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        // Single use holds only if one process decides it.
        let lock = crate::dir_lock::DirLock::acquire(dir, "[approvals] directory")?;
        let mut approvals = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with('.') && name.ends_with(".tmp") {
                // A write interrupted before its rename: never took effect.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            let text = std::fs::read(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
            let a: Approval = serde_json::from_slice(&text).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            if a.id != id || !valid_id(id) || a.state == State::Expired {
                return Err(StoreError::Corrupt {
                    path,
                    reason: "the file name, id or state is not one the gateway writes".into(),
                });
            }
            approvals.insert(a.id.clone(), a);
        }
        let store = FileStore {
            dir: dir.to_path_buf(),
            limits: LiveLimits::new(limits),
            approvals: Mutex::new(approvals),
            _lock: lock,
        };
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Apply the limits of a reloaded configuration.
    pub fn set_limits(&self, limits: StoreLimits) {
        self.limits.set(limits);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Approval>> {
        // A panic while holding the lock cannot leave a half-made change in
        // the map (changes are made only after the disk write succeeded), so
        // the data is still sound.
        self.approvals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The pending approval for `req`: an identical request that is still
    /// pending gets the same approval (a caller retrying before the decision
    /// does not pile up approvals); otherwise a new one.
    pub fn request(&self, req: ApprovalRequest, now: i64) -> Result<Approval, StoreError> {
        let mut map = self.lock();
        self.prune(&mut map, now);
        if let Some(a) = map
            .values()
            .find(|a| a.status(now) == State::Pending && a.request == req)
        {
            return Ok(a.clone());
        }
        let (mut pending, mut mine) = (0, 0);
        for a in map.values().filter(|a| a.status(now) == State::Pending) {
            pending += 1;
            mine += usize::from(a.request.caller == req.caller);
        }
        // The caller's own cap first: one agent's backlog must not use up
        // the room every other caller needs.
        let a = Approval::new_pending(req, now, &self.limits.get(), pending, mine)?;
        self.write(&a)?;
        map.insert(a.id.clone(), a.clone());
        Ok(a)
    }

    /// Let `req` through on approval `id`: it must exist, be for this very
    /// request, approved, unexpired and unused. The use is on disk before
    /// this returns `Ok`.
    pub fn consume(&self, id: &str, req: &ApprovalRequest, now: i64) -> Result<Approval, Refusal> {
        if !valid_id(id) {
            return Err(Refusal::Unknown);
        }
        let mut map = self.lock();
        let Some(a) = map.get(id) else {
            return Err(Refusal::Unknown);
        };
        a.check_use(req, now)?;
        let used = a.used(now);
        if let Err(e) = self.write(&used) {
            tracing::error!(approval = id, error = %e, "cannot record the use of an approval; refusing the request");
            return Err(Refusal::Storage);
        }
        map.insert(used.id.clone(), used.clone());
        Ok(used)
    }

    /// Approve or deny a pending, unexpired approval. `record` is called
    /// with the decided approval under the store's lock, before anything is
    /// stored: the decision takes effect only if it returns `Ok` (durable
    /// first — an approval never changes state without its audit record),
    /// and no other decision can slip in between the record and the change.
    pub fn decide(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        reason: Option<String>,
        now: i64,
        record: impl FnOnce(&Approval) -> Result<(), crate::audit::AuditError>,
    ) -> Result<Approval, DecideError> {
        if !valid_id(id) {
            return Err(DecideError::Unknown);
        }
        let mut map = self.lock();
        let a = map.get(id).ok_or(DecideError::Unknown)?;
        let decided = a.decided(approve, by, reason, now)?;
        record(&decided).map_err(DecideError::NotRecorded)?;
        self.write(&decided)?;
        map.insert(decided.id.clone(), decided.clone());
        Ok(decided)
    }

    pub fn get(&self, id: &str) -> Option<Approval> {
        if !valid_id(id) {
            return None;
        }
        self.lock().get(id).cloned()
    }

    /// Every approval kept, newest first.
    pub fn list(&self) -> Vec<Approval> {
        let mut v: Vec<Approval> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        v
    }

    /// Approvals waiting for a person (for the metrics gauge).
    pub fn pending_count(&self, now: i64) -> usize {
        self.lock()
            .values()
            .filter(|a| a.status(now) == State::Pending)
            .count()
    }

    /// Forget finished approvals older than the retention. A pruned ID is
    /// then unknown: still refused, only with a less specific message.
    fn prune(&self, map: &mut HashMap<String, Approval>, now: i64) {
        let retention = self.limits.get().retention_secs;
        let old: Vec<String> = map
            .values()
            .filter(|a| {
                a.finished_at(now)
                    .is_some_and(|t| t.saturating_add(retention) < now)
            })
            .map(|a| a.id.clone())
            .collect();
        for id in old {
            if std::fs::remove_file(self.dir.join(format!("{id}.json"))).is_ok() {
                map.remove(&id);
            }
        }
    }

    /// Write `a` atomically: a reader (or a restart) sees the old record or
    /// the new one, never a torn one.
    fn write(&self, a: &Approval) -> Result<(), StoreError> {
        let path = self.dir.join(format!("{}.json", a.id));
        let text = serde_json::to_vec_pretty(a).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        // Durable: a decision is recorded before it takes effect, so the
        // rename must survive a power loss (the directory is synced too).
        durable_file::replace(&path, &text, Secrecy::Public, Durability::Durable).map_err(|e| {
            match e {
                DurableFileError::Io { path, source } => StoreError::Io { path, source },
                DurableFileError::Random => StoreError::Random,
            }
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> StoreLimits {
        StoreLimits {
            ttl_secs: 900,
            retention_secs: 3600,
            max_pending: 2,
            max_pending_per_caller: 10,
        }
    }

    fn req(body: &str) -> ApprovalRequest {
        ApprovalRequest {
            caller: "spiffe://example.org/a".into(),
            subject: Some("alice".into()),
            subject_issuer: Some("https://idp".into()),
            chain: vec!["alice".into(), "spiffe://example.org/a".into()],
            agent: "bank".into(),
            operation: "SendMessage".into(),
            method: "POST".into(),
            path: "/a2a/jsonrpc".into(),
            body_sha256: super::super::body_digest(body.as_bytes()),
            rule: 0,
            subject_scopes: None,
            content_type: None,
            a2a_extensions: vec![],
            method_override: vec![],
            body: super::super::BodyPreview::of(body.as_bytes()),
        }
    }

    #[test]
    fn a_second_store_on_one_directory_is_refused_while_the_first_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let first = FileStore::open(dir.path(), limits()).unwrap();
        let e = FileStore::open(dir.path(), limits()).err().unwrap();
        assert!(matches!(e, StoreError::Locked(_)), "{e}");
        assert!(e.to_string().contains("[approvals] directory"), "{e}");
        // The lock file is not taken for an approval.
        assert!(first.list().is_empty());
        drop(first);
        FileStore::open(dir.path(), limits()).unwrap();
    }

    #[test]
    fn nobody_in_the_request_may_decide_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(dir.path(), limits()).unwrap();
        let a = s.request(req("x"), 100).unwrap();
        for by in ["spiffe://example.org/a", "alice"] {
            assert!(matches!(
                s.decide(&a.id, true, by, None, 101, |_| Ok(())),
                Err(DecideError::SelfDecision { .. })
            ));
        }
        assert_eq!(s.get(&a.id).unwrap().state, State::Pending);
        s.decide(
            &a.id,
            true,
            "spiffe://example.org/operator/bob",
            None,
            102,
            |_| Ok(()),
        )
        .unwrap();
    }

    #[test]
    fn lifecycle_survives_reopen_and_is_single_use() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(dir.path(), limits()).unwrap();
        let a = s.request(req("x"), 100).unwrap();
        // The same request while pending: the same approval.
        assert_eq!(s.request(req("x"), 101).unwrap().id, a.id);
        assert_eq!(
            s.consume(&a.id, &req("x"), 102),
            Err(Refusal::Pending(a.id.clone()))
        );
        s.decide(&a.id, true, "op", Some("ok".into()), 103, |_| Ok(()))
            .unwrap();
        drop(s);
        let s = FileStore::open(dir.path(), limits()).unwrap();
        assert_eq!(s.get(&a.id).unwrap().state, State::Approved);
        assert!(matches!(
            s.consume(&a.id, &req("y"), 104),
            Err(Refusal::Mismatch(_, "request body"))
        ));
        assert_eq!(s.consume(&a.id, &req("x"), 105).unwrap().used_at, Some(105));
        drop(s);
        let s = FileStore::open(dir.path(), limits()).unwrap();
        assert_eq!(
            s.consume(&a.id, &req("x"), 106),
            Err(Refusal::Used(a.id.clone()))
        );
        assert!(matches!(
            s.decide(&a.id, false, "op", None, 107, |_| Ok(())),
            Err(DecideError::NotPending {
                state: State::Used,
                ..
            })
        ));
    }

    #[test]
    fn expiry_cap_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(dir.path(), limits()).unwrap();
        let a = s.request(req("1"), 0).unwrap();
        s.request(req("2"), 0).unwrap();
        assert!(matches!(s.request(req("3"), 1), Err(StoreError::Full(2))));
        assert!(matches!(
            s.decide(&a.id, true, "op", None, 900, |_| Ok(())),
            Err(DecideError::NotPending {
                state: State::Expired,
                ..
            })
        ));
        assert_eq!(s.pending_count(900), 0);
        // Past expiry + retention both are pruned from memory and disk.
        s.request(req("4"), 900 + 3601).unwrap();
        assert_eq!(s.list().len(), 1);
        // (Approval files only: `.lock` is the directory's lock.)
        let files = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "json")
            })
            .count();
        assert_eq!(files, 1);
    }

    #[test]
    fn one_caller_cannot_take_every_pending_slot() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(
            dir.path(),
            StoreLimits {
                max_pending: 3,
                max_pending_per_caller: 1,
                ..limits()
            },
        )
        .unwrap();
        s.request(req("1"), 0).unwrap();
        assert!(matches!(
            s.request(req("2"), 0),
            Err(StoreError::CallerFull(1))
        ));
        let mut other = req("2");
        other.caller = "spiffe://example.org/b".into();
        s.request(other, 0).unwrap();
    }

    #[test]
    fn a_foreign_file_refuses_the_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ap-x.json"), "{}").unwrap();
        assert!(matches!(
            FileStore::open(dir.path(), limits()),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
