use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::*;
use crate::audit::chain::{encode_record, encode_start};
use crate::audit::{AuditRecord, Decision, RecordKind};

/// A log of `records` records split into files of `per_file` lines (start
/// line included), built with the writer's encoding.
fn build(records: usize, per_file: usize) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let (mut seq, mut hash) = (0u64, GENESIS.to_string());
    let mut in_file = per_file;
    for i in 0..records {
        if in_file >= per_file {
            let name = format!("audit-{:06}.jsonl", files.len() + 1);
            files.push((PathBuf::from(&name), Vec::new()));
            let reason = if files.len() == 1 { "start" } else { "rotate" };
            let line = encode_start(seq, &hash, reason, &name, None, SystemTime::now()).unwrap();
            append(&mut files, &line, &mut seq, &mut hash);
            in_file = 1;
        }
        let mut r = AuditRecord::new(RecordKind::Proxy);
        r.caller = Some(format!("spiffe://example.org/agent/a{i}"));
        r.decision = Decision::Allow;
        let line = encode_record(seq, &hash, &r).unwrap();
        append(&mut files, &line, &mut seq, &mut hash);
        in_file += 1;
    }
    files
}

fn append(files: &mut [(PathBuf, Vec<u8>)], line: &[u8], seq: &mut u64, hash: &mut String) {
    *hash = line_hash(line);
    *seq += 1;
    if let Some(f) = files.last_mut() {
        f.1.extend_from_slice(line);
        f.1.push(b'\n');
    }
}

fn check(files: &[(PathBuf, Vec<u8>)]) -> VerifyReport {
    let parts: Vec<(&Path, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_path(), b.as_slice()))
        .collect();
    verify_bytes(&parts)
}

