//! One gateway per state directory: an exclusive advisory lock on
//! `DIR/.lock`, held for as long as the directory is in use.
//!
//! Why: the audit log is one hash chain per directory and the approval
//! store's single-use consume is decided in one process's memory. Two
//! gateways sharing a directory (a copied config, a shared volume) would
//! fork the chain (each continuing the same head in its own file) and could
//! both spend one approval. The second gateway is refused at start with the
//! directory named, instead of corrupting what the first one keeps.
//!
//! The lock is the OS's (`flock` on Unix): it goes away with the process,
//! so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to wait for a lock held by something finishing in this very
/// process (an audit writer thread draining after its log was dropped); a
/// lock held by another process is reported once this has passed.
const WAIT: Duration = Duration::from_secs(1);

/// Held while the directory is in use; dropping it releases the lock.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum DirLockError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is in use by another actgate process: one gateway per directory, give each gateway its own {what}",
        dir.display()
    )]
    InUse { dir: PathBuf, what: &'static str },
}

impl DirLock {
    /// Lock `dir` (which must exist); `what` names the setting to change
    /// in the error, e.g. `"[audit] directory"`.
    pub fn acquire(dir: &Path, what: &'static str) -> Result<DirLock, DirLockError> {
        Self::acquire_at(&dir.join(".lock"), dir, what)
    }

    /// Lock the file `lock` (created if absent) on behalf of `owner`, the
    /// path named in the error: for a state kept in one file, whose
    /// directory may be shared with another store (the file itself is
    /// replaced by rename on every write, so it cannot carry the lock).
    pub fn acquire_at(
        lock: &Path,
        owner: &Path,
        what: &'static str,
    ) -> Result<DirLock, DirLockError> {
        let path = lock.to_path_buf();
        let dir = owner;
        let mut opts = OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(&path).map_err(|source| DirLockError::Io {
            path: path.clone(),
            source,
        })?;
        let deadline = Instant::now() + WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(DirLock { _file: file }),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(DirLockError::InUse {
                        dir: dir.to_path_buf(),
                        what,
                    })
                }
                Err(TryLockError::Error(source)) => return Err(DirLockError::Io { path, source }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let d = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(d.path(), "[audit] directory").unwrap();
        let e = DirLock::acquire(d.path(), "[audit] directory").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DirLockError::InUse { .. }), "{msg}");
        assert!(msg.contains(&d.path().display().to_string()), "{msg}");
        assert!(msg.contains("[audit] directory"), "{msg}");
        drop(first);
        DirLock::acquire(d.path(), "[audit] directory").unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_the_lock_file() {
        let d = tempfile::tempdir().unwrap();
        let e = DirLock::acquire(&d.path().join("nope"), "x").unwrap_err();
        assert!(matches!(e, DirLockError::Io { .. }));
        assert!(e.to_string().contains("nope/.lock"), "{e}");
    }
}
