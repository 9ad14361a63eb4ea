//! Running the `actgate` binary as a user would.

use std::path::Path;
use std::process::{Command, Output};

/// Run `actgate ARGS` in `dir` with quiet logs.
pub fn actgate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_actgate"))
        .current_dir(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// Output bytes as text.
pub fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}
