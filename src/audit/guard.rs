//! Exactly one record per request, whatever happens to the request's future.
//!
//! A request handler is a future: hyper drops it when the caller hangs up,
//! a drain may drop it, a deadline may drop it. A record submitted at the
//! end of the handler would then never be written, although the decision
//! was taken and the upstream may already be executing the call. So the
//! record lives in a [`RecordGuard`] from the start: submitting consumes it,
//! and dropping it unsubmitted submits it from `Drop` (without blocking or
//! awaiting: see [`AuditLog::submit_detached`]), marked
//! [`CLIENT_CLOSED_STATUS`]. Either path takes the record out of the guard
//! first, so a request can never leave two records.

use std::ops::{Deref, DerefMut};
use std::time::Instant;

use tokio::sync::watch;

use super::{AuditError, AuditLog, AuditRecord};

/// The status recorded for a request whose answer nobody received (nginx's
/// 499 "client closed request"; never sent on the wire).
pub const CLIENT_CLOSED_STATUS: u16 = 499;
/// The reason recorded with [`CLIENT_CLOSED_STATUS`].
pub const CLIENT_CLOSED_REASON: &str = "client_closed_request";
/// The reason recorded with [`CLIENT_CLOSED_STATUS`] for a request dropped
/// while its listener drains: cut at the drain deadline, or a caller that
/// hung up during the drain (the guard cannot tell which, so it names both).
pub const CLOSED_WHILE_DRAINING_REASON: &str = "closed_while_draining";

/// The one record of a request in progress; derefs to the record so the
/// pipeline's stages fill it in as before.
pub struct RecordGuard {
    rec: AuditRecord,
    /// Not yet submitted.
    armed: bool,
    log: AuditLog,
    started: Instant,
    draining: Option<watch::Receiver<bool>>,
}

impl RecordGuard {
    pub fn new(log: &AuditLog, rec: AuditRecord, started: Instant) -> Self {
        RecordGuard {
            rec,
            armed: true,
            log: log.clone(),
            started,
            draining: None,
        }
    }

    /// Name the drain in the record if the request is dropped while the
    /// listener drains.
    pub fn with_drain_signal(mut self, draining: Option<watch::Receiver<bool>>) -> Self {
        self.draining = draining;
        self
    }

    /// The record, stamped with `status` and latency; `None` once taken.
    fn take(&mut self, status: u16) -> Option<AuditRecord> {
        if !std::mem::replace(&mut self.armed, false) {
            return None;
        }
        // The placeholder allocates nothing.
        let kind = self.rec.kind;
        let mut rec = std::mem::replace(&mut self.rec, AuditRecord::blank(kind));
        rec.status = Some(status);
        rec.finish(self.started);
        Some(rec)
    }

    /// Submit with the status the caller is answered with (durability as
    /// [`AuditLog::submit`] chooses it).
    pub async fn submit(mut self, status: u16) {
        if let Some(rec) = self.take(status) {
            self.log.submit(rec).await;
        }
    }

    /// Submit and wait until the record is on disk; `Err` means the record
    /// is not written and whatever it records must not take effect.
    pub async fn submit_synced(mut self, status: u16) -> Result<(), AuditError> {
        match self.take(status) {
            Some(rec) => self.log.append_synced(rec).await,
            None => Ok(()),
        }
    }
}

impl Deref for RecordGuard {
    type Target = AuditRecord;
    fn deref(&self) -> &AuditRecord {
        &self.rec
    }
}

impl DerefMut for RecordGuard {
    fn deref_mut(&mut self) -> &mut AuditRecord {
        &mut self.rec
    }
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        let Some(mut rec) = self.take(CLIENT_CLOSED_STATUS) else {
            return;
        };
        // Keep what was decided (an allowed call may have reached the
        // upstream: that is exactly what the record must show) and say why
        // the answer was never given.
        let why = match &self.draining {
            Some(d) if *d.borrow() => CLOSED_WHILE_DRAINING_REASON,
            _ => CLIENT_CLOSED_REASON,
        };
        rec.reason = Some(match rec.reason.take() {
            Some(r) => format!("{r}; {why}"),
            None => why.to_owned(),
        });
        self.log.submit_detached(rec);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::audit::{query, AuditSettings, Decision, RecordKind};

    fn open(dir: &std::path::Path) -> AuditLog {
        AuditLog::open(&AuditSettings {
            enabled: true,
            directory: dir.join("audit"),
            max_file_size: 1 << 20,
            flush_interval: Duration::from_millis(10),
            replica: None,
        })
        .unwrap()
    }

    fn records(dir: &std::path::Path) -> Vec<crate::audit::AuditRecord> {
        let files = query::log_files(&dir.join("audit")).unwrap();
        query::query_files(&files, &query::Filter::default())
            .unwrap()
            .0
            .into_iter()
            .map(|m| m.record)
            .collect()
    }

    #[tokio::test]
    async fn a_dropped_guard_records_once_and_a_submitted_one_never_again() {
        let d = tempfile::tempdir().unwrap();
        let log = open(d.path());
        let mut dropped =
            RecordGuard::new(&log, AuditRecord::new(RecordKind::Proxy), Instant::now());
        dropped.decision = Decision::Allow;
        dropped.agent = Some("dropped".into());
        drop(dropped);
        let mut submitted =
            RecordGuard::new(&log, AuditRecord::new(RecordKind::Proxy), Instant::now());
        submitted.refuse(Decision::Deny, "no rule");
        submitted.agent = Some("submitted".into());
        submitted.submit(403).await;
        log.flush().await.unwrap();
        let recs = records(d.path());
        assert_eq!(recs.len(), 2, "{recs:?}");
        let gone = recs
            .iter()
            .find(|r| r.agent.as_deref() == Some("dropped"))
            .unwrap();
        assert_eq!(gone.status, Some(CLIENT_CLOSED_STATUS));
        assert_eq!(gone.decision, Decision::Allow, "what was decided is kept");
        assert_eq!(gone.reason.as_deref(), Some(CLIENT_CLOSED_REASON));
        assert!(gone.latency_us.is_some());
        let answered = recs
            .iter()
            .find(|r| r.agent.as_deref() == Some("submitted"))
            .unwrap();
        assert_eq!(answered.status, Some(403));
        assert_eq!(answered.reason.as_deref(), Some("no rule"));
    }
}