fn lines(b: &[u8]) -> Vec<Vec<u8>> {
    split_lines(b).complete.iter().map(|l| l.to_vec()).collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

fn broken(r: &VerifyReport) -> &ChainBreak {
    r.broken.as_ref().expect("a break")
}

#[test]
fn a_clean_log_verifies_across_files() {
    let files = build(20, 6);
    assert_eq!(files.len(), 4);
    let r = check(&files);
    assert!(r.ok(), "{:?}", r.broken);
    // 20 records + 4 start lines.
    assert_eq!(r.lines, 24);
    assert_eq!(r.head.as_ref().unwrap().seq, 23);
    assert!(r.truncated_tails.is_empty());
    assert_eq!(r.starts_at, None);
}

#[test]
fn a_changed_record_is_named() {
    let mut files = build(5, 100);
    let mut ls = lines(&files[0].1);
    // Line 3 is seq 2.
    let edited = String::from_utf8(ls[2].clone())
        .unwrap()
        .replace("agent/a1", "agent/zz");
    ls[2] = edited.into_bytes();
    files[0].1 = join(&ls);
    let b = broken(&check(&files)).clone();
    assert_eq!(
        (b.kind, b.line, b.seq),
        (BreakKind::Changed, 3, Some(2)),
        "{b}"
    );
}

#[test]
fn a_changed_last_record_of_a_rotated_file_is_caught_by_the_next_file() {
    let mut files = build(10, 4);
    let mut ls = lines(&files[0].1);
    let last = ls.len() - 1;
    ls[last] = String::from_utf8(ls[last].clone())
        .unwrap()
        .replace("\"allow\"", "\"deny\"")
        .into_bytes();
    files[0].1 = join(&ls);
    let b = broken(&check(&files)).clone();
    assert_eq!(
        (b.kind, b.line, b.seq),
        (BreakKind::Changed, 4, Some(3)),
        "{b}"
    );
    assert_eq!(b.path, files[0].0);
}

#[test]
fn a_removed_record_is_named() {
    let mut files = build(6, 100);
    let mut ls = lines(&files[0].1);
    ls.remove(3); // seq 3
    files[0].1 = join(&ls);
    let b = broken(&check(&files)).clone();
    assert_eq!(
        (b.kind, b.line, b.seq),
        (BreakKind::Removed, 4, Some(3)),
        "{b}"
    );

    let mut ls = lines(&build(6, 100)[0].1);
    ls.drain(2..5); // seq 2, 3, 4
    let b = broken(&check(&[(PathBuf::from("x"), join(&ls))])).clone();
    assert_eq!((b.kind, b.seq), (BreakKind::Removed, Some(2)));
    assert!(b.detail.contains("2..=4"), "{b}");
}

#[test]
fn reordered_and_duplicated_records_are_named() {
    let mut files = build(6, 100);
    let mut ls = lines(&files[0].1);
    ls.swap(2, 3); // seq 2 and 3
    files[0].1 = join(&ls);
    let b = broken(&check(&files)).clone();
    assert_eq!(
        (b.kind, b.line, b.seq),
        (BreakKind::Reordered, 3, Some(3)),
        "{b}"
    );
    assert!(b.detail.contains("line 4"), "{b}");

    let mut ls = lines(&build(6, 100)[0].1);
    let dup = ls[2].clone();
    ls.insert(3, dup);
    let b = broken(&check(&[(PathBuf::from("x"), join(&ls))])).clone();
    assert_eq!(
        (b.kind, b.line, b.seq),
        (BreakKind::Reordered, 4, Some(2)),
        "{b}"
    );
}

#[test]
fn a_torn_final_line_is_a_truncated_tail_not_a_break() {
    let mut files = build(5, 100);
    let n = files[0].1.len();
    files[0].1.truncate(n - 20);
    let r = check(&files);
    assert!(r.ok(), "{:?}", r.broken);
    assert_eq!(r.truncated_tails.len(), 1);
    assert_eq!(
        r.truncated_tails[0].line, 6,
        "the last record (line 6) is incomplete"
    );
    assert_eq!(r.head.unwrap().seq, 4);
}

#[test]
fn a_restart_after_a_torn_write_continues_the_chain() {
    // File 1 ends in a torn line; file 2 continues from its last complete line.
    let mut files = build(8, 5);
    let mut ls = lines(&files[0].1);
    let torn = ls.pop().unwrap();
    let mut bytes = join(&ls);
    bytes.extend_from_slice(&torn[..torn.len() / 2]);
    files[0].1 = bytes;
    // Re-chain file 2 from the new head, as the writer would after a restart.
    let mut ls2 = lines(&files[1].1);
    let head_hash = line_hash(ls.last().unwrap());
    let head_seq = ls.len() as u64 - 1;
    let mut prev = head_hash;
    for (i, l) in ls2.iter_mut().enumerate() {
        let mut v: serde_json::Value = serde_json::from_slice(l).unwrap();
        v["seq"] = (head_seq + 1 + i as u64).into();
        v["prev"] = prev.clone().into();
        *l = serde_json::to_vec(&v).unwrap();
        prev = line_hash(l);
    }
    files[1].1 = join(&ls2);
    files.truncate(2);
    let r = check(&files);
    assert!(r.ok(), "{:?}", r.broken);
    assert_eq!(r.truncated_tails.len(), 1);
    assert_eq!(r.truncated_tails[0].path, files[0].0);
}

#[test]
fn a_cut_rotated_file_is_caught_by_the_next_file() {
    let mut files = build(10, 4);
    let mut ls = lines(&files[0].1);
    ls.truncate(2); // seq 0, 1 remain; 2, 3 cut
    files[0].1 = join(&ls);
    let b = broken(&check(&files)).clone();
    assert_eq!(
        (b.kind, b.line, b.seq),
        (BreakKind::Truncated, 1, Some(2)),
        "{b}"
    );
    assert_eq!(b.path, files[1].0);
}

#[test]
fn a_file_missing_its_start_or_holding_garbage_is_refused() {
    let mut files = build(4, 100);
    let mut ls = lines(&files[0].1);
    ls.remove(0);
    files[0].1 = join(&ls);
    let b = broken(&check(&files)).clone();
    assert_eq!((b.kind, b.line), (BreakKind::Truncated, 1), "{b}");

    let mut files = build(4, 100);
    let mut ls = lines(&files[0].1);
    ls[2] = b"{\"hello\":1}".to_vec();
    files[0].1 = join(&ls);
    let b = broken(&check(&files)).clone();
    assert_eq!((b.kind, b.line), (BreakKind::Malformed, 3), "{b}");
}

#[test]
fn a_log_given_from_the_middle_verifies_from_its_first_file() {
    let files = build(10, 4);
    let r = check(&files[1..]);
    assert!(r.ok(), "{:?}", r.broken);
    assert_eq!(r.starts_at, Some(4));
}
