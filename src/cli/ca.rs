//! `actgate ca init`.

use std::path::PathBuf;
use std::process::ExitCode;

use actgate::duration::parse as parse_duration;
use actgate::identity::TrustDomain;
use actgate::pki::ca_dir::{self, InitOptions};
use actgate::pki::CaDir;
use anyhow::Context;

#[derive(clap::Args)]
pub struct InitArgs {
    /// Trust domain the CA issues for, e.g. `example.org`.
    #[arg(long)]
    pub trust_domain: String,
    /// Directory to write the CA into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Also create an intermediate CA; it then signs every leaf and CRL, and
    /// the root key can be moved offline.
    #[arg(long)]
    pub intermediate: bool,
    /// Longest leaf lifetime this CA will issue (`cert issue --ttl`).
    #[arg(long, default_value = "24h")]
    pub max_ttl: String,
    /// Lifetime of the root (and intermediate) certificates.
    #[arg(long, default_value = "365d")]
    pub ca_ttl: String,
    /// Replace an existing CA in DIR (its keys and revocation state are lost).
    #[arg(long)]
    pub force: bool,
}

pub fn init(a: InitArgs) -> anyhow::Result<ExitCode> {
    let trust_domain = TrustDomain::parse(&a.trust_domain)
        .context("--trust-domain is not a valid trust domain")?;
    let max_ttl = parse_duration(&a.max_ttl).map_err(|e| anyhow::anyhow!("--max-ttl: {e}"))?;
    let ca_ttl = parse_duration(&a.ca_ttl).map_err(|e| anyhow::anyhow!("--ca-ttl: {e}"))?;
    let opts = InitOptions {
        trust_domain,
        intermediate: a.intermediate,
        max_ttl,
        ca_ttl,
        force: a.force,
    };
    let (ca, written) = CaDir::init(&a.out, &opts)?;
    for p in &written {
        println!("wrote {}", p.display());
    }
    println!(
        "CA for {} ready in {} (leaves signed by the {}, max TTL {}); trust {}",
        ca.trust_domain(),
        a.out.display(),
        if a.intermediate {
            "intermediate"
        } else {
            "root"
        },
        ca.settings().max_ttl,
        a.out.join(ca_dir::BUNDLE).display(),
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct CrlArgs {
    /// CA directory (from `actgate ca init`).
    #[arg(long)]
    pub ca: PathBuf,
    /// Where to write the PEM CRL file. With an intermediate it holds two
    /// CRLs: the intermediate's (revoked leaves) and the root's, because a
    /// verifier checking the whole chain needs a CRL from every issuer.
    #[arg(long)]
    pub out: PathBuf,
    /// nextUpdate: how long the CRL is valid. Publish a new one before then;
    /// a gateway refuses every certificate once its CRL is past nextUpdate.
    #[arg(long, default_value = "24h")]
    pub next_update: String,
}

/// `actgate crl`: sign and write the CRL(s) for the CA's revocation state.
pub fn crl(a: CrlArgs) -> anyhow::Result<ExitCode> {
    let validity =
        parse_duration(&a.next_update).map_err(|e| anyhow::anyhow!("--next-update: {e}"))?;
    let mut ca = CaDir::open(&a.ca)?;
    let o = ca.write_crl(&a.out, validity)?;
    println!(
        "wrote {}: CRL number {} listing {} revoked serial(s){}; next update {}",
        a.out.display(),
        o.crl_number,
        o.revoked,
        if o.crls == 2 {
            ", plus the root's CRL for the intermediate"
        } else {
            ""
        },
        actgate::pki::rfc3339(o.next_update),
    );
    Ok(ExitCode::SUCCESS)
}
