//! The append path: a cloneable [`AuditLog`] handle feeding one writer
//! thread that owns the files.
//!
//! Why a thread and not a task: file writes and `fdatasync` block, and must
//! never stall the async workers that serve requests. The request path only
//! moves an [`AuditRecord`] into a bounded channel (no serialisation, no
//! hashing, no syscall); the thread serialises, chains, batches and writes.
//!
//! Durability (the choice the README documents):
//! - A refusal ([`super::Decision::written_before_response`]) is *written* —
//!   handed to the kernel with `write(2)` — before its response is released,
//!   so a `kill -9` of the gateway cannot lose it. It is not `fdatasync`ed
//!   first: waiting for the disk on every denial would let a flood of denied
//!   calls throttle the gateway.
//! - Everything else is buffered and written within `flush_interval` of its
//!   arrival; `kill -9` loses at most that window.
//! - `fdatasync` runs on the writer thread at most once per `flush_interval`
//!   (group commit), so an OS crash or power loss loses at most about two
//!   intervals.
//! - One `write(2)` per batch of whole lines: a crash can only leave the last
//!   line incomplete, which `verify` reports as a truncated tail.
//!
//! Every start begins a new file (never appending after bytes this process
//! did not write, which might end in a torn line), continuing the chain from
//! the last complete line of the newest existing file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;

use super::chain::{self, ChainHead, GENESIS};
use super::files::{create_private_dir, newest_head};
pub use super::files::{file_name, log_files};
use super::AuditRecord;

/// Records that may wait in the channel before appenders feel backpressure.
const CHANNEL_CAPACITY: usize = 65_536;
/// Pending bytes that trigger a write without waiting for the interval.
const MAX_PENDING_BYTES: usize = 1 << 20;

/// The resolved `[audit]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    pub enabled: bool,
    pub directory: PathBuf,
    pub max_file_size: u64,
    pub flush_interval: Duration,
    /// This replica's name (`[state] replica`), written into every
    /// `log_start` line so a file says which replica's chain it continues;
    /// `None` for a single gateway.
    pub replica: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit directory {}: {source}", path.display())]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit file {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit file {}: {message}", path.display())]
    Damaged { path: PathBuf, message: String },
    #[error("the audit record could not be written: {0}")]
    Write(#[from] WriteFailure),
    #[error("the audit writer has stopped")]
    Stopped,
    #[error(transparent)]
    Locked(#[from] crate::dir_lock::DirLockError),
}

/// Why a record was not written: the same failure goes to every waiter of
/// the batch, so it is shared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteFailure {
    #[error("{0}")]
    Io(Arc<std::io::Error>),
    #[error("{0}")]
    Encode(Arc<chain::ChainError>),
    #[error("the last audit write failed")]
    Earlier,
}

impl From<chain::ChainError> for WriteFailure {
    fn from(e: chain::ChainError) -> Self {
        WriteFailure::Encode(Arc::new(e))
    }
}

type Ack = oneshot::Sender<Result<(), WriteFailure>>;

/// Someone waiting for a record: released once it is written (`write(2)`),
/// or, when `synced`, once it is also `fdatasync`ed (the group commit).
struct Waiter {
    ack: Ack,
    synced: bool,
}

enum Msg {
    Record(Box<AuditRecord>, Option<Waiter>),
    Flush(Ack),
}

/// State both sides see.
#[derive(Debug, Default)]
struct Status {
    /// False after a failed write, true again after the next good one.
    healthy: AtomicBool,
    written: AtomicU64,
    lost: AtomicU64,
    /// Lines in the whole chain as written (the next line's `seq`): how far
    /// a shipper has to go (`state::audit_ship`).
    next_seq: AtomicU64,
}

struct Handle {
    tx: SyncSender<Msg>,
    /// The writer thread, unparked for messages that must not wait (a
    /// durable append, a flush) and when the channel is full. Buffered
    /// records do not wake it: it collects them for up to `flush_interval`
    /// and takes them as one batch, so an allowed call costs no thread
    /// wake-up (a context switch per request on a one-core gateway).
    writer: std::thread::Thread,
    status: Arc<Status>,
    directory: PathBuf,
}

