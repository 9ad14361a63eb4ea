//! Development PKI: a CA per trust domain, X509-SVID issuance, CRLs, and the
//! key material a local demo needs (gateway SVID, token-signing key, a demo
//! identity provider key with its JWKS).
//!
//! This is a *development* PKI. Keys sit unencrypted on disk (mode 0600) and
//! SVIDs live for 30 days so a demo keeps working across days; production SVIDs
//! should come from SPIRE (or similar) with TTLs of about an hour.
//!
//! All keys are ECDSA P-256.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use time::OffsetDateTime;

use crate::durable_file::{self, Durability, DurableFileError, Secrecy};
use crate::identity::{SpiffeId, TrustDomain};

pub mod bundle;
pub mod ca_dir;
mod dev;
pub mod inspect;

pub use bundle::{load_bundle_any, BundleError};
pub use ca_dir::{CaDir, CaDirError, CaSettings, RevocationReason, UnknownReason};
pub use dev::{init_dev_pki, DevPki, WorkloadFiles};

/// Lifetime of a generated development CA.
pub const DEV_CA_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// Lifetime of development SVIDs written by [`init_dev_pki`]. Long on purpose
/// (a dev PKI has no rotation agent); see the module docs.
pub const DEV_SVID_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Leaf `notBefore` is back-dated by this much to tolerate clock skew between
/// the issuing host and verifiers.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot generate {what}: {source}")]
    Generate {
        what: &'static str,
        source: rcgen::Error,
    },
    #[error("CA certificate PEM cannot be used: {0}")]
    CaCert(String),
    #[error("CA key PEM cannot be parsed: {0}")]
    CaKey(String),
    #[error("CA key does not belong to the CA certificate")]
    CaKeyMismatch,
    #[error("certificate is not a CA (basicConstraints cA is not true)")]
    NotACa,
    #[error("requested lifetime {0:?} cannot be represented")]
    BadTtl(Duration),
    #[error(
        "certificate would expire at {}, after its CA ({}); use a shorter TTL",
        rfc3339(*svid_not_after),
        rfc3339(*ca_not_after)
    )]
    OutlivesCa {
        svid_not_after: i64,
        ca_not_after: i64,
    },
    #[error("SPIFFE ID {id} is not in this CA's trust domain {ca}")]
    WrongTrustDomain { id: String, ca: String },
    #[error("invalid DNS name {0:?} for a certificate")]
    BadDnsName(String),
    #[error(
        "workload file stem {0:?} is not a plain file name ([A-Za-z0-9._-], not starting with '.')"
    )]
    BadStem(String),
    #[error("{present} exists but {missing} does not; remove {present} to regenerate the pair")]
    PartialPair { present: PathBuf, missing: PathBuf },
    #[error("{0} was issued by a previous CA that no longer exists; remove it to reissue")]
    StaleLeaf(PathBuf),
    #[error("the system random number generator failed")]
    Random,
    #[error("generated public key is not an uncompressed P-256 point")]
    NotP256,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub(crate) fn gen(what: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Generate { what, source }
}

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    /// PKCS#8 PEM.
    pub key_pem: String,
    /// Serial number bytes (big-endian), e.g. for a CRL entry.
    pub serial: Vec<u8>,
}

