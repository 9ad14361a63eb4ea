//! Shipping this replica's audit chain to PostgreSQL (`audit_records`).
//!
//! The file log stays the record of evidence, with every rule it has
//! (written before the call goes on, fail closed when it cannot be): the
//! shipper only reads it, later, and never gates a call, so PostgreSQL
//! being down stops no traffic but approvals.
//!
//! - The outbox *is* the file log: the writer already puts every line in
//!   chain order with its `seq`. A cursor file `shipped` next to the log
//!   names the chain and the last `seq` PostgreSQL acknowledged; it is
//!   replaced atomically after each batch. No second copy of the records,
//!   so nothing can disagree with the log.
//! - Each tick reads the lines after the cursor, across rotated files, in
//!   batches of [`BATCH`], and inserts each batch in one transaction with
//!   `ON CONFLICT DO NOTHING` on `(replica, chain, seq)`: a batch sent
//!   again after a crash between commit and cursor update is not
//!   duplicated.
//! - The chain is named by the hash of its `seq` 0 line, so a log
//!   directory started afresh under the same replica name is a new chain
//!   in the table, not a fork of the old one. The replica is `[state]
//!   replica`.
//! - PostgreSQL unreachable: the cursor stops, the log grows (bounded by
//!   the disk, as without shipping), `actgate_audit_unshipped_records`
//!   says how far behind, and a warning repeats each minute; the backlog
//!   drains when it is back. A `kill -9` loses only what the file log's own
//!   rules allow (allowed calls within `flush_interval`); the rest ships
//!   after the restart, from the cursor.
//! - Nothing here deletes files. A file removed from the directory before
//!   it shipped is a `seq` gap `audit verify --state` reports.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::audit_table::{insert_batch, ShipLine};
use super::Database;
use crate::audit::chain::{line_hash, parse_chain_fields, split_lines};
use crate::audit::AuditLog;

/// Records per transaction.
pub const BATCH: usize = 500;
/// How often the log is read for new lines: the most a replica's records
/// lag behind in the table while PostgreSQL is up.
const TICK: Duration = Duration::from_secs(1);
/// How often the "not shipping" warning repeats.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// The cursor file's name in the audit directory.
pub const CURSOR_FILE: &str = "shipped";

/// The gauge, for `/metrics` (one gateway per process).
static UNSHIPPED: AtomicU64 = AtomicU64::new(0);
static SHIPPING: AtomicBool = AtomicBool::new(false);

/// `actgate_audit_unshipped_records`: `None` when nothing ships.
pub fn unshipped_records() -> Option<u64> {
    SHIPPING
        .load(Ordering::Relaxed)
        .then(|| UNSHIPPED.load(Ordering::Relaxed))
}

/// What `shipped` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    chain: String,
    /// The last `seq` PostgreSQL acknowledged; `None`: nothing yet.
    seq: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("audit directory {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: the line at byte {byte} is not an audit record; shipping stops there (run `actgate audit verify`)", path.display())]
    Damaged { path: PathBuf, byte: usize },
    #[error("{0}")]
    Cursor(String),
    #[error(transparent)]
    State(#[from] super::StateError),
}

/// One replica's shipper: where it stands in its log.
pub struct Shipper {
    dir: PathBuf,
    cursor: Option<Cursor>,
    /// The file and byte offset right after the last shipped line (so a
    /// tick reads only what is new), once known.
    pos: Option<(PathBuf, usize)>,
    last_warn: Option<Instant>,
}

