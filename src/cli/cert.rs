//! `actgate cert issue | inspect | revoke | renew`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use actgate::duration::parse as parse_duration;
use actgate::identity::SpiffeId;
use actgate::pki::ca_dir::{self, RevokeOutcome};
use actgate::pki::inspect::{self, CertReport};
use actgate::pki::{human_duration, rfc3339, CaDir, RevocationReason};
use anyhow::{bail, Context};

fn ttl_arg(s: &str) -> anyhow::Result<std::time::Duration> {
    parse_duration(s).map_err(|e| anyhow::anyhow!("--ttl: {e}"))
}

/// "valid until <RFC 3339> (in 1h)"; the lifetime is the requested TTL, which
/// reads better than a countdown that already lost a second.
fn validity_line(not_after: i64, ttl: std::time::Duration) -> String {
    format!(
        "valid until {} (in {})",
        rfc3339(not_after),
        human_duration(ttl.as_secs())
    )
}

#[derive(clap::Args)]
pub struct IssueArgs {
    /// CA directory (from `actgate ca init`).
    #[arg(long)]
    pub ca: PathBuf,
    /// The workload's SPIFFE ID; must be in the CA's trust domain.
    #[arg(long)]
    pub spiffe_id: String,
    /// Lifetime, at most the CA's max_ttl.
    #[arg(long, default_value = "1h")]
    pub ttl: String,
    /// Extra DNS SAN (repeatable).
    #[arg(long)]
    pub dns: Vec<String>,
    /// Extra IP SAN (repeatable).
    #[arg(long)]
    pub ip: Vec<IpAddr>,
    /// Output prefix: writes PREFIX.pem (leaf + intermediate) and PREFIX.key (0600).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn issue(a: IssueArgs) -> anyhow::Result<ExitCode> {
    let id = SpiffeId::parse(&a.spiffe_id)
        .with_context(|| format!("--spiffe-id {:?} is not a valid SPIFFE ID", a.spiffe_id))?;
    let ttl = ttl_arg(&a.ttl)?;
    let ca = CaDir::open(&a.ca)?;
    let dns: Vec<&str> = a.dns.iter().map(String::as_str).collect();
    let svid = ca.issue(&id, ttl, &dns, &a.ip)?;
    let (cert, key) = ca_dir::write_pair(&a.out, &svid, false)?;
    println!(
        "issued {} serial {} {}",
        svid.spiffe_id,
        ca_dir::hex(&svid.serial),
        validity_line(svid.not_after, ttl)
    );
    println!("wrote {}, {}", key.display(), cert.display());
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 when the certificate is a valid X509-SVID with no \
findings, 1 when it has findings (each is printed), 2 when the file cannot be read or parsed."
)]
pub struct InspectArgs {
    /// Certificate file: PEM (the first certificate is the leaf; the rest are
    /// counted as its chain) or DER.
    pub file: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn inspect(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let report = std::fs::read(&a.file)
        .map_err(|e| e.to_string())
        .and_then(|b| inspect::inspect_bytes(&b, actgate::unix_now()).map_err(|e| e.to_string()));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", a.file.display());
            return Ok(ExitCode::from(2));
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_report(r: &CertReport) {
    let none = || "-".to_owned();
    println!(
        "SPIFFE ID:   {}",
        r.spiffe_id.clone().unwrap_or_else(|| "(none)".to_owned())
    );
    if r.uri_sans.len() != 1 || r.spiffe_id.is_none() {
        println!("URI SANs:    {:?}", r.uri_sans);
    }
    if !r.dns_sans.is_empty() {
        println!("DNS SANs:    {}", r.dns_sans.join(", "));
    }
    if !r.ip_sans.is_empty() {
        println!("IP SANs:     {}", r.ip_sans.join(", "));
    }
    println!(
        "subject:     {}",
        if r.subject.is_empty() {
            "(empty)".to_owned()
        } else {
            r.subject.clone()
        }
    );
    println!(
        "issuer:      {}",
        if r.issuer.is_empty() {
            none()
        } else {
            r.issuer.clone()
        }
    );
    println!("not before:  {}", r.not_before);
    println!("not after:   {} ({})", r.not_after, r.validity_status);
    println!("serial:      {}", r.serial);
    println!("x5t#S256:    {}", r.thumbprint);
    println!(
        "chain:       {} certificate(s) in the file (leaf first)",
        r.chain_length
    );
    if r.findings.is_empty() {
        println!("X509-SVID:   ok, no findings");
    } else {
        println!("X509-SVID:   {} finding(s):", r.findings.len());
        for f in &r.findings {
            println!("  - {} [{}]", f.message, f.code);
        }
    }
}

#[derive(clap::Args)]
pub struct RevokeArgs {
    /// CA directory (from `actgate ca init`).
    #[arg(long)]
    pub ca: PathBuf,
    /// A serial number in hex (as `cert inspect` prints it; colons allowed)
    /// or a certificate file (PEM or DER) issued by this CA.
    pub serial_or_cert: String,
    /// CRL reason code: unspecified, keyCompromise, cACompromise,
    /// affiliationChanged, superseded, cessationOfOperation,
    /// privilegeWithdrawn, aACompromise.
    #[arg(long, default_value = "unspecified")]
    pub reason: RevocationReason,
}

pub fn revoke(a: RevokeArgs) -> anyhow::Result<ExitCode> {
    let ca = CaDir::open(&a.ca)?;
    let path = std::path::Path::new(&a.serial_or_cert);
    let serial = if path.is_file() {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let certs = inspect::load_certs(&bytes).with_context(|| path.display().to_string())?;
        let (_, leaf) = x509_parser::parse_x509_certificate(certs[0].as_ref())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        // Revoking a serial another CA issued would publish a meaningless
        // CRL entry and leave the real certificate valid: refuse.
        let signer = actgate::identity::bundles_from_pem(ca.signer().cert_pem())?;
        let (_, signer) = x509_parser::parse_x509_certificate(signer[0].as_ref())
            .map_err(|e| anyhow::anyhow!("CA certificate: {e}"))?;
        if leaf.issuer().as_raw() != signer.subject().as_raw() {
            bail!(
                "{} was not issued by this CA: its issuer is \"{}\", this CA signs as \"{}\"",
                path.display(),
                leaf.issuer(),
                signer.subject()
            );
        }
        leaf.raw_serial().to_vec()
    } else {
        ca_dir::parse_serial(&a.serial_or_cert)
            .with_context(|| format!("{:?} is neither a file nor a hex serial", a.serial_or_cert))?
    };
    match ca.revoke(&serial, a.reason)? {
        RevokeOutcome::Added { serial } => println!(
            "revoked serial {serial} ({}); publish it with `actgate crl --ca {} --out FILE`",
            a.reason,
            a.ca.display()
        ),
        RevokeOutcome::AlreadyRevoked { serial, was } => println!(
            "serial {serial} was already revoked at {} ({}); nothing changed",
            was.revoked_at, was.reason
        ),
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct RenewArgs {
    /// CA directory (from `actgate ca init`).
    #[arg(long)]
    pub ca: PathBuf,
    /// The current certificate (PREFIX.pem); its SPIFFE ID, DNS and IP SANs are kept.
    #[arg(long)]
    pub cert: PathBuf,
    /// Lifetime of the new certificate, at most the CA's max_ttl.
    #[arg(long, default_value = "1h")]
    pub ttl: String,
    /// Output prefix (default: the --cert path without `.pem`, i.e. replace in place).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Re-issue with a new key; key then certificate are each replaced atomically.
pub fn renew(a: RenewArgs) -> anyhow::Result<ExitCode> {
    let ttl = ttl_arg(&a.ttl)?;
    let ca = CaDir::open(&a.ca)?;
    let bytes =
        std::fs::read(&a.cert).with_context(|| format!("cannot read {}", a.cert.display()))?;
    let old = inspect::inspect_bytes(&bytes, actgate::unix_now())
        .with_context(|| a.cert.display().to_string())?;
    let [uri] = old.uri_sans.as_slice() else {
        bail!(
            "{} has {} URI SANs; renew needs exactly one SPIFFE ID",
            a.cert.display(),
            old.uri_sans.len()
        );
    };
    let id = SpiffeId::parse(uri).with_context(|| {
        format!(
            "{}: URI SAN {uri:?} is not a valid SPIFFE ID",
            a.cert.display()
        )
    })?;
    let ips: Vec<IpAddr> = old
        .ip_sans
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: unusable IP SAN", a.cert.display()))?;
    let dns: Vec<&str> = old.dns_sans.iter().map(String::as_str).collect();
    let svid = ca.issue(&id, ttl, &dns, &ips)?;
    let prefix = a.out.unwrap_or_else(|| a.cert.clone());
    let (cert, key) = ca_dir::write_pair(&prefix, &svid, true)?;
    println!(
        "renewed {} {}",
        svid.spiffe_id,
        validity_line(svid.not_after, ttl)
    );
    println!(
        "wrote {}, {} (serial {}, new key)",
        key.display(),
        cert.display(),
        ca_dir::hex(&svid.serial)
    );
    Ok(ExitCode::SUCCESS)
}
