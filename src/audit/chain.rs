//! The line format and the hash chain.
//!
//! A file is JSON lines. Every line is one object with, first, the chain
//! fields `v` (format version), `seq` (position in the whole log, across
//! files, from 0) and `prev` (lowercase hex SHA-256 of the exact bytes of the
//! previous line, without its newline; 64 zeros for the very first line),
//! then `time`, `kind` and the record's fields.
//!
//! Hashing the bytes as written, rather than a re-serialisation, makes the
//! canonical form trivial: there is nothing to normalise, and any change to
//! a line (even whitespace) changes its hash. Every file begins with a
//! `log_start` line, so a file that lost its first lines is detectable and
//! a new file names where the chain continues from.

use serde::{Deserialize, Serialize};

use super::{rfc3339, AuditRecord, RecordKind};

/// Current line format version.
pub const FORMAT_VERSION: u32 = 1;

/// `prev` of the first line of a log.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Lowercase hex SHA-256 of `line` (without its trailing newline).
pub fn line_hash(line: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, line);
    let mut s = String::with_capacity(64);
    for b in d.as_ref() {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Where the chain stands: the last line's position and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

#[derive(Serialize)]
struct RecordLine<'a> {
    v: u32,
    seq: u64,
    prev: &'a str,
    #[serde(flatten)]
    record: &'a AuditRecord,
}

#[derive(Serialize)]
struct StartLine<'a> {
    v: u32,
    seq: u64,
    prev: &'a str,
    time: String,
    kind: RecordKind,
    /// `start` (the gateway started) or `rotate` (the previous file was full).
    reason: &'a str,
    /// This file's name, so a renamed or misplaced file is visible.
    file: &'a str,
    /// The replica whose chain this is, in a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    replica: Option<&'a str>,
}

/// A line that could not be written or read as part of the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("{0}")]
    Encode(#[from] serde_json::Error),
    #[error("line {0} is not an audit record (run `actgate audit verify`)")]
    NotARecord(usize),
}

/// Serialise `record` as line number `seq` after a line hashing to `prev`.
pub fn encode_record(seq: u64, prev: &str, record: &AuditRecord) -> Result<Vec<u8>, ChainError> {
    Ok(serde_json::to_vec(&RecordLine {
        v: FORMAT_VERSION,
        seq,
        prev,
        record,
    })?)
}

/// The `log_start` line that begins a file.
pub fn encode_start(
    seq: u64,
    prev: &str,
    reason: &str,
    file: &str,
    replica: Option<&str>,
    now: std::time::SystemTime,
) -> Result<Vec<u8>, ChainError> {
    Ok(serde_json::to_vec(&StartLine {
        v: FORMAT_VERSION,
        seq,
        prev,
        time: rfc3339::format(now),
        kind: RecordKind::LogStart,
        reason,
        file,
        replica,
    })?)
}

/// The chain fields every line carries.
#[derive(Debug, Clone, Deserialize)]
pub struct ChainFields {
    pub v: u32,
    pub seq: u64,
    pub prev: String,
    pub kind: RecordKind,
    /// `log_start` and `records_lost` (and refusals, unused here).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Read the chain fields of one line; `None` when it is not a record.
pub fn parse_chain_fields(line: &[u8]) -> Option<ChainFields> {
    let f: ChainFields = serde_json::from_slice(line).ok()?;
    let hex_ok = f.prev.len() == 64 && f.prev.bytes().all(|b| HEX.contains(&b));
    (f.v == FORMAT_VERSION && hex_ok).then_some(f)
}

/// A file's bytes split into complete lines (each ended by `\n`, newline not
/// included) and the incomplete tail, if the file does not end with one.
pub struct SplitLines<'a> {
    pub complete: Vec<&'a [u8]>,
    /// Bytes after the last newline: what an interrupted write left.
    pub tail: Option<&'a [u8]>,
}

pub fn split_lines(bytes: &[u8]) -> SplitLines<'_> {
    let mut complete = Vec::new();
    let mut rest = bytes;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        complete.push(&rest[..i]);
        rest = &rest[i + 1..];
    }
    SplitLines {
        complete,
        tail: (!rest.is_empty()).then_some(rest),
    }
}

/// The head of the chain in a file: its last complete line's `seq` and hash.
/// `Ok(None)` for a file with no complete line; `Err` when the last complete
/// line is not a record (the file was damaged; the writer will not guess).
pub fn file_head(bytes: &[u8]) -> Result<Option<ChainHead>, ChainError> {
    let lines = split_lines(bytes);
    let Some(last) = lines.complete.last() else {
        return Ok(None);
    };
    let f = parse_chain_fields(last).ok_or(ChainError::NotARecord(lines.complete.len()))?;
    Ok(Some(ChainHead {
        seq: f.seq,
        hash: line_hash(last),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Decision, RecordKind};

    #[test]
    fn hash_is_sha256_hex_of_the_exact_bytes() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            line_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(line_hash(b"{\"a\":1}"), line_hash(b"{\"a\": 1}"));
        assert_eq!(GENESIS.len(), 64);
    }

    #[test]
    fn records_chain_and_parse_back() {
        let start = encode_start(
            0,
            GENESIS,
            "start",
            "audit-000001.jsonl",
            Some("a"),
            std::time::SystemTime::now(),
        )
        .unwrap();
        let mut r = AuditRecord::new(RecordKind::Proxy);
        r.decision = Decision::Allow;
        r.caller = Some("spiffe://example.org/a".into());
        let h0 = line_hash(&start);
        let line = encode_record(1, &h0, &r).unwrap();
        let text = std::str::from_utf8(&line).unwrap();
        assert!(
            text.starts_with(&format!("{{\"v\":1,\"seq\":1,\"prev\":\"{h0}\",")),
            "{text}"
        );
        assert!(!text.contains('\n'));
        let f = parse_chain_fields(&line).unwrap();
        assert_eq!(
            (f.seq, f.prev.as_str(), f.kind),
            (1, h0.as_str(), RecordKind::Proxy)
        );
        let back: AuditRecord = serde_json::from_slice(&line).unwrap();
        assert_eq!(back.caller, r.caller);
        assert_eq!(back.decision, Decision::Allow);

        let mut file = start.clone();
        file.push(b'\n');
        file.extend_from_slice(&line);
        file.push(b'\n');
        assert_eq!(
            file_head(&file).unwrap(),
            Some(ChainHead {
                seq: 1,
                hash: line_hash(&line)
            })
        );
        // A torn final write does not move the head.
        file.extend_from_slice(b"{\"v\":1,\"seq\":2,\"pr");
        let split = split_lines(&file);
        assert_eq!(split.complete.len(), 2);
        assert_eq!(split.tail, Some(&b"{\"v\":1,\"seq\":2,\"pr"[..]));
        assert_eq!(file_head(&file).unwrap().unwrap().seq, 1);
    }

    #[test]
    fn non_records_are_refused() {
        assert!(parse_chain_fields(b"not json").is_none());
        assert!(
            parse_chain_fields(b"{\"v\":1,\"seq\":0,\"prev\":\"xyz\",\"kind\":\"proxy\"}")
                .is_none()
        );
        assert!(parse_chain_fields(
            format!("{{\"v\":2,\"seq\":0,\"prev\":\"{GENESIS}\",\"kind\":\"proxy\"}}").as_bytes()
        )
        .is_none());
        assert!(file_head(b"garbage\n").is_err());
        assert_eq!(file_head(b"").unwrap(), None);
    }
}
