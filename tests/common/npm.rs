//! Node packages the tests run (oidc-provider, Taplo), installed with
//! `npm ci` from a directory's package.json and package-lock.json into the
//! target directory on first use, and again only when those files change. A
//! failed install fails the test with npm's output; it never skips.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Serialises installs between the tests of one binary; a file lock does
/// the same between binaries (or two cargo runs) sharing the target dir.
static INSTALLING: Mutex<()> = Mutex::new(());

/// `target/tmp/NAME`, holding `node_modules` as `src` (a directory of the
/// crate with the two package files) locks it; `installed` is a file whose
/// presence shows an install finished (e.g. `node_modules/x/package.json`).
pub fn install(name: &str, src: &str, installed: &str) -> PathBuf {
    let _guard = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(src);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join(".lock")).unwrap();
    lock.lock().unwrap();
    let mut wanted = String::new();
    for f in ["package.json", "package-lock.json"] {
        let text = read(&src.join(f));
        write_if_changed(&dir.join(f), &text);
        wanted.push_str(&text);
    }
    let stamp = dir.join("installed.stamp");
    let done = std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
        && dir.join(installed).exists();
    if !done {
        let _ = std::fs::remove_file(&stamp);
        // Exactly the locked versions; no install scripts run.
        let out = std::process::Command::new("npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("{name}: cannot run npm: {e}. Install Node.js and npm (.ci/run does).")
            });
        assert!(
            out.status.success(),
            "{name}: npm ci in {} failed ({}).\nstdout:\n{}\nstderr:\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&stamp, wanted).unwrap();
    }
    dir
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Node runs scripts from the install dir (where the packages resolve);
/// another test may be running them, so unchanged files are left alone.
pub fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap();
    }
}