/// Where records are appended. Cheap to clone; a disabled log accepts and
/// drops everything.
#[derive(Clone, Default)]
pub struct AuditLog {
    inner: Option<Arc<Handle>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => write!(f, "AuditLog(disabled)"),
            Some(h) => write!(f, "AuditLog({})", h.directory.display()),
        }
    }
}

impl AuditLog {
    /// A log that records nothing (`[audit] enabled = false`).
    pub fn disabled() -> Self {
        AuditLog { inner: None }
    }

    /// Open the log in `settings.directory`: create the directory (mode 0700)
    /// if needed, start a new file continuing the chain, start the writer.
    pub fn open(settings: &AuditSettings) -> Result<Self, AuditError> {
        if !settings.enabled {
            return Ok(Self::disabled());
        }
        let dir = settings.directory.clone();
        let status = Arc::new(Status {
            healthy: AtomicBool::new(true),
            ..Status::default()
        });
        let w = Writer::start(settings, status.clone())?;
        let (tx, rx) = mpsc::sync_channel(CHANNEL_CAPACITY);
        let interval = settings.flush_interval;
        let writer = std::thread::Builder::new()
            .name("actgate-audit".into())
            .spawn(move || w.run(rx, interval))
            .map_err(|source| AuditError::File {
                path: dir.clone(),
                source,
            })?;
        Ok(AuditLog {
            inner: Some(Arc::new(Handle {
                tx,
                writer: writer.thread().clone(),
                status,
                directory: dir,
            })),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// False while writes are failing (disk full, I/O error). The proxy
    /// refuses calls meanwhile: an action nobody can trace must not happen.
    pub fn is_healthy(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|h| h.status.healthy.load(Ordering::Relaxed))
    }

    /// The directory the files are in.
    pub fn directory(&self) -> Option<&Path> {
        self.inner.as_ref().map(|h| h.directory.as_path())
    }

    /// `(records written, records lost to write errors)` since open.
    pub fn stats(&self) -> (u64, u64) {
        self.inner.as_ref().map_or((0, 0), |h| {
            (
                h.status.written.load(Ordering::Relaxed),
                h.status.lost.load(Ordering::Relaxed),
            )
        })
    }

    /// The `seq` the next line of the chain will have: every line before
    /// it has been written to the file (what a shipper can read).
    pub fn next_seq(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |h| h.status.next_seq.load(Ordering::Relaxed))
    }

    /// Append `rec` with the durability its decision calls for: refusals are
    /// written before this returns, the rest is buffered. Errors are logged,
    /// not returned: the caller's answer does not change.
    pub async fn submit(&self, rec: AuditRecord) {
        // An issued token is used at the agent with no gateway in between:
        // its record is the only trace, so it is written before the token
        // leaves, like a refusal.
        if rec.decision.written_before_response() || rec.kind == super::RecordKind::TokenExchange {
            if let Err(e) = self.append_durable(rec).await {
                tracing::error!(error = %e, "audit record not written");
            }
        } else {
            self.append(rec).await;
        }
    }

    /// Buffered append: written within `flush_interval`. Returns at once
    /// unless the writer is far behind (then it waits for room).
    pub async fn append(&self, rec: AuditRecord) {
        self.send(Msg::Record(Box::new(rec), None)).await;
    }

    /// Append and wait until the record has been written to the file.
    pub async fn append_durable(&self, rec: AuditRecord) -> Result<(), AuditError> {
        self.append_waiting(rec, false).await
    }

    /// Append and wait until the record is on disk (`fdatasync`ed, grouped
    /// with whatever else is pending). For state changes that must not take
    /// effect without their record: issued tokens, approval decisions.
    pub async fn append_synced(&self, rec: AuditRecord) -> Result<(), AuditError> {
        self.append_waiting(rec, true).await
    }

    /// [`AuditLog::append_synced`] for a blocking thread (never an async
    /// worker): lets a store write the record under its own lock, so the
    /// record and the state change it allows cannot be separated by a race.
    pub fn append_synced_blocking(&self, rec: AuditRecord) -> Result<(), AuditError> {
        let Some(h) = &self.inner else {
            return Ok(());
        };
        let (tx, rx) = oneshot::channel();
        let waiter = Waiter {
            ack: tx,
            synced: true,
        };
        if h.tx.send(Msg::Record(Box::new(rec), Some(waiter))).is_err() {
            writer_gone(h);
            return Err(AuditError::Stopped);
        }
        h.writer.unpark();
        ack_result(rx.blocking_recv())
    }

    async fn append_waiting(&self, rec: AuditRecord, synced: bool) -> Result<(), AuditError> {
        let (tx, rx) = oneshot::channel();
        let waiter = Waiter { ack: tx, synced };
        if !self.send(Msg::Record(Box::new(rec), Some(waiter))).await {
            return Ok(());
        }
        ack_result(rx.await)
    }

    /// Hand `rec` to the writer without waiting (from a `Drop`, where
    /// nothing can be awaited). Never blocks: when the channel is full the
    /// send continues on a task (inside a runtime); outside one the record
    /// is counted lost and the log turns unhealthy, which refuses calls.
    pub fn submit_detached(&self, rec: AuditRecord) {
        let Some(h) = &self.inner else {
            return;
        };
        let urgent = rec.decision.written_before_response();
        match h.tx.try_send(Msg::Record(Box::new(rec), None)) {
            Ok(()) => {
                if urgent {
                    h.writer.unpark();
                }
            }
            Err(TrySendError::Full(Msg::Record(rec, _))) => {
                h.writer.unpark();
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => {
                        let log = self.clone();
                        rt.spawn(async move { log.append(*rec).await });
                    }
                    Err(_) => {
                        h.status.lost.fetch_add(1, Ordering::Relaxed);
                        h.status.healthy.store(false, Ordering::Relaxed);
                        tracing::error!("audit channel full outside the runtime; record lost");
                    }
                }
            }
            Err(TrySendError::Full(Msg::Flush(_))) => {}
            Err(TrySendError::Disconnected(_)) => {
                writer_gone(h);
            }
        }
    }

