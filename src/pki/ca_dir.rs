//! A CA directory on disk: what `actgate ca init` writes and `actgate cert`,
//! `actgate crl` and `actgate bundle export` use.
//!
//! ```text
//! DIR/root.pem, root.key (0600)                 self-signed root, ECDSA P-256
//! DIR/intermediate.pem, intermediate.key (0600) optional; signs leaves and CRLs when present
//! DIR/bundle.pem                                the root only (what verifiers trust)
//! DIR/ca.toml                                   trust domain, max_ttl, signer, next_crl_number
//! DIR/revoked.json                              revoked serials: serial (hex) → reason, time
//! ```
//!
//! Neither CA carries URI name constraints: rustls-webpki ≥ 0.103.12 rejects
//! every URI-SAN leaf below such a CA (see the SPIFFE reference §7).
//!
//! Every file is written through a temporary file and a rename, keys with mode
//! 0600 from the moment they exist.

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{human_duration, rfc3339, write_atomic, CrlEntry, DevCa, PkiError};
use crate::identity::{SpiffeId, TrustDomain};

pub const ROOT_CERT: &str = "root.pem";
pub const ROOT_KEY: &str = "root.key";
pub const INTERMEDIATE_CERT: &str = "intermediate.pem";
pub const INTERMEDIATE_KEY: &str = "intermediate.key";
pub const BUNDLE: &str = "bundle.pem";
pub const SETTINGS: &str = "ca.toml";
pub const REVOKED: &str = "revoked.json";

/// Default `max_ttl` of a new CA directory (SPIRE's default CA TTL).
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// Default lifetime of the root (and intermediate) written by `ca init`.
pub const DEFAULT_CA_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum CaDirError {
    #[error("refusing to overwrite existing {0} (pass --force to replace this CA)")]
    Exists(PathBuf),
    #[error("refusing to overwrite existing {0} (remove it first, or use `actgate cert renew`)")]
    LeafExists(PathBuf),
    #[error("{dir} is not a CA directory: {source} (create one with `actgate ca init`)")]
    NotACaDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    BadFile { path: PathBuf, message: String },
    #[error("{id} is outside this CA's trust domain {trust_domain}")]
    OutsideTrustDomain { id: String, trust_domain: String },
    #[error(
        "--ttl {} exceeds this CA's maximum of {} (ca.toml max_ttl)",
        human_duration(ttl.as_secs()),
        human_duration(max.as_secs())
    )]
    TtlTooLong { ttl: Duration, max: Duration },
    #[error(
        "--max-ttl {} exceeds the CA's own lifetime of {}",
        human_duration(max.as_secs()),
        human_duration(ca.as_secs())
    )]
    MaxTtlBeyondCa { max: Duration, ca: Duration },
    #[error("serial {0:?} is not a hex number (expected e.g. 4f:1a:… or 4f1a…)")]
    BadSerial(String),
    #[error(transparent)]
    Pki(#[from] PkiError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CaDirError + '_ {
    move |source| {
        CaDirError::Pki(PkiError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Which certificate signs leaves and CRLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signer {
    Root,
    Intermediate,
}

/// `ca.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaSettings {
    pub trust_domain: TrustDomain,
    /// Longest leaf lifetime this CA issues, e.g. `"24h"`.
    pub max_ttl: String,
    pub signer: Signer,
    /// CRL number of the next CRL; incremented before each CRL is written so
    /// a number is never reused, even after a crash.
    pub next_crl_number: u64,
}

/// CRL reason codes (RFC 5280 §5.3.1) that make sense for a final revocation.
/// `removeFromCRL` and `certificateHold` are left out: revocations here are
/// permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevocationReason {
    #[serde(rename = "unspecified")]
    Unspecified,
    #[serde(rename = "keyCompromise")]
    KeyCompromise,
    #[serde(rename = "cACompromise")]
    CaCompromise,
    #[serde(rename = "affiliationChanged")]
    AffiliationChanged,
    #[serde(rename = "superseded")]
    Superseded,
    #[serde(rename = "cessationOfOperation")]
    CessationOfOperation,
    #[serde(rename = "privilegeWithdrawn")]
    PrivilegeWithdrawn,
    #[serde(rename = "aACompromise")]
    AaCompromise,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 8] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
            RevocationReason::AaCompromise => "aACompromise",
        }
    }

    fn crl_code(self) -> Option<rcgen::RevocationReason> {
        use rcgen::RevocationReason as R;
        match self {
            RevocationReason::Unspecified => None,
            RevocationReason::KeyCompromise => Some(R::KeyCompromise),
            RevocationReason::CaCompromise => Some(R::CaCompromise),
            RevocationReason::AffiliationChanged => Some(R::AffiliationChanged),
            RevocationReason::Superseded => Some(R::Superseded),
            RevocationReason::CessationOfOperation => Some(R::CessationOfOperation),
            RevocationReason::PrivilegeWithdrawn => Some(R::PrivilegeWithdrawn),
            RevocationReason::AaCompromise => Some(R::AaCompromise),
        }
    }
}

