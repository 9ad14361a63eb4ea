use std::time::Duration;

use super::*;
use crate::audit::files::file_number;
use crate::audit::verify::verify_files;
use crate::audit::{Decision, RecordKind};

fn settings(dir: &Path, max_file_size: u64, flush_ms: u64) -> AuditSettings {
    AuditSettings {
        enabled: true,
        directory: dir.join("audit"),
        max_file_size,
        flush_interval: Duration::from_millis(flush_ms),
        replica: None,
    }
}

fn record(i: usize, decision: Decision) -> AuditRecord {
    let mut r = AuditRecord::new(RecordKind::Proxy);
    r.caller = Some(format!("spiffe://example.org/agent/a{i}"));
    r.decision = decision;
    r
}

fn all_lines(dir: &Path) -> Vec<String> {
    log_files(dir)
        .unwrap()
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn refusals_are_on_disk_when_append_returns_and_allows_after_the_interval() {
    let d = tempfile::tempdir().unwrap();
    let s = settings(d.path(), 1 << 20, 60_000);
    let log = AuditLog::open(&s).unwrap();
    log.append(record(1, Decision::Allow)).await;
    log.submit(record(2, Decision::Deny)).await;
    // The deny was written at once (its batch took the queued allow along).
    let lines = all_lines(&s.directory);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[2].contains("agent/a2") && lines[2].contains("\"deny\""));

    // An allow alone waits for the interval (60 s here): not yet on disk.
    log.append(record(3, Decision::Allow)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(all_lines(&s.directory).len(), 3);
    log.flush().await.unwrap();
    assert_eq!(all_lines(&s.directory).len(), 4);
    assert_eq!(log.stats(), (4, 0));
}

#[tokio::test]
async fn allowed_records_are_written_within_the_flush_interval() {
    let d = tempfile::tempdir().unwrap();
    let s = settings(d.path(), 1 << 20, 50);
    let log = AuditLog::open(&s).unwrap();
    log.append(record(1, Decision::Allow)).await;
    for _ in 0..100 {
        if all_lines(&s.directory).len() == 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the allowed record never reached the file");
}

#[tokio::test]
async fn files_rotate_by_size_and_restarts_continue_the_chain() {
    let d = tempfile::tempdir().unwrap();
    let s = settings(d.path(), 4096, 10);
    {
        let log = AuditLog::open(&s).unwrap();
        for i in 0..60 {
            log.append(record(i, Decision::Allow)).await;
        }
        log.flush().await.unwrap();
    }
    let files = log_files(&s.directory).unwrap();
    assert!(files.len() >= 3, "{files:?}");
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len <= 4096, "{} is {len} bytes", f.display());
        let first = std::fs::read_to_string(f).unwrap();
        assert!(first
            .lines()
            .next()
            .unwrap()
            .contains("\"kind\":\"log_start\""));
    }
    // A restart starts a new file that continues the chain.
    let log = AuditLog::open(&s).unwrap();
    log.submit(record(99, Decision::Deny)).await;
    let after = log_files(&s.directory).unwrap();
    assert_eq!(after.len(), files.len() + 1);
    let r = verify_files(&after).unwrap();
    assert!(r.ok(), "{:?}", r.broken);
    // 60 records + one start line per file.
    assert_eq!(r.lines, 61 + after.len());
    assert!(std::fs::read_to_string(after.last().unwrap())
        .unwrap()
        .contains("\"reason\":\"start\""));
}

#[tokio::test]
async fn a_restart_after_a_torn_write_leaves_an_explained_tail() {
    let d = tempfile::tempdir().unwrap();
    let s = settings(d.path(), 1 << 20, 10);
    {
        let log = AuditLog::open(&s).unwrap();
        for i in 0..5 {
            log.submit(record(i, Decision::Deny)).await;
        }
    }
    // What a kill -9 during a write leaves: half a line.
    let first = log_files(&s.directory).unwrap()[0].clone();
    let mut f = OpenOptions::new().append(true).open(&first).unwrap();
    f.write_all(b"{\"v\":1,\"seq\":6,\"prev\":\"ab").unwrap();
    drop(f);
    let log = AuditLog::open(&s).unwrap();
    log.submit(record(7, Decision::Deny)).await;
    let r = verify_files(&log_files(&s.directory).unwrap()).unwrap();
    assert!(r.ok(), "{:?}", r.broken);
    assert_eq!(r.truncated_tails.len(), 1);
    assert_eq!(r.truncated_tails[0].path, first);
    assert_eq!(r.truncated_tails[0].line, 7);
}