// Hand-written so the private key can never end up in a log via `{:?}`.
impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// A development certificate authority for one trust domain.
pub struct DevCa {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
    not_after: i64,
    trust_domain: Option<TrustDomain>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa")
            .field("trust_domain", &self.trust_domain)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl DevCa {
    /// Generate a self-signed root for `trust_domain`.
    ///
    /// The root carries no URI SAN and, deliberately, no URI name constraints:
    /// rustls-webpki ≥ 0.103.12 rejects every URI-SAN leaf below a CA with URI
    /// name constraints, which would make every SVID unusable.
    pub fn generate(trust_domain: &TrustDomain) -> Result<DevCa, PkiError> {
        Self::generate_root(trust_domain, DEV_CA_TTL, &format!("{trust_domain} dev CA"))
    }

    /// Generate a self-signed root for `trust_domain` with lifetime `ttl` and
    /// common name `cn` (see [`DevCa::generate`] for the profile).
    pub fn generate_root(
        trust_domain: &TrustDomain,
        ttl: Duration,
        cn: &str,
    ) -> Result<DevCa, PkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen("CA key"))?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "actgate development");
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial()?);
        params.not_before = now - BACKDATE;
        params.not_after = add_ttl(now, ttl)?;
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = params.self_signed(&key).map_err(gen("CA certificate"))?;
        let not_after = params.not_after.unix_timestamp();
        let key_pem = key.serialize_pem();
        Ok(DevCa {
            cert_pem: cert.pem(),
            key_pem,
            issuer: Issuer::new(params, key),
            not_after,
            trust_domain: Some(trust_domain.clone()),
        })
    }

    /// Load a CA from its certificate and PKCS#8 key. The trust domain is not
    /// recorded in the certificate, so issuance is not restricted to one
    /// domain; use [`DevCa::for_trust_domain`] to pin it.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<DevCa, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::CaKey(e.to_string()))?;
        let der = rustls_pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e: rustls_pki_types::pem::Error| PkiError::CaCert(e.to_string()))?;
        let der: rustls_pki_types::CertificateDer<'static> = der;
        let (_, x509) = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| PkiError::CaCert(e.to_string()))?;
        let is_ca = x509
            .basic_constraints()
            .map_err(|e| PkiError::CaCert(e.to_string()))?
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(PkiError::NotACa);
        }
        if x509.public_key().raw != rcgen::PublicKeyData::subject_public_key_info(&key).as_slice() {
            return Err(PkiError::CaKeyMismatch);
        }
        let not_after = x509.validity().not_after.timestamp();
        let issuer =
            Issuer::from_ca_cert_der(&der, key).map_err(|e| PkiError::CaCert(e.to_string()))?;
        Ok(DevCa {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            issuer,
            not_after,
            trust_domain: None,
        })
    }

    /// Restrict issuance to SPIFFE IDs of `td`.
    pub fn for_trust_domain(mut self, td: &TrustDomain) -> DevCa {
        self.trust_domain = Some(td.clone());
        self
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The CA certificate's `notAfter`, seconds since the epoch.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Issue an intermediate CA below this one: cA=true with pathLen 0 (it may
    /// sign leaves only), keyUsage keyCertSign + cRLSign, no URI name
    /// constraints (see [`DevCa::generate`]). Its `notAfter` is capped at this
    /// CA's own.
    pub fn issue_intermediate(&self, ttl: Duration, cn: &str) -> Result<IssuedCert, PkiError> {
        let now = OffsetDateTime::now_utc();
        let mut not_after = add_ttl(now, ttl)?;
        let cap = OffsetDateTime::from_unix_timestamp(self.not_after)
            .map_err(|_| PkiError::BadTtl(ttl))?;
        if not_after > cap {
            not_after = cap;
        }
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen("intermediate key"))?;
        let serial = random_serial()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "actgate");
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(serial.clone());
        params.not_before = now - BACKDATE;
        params.not_after = not_after;
        params.key_identifier_method = KeyIdMethod::Sha256;
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(gen("intermediate certificate"))?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial: serial.to_bytes(),
        })
    }

    /// Issue an X509-SVID: one URI SAN, KU digitalSignature (critical), EKU
    /// serverAuth + clientAuth, cA=false, random serial, empty subject (so the
    /// SAN extension is critical, X509-SVID §3.1), `notBefore` back-dated.
    pub fn issue_svid(
        &self,
        id: &SpiffeId,
        ttl: Duration,
        dns_names: &[&str],
        ip_addrs: &[IpAddr],
    ) -> Result<IssuedCert, PkiError> {
        if let Some(td) = &self.trust_domain {
            if id.trust_domain() != td.as_str() {
                return Err(PkiError::WrongTrustDomain {
                    id: id.to_string(),
                    ca: td.to_string(),
                });
            }
        }
        let now = OffsetDateTime::now_utc();
        let not_after = add_ttl(now, ttl)?;
        if not_after.unix_timestamp() > self.not_after {
            return Err(PkiError::OutlivesCa {
                svid_not_after: not_after.unix_timestamp(),
                ca_not_after: self.not_after,
            });
        }
        let uri = id
            .as_str()
            .try_into()
            .map_err(|e: rcgen::Error| gen("URI SAN")(e))?;
        let mut sans = vec![SanType::URI(uri)];
        for dns in dns_names {
            let name = (*dns)
                .try_into()
                .map_err(|_| PkiError::BadDnsName((*dns).to_owned()))?;
            sans.push(SanType::DnsName(name));
        }
        sans.extend(ip_addrs.iter().copied().map(SanType::IpAddress));

        let serial = random_serial()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.serial_number = Some(serial.clone());
        params.not_before = now - BACKDATE;
        params.not_after = not_after;
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen("SVID key"))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(gen("SVID certificate"))?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial: serial.to_bytes(),
        })
    }

    /// Issue a CRL revoking `serials`, valid for `validity`. PEM.
    pub fn issue_crl(&self, serials: &[&[u8]], validity: Duration) -> Result<String, PkiError> {
        let now = OffsetDateTime::now_utc();
        let entries: Vec<CrlEntry> = serials
            .iter()
            .map(|s| CrlEntry {
                serial: s.to_vec(),
                revoked_at: (now - BACKDATE).unix_timestamp(),
                reason: None,
            })
            .collect();
        self.issue_crl_entries(&entries, now.unix_timestamp().unsigned_abs(), validity)
    }

    /// Issue a CRL with explicit entries and CRL number, valid for `validity`
    /// from now. PEM.
    pub fn issue_crl_entries(
        &self,
        entries: &[CrlEntry],
        crl_number: u64,
        validity: Duration,
    ) -> Result<String, PkiError> {
        let now = OffsetDateTime::now_utc();
        let revoked_certs = entries
            .iter()
            .map(|e| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&e.serial),
                    revocation_time: OffsetDateTime::from_unix_timestamp(e.revoked_at)
                        .map_err(|_| PkiError::BadTtl(validity))?,
                    reason_code: e.reason,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, PkiError>>()?;
        let params = CertificateRevocationListParams {
            this_update: now - BACKDATE,
            next_update: add_ttl(now, validity)?,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer).map_err(gen("CRL"))?;
        crl.pem().map_err(gen("CRL PEM"))
    }
}

