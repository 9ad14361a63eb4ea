//! Python venvs holding pinned third-party packages (the interop peers, the
//! Kubernetes schema validator). A venv lives under the target directory and is
//! rebuilt only when its requirements file changes. A failed install fails the
//! test with pip's output; it never skips.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;

/// Serialises venv creation between the tests of one binary (they run on
/// several threads and may all ask for the same venv at once).
static CREATING: Mutex<()> = Mutex::new(());

/// The python of venv `name`, filled from `requirements` (a path relative to
/// the crate root) when the file differs from the last install.
pub fn venv(name: &str, requirements: &str) -> PathBuf {
    let _guard = CREATING.lock().unwrap_or_else(|e| e.into_inner());
    let req = Path::new(env!("CARGO_MANIFEST_DIR")).join(requirements);
    let wanted = std::fs::read_to_string(&req)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", req.display()));
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let py = venv.join("bin/python");
    let stamp = venv.join("requirements.installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && py.exists() {
        return py;
    }
    let host_python = std::env::var("ACTGATE_PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        Command::new(&host_python)
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        "python3 -m venv",
    );
    run(
        Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "-r",
            ])
            .arg(&req),
        &format!("pip install -r {requirements}"),
    );
    std::fs::write(&stamp, wanted).unwrap();
    py
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("python setup: cannot run {what}: {e}. Install Python 3 with venv and pip.")
    });
    assert!(
        out.status.success(),
        "python setup: {what} failed ({}).\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A script of the interop harness, `tests/interop/NAME`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// Run `script` with `args` under `py`: a server that prints `PORT <n>`
/// as its first line once listening on 127.0.0.1. The child (killed when
/// the test ends) and its port.
pub fn serve(py: &Path, script: &Path, args: &[&std::ffi::OsStr]) -> (Reaper, u16) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(py)
        .arg(script)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok());
    let child = Reaper(child);
    match port {
        Some(port) => (child, port),
        None => panic!("{} did not report its port: {line:?}", script.display()),
    }
}

/// Kills the child when the test ends, pass or fail.
pub struct Reaper(pub Child);
impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