    /// Write everything buffered so far (shutdown, tests).
    pub async fn flush(&self) -> Result<(), AuditError> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Msg::Flush(tx)).await {
            return Ok(());
        }
        ack_result(rx.await)
    }

    /// False when disabled (nothing sent).
    async fn send(&self, msg: Msg) -> bool {
        let Some(h) = &self.inner else {
            return false;
        };
        let urgent = match &msg {
            Msg::Flush(_) => true,
            Msg::Record(rec, ack) => ack.is_some() || rec.decision.written_before_response(),
        };
        match h.tx.try_send(msg) {
            Ok(()) => {
                if urgent {
                    h.writer.unpark();
                }
            }
            Err(TrySendError::Full(msg)) => {
                // Backpressure without blocking an async worker; the writer
                // is woken to make room.
                h.writer.unpark();
                let tx = h.tx.clone();
                if !matches!(
                    tokio::task::spawn_blocking(move || tx.send(msg)).await,
                    Ok(Ok(()))
                ) {
                    return writer_gone(h);
                }
            }
            Err(TrySendError::Disconnected(_)) => return writer_gone(h),
        }
        true
    }
}

fn ack_result(
    r: Result<Result<(), WriteFailure>, oneshot::error::RecvError>,
) -> Result<(), AuditError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(AuditError::Write(e)),
        Err(_) => Err(AuditError::Stopped),
    }
}

/// The writer thread is gone: nothing more can be recorded, so the log is
/// unhealthy from now on and agent calls are refused (fail closed). The
/// caller is told the message was sent so a durable append waiting on it
/// reports the writer as stopped.
fn writer_gone(h: &Handle) -> bool {
    h.status.healthy.store(false, Ordering::Relaxed);
    tracing::error!("audit writer stopped; record dropped; agent calls are refused until restart");
    true
}

