//! The audit log's files on disk: their names (`audit-000042.jsonl`), the
//! private directory they live in, and where the chain stands in them (the
//! head of the newest file with a complete line), read once at start.

use std::path::{Path, PathBuf};

use super::chain::{self, ChainHead};
use super::writer::AuditError;

pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// `audit-000042.jsonl` → 42.
pub fn file_number(name: &str) -> Option<u32> {
    let n = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    (n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| n.parse().ok())
        .flatten()
}

pub fn file_name(no: u32) -> String {
    format!("audit-{no:06}.jsonl")
}

/// The log files in `dir`, oldest first.
pub fn log_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let no = file_number(e.file_name().to_str()?)?;
            Some((no, e.path()))
        })
        .collect();
    v.sort();
    Ok(v.into_iter().map(|(_, p)| p).collect())
}

/// Highest file number in `dir` and the chain head of the newest file with
/// a complete line (empty files, left by a crash right after creation, are
/// skipped).
pub(super) fn newest_head(dir: &Path) -> Result<(u32, Option<ChainHead>), AuditError> {
    let files = log_files(dir).map_err(|source| AuditError::Directory {
        path: dir.to_path_buf(),
        source,
    })?;
    let last_no = files
        .last()
        .and_then(|p| file_number(p.file_name()?.to_str()?))
        .unwrap_or(0);
    for path in files.iter().rev() {
        let bytes = std::fs::read(path).map_err(|source| AuditError::File {
            path: path.clone(),
            source,
        })?;
        match chain::file_head(&bytes) {
            Ok(Some(h)) => return Ok((last_no, Some(h))),
            Ok(None) => continue,
            Err(e) => {
                return Err(AuditError::Damaged {
                    path: path.clone(),
                    message: e.to_string(),
                })
            }
        }
    }
    Ok((last_no, None))
}