/// One revoked certificate in a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlEntry {
    /// Serial number bytes, big-endian.
    pub serial: Vec<u8>,
    /// Revocation time, seconds since the epoch.
    pub revoked_at: i64,
    /// `None` omits the reasonCode extension (RFC 5280 §5.3.1: "unspecified"
    /// SHOULD be expressed by leaving it out).
    pub reason: Option<rcgen::RevocationReason>,
}

/// RFC 3339 (UTC) rendering of a unix timestamp; the number itself when it is
/// out of range.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// A short human rendering of a number of seconds: `1h`, `24h`, `90m`,
/// `1h 30m`, `45s`, `3d 2h`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let parts: Vec<String> = if d > 0 && d * 24 + h <= 48 && (m, s) == (0, 0) {
        // "48h" reads better than "2d" for the TTLs people type.
        vec![format!("{}h", d * 24 + h)]
    } else {
        [(d, "d"), (h, "h"), (m, "m"), (s, "s")]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .take(2)
            .map(|(n, u)| format!("{n}{u}"))
            .collect()
    };
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.join(" ")
    }
}

fn add_ttl(now: OffsetDateTime, ttl: Duration) -> Result<OffsetDateTime, PkiError> {
    time::Duration::try_from(ttl)
        .ok()
        .and_then(|d| now.checked_add(d))
        .ok_or(PkiError::BadTtl(ttl))
}

/// 16 random bytes, forced positive and without a leading zero octet so the
/// DER INTEGER keeps its full length (RFC 5280 §4.1.2.2: positive, ≤ 20 octets).
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| PkiError::Random)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

// ---------------------------------------------------------------------------
// Demo identity provider key and JWKS
// ---------------------------------------------------------------------------

/// Public JWK (RFC 7517/7518) of a P-256 key, with `kid` = RFC 7638 thumbprint.
pub fn es256_jwk(key: &KeyPair) -> Result<serde_json::Value, PkiError> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    // Uncompressed SEC1 point: 0x04 || X (32) || Y (32).
    let raw = key.public_key_raw();
    let (x, y) = match (raw.first(), raw.get(1..33), raw.get(33..65), raw.len()) {
        (Some(4), Some(x), Some(y), 65) => (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y)),
        _ => return Err(PkiError::NotP256),
    };
    // RFC 7638 §3.2: required members only, lexicographic order, no spaces.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    let kid = URL_SAFE_NO_PAD.encode(digest.as_ref());
    Ok(serde_json::json!({
        "kty": "EC", "crv": "P-256", "x": x, "y": y,
        "kid": kid, "alg": "ES256", "use": "sig",
    }))
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn read(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(io(path))
}

impl From<DurableFileError> for PkiError {
    fn from(e: DurableFileError) -> Self {
        match e {
            DurableFileError::Io { path, source } => PkiError::Io { path, source },
            DurableFileError::Random => PkiError::Random,
        }
    }
}

/// Create `path` (never overwriting). Secrets get mode 0600 at creation, so
/// there is no window in which the key is readable by others. Durable: a
/// development PKI that loses a key it reported as written would be
/// regenerated half.
pub(crate) fn write_new(
    path: &Path,
    text: &str,
    secret: bool,
    created: &mut Vec<PathBuf>,
) -> Result<(), PkiError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io(dir))?;
    }
    durable_file::create_new(
        path,
        text.as_bytes(),
        Secrecy::secret_if(secret),
        Durability::Durable,
    )?;
    created.push(path.to_path_buf());
    Ok(())
}

