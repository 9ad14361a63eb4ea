//! `actgate certs init`.

use std::path::PathBuf;
use std::process::ExitCode;

use actgate::identity::{SpiffeId, TrustDomain};

#[derive(clap::Args)]
pub struct InitArgs {
    /// Trust domain of the development CA.
    #[arg(long, default_value = "example.org")]
    pub trust_domain: String,
    /// Output directory.
    #[arg(long, default_value = "certs")]
    pub out: PathBuf,
}

/// The example agents of the demo and `actgate.example.toml`.
pub const EXAMPLE_AGENTS: &[&str] = &["orchestrator", "scheduler", "notifier"];

pub fn example_workloads(td: &TrustDomain) -> anyhow::Result<Vec<(&'static str, SpiffeId)>> {
    EXAMPLE_AGENTS
        .iter()
        .map(|a| Ok((*a, SpiffeId::parse(&format!("spiffe://{td}/agent/{a}"))?)))
        .collect()
}

pub fn init(a: InitArgs) -> anyhow::Result<ExitCode> {
    let td = TrustDomain::parse(&a.trust_domain)?;
    let pki = actgate::pki::init_dev_pki(&a.out, &td, &example_workloads(&td)?)?;
    if pki.created.is_empty() {
        println!(
            "{}: development PKI already present, nothing written",
            a.out.display()
        );
    }
    for p in &pki.created {
        println!("wrote {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}
