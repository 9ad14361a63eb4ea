//! `actgate bundle export` and `actgate bundle import`.

use std::path::PathBuf;
use std::process::ExitCode;

use actgate::pki::bundle::{load_bundle_any, spiffe_bundle_json, to_pem};
use actgate::pki::CaDir;
use anyhow::Context;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// CA directory (from `actgate ca init`).
    #[arg(long)]
    pub ca: PathBuf,
    /// Where to write the SPIFFE bundle JSON (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// `spiffe_refresh_hint`: seconds after which consumers should re-fetch.
    #[arg(long, default_value_t = 300)]
    pub refresh_hint: u64,
    /// `spiffe_sequence` (default: the current Unix time, which increases
    /// with every export as the spec asks).
    #[arg(long)]
    pub sequence: Option<u64>,
}

/// Write the CA's roots as a SPIFFE bundle (roots only, never the intermediate).
pub fn export(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let ca = CaDir::open(&a.ca)?;
    let roots = actgate::identity::bundles_from_pem(ca.root_pem())?;
    let seq = a
        .sequence
        .unwrap_or_else(|| actgate::unix_now().unsigned_abs());
    let json = spiffe_bundle_json(&roots, seq, a.refresh_hint)?;
    match &a.out {
        None => print!("{json}"),
        Some(p) => {
            actgate::pki::write_atomic(p, json.as_bytes(), false)?;
            eprintln!(
                "wrote {} ({} root(s) of {}, spiffe_sequence {seq})",
                p.display(),
                roots.len(),
                ca.trust_domain()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// A SPIFFE bundle (JSON) or a PEM bundle.
    pub file: PathBuf,
    /// Where to write the PEM certificates.
    #[arg(long)]
    pub out: PathBuf,
}

/// Convert a SPIFFE bundle (or PEM) to a PEM bundle of its X.509 authorities.
pub fn import(a: ImportArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let roots = load_bundle_any(&bytes).with_context(|| a.file.display().to_string())?;
    // Atomic, because a running gateway may reload this file at any moment.
    actgate::pki::write_atomic(&a.out, to_pem(&roots).as_bytes(), false)?;
    println!(
        "wrote {} ({} X.509 authorit{})",
        a.out.display(),
        roots.len(),
        if roots.len() == 1 { "y" } else { "ies" }
    );
    Ok(ExitCode::SUCCESS)
}