#[test]
fn a_damaged_newest_file_stops_the_start() {
    let d = tempfile::tempdir().unwrap();
    let s = settings(d.path(), 1 << 20, 10);
    std::fs::create_dir_all(&s.directory).unwrap();
    std::fs::write(s.directory.join("audit-000001.jsonl"), "not a record\n").unwrap();
    let e = AuditLog::open(&s).unwrap_err().to_string();
    assert!(
        e.contains("audit-000001.jsonl") && e.contains("line 1"),
        "{e}"
    );
}

#[tokio::test]
async fn a_disabled_log_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let mut s = settings(d.path(), 1 << 20, 10);
    s.enabled = false;
    let log = AuditLog::open(&s).unwrap();
    assert!(!log.is_enabled() && log.is_healthy());
    log.append_durable(record(1, Decision::Deny)).await.unwrap();
    assert!(!s.directory.exists());
}

#[test]
fn file_names_sort_by_number() {
    assert_eq!(file_name(7), "audit-000007.jsonl");
    assert_eq!(file_number("audit-000007.jsonl"), Some(7));
    for bad in [
        "audit-7.jsonl",
        "audit-00000x.jsonl",
        "x-000001.jsonl",
        "audit-000001.json",
    ] {
        assert_eq!(file_number(bad), None, "{bad}");
    }
}

#[test]
fn a_failed_write_loses_its_batch_but_never_breaks_the_chain() {
    let d = tempfile::tempdir().unwrap();
    let s = settings(d.path(), 1 << 20, 10);
    let status = Arc::new(Status {
        healthy: AtomicBool::new(true),
        ..Status::default()
    });
    let mut w = Writer::start(&s, status.clone()).unwrap();
    w.take(Msg::Record(Box::new(record(1, Decision::Allow)), None));
    w.write_out();
    // The file goes away under the writer (as a full disk would refuse it).
    let file = w.file.take().unwrap();
    let (tx, mut rx) = oneshot::channel();
    w.take(Msg::Record(
        Box::new(record(2, Decision::Deny)),
        Some(Waiter {
            ack: tx,
            synced: false,
        }),
    ));
    w.write_out();
    assert!(!status.healthy.load(Ordering::Relaxed));
    assert_eq!(status.lost.load(Ordering::Relaxed), 1);
    assert!(
        matches!(rx.try_recv(), Ok(Err(_))),
        "the waiter learns it failed"
    );
    // The disk comes back: the next record chains onto the last written one.
    w.file = Some(file);
    w.take(Msg::Record(Box::new(record(3, Decision::Deny)), None));
    w.write_out();
    assert!(status.healthy.load(Ordering::Relaxed));
    let r = verify_files(&log_files(&s.directory).unwrap()).unwrap();
    assert!(r.ok(), "{:?}", r.broken);
    let text = std::fs::read_to_string(&log_files(&s.directory).unwrap()[0]).unwrap();
    assert!(text.contains("agent/a1") && !text.contains("agent/a2") && text.contains("agent/a3"));
    // The loss is in the chain itself, just before the next record: the
    // log verifies as intact but not complete.
    assert_eq!(r.lost.len(), 1, "{:?}", r.lost);
    assert_eq!(r.lost[0].seq, 2);
    assert!(r.lost[0].reason.starts_with("1 record(s)"), "{:?}", r.lost);
    assert!(!r.complete());
    assert_eq!(r.head.unwrap().seq, 3);
    // Reported once: the next record needs no second gap line.
    w.take(Msg::Record(Box::new(record(4, Decision::Deny)), None));
    w.write_out();
    let r = verify_files(&log_files(&s.directory).unwrap()).unwrap();
    assert_eq!((r.lost.len(), r.head.unwrap().seq), (1, 4));
}