impl Shipper {
    pub fn new(dir: &Path) -> Result<Shipper, ShipError> {
        let path = dir.join(CURSOR_FILE);
        let cursor = match std::fs::read(&path) {
            Ok(b) => Some(serde_json::from_slice::<Cursor>(&b).map_err(|e| {
                ShipError::Cursor(format!(
                    "{}: {e}: not a shipping cursor (remove it to ship again from the start; shipping is idempotent)",
                    path.display()
                ))
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(ShipError::Io { path, source }),
        };
        Ok(Shipper {
            dir: dir.to_path_buf(),
            cursor,
            pos: None,
            last_warn: None,
        })
    }

    /// The `seq` after the last acknowledged one.
    fn next_unshipped(&self) -> u64 {
        self.cursor
            .as_ref()
            .and_then(|c| c.seq)
            .map_or(0, |s| s + 1)
    }

    /// Ship everything written so far, batch by batch; the number shipped.
    pub async fn ship(&mut self, db: &Database, replica: &str) -> Result<u64, ShipError> {
        let mut total = 0;
        loop {
            let (chain, lines, end) = self.read_batch()?;
            let Some(last) = lines.last().map(|l| l.seq) else {
                return Ok(total);
            };
            insert_batch(db, replica, &chain, &lines).await?;
            total += lines.len() as u64;
            let cursor = Cursor {
                chain,
                seq: Some(last),
            };
            self.save(&cursor)?;
            self.cursor = Some(cursor);
            self.pos = end;
            if lines.len() < BATCH {
                return Ok(total);
            }
        }
    }

    fn save(&self, c: &Cursor) -> Result<(), ShipError> {
        let path = self.dir.join(CURSOR_FILE);
        let bytes = serde_json::to_vec(c).map_err(|e| ShipError::Cursor(e.to_string()))?;
        crate::durable_file::replace(
            &path,
            &bytes,
            crate::durable_file::Secrecy::Public,
            crate::durable_file::Durability::Content,
        )
        .map_err(|e| ShipError::Cursor(e.to_string()))
    }

    /// Up to [`BATCH`] lines after the cursor, the chain they belong to and
    /// where the last one ends.
    #[allow(clippy::type_complexity)]
    fn read_batch(
        &mut self,
    ) -> Result<(String, Vec<ShipLine>, Option<(PathBuf, usize)>), ShipError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ShipError::Io { path, source }
        };
        let files = crate::audit::query::log_files(&self.dir).map_err(io(&self.dir))?;
        let mut from = self.next_unshipped();
        let mut chain = self.cursor.as_ref().map(|c| c.chain.clone());
        let mut out = Vec::new();
        let mut end = self.pos.clone();
        // Files before the one the last batch ended in are done.
        let start_at = self
            .pos
            .as_ref()
            .and_then(|(p, _)| files.iter().position(|f| f == p))
            .unwrap_or(0);
        for path in &files[start_at..] {
            let skip = match &self.pos {
                Some((p, off)) if p == path => *off,
                _ => 0,
            };
            // Only what follows the last shipped line: a tick must not
            // re-read a 64 MiB file to find a few new lines.
            let bytes = read_from(path, skip).map_err(io(path))?;
            let mut offset = skip;
            for line in split_lines(&bytes).complete {
                let at = offset;
                offset += line.len() + 1;
                let f = parse_chain_fields(line).ok_or_else(|| ShipError::Damaged {
                    path: path.clone(),
                    byte: at,
                })?;
                if f.seq == 0 {
                    let name = chain_name(0, line);
                    if chain.as_deref().is_some_and(|c| c != name) {
                        // The log was started afresh under a cursor left
                        // from an older one: a new chain, shipped from its
                        // start (never appended to the old chain's rows).
                        tracing::warn!(cursor = %self.dir.join(CURSOR_FILE).display(), "the audit log is a new chain; shipping it from seq 0");
                        from = 0;
                        self.cursor = None;
                    }
                    chain = Some(name);
                } else if chain.is_none() {
                    chain = Some(chain_name(f.seq, line));
                }
                if f.seq < from {
                    continue;
                }
                let text = String::from_utf8(line.to_vec()).map_err(|_| ShipError::Damaged {
                    path: path.clone(),
                    byte: at,
                })?;
                out.push(ShipLine {
                    seq: f.seq,
                    prev: f.prev,
                    line: text,
                });
                end = Some((path.clone(), offset));
                if out.len() >= BATCH {
                    return Ok((chain.unwrap_or_default(), out, end));
                }
            }
        }
        Ok((chain.unwrap_or_default(), out, end))
    }

    /// Set the gauge from the log's head; warn (each minute) while behind
    /// because PostgreSQL does not take the records.
    fn report(&mut self, log: &AuditLog, failure: Option<&ShipError>) {
        let behind = log.next_seq().saturating_sub(self.next_unshipped());
        UNSHIPPED.store(behind, Ordering::Relaxed);
        if let Some(e) = failure {
            let due = self.last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY);
            if due {
                tracing::warn!(error = %e, unshipped = behind, "audit records not shipped to PostgreSQL; they stay in the file log and ship when it is back");
                self.last_warn = Some(Instant::now());
            }
        } else if self.last_warn.take().is_some() {
            tracing::info!(unshipped = behind, "audit shipping resumed");
        }
    }
}

