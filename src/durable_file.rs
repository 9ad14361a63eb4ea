//! Writing a file so that it is never seen half-written: the one helper every
//! writer of keys, certificates, CA state, approvals and bundles uses.
//!
//! Each call says what it promises ([`Secrecy`], [`Durability`]):
//! - the file is synced (`fsync`) before it takes its name, so a crash never
//!   leaves a torn file under the final name;
//! - secrets get mode 0600 *from creation*, so there is no window in which a
//!   key is readable by others;
//! - with [`Durability::Durable`] the directory is synced after the rename or
//!   creation: only then does the new name survive a power loss.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Who may read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    /// Mode 0644 (certificates, bundles, settings, records).
    Public,
    /// Mode 0600 from creation (private keys).
    Secret,
}

impl Secrecy {
    /// `true` → [`Secrecy::Secret`].
    pub fn secret_if(secret: bool) -> Self {
        if secret {
            Secrecy::Secret
        } else {
            Secrecy::Public
        }
    }
}

/// How far the write is promised to survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The file's content is synced; its name is visible to readers at once
    /// but may be lost with a power cut.
    Content,
    /// The content and the directory entry are synced: the write survives a
    /// power loss once the call returns.
    Durable,
}

/// A write that did not happen (the path is the file or directory that failed).
#[derive(Debug, thiserror::Error)]
pub enum DurableFileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the system random number generator failed")]
    Random,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DurableFileError + '_ {
    move |source| DurableFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory `path` lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn open_options(secrecy: Secrecy) -> fs::OpenOptions {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(match secrecy {
            Secrecy::Secret => 0o600,
            Secrecy::Public => 0o644,
        });
    }
    #[cfg(not(unix))]
    let _ = secrecy;
    opts
}

/// Sync a directory so the names created or renamed in it survive a power loss.
pub fn sync_dir(dir: &Path) -> Result<(), DurableFileError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Create `path` with `bytes`, never overwriting an existing file (the error
/// is then `AlreadyExists`). The directory must exist.
pub fn create_new(
    path: &Path,
    bytes: &[u8],
    secrecy: Secrecy,
    durability: Durability,
) -> Result<(), DurableFileError> {
    let mut f = open_options(secrecy).open(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))?;
    if durability == Durability::Durable {
        sync_dir(&parent_dir(path))?;
    }
    Ok(())
}

/// Replace `path` atomically: write a temporary file in the same directory
/// (`.NAME.RANDOM.tmp`, mode 0600 from creation for secrets), sync it,
/// rename it over `path`. Readers see either the old or the new content,
/// never a torn file; a failed write leaves no temporary file behind. The
/// directory must exist.
pub fn replace(
    path: &Path,
    bytes: &[u8],
    secrecy: Secrecy,
    durability: Durability,
) -> Result<(), DurableFileError> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rnd = [0u8; 6];
    aws_lc_rs::rand::fill(&mut rnd).map_err(|_| DurableFileError::Random)?;
    let suffix: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{name}.{suffix}.tmp"));
    let result = (|| {
        let mut f = open_options(secrecy).open(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io(path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    if durability == Durability::Durable {
        // The rename is durable only once the directory is synced.
        sync_dir(&dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn replace_overwrites_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let p = dir.path().join("sub/a.json");
        replace(&p, b"one", Secrecy::Public, Durability::Durable).unwrap();
        replace(&p, b"two", Secrecy::Public, Durability::Content).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(leftovers(&dir.path().join("sub")).is_empty());
    }

    #[test]
    fn create_new_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pem");
        create_new(&p, b"one", Secrecy::Secret, Durability::Durable).unwrap();
        let e = create_new(&p, b"two", Secrecy::Secret, Durability::Durable).unwrap_err();
        match e {
            DurableFileError::Io { source, .. } => {
                assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists)
            }
            other => panic!("{other}"),
        }
        assert_eq!(fs::read(&p).unwrap(), b"one");
    }

    #[cfg(unix)]
    #[test]
    fn secrets_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.key");
        let b = dir.path().join("b.key");
        replace(&a, b"k", Secrecy::Secret, Durability::Durable).unwrap();
        create_new(&b, b"k", Secrecy::Secret, Durability::Content).unwrap();
        for p in [a, b] {
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
    }
}