struct Writer {
    /// One writer per directory, for as long as this one runs.
    _lock: crate::dir_lock::DirLock,
    dir: PathBuf,
    max_file_size: u64,
    /// Named in each `log_start` line (`[state] replica`).
    replica: Option<String>,
    file: Option<(File, PathBuf)>,
    file_no: u32,
    /// Bytes in the current file.
    size: u64,
    /// Head including lines still in `buf`.
    head: ChainHead,
    /// `(head, fresh)` as of the last successful write.
    written: (ChainHead, bool),
    /// No line written yet anywhere: the next line is seq 0 after GENESIS.
    fresh: bool,
    /// Lines in the current file, written or pending.
    lines_in_file: u64,
    /// Lines written since the last `fdatasync`.
    unsynced: bool,
    /// `flush()` callers, answered after the `fdatasync`.
    flush_waiters: Vec<Ack>,
    /// Written records whose waiters want them `fdatasync`ed first.
    sync_waiters: Vec<Ack>,
    last_sync: Instant,
    buf: Vec<u8>,
    /// Records (not log lines of the log's own) in `buf`.
    buf_records: u64,
    /// Records lost to write failures and not yet reported in the log.
    unrecorded: u64,
    /// Of `unrecorded`, those a `records_lost` line in `buf` reports.
    reporting: u64,
    waiters: Vec<Waiter>,
    status: Arc<Status>,
}

impl Writer {
    /// Find where the chain stands in `settings.directory` and begin a new
    /// file continuing it.
    fn start(settings: &AuditSettings, status: Arc<Status>) -> Result<Writer, AuditError> {
        let dir = settings.directory.clone();
        create_private_dir(&dir).map_err(|source| AuditError::Directory {
            path: dir.clone(),
            source,
        })?;
        // Before reading the chain's head: another gateway writing here
        // would fork it.
        let lock = crate::dir_lock::DirLock::acquire(&dir, "[audit] directory")?;
        let (last_no, head) = newest_head(&dir)?;
        let fresh = head.is_none();
        let head = head.unwrap_or(ChainHead {
            seq: 0,
            hash: GENESIS.into(),
        });
        let mut w = Writer {
            dir,
            max_file_size: settings.max_file_size,
            replica: settings.replica.clone(),
            file: None,
            file_no: last_no,
            size: 0,
            written: (head.clone(), fresh),
            head,
            fresh,
            lines_in_file: 0,
            unsynced: false,
            flush_waiters: Vec::new(),
            sync_waiters: Vec::new(),
            last_sync: Instant::now(),
            buf: Vec::with_capacity(64 * 1024),
            buf_records: 0,
            unrecorded: 0,
            reporting: 0,
            waiters: Vec::new(),
            status,
            _lock: lock,
        };
        w.new_file("start")?;
        Ok(w)
    }

    fn run(mut self, rx: mpsc::Receiver<Msg>, interval: Duration) {
        let mut pending_since: Option<Instant> = None;
        loop {
            // Wake for the oldest buffered record's deadline, or for the
            // next `fdatasync` of written but unsynced lines.
            let sync_due = self.unsynced.then(|| self.last_sync + interval);
            let write_due = pending_since.map(|t| t + interval);
            let due = match (write_due, sync_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let first = match due {
                // Something is pending: sleep until it is due, unless a
                // sender unparks us for a message that must not wait.
                // Records sent meanwhile queue without waking this thread.
                Some(t) => {
                    std::thread::park_timeout(t.saturating_duration_since(Instant::now()));
                    match rx.try_recv() {
                        Ok(m) => Some(m),
                        Err(TryRecvError::Empty) => None,
                        Err(TryRecvError::Disconnected) => break,
                    }
                }
                None => match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                },
            };
            let mut urgent = false;
            if let Some(m) = first {
                urgent |= self.take(m);
                // Drain what is queued: one write for the whole batch.
                while self.buf.len() < MAX_PENDING_BYTES {
                    match rx.try_recv() {
                        Ok(m) => urgent |= self.take(m),
                        Err(_) => break,
                    }
                }
            }
            if self.buf.is_empty() && self.waiters.is_empty() && self.flush_waiters.is_empty() {
                pending_since = None;
            } else {
                let started = *pending_since.get_or_insert_with(Instant::now);
                if urgent || started.elapsed() >= interval || self.buf.len() >= MAX_PENDING_BYTES {
                    self.write_out();
                    pending_since = None;
                }
            }
            if self.unsynced
                && (!self.flush_waiters.is_empty()
                    || !self.sync_waiters.is_empty()
                    || self.last_sync.elapsed() >= interval)
            {
                self.sync();
            }
            // A flush answers once its records are on disk, not only in the kernel.
            let healthy = self.status.healthy.load(Ordering::Relaxed);
            for w in self
                .flush_waiters
                .drain(..)
                .chain(self.sync_waiters.drain(..))
            {
                let _ = w.send(if healthy {
                    Ok(())
                } else {
                    Err(WriteFailure::Earlier)
                });
            }
        }
        // Every handle is gone: write what is left.
        self.write_out();
        self.sync();
    }