/// The bytes of `path` from `offset` on.
fn read_from(path: &Path, offset: usize) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset as u64))?;
    let mut out = Vec::new();
    f.read_to_end(&mut out)?;
    Ok(out)
}

/// A chain is named by its first line: the hash of the `seq` 0 line, or,
/// for a log whose first files are gone, where what is left begins.
fn chain_name(seq: u64, line: &[u8]) -> String {
    let h = line_hash(line);
    if seq == 0 {
        h
    } else {
        format!("from-{seq}-{h}")
    }
}

/// The shipper task: each tick, whatever the current snapshot's audit log
/// and database are (`what` returns them; `None`: nothing to ship).
pub async fn ship_loop(
    what: impl Fn() -> Option<(AuditLog, Arc<Database>)> + Send + 'static,
    mut stopped: watch::Receiver<bool>,
) {
    let mut shipper: Option<Shipper> = None;
    loop {
        if let Some((log, db)) = what() {
            tick(&mut shipper, &log, &db).await;
        }
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

async fn tick(shipper: &mut Option<Shipper>, log: &AuditLog, db: &Database) {
    let Some(dir) = log.directory() else {
        return;
    };
    SHIPPING.store(true, Ordering::Relaxed);
    if shipper.as_ref().is_none_or(|s| s.dir != dir) {
        match Shipper::new(dir) {
            Ok(s) => *shipper = Some(s),
            Err(e) => {
                tracing::error!(error = %e, "audit shipping cannot start");
                return;
            }
        }
    }
    let Some(s) = shipper.as_mut() else {
        return;
    };
    let r = s.ship(db, db.replica()).await;
    s.report(log, r.as_ref().err());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditSettings, Decision, RecordKind};

    async fn log_with(dir: &Path, records: usize) {
        let settings = AuditSettings {
            enabled: true,
            directory: dir.to_path_buf(),
            max_file_size: 4096,
            flush_interval: Duration::from_millis(5),
            replica: None,
        };
        // The previous log's writer thread lets go of the directory lock
        // only as it ends, just after its handle is dropped.
        let mut opened = AuditLog::open(&settings);
        for _ in 0..200 {
            if opened.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            opened = AuditLog::open(&settings);
        }
        let log = opened.unwrap();
        for i in 0..records {
            let mut r = crate::audit::AuditRecord::new(RecordKind::Proxy);
            r.decision = Decision::Allow;
            r.operation = Some(format!("op {i} {}", "x".repeat(200)));
            log.append(r).await;
        }
        log.flush().await.unwrap();
    }

    #[tokio::test]
    async fn batches_follow_the_chain_across_rotated_files_and_a_fresh_log_is_a_new_chain() {
        let dir = tempfile::tempdir().unwrap();
        log_with(dir.path(), 40).await;
        assert!(crate::audit::query::log_files(dir.path()).unwrap().len() > 2);
        let mut s = Shipper::new(dir.path()).unwrap();
        let (chain, lines, end) = s.read_batch().unwrap();
        let seqs: Vec<u64> = lines.iter().map(|l| l.seq).collect();
        // 40 records and one log_start per file, in order, none twice.
        assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
        assert!(seqs.len() > 40);
        assert_eq!(chain.len(), 64, "{chain}");
        let last = *seqs.last().unwrap();
        let cursor = Cursor {
            chain: chain.clone(),
            seq: Some(last),
        };
        s.save(&cursor).unwrap();
        (s.cursor, s.pos) = (Some(cursor), end);
        assert!(s.read_batch().unwrap().1.is_empty(), "nothing new");

        // The log files replaced, the cursor left behind: a new chain.
        for f in crate::audit::query::log_files(dir.path()).unwrap() {
            std::fs::remove_file(f).unwrap();
        }
        log_with(dir.path(), 1).await;
        let mut s = Shipper::new(dir.path()).unwrap();
        assert_eq!(s.next_unshipped(), last + 1);
        let (fresh, lines, _) = s.read_batch().unwrap();
        assert_ne!(fresh, chain);
        assert_eq!(lines.first().map(|l| l.seq), Some(0));
    }
}
