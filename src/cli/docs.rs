//! `actgate completions SHELL`, `actgate man` and `actgate config schema`:
//! what packagers and editors read, printed to stdout from the same
//! definitions the program runs on (clap's commands, the config structs), so
//! they cannot fall behind.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

/// The completion script for `shell`, for the command tree `cmd`.
pub fn completions(
    shell: clap_complete::Shell,
    mut cmd: clap::Command,
) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "actgate", &mut out);
    write_stdout(&out)
}

/// The man page (roff) of `cmd`: synopsis, options, and each subcommand
/// with its description. With `out_dir`: that page and the ones it refers
/// to (`actgate-serve.1`, `actgate-config-check.1`, ...), as files.
pub fn man(cmd: clap::Command, out_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    if let Some(dir) = out_dir {
        clap_mangen::generate_to(cmd, dir)
            .with_context(|| format!("writing man pages to {}", dir.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    write_stdout(&out)
}

/// The JSON Schema of the gateway's config file, or with `egress` the
/// sidecar's.
pub fn config_schema(egress: bool) -> anyhow::Result<ExitCode> {
    let schema = if egress {
        actgate::config::schema::egress()
    } else {
        actgate::config::schema::gateway()
    };
    let mut out = serde_json::to_vec_pretty(&schema)?;
    out.push(b'\n');
    write_stdout(&out)
}

/// One write, so a closed pipe (`| head`) is an error message, not a panic.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