/// Replace `path` atomically (see [`durable_file::replace`]): readers see
/// either the old or the new content, never a torn file. Durable, because a
/// CA directory's state (revocations, the next CRL number) must not go back
/// in time after a power loss.
pub fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> Result<(), PkiError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io(dir))?;
    }
    durable_file::replace(path, bytes, Secrecy::secret_if(secret), Durability::Durable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{svid, SpiffeClientVerifier, TrustDomainBundle};
    use crate::metrics::{HandshakeRejection, Metrics};
    use rustls::server::danger::ClientCertVerifier;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
    use std::sync::Arc;

    fn td() -> TrustDomain {
        TrustDomain::parse("example.org").unwrap()
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn verifier(ca: &DevCa, crls: &[String], m: &Arc<Metrics>) -> SpiffeClientVerifier {
        let crls = crls
            .iter()
            .map(|p| CertificateRevocationListDer::from_pem_slice(p.as_bytes()).unwrap())
            .collect();
        let b = TrustDomainBundle::new(td(), vec![der(ca.cert_pem())]).with_crls(crls);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        SpiffeClientVerifier::new(vec![b], provider, m.clone()).unwrap()
    }

    #[test]
    fn issued_svid_parses_and_verifies() {
        let ca = DevCa::generate(&td()).unwrap();
        let id = SpiffeId::parse("spiffe://example.org/agent/a").unwrap();
        let leaf = ca
            .issue_svid(
                &id,
                Duration::from_secs(3600),
                &["localhost"],
                &[[127, 0, 0, 1].into()],
            )
            .unwrap();
        let info = svid::parse_svid(der(&leaf.cert_pem).as_ref()).unwrap();
        assert_eq!(info.spiffe_id, id);
        assert!(info.not_before <= crate::unix_now() - 290);
        let m = Arc::new(Metrics::default());
        let v = verifier(&ca, &[], &m);
        v.verify_client_cert(&der(&leaf.cert_pem), &[], UnixTime::now())
            .unwrap();
    }

    #[test]
    fn crl_revokes_the_listed_serial_only() {
        let ca = DevCa::generate(&td()).unwrap();
        let id = SpiffeId::parse("spiffe://example.org/agent/a").unwrap();
        let revoked = ca
            .issue_svid(&id, Duration::from_secs(600), &[], &[])
            .unwrap();
        let fine = ca
            .issue_svid(&id, Duration::from_secs(600), &[], &[])
            .unwrap();
        assert_ne!(revoked.serial, fine.serial);
        let crl = ca
            .issue_crl(&[&revoked.serial], Duration::from_secs(3600))
            .unwrap();
        let m = Arc::new(Metrics::default());
        let v = verifier(&ca, &[crl], &m);
        let err = v
            .verify_client_cert(&der(&revoked.cert_pem), &[], UnixTime::now())
            .unwrap_err();
        assert!(err.to_string().contains("Revoked"), "{err}");
        assert_eq!(m.rejected(HandshakeRejection::ChainInvalid), 1);
        v.verify_client_cert(&der(&fine.cert_pem), &[], UnixTime::now())
            .unwrap();
    }

    #[test]
    fn from_pem_round_trip_and_checks() {
        let ca = DevCa::generate(&td()).unwrap();
        let again = DevCa::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        let id = SpiffeId::parse("spiffe://other.org/x").unwrap();
        // Loaded without a pinned trust domain: may issue for any domain.
        again
            .issue_svid(&id, Duration::from_secs(60), &[], &[])
            .unwrap();
        let pinned = again.for_trust_domain(&td());
        assert!(matches!(
            pinned.issue_svid(&id, Duration::from_secs(60), &[], &[]),
            Err(PkiError::WrongTrustDomain { .. })
        ));
        let other = DevCa::generate(&td()).unwrap();
        assert!(matches!(
            DevCa::from_pem(ca.cert_pem(), other.key_pem()),
            Err(PkiError::CaKeyMismatch)
        ));
        let leaf = ca
            .issue_svid(
                &SpiffeId::parse("spiffe://example.org/a").unwrap(),
                Duration::from_secs(60),
                &[],
                &[],
            )
            .unwrap();
        assert!(matches!(
            DevCa::from_pem(&leaf.cert_pem, &leaf.key_pem),
            Err(PkiError::NotACa)
        ));
        assert!(!format!("{:?} {:?}", ca, leaf).contains("PRIVATE KEY"));
    }

    #[test]
    fn svid_cannot_outlive_ca() {
        let ca = DevCa::generate(&td()).unwrap();
        let id = SpiffeId::parse("spiffe://example.org/a").unwrap();
        assert!(matches!(
            ca.issue_svid(&id, DEV_CA_TTL * 2, &[], &[]),
            Err(PkiError::OutlivesCa { .. })
        ));
    }

    #[test]
    fn jwk_has_rfc7638_kid() {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let jwk = es256_jwk(&key).unwrap();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["x"].as_str().unwrap().len(), 43);
        assert_eq!(jwk["y"].as_str().unwrap().len(), 43);
        assert_eq!(jwk["kid"].as_str().unwrap().len(), 43);
    }
}