    /// `fdatasync` the current file: at most once per `flush_interval` (and
    /// on flush requests), so a burst of refusals costs one disk sync, not
    /// one each.
    fn sync(&mut self) {
        if let Some((file, path)) = &self.file {
            if let Err(e) = file.sync_data() {
                // Written lines may not reach the disk: fail closed until a
                // later write succeeds (and records waiting for the sync are
                // reported as not durable).
                tracing::error!(file = %path.display(), error = %e, "audit fdatasync failed");
                self.status.healthy.store(false, Ordering::Relaxed);
            }
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
    }

    /// Queue one message; true when it must be written now.
    fn take(&mut self, m: Msg) -> bool {
        match m {
            Msg::Flush(ack) => {
                self.flush_waiters.push(ack);
                true
            }
            Msg::Record(rec, ack) => {
                let urgent = ack.is_some() || rec.decision.written_before_response();
                self.report_lost();
                if let Err(e) = self.queue(&rec) {
                    // Unreachable for the types involved, but never silent.
                    tracing::error!(error = %e, "audit record could not be serialised");
                    self.status.lost.fetch_add(1, Ordering::Relaxed);
                    self.unrecorded += 1;
                } else {
                    self.buf_records += 1;
                }
                if let Some(w) = ack {
                    self.waiters.push(w);
                }
                urgent
            }
        }
    }

    /// Before the next record after a loss: a `records_lost` line saying how
    /// many records are missing here, so the gap is in the chain itself.
    fn report_lost(&mut self) {
        if self.unrecorded == 0 || self.reporting != 0 {
            return;
        }
        let mut rec = AuditRecord::new(super::RecordKind::RecordsLost);
        rec.reason = Some(format!(
            "{} record(s) could not be written (audit write failures) and are missing before this line",
            self.unrecorded
        ));
        if self.queue(&rec).is_ok() {
            self.reporting = self.unrecorded;
        }
    }

    fn next(&self) -> (u64, &str) {
        if self.fresh {
            (0, GENESIS)
        } else {
            (self.head.seq + 1, &self.head.hash)
        }
    }

    fn queue(&mut self, rec: &AuditRecord) -> Result<(), chain::ChainError> {
        let (seq, prev) = self.next();
        let mut line = chain::encode_record(seq, prev, rec)?;
        let full = self.size + (self.buf.len() + line.len() + 1) as u64 > self.max_file_size;
        // A file always takes at least one record after its start line, so an
        // oversized record cannot make rotation loop.
        if full && self.lines_in_file > 1 {
            self.write_out();
            if let Err(e) = self.new_file("rotate") {
                tracing::error!(error = %e, "audit rotation failed; continuing in the current file");
            }
            let (seq, prev) = self.next();
            line = chain::encode_record(seq, prev, rec)?;
        }
        self.push_line(line);
        Ok(())
    }

    fn push_line(&mut self, line: Vec<u8>) {
        let (seq, _) = self.next();
        self.head = ChainHead {
            seq,
            hash: chain::line_hash(&line),
        };
        self.fresh = false;
        self.lines_in_file += 1;
        self.buf.extend_from_slice(&line);
        self.buf.push(b'\n');
    }

    /// Create the next file and write its `log_start` line synchronously.
    fn new_file(&mut self, reason: &str) -> Result<(), AuditError> {
        let no = self.file_no + 1;
        let name = file_name(no);
        let path = self.dir.join(&name);
        let mut opts = OpenOptions::new();
        opts.append(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(&path).map_err(|source| AuditError::File {
            path: path.clone(),
            source,
        })?;
        let (seq, prev) = self.next();
        let line = chain::encode_start(
            seq,
            prev,
            reason,
            &name,
            self.replica.as_deref(),
            SystemTime::now(),
        )
        .map_err(|e| AuditError::Write(e.into()))?;
        self.file_no = no;
        self.file = Some((file, path.clone()));
        self.size = 0;
        self.lines_in_file = 0;
        self.push_line(line);
        self.write_out();
        self.sync();
        if !self.status.healthy.load(Ordering::Relaxed) {
            // A file without its start line would read as tampered: write
            // nothing more anywhere (calls are refused) until a restart.
            self.file = None;
            return Err(AuditError::Damaged {
                path,
                message: "could not write the start line".into(),
            });
        }
        // The new name must survive a power loss too.
        let _ = crate::durable_file::sync_dir(&self.dir);
        Ok(())
    }

    /// Write the pending lines in one `write(2)` and release the waiters
    /// (`fdatasync` follows in `run`). On failure, cut the file back to its last good length so
    /// no torn line stays in the middle of the log, and forget the batch
    /// (its records are counted as lost, the chain continues unbroken).
    fn write_out(&mut self) {
        let result = if self.buf.is_empty() {
            Ok(())
        } else if let Some((file, _)) = self.file.as_mut() {
            file.write_all(&self.buf)
        } else {
            Err(std::io::Error::other("no audit file open"))
        };
        let lines = self.buf.iter().filter(|&&b| b == b'\n').count() as u64;
        match result {
            Ok(()) => {
                self.size += self.buf.len() as u64;
                self.written = (self.head.clone(), self.fresh);
                if !self.fresh {
                    let next = self.head.seq + 1;
                    self.status.next_seq.store(next, Ordering::Relaxed);
                }
                self.status.written.fetch_add(lines, Ordering::Relaxed);
                self.status.healthy.store(true, Ordering::Relaxed);
                self.unrecorded -= self.reporting;
                self.reporting = 0;
                // Released after write(2): the kernel has the lines, a
                // crash of this process can no longer lose them.
                for w in self.waiters.drain(..) {
                    if w.synced {
                        self.sync_waiters.push(w.ack);
                    } else {
                        let _ = w.ack.send(Ok(()));
                    }
                }
                self.unsynced |= lines > 0;
            }
            Err(e) => {
                let path = self.file.as_ref().map(|(_, p)| p.display().to_string());
                tracing::error!(file = ?path, error = %e, records = lines, "audit write failed; records lost, calls refused until a write succeeds");
                // A torn line left mid-file would read as tampering: if it
                // cannot be cut off, stop writing to this file altogether
                // (calls stay refused until a restart starts a new file).
                if let Some((file, _)) = &self.file {
                    if file.set_len(self.size).is_err() {
                        tracing::error!("audit file could not be cut back after a failed write; audit stopped until restart");
                        self.file = None;
                    }
                }
                (self.head, self.fresh) = self.written.clone();
                self.status.healthy.store(false, Ordering::Relaxed);
                self.status.lost.fetch_add(lines, Ordering::Relaxed);
                self.unrecorded += self.buf_records;
                self.reporting = 0;
                let failure = WriteFailure::Io(Arc::new(e));
                for w in self.waiters.drain(..) {
                    let _ = w.ack.send(Err(failure.clone()));
                }
            }
        }
        self.buf.clear();
        self.buf_records = 0;
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