impl std::fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--reason` that is none of the RFC 5280 names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reason {0:?}; use one of {names}", names = RevocationReason::ALL.map(|r| r.name()).join(", "))]
pub struct UnknownReason(pub String);

impl std::str::FromStr for RevocationReason {
    type Err = UnknownReason;
    fn from_str(s: &str) -> Result<Self, UnknownReason> {
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownReason(s.to_string()))
    }
}

/// One entry of `revoked.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    pub reason: RevocationReason,
    /// RFC 3339, UTC.
    pub revoked_at: String,
}

/// `revoked.json`: lowercase hex serial (no leading zero octets) → revocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationState {
    pub revoked: BTreeMap<String, Revocation>,
}

/// What [`CaDir::init`] is asked to create.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub trust_domain: TrustDomain,
    pub intermediate: bool,
    pub max_ttl: Duration,
    pub ca_ttl: Duration,
    pub force: bool,
}

/// A leaf issued from a CA directory.
#[derive(Clone)]
pub struct IssuedSvid {
    pub spiffe_id: SpiffeId,
    /// Leaf first, then the intermediate (when there is one); never the root.
    pub chain_pem: String,
    pub key_pem: String,
    pub serial: Vec<u8>,
    pub not_after: i64,
}

impl std::fmt::Debug for IssuedSvid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSvid")
            .field("spiffe_id", &self.spiffe_id)
            .field("serial", &hex(&self.serial))
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Result of [`CaDir::revoke`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    Added { serial: String },
    AlreadyRevoked { serial: String, was: Revocation },
}

/// Result of [`CaDir::write_crl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlOutcome {
    pub crl_number: u64,
    /// Serials listed in the signing CA's CRL.
    pub revoked: usize,
    /// How many CRLs the file holds (2 when an intermediate signs: its CRL and
    /// the root's).
    pub crls: usize,
    pub next_update: i64,
}

/// An opened CA directory.
pub struct CaDir {
    dir: PathBuf,
    settings: CaSettings,
    max_ttl: Duration,
    root: DevCa,
    intermediate: Option<(DevCa, Vec<u8>)>,
}

