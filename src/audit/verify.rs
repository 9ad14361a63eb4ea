//! Check the hash chain of one or more log files (oldest first) and name the
//! first line where it breaks, and how.
//!
//! What each break means:
//! - **changed**: a line's `seq` follows on, but the next line's `prev` is
//!   not its hash — the line (or that `prev`) was edited.
//! - **removed**: `seq` jumps forward and the missing record appears nowhere
//!   after it.
//! - **reordered**: `seq` jumps forward and the missing record appears later,
//!   or `seq` goes backwards (a moved or duplicated line).
//! - **truncated**: a file's lines continue in the next file from a record
//!   the file no longer has (its end was cut), or a file no longer begins
//!   with its `log_start` line.
//! - **malformed**: a complete line that is not a record.
//!
//! Bytes after the last newline of a file are not a break: a `kill -9` (or
//! power loss) in the middle of a write leaves exactly that, and the writer
//! never writes after it (a restart begins a new file continuing from the
//! last complete line). They are reported as a truncated tail.
//!
//! Limits: the newest line of the newest file has no successor yet, so only
//! an anchor kept elsewhere (the `head` hash this reports) protects it; and
//! cutting whole lines from the end of the newest file looks like a log that
//! ends there. Ship the head hash off the machine to close both gaps.

use std::fmt;
use std::path::{Path, PathBuf};

use super::chain::{line_hash, parse_chain_fields, split_lines, ChainFields, ChainHead, GENESIS};
use super::RecordKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    Changed,
    Removed,
    Reordered,
    Truncated,
    Malformed,
}

impl BreakKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Changed => "changed",
            BreakKind::Removed => "removed",
            BreakKind::Reordered => "reordered",
            BreakKind::Truncated => "truncated",
            BreakKind::Malformed => "malformed",
        }
    }
}

/// The first place the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub kind: BreakKind,
    /// The file and 1-based line of the record the break is attributed to.
    pub path: PathBuf,
    pub line: usize,
    /// That record's `seq` (for `removed`: the first missing one).
    pub seq: Option<u64>,
    pub detail: String,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: line {}", self.path.display(), self.line)?;
        if let Some(s) = self.seq {
            write!(f, " (seq {s})")?;
        }
        write!(f, ": {}: {}", self.kind.as_str(), self.detail)
    }
}

/// Bytes after a file's last newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedTail {
    pub path: PathBuf,
    /// The line the incomplete record would have been.
    pub line: usize,
    pub bytes: usize,
}

/// What one file held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub path: PathBuf,
    pub lines: usize,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub files: Vec<FileSummary>,
    /// Complete lines checked (all files).
    pub lines: usize,
    /// Seq and hash of the last complete line: the anchor to keep elsewhere.
    pub head: Option<ChainHead>,
    /// `seq` of the first line, when it is not 0 (the log continues from
    /// files not given; that first link is unchecked).
    pub starts_at: Option<u64>,
    pub truncated_tails: Vec<TruncatedTail>,
    /// `records_lost` lines: the gateway itself recorded that records are
    /// missing there (write failures). The chain is intact, the log is not
    /// complete.
    pub lost: Vec<LostRecords>,
    pub broken: Option<ChainBreak>,
}

/// Where the log says records are missing, and its own words on how many.
#[derive(Debug, Clone)]
pub struct LostRecords {
    pub path: PathBuf,
    pub line: usize,
    pub seq: u64,
    pub reason: String,
}

impl fmt::Display for LostRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: line {} (seq {}): records lost: {}",
            self.path.display(),
            self.line,
            self.seq,
            self.reason
        )
    }
}

impl VerifyReport {
    /// The chain is intact (no edit, removal, reordering or cut).
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }

    /// Intact and nothing reported lost: every record written is there.
    pub fn complete(&self) -> bool {
        self.ok() && self.lost.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct VerifyError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Verify `paths` as consecutive parts of one log, oldest first.
pub fn verify_files(paths: &[PathBuf]) -> Result<VerifyReport, VerifyError> {
    let mut contents = Vec::with_capacity(paths.len());
    for p in paths {
        let bytes = std::fs::read(p).map_err(|source| VerifyError {
            path: p.clone(),
            source,
        })?;
        contents.push((p.clone(), bytes));
    }
    let parts: Vec<(&Path, &[u8])> = contents
        .iter()
        .map(|(p, b)| (p.as_path(), b.as_slice()))
        .collect();
    Ok(verify_bytes(&parts))
}

/// One complete line, parsed.
struct Line<'a> {
    file: usize,
    no: usize,
    bytes: &'a [u8],
    fields: Option<ChainFields>,
}

