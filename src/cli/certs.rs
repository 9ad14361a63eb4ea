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

#[derive(clap::Args)]
pub struct KeyArgs {
    /// `ES256` or `EdDSA`.
    #[arg(long, default_value = "ES256")]
    pub algorithm: String,
    /// Where to write the PKCS#8 PEM private key (mode 0600; never overwritten).
    #[arg(long)]
    pub out: PathBuf,
}

/// `actgate keys generate`: a signing key (token or card key).
pub fn generate_key(a: KeyArgs) -> anyhow::Result<ExitCode> {
    use actgate::durable_file::{self, Durability, Secrecy};
    use actgate::token::{SigningAlgorithm, SigningKey};
    let alg = match a.algorithm.as_str() {
        "ES256" => SigningAlgorithm::Es256,
        "EdDSA" => SigningAlgorithm::EdDsa,
        other => anyhow::bail!("unknown algorithm {other:?}: use ES256 or EdDSA"),
    };
    let (key, pem) = SigningKey::generate(alg)?;
    durable_file::create_new(&a.out, pem.as_bytes(), Secrecy::Secret, Durability::Durable)
        .map_err(|e| anyhow::anyhow!("{e} (existing keys are never overwritten)"))?;
    println!(
        "wrote {} ({}, kid {})",
        a.out.display(),
        a.algorithm,
        key.kid()
    );
    Ok(ExitCode::SUCCESS)
}