impl std::fmt::Debug for CaDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaDir")
            .field("dir", &self.dir)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl CaDir {
    /// Create a CA directory. Refuses to replace any existing CA file unless
    /// `force` (then the old CA and its revocation state are replaced).
    pub fn init(dir: &Path, opts: &InitOptions) -> Result<(CaDir, Vec<PathBuf>), CaDirError> {
        if opts.max_ttl > opts.ca_ttl {
            return Err(CaDirError::MaxTtlBeyondCa {
                max: opts.max_ttl,
                ca: opts.ca_ttl,
            });
        }
        // Keys first so the message names the most valuable file.
        let names = [
            ROOT_KEY,
            INTERMEDIATE_KEY,
            ROOT_CERT,
            INTERMEDIATE_CERT,
            BUNDLE,
            SETTINGS,
            REVOKED,
        ];
        if !opts.force {
            if let Some(p) = names.iter().map(|n| dir.join(n)).find(|p| p.exists()) {
                return Err(CaDirError::Exists(p));
            }
        }
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let td = &opts.trust_domain;
        let root = DevCa::generate_root(td, opts.ca_ttl, &format!("{td} root CA"))?;
        let mut written = Vec::new();
        let mut put = |name: &str, text: &str, secret: bool| -> Result<(), CaDirError> {
            let p = dir.join(name);
            write_atomic(&p, text.as_bytes(), secret)?;
            written.push(p);
            Ok(())
        };
        put(ROOT_KEY, root.key_pem(), true)?;
        put(ROOT_CERT, root.cert_pem(), false)?;
        let signer = if opts.intermediate {
            let int = root.issue_intermediate(opts.ca_ttl, &format!("{td} intermediate CA"))?;
            put(INTERMEDIATE_KEY, &int.key_pem, true)?;
            put(INTERMEDIATE_CERT, &int.cert_pem, false)?;
            Signer::Intermediate
        } else {
            // A forced re-init without --intermediate must not leave an old
            // intermediate behind that `open` could mistake for current.
            for n in [INTERMEDIATE_KEY, INTERMEDIATE_CERT] {
                let p = dir.join(n);
                if p.exists() {
                    fs::remove_file(&p).map_err(io_err(&p))?;
                }
            }
            Signer::Root
        };
        put(BUNDLE, root.cert_pem(), false)?;
        let settings = CaSettings {
            trust_domain: td.clone(),
            max_ttl: compact_duration(opts.max_ttl),
            signer,
            next_crl_number: 1,
        };
        put(SETTINGS, &settings_toml(&settings)?, false)?;
        put(REVOKED, &state_json(&RevocationState::default()), false)?;
        Ok((CaDir::open(dir)?, written))
    }

    /// Open an existing CA directory.
    pub fn open(dir: &Path) -> Result<CaDir, CaDirError> {
        let settings_path = dir.join(SETTINGS);
        let text = fs::read_to_string(&settings_path).map_err(|source| CaDirError::NotACaDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let settings: CaSettings = toml::from_str(&text).map_err(|e| CaDirError::BadFile {
            path: settings_path.clone(),
            message: e.to_string(),
        })?;
        let max_ttl =
            crate::duration::parse(&settings.max_ttl).map_err(|e| CaDirError::BadFile {
                path: settings_path.clone(),
                message: format!("max_ttl: {e}"),
            })?;
        let load = |cert: &str, key: &str| -> Result<DevCa, CaDirError> {
            let (cp, kp) = (dir.join(cert), dir.join(key));
            let c = fs::read_to_string(&cp).map_err(io_err(&cp))?;
            let k = fs::read_to_string(&kp).map_err(io_err(&kp))?;
            let ca = DevCa::from_pem(&c, &k).map_err(|e| CaDirError::BadFile {
                path: cp.clone(),
                message: e.to_string(),
            })?;
            Ok(ca.for_trust_domain(&settings.trust_domain))
        };
        let root = load(ROOT_CERT, ROOT_KEY)?;
        let intermediate = match settings.signer {
            Signer::Root => None,
            Signer::Intermediate => {
                let ca = load(INTERMEDIATE_CERT, INTERMEDIATE_KEY)?;
                let serial = first_cert_serial(ca.cert_pem(), &dir.join(INTERMEDIATE_CERT))?;
                Some((ca, serial))
            }
        };
        Ok(CaDir {
            dir: dir.to_path_buf(),
            settings,
            max_ttl,
            root,
            intermediate,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn settings(&self) -> &CaSettings {
        &self.settings
    }

    pub fn trust_domain(&self) -> &TrustDomain {
        &self.settings.trust_domain
    }

    pub fn max_ttl(&self) -> Duration {
        self.max_ttl
    }

    /// The root certificate, PEM (the trust anchor).
    pub fn root_pem(&self) -> &str {
        self.root.cert_pem()
    }

    /// The CA that signs leaves and CRLs.
    pub fn signer(&self) -> &DevCa {
        self.intermediate.as_ref().map_or(&self.root, |(ca, _)| ca)
    }

    /// Refuse an ID outside this CA's trust domain, naming both.
    pub fn check_trust_domain(&self, id: &SpiffeId) -> Result<(), CaDirError> {
        if id.trust_domain() != self.trust_domain().as_str() {
            return Err(CaDirError::OutsideTrustDomain {
                id: id.to_string(),
                trust_domain: self.trust_domain().to_string(),
            });
        }
        Ok(())
    }

    /// Issue an X509-SVID (profile: [`DevCa::issue_svid`]) after the CA
    /// directory's own rules: trust domain, `max_ttl`, the signer's `notAfter`.
    pub fn issue(
        &self,
        id: &SpiffeId,
        ttl: Duration,
        dns_names: &[&str],
        ip_addrs: &[IpAddr],
    ) -> Result<IssuedSvid, CaDirError> {
        self.check_trust_domain(id)?;
        if ttl > self.max_ttl {
            return Err(CaDirError::TtlTooLong {
                ttl,
                max: self.max_ttl,
            });
        }
        let now = crate::unix_now();
        let leaf = self.signer().issue_svid(id, ttl, dns_names, ip_addrs)?;
        let mut chain_pem = leaf.cert_pem.clone();
        if let Some((int, _)) = &self.intermediate {
            chain_pem.push_str(int.cert_pem());
        }
        Ok(IssuedSvid {
            spiffe_id: id.clone(),
            chain_pem,
            key_pem: leaf.key_pem.clone(),
            serial: leaf.serial.clone(),
            not_after: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
        })
    }

    pub fn revocations(&self) -> Result<RevocationState, CaDirError> {
        let p = self.dir.join(REVOKED);
        if !p.exists() {
            return Ok(RevocationState::default());
        }
        let text = fs::read_to_string(&p).map_err(io_err(&p))?;
        serde_json::from_str(&text).map_err(|e| CaDirError::BadFile {
            path: p,
            message: e.to_string(),
        })
    }

    /// Record `serial` as revoked (idempotent: a second call keeps the first
    /// record and says so).
    pub fn revoke(
        &self,
        serial: &[u8],
        reason: RevocationReason,
    ) -> Result<RevokeOutcome, CaDirError> {
        let key = hex(strip_zeros(serial));
        let mut state = self.revocations()?;
        if let Some(was) = state.revoked.get(&key) {
            return Ok(RevokeOutcome::AlreadyRevoked {
                serial: key,
                was: was.clone(),
            });
        }
        state.revoked.insert(
            key.clone(),
            Revocation {
                reason,
                revoked_at: rfc3339(crate::unix_now()),
            },
        );
        write_atomic(
            &self.dir.join(REVOKED),
            state_json(&state).as_bytes(),
            false,
        )?;
        Ok(RevokeOutcome::Added { serial: key })
    }

    /// Sign the CRL(s) for the current revocation state and write them, PEM,
    /// to `out`. With an intermediate the file holds two CRLs: the
    /// intermediate's (leaf serials) and the root's (empty unless the
    /// intermediate itself was revoked). A verifier that checks revocation for
    /// the whole chain needs an authoritative CRL for every issuer in it,
    /// so both are needed; one file keeps them together.
    pub fn write_crl(
        &mut self,
        out: &Path,
        next_update: Duration,
    ) -> Result<CrlOutcome, CaDirError> {
        let state = self.revocations()?;
        let mut leaf_entries = Vec::new();
        let mut root_entries = Vec::new();
        for (serial_hex, r) in &state.revoked {
            let serial = parse_serial(serial_hex)?;
            let revoked_at = time::OffsetDateTime::parse(
                &r.revoked_at,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|e| CaDirError::BadFile {
                path: self.dir.join(REVOKED),
                message: format!("{serial_hex}: revoked_at: {e}"),
            })?
            .unix_timestamp();
            let entry = CrlEntry {
                serial: serial.clone(),
                revoked_at,
                reason: r.reason.crl_code(),
            };
            match &self.intermediate {
                Some((_, int_serial)) if strip_zeros(int_serial) == serial.as_slice() => {
                    root_entries.push(entry)
                }
                _ => leaf_entries.push(entry),
            }
        }
        // Consume the number before anything is published, so it is never
        // handed out twice.
        let number = self.settings.next_crl_number;
        self.settings.next_crl_number = number.saturating_add(1);
        write_atomic(
            &self.dir.join(SETTINGS),
            settings_toml(&self.settings)?.as_bytes(),
            false,
        )?;
        let mut pem = self
            .signer()
            .issue_crl_entries(&leaf_entries, number, next_update)?;
        let mut crls = 1;
        if self.intermediate.is_some() {
            pem.push_str(
                &self
                    .root
                    .issue_crl_entries(&root_entries, number, next_update)?,
            );
            crls = 2;
        }
        write_atomic(out, pem.as_bytes(), false)?;
        Ok(CrlOutcome {
            crl_number: number,
            revoked: leaf_entries.len(),
            crls,
            next_update: crate::unix_now()
                .saturating_add(i64::try_from(next_update.as_secs()).unwrap_or(i64::MAX)),
        })
    }
}

/// `PREFIX.pem` and `PREFIX.key` (a trailing `.pem` on the prefix is dropped).
pub fn pair_paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let s = prefix.as_os_str().to_string_lossy();
    let base = s.strip_suffix(".pem").unwrap_or(&s).to_owned();
    (
        PathBuf::from(format!("{base}.pem")),
        PathBuf::from(format!("{base}.key")),
    )
}

/// Write a leaf's key then its chain, each atomically. Unless `overwrite`,
/// an existing file is refused (named in the error).
pub fn write_pair(
    prefix: &Path,
    svid: &IssuedSvid,
    overwrite: bool,
) -> Result<(PathBuf, PathBuf), CaDirError> {
    let (cert, key) = pair_paths(prefix);
    if !overwrite {
        for p in [&key, &cert] {
            if p.exists() {
                return Err(CaDirError::LeafExists(p.clone()));
            }
        }
    }
    // Key first: a reader that sees the new certificate always finds its key.
    write_atomic(&key, svid.key_pem.as_bytes(), true)?;
    write_atomic(&cert, svid.chain_pem.as_bytes(), false)?;
    Ok((cert, key))
}

/// Parse a serial given as hex (`4f1a…`, `4F:1A:…`, `0x4f1a…`) into bytes
/// without leading zero octets.
pub fn parse_serial(s: &str) -> Result<Vec<u8>, CaDirError> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let digits: String = t.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 42 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CaDirError::BadSerial(s.to_owned()));
    }
    let padded = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    let bytes: Vec<u8> = (0..padded.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&padded[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|_| CaDirError::BadSerial(s.to_owned()))?;
    Ok(strip_zeros(&bytes).to_vec())
}

/// Drop leading zero octets (a DER INTEGER's sign padding), keeping one byte.
fn strip_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|x| **x == 0).count();
    if n == b.len() {
        &b[b.len().saturating_sub(1)..]
    } else {
        &b[n..]
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The serial of the first certificate in `pem` (read from `path`).
fn first_cert_serial(pem: &str, path: &Path) -> Result<Vec<u8>, CaDirError> {
    use rustls_pki_types::pem::PemObject;
    let bad = |message: String| CaDirError::BadFile {
        path: path.to_path_buf(),
        message,
    };
    let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    let (_, c) =
        x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| bad(e.to_string()))?;
    Ok(strip_zeros(c.raw_serial()).to_vec())
}

/// A duration in the one unit that represents it exactly (`24h`, `90m`,
/// `45s`), as [`crate::duration::parse`] reads it back.
fn compact_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn settings_toml(s: &CaSettings) -> Result<String, CaDirError> {
    let body = toml::to_string(s).map_err(|e| CaDirError::BadFile {
        path: PathBuf::from(SETTINGS),
        message: e.to_string(),
    })?;
    Ok(format!(
        "# Written by `actgate ca init`; `actgate crl` advances next_crl_number.\n{body}"
    ))
}

fn state_json(s: &RevocationState) -> String {
    serde_json::to_string_pretty(s).unwrap_or_else(|_| "{\"revoked\":{}}".to_owned()) + "\n"
}

#[cfg(test)]
#[path = "ca_dir_tests.rs"]
mod tests;