/// Verify in-memory files (what [`verify_files`] reads).
pub fn verify_bytes(files: &[(&Path, &[u8])]) -> VerifyReport {
    let mut report = VerifyReport::default();
    let lines = read_lines(files, &mut report);
    report.lines = lines.len();

    let mut prev: Option<(&Line<'_>, u64, String)> = None;
    for (idx, line) in lines.iter().enumerate() {
        let Some(f) = &line.fields else {
            report.broken = Some(at(
                files,
                line,
                BreakKind::Malformed,
                None,
                "not an audit record (edited or corrupted)".into(),
            ));
            return report;
        };
        if f.kind == RecordKind::RecordsLost {
            report.lost.push(LostRecords {
                path: files[line.file].0.to_path_buf(),
                line: line.no,
                seq: f.seq,
                reason: f.reason.clone().unwrap_or_default(),
            });
        }
        let broken = link_break(files, &lines, idx, f, prev.as_ref(), &mut report.starts_at);
        if broken.is_some() {
            report.broken = broken;
            return report;
        }
        prev = Some((line, f.seq, line_hash(line.bytes)));
    }
    report.head = prev.map(|(_, seq, hash)| ChainHead { seq, hash });
    report
}

/// Every complete line of every file, parsed; the per-file summaries and
/// incomplete tails go to `report`.
fn read_lines<'a>(files: &[(&Path, &'a [u8])], report: &mut VerifyReport) -> Vec<Line<'a>> {
    let mut lines: Vec<Line<'a>> = Vec::new();
    for (fi, (path, bytes)) in files.iter().enumerate() {
        let split = split_lines(bytes);
        let start = lines.len();
        for (i, l) in split.complete.iter().enumerate() {
            lines.push(Line {
                file: fi,
                no: i + 1,
                bytes: l,
                fields: parse_chain_fields(l),
            });
        }
        let seqs = lines[start..]
            .iter()
            .filter_map(|l| l.fields.as_ref().map(|f| f.seq));
        report.files.push(FileSummary {
            path: path.to_path_buf(),
            lines: split.complete.len(),
            first_seq: seqs.clone().next(),
            last_seq: seqs.clone().next_back(),
        });
        if let Some(t) = split.tail {
            report.truncated_tails.push(TruncatedTail {
                path: path.to_path_buf(),
                line: split.complete.len() + 1,
                bytes: t.len(),
            });
        }
    }
    lines
}

fn at(
    files: &[(&Path, &[u8])],
    l: &Line<'_>,
    kind: BreakKind,
    seq: Option<u64>,
    detail: String,
) -> ChainBreak {
    ChainBreak {
        kind,
        path: files[l.file].0.to_path_buf(),
        line: l.no,
        seq,
        detail,
    }
}

/// Where line `idx` (with chain fields `f`) breaks the chain after `prev`
/// (the previous line, its seq and hash), if it does. The first line of a
/// log that does not start at 0 sets `starts_at`.
fn link_break(
    files: &[(&Path, &[u8])],
    lines: &[Line<'_>],
    idx: usize,
    f: &ChainFields,
    prev: Option<&(&Line<'_>, u64, String)>,
    starts_at: &mut Option<u64>,
) -> Option<ChainBreak> {
    let line = &lines[idx];
    if line.no == 1 && f.kind != RecordKind::LogStart {
        return Some(at(
            files,
            line,
            BreakKind::Truncated,
            Some(f.seq),
            "the file does not begin with its log_start line: lines were removed from its start"
                .into(),
        ));
    }
    match &prev {
        None => {
            if f.seq == 0 && f.prev != GENESIS {
                return Some(at(
                    files,
                    line,
                    BreakKind::Changed,
                    Some(0),
                    "the first record of the log does not start from the genesis hash".into(),
                ));
            }
            if f.seq != 0 {
                *starts_at = Some(f.seq);
            }
        }
        Some((p, pseq, phash)) => {
            let expected = pseq + 1;
            if f.seq == expected && f.prev != *phash {
                return Some(at(
            files,
                    p,
                    BreakKind::Changed,
                    Some(*pseq),
                    format!(
                        "its hash does not match the `prev` recorded by the next record ({}: line {})",
                        files[line.file].0.display(),
                        line.no
                    ),
                ));
            }
            if f.seq > expected {
                let later = lines[idx + 1..]
                    .iter()
                    .find(|l| l.fields.as_ref().is_some_and(|g| g.seq == expected));
                return Some(match later {
                    Some(l) => at(
                        files,
                        line,
                        BreakKind::Reordered,
                        Some(f.seq),
                        format!(
                            "comes before seq {expected}, which is at {}: line {}",
                            files[l.file].0.display(),
                            l.no
                        ),
                    ),
                    None if line.no == 1 => at(
                        files,
                        line,
                        BreakKind::Truncated,
                        Some(expected),
                        format!(
                            "this file continues from seq {}, but the previous file ends at seq {pseq}: its end was cut, or a file is missing",
                            f.seq - 1
                        ),
                    ),
                    None => at(
                        files,
                        line,
                        BreakKind::Removed,
                        Some(expected),
                        if f.seq - 1 == expected {
                            format!("record seq {expected} is missing before this line (seq {})", f.seq)
                        } else {
                            format!("records seq {expected}..={} are missing before this line (seq {})", f.seq - 1, f.seq)
                        },
                    ),
                });
            }
            if f.seq < expected {
                return Some(at(
                    files,
                    line,
                    BreakKind::Reordered,
                    Some(f.seq),
                    format!("seq {} follows seq {pseq}: moved or duplicated", f.seq),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
