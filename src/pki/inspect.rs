//! `actgate cert inspect`: describe a certificate and list *every* way it
//! breaks the X509-SVID rules (X509-SVID.md §§2–5), not just the first.
//!
//! Unlike [`crate::identity::svid::parse_svid`], which stops at the first
//! reason to refuse a handshake, this collects all findings, and it also
//! reports issuance rules that verifiers do not enforce (keyUsage criticality,
//! serverAuth in extKeyUsage, SAN criticality with an empty subject).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::Serialize;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_EXTENDED_KEY_USAGE, OID_X509_EXT_KEY_USAGE,
    OID_X509_EXT_SUBJECT_ALT_NAME,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{human_duration, rfc3339};
use crate::identity::{SpiffeId, SpiffeIdError};

/// Longest URI quoted back in a finding.
const MAX_QUOTED: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("input is empty")]
    Empty,
    #[error("PEM input cannot be parsed: {0}")]
    Pem(String),
    #[error("PEM input contains no `-----BEGIN CERTIFICATE-----` block")]
    NoCertificateInPem,
    #[error("input is neither PEM nor a DER X.509 certificate: {0}")]
    Der(String),
    #[error("DER certificate is followed by {0} bytes of trailing data")]
    TrailingData(usize),
}

/// One rule the certificate breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable machine-readable name, e.g. `uri_san_count`.
    pub code: &'static str,
    pub message: String,
}

/// What `cert inspect` prints.
#[derive(Debug, Clone, Serialize)]
pub struct CertReport {
    /// The SPIFFE ID when the certificate has exactly one URI SAN and it parses.
    pub spiffe_id: Option<String>,
    pub uri_sans: Vec<String>,
    pub dns_sans: Vec<String>,
    pub ip_sans: Vec<String>,
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    /// Seconds until `notAfter` (negative once expired).
    pub seconds_left: i64,
    /// "valid for 59m 58s", "expired 2h ago", "not valid for another 1h".
    pub validity_status: String,
    /// Lowercase hex, as in the CA's revocation list.
    pub serial: String,
    /// RFC 8705 `x5t#S256` of the leaf.
    #[serde(rename = "x5t#S256")]
    pub thumbprint: String,
    /// Certificates in the input (leaf first).
    pub chain_length: usize,
    pub findings: Vec<Finding>,
}

/// Certificates from PEM (every `CERTIFICATE` block, in order) or one DER
/// certificate. PEM is recognised by a `-----BEGIN` line.
pub fn load_certs(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, InspectError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(InspectError::Empty);
    }
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let certs = CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| InspectError::Pem(e.to_string()))?;
        if certs.is_empty() {
            return Err(InspectError::NoCertificateInPem);
        }
        return Ok(certs);
    }
    let (rest, _) =
        X509Certificate::from_der(bytes).map_err(|e| InspectError::Der(e.to_string()))?;
    if !rest.is_empty() {
        return Err(InspectError::TrailingData(rest.len()));
    }
    Ok(vec![CertificateDer::from(bytes.to_vec())])
}

/// Inspect the first certificate of `bytes` (PEM or DER) at time `now`.
pub fn inspect_bytes(bytes: &[u8], now: i64) -> Result<CertReport, InspectError> {
    let certs = load_certs(bytes)?;
    inspect_der(certs[0].as_ref(), certs.len(), now)
}

/// Inspect one DER certificate at time `now` (unix seconds).
pub fn inspect_der(der: &[u8], chain_length: usize, now: i64) -> Result<CertReport, InspectError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| InspectError::Der(e.to_string()))?;
    if !rest.is_empty() {
        return Err(InspectError::TrailingData(rest.len()));
    }
    // Findings in the order a reader checks a leaf: extensions, names,
    // constraints, usages, time.
    let mut f = Findings::default();
    duplicate_extensions(&cert, &mut f);
    let sans = subject_alt_names(&cert, &mut f);
    basic_constraints(&cert, &mut f);
    key_usage(&cert, &mut f);
    ext_key_usage(&cert, &mut f);
    let validity = validity(&cert, now, &mut f);
    let Sans {
        uris,
        dns,
        ips,
        spiffe_id,
    } = sans;
    let Validity {
        nb,
        na,
        seconds_left,
        validity_status,
    } = validity;
    let findings = f.0;
    Ok(CertReport {
        spiffe_id,
        uri_sans: uris,
        dns_sans: dns,
        ip_sans: ips,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
        seconds_left,
        validity_status,
        serial: super::ca_dir::hex(cert.raw_serial()),
        thumbprint: crate::identity::thumbprint(der),
        chain_length,
        findings,
    })
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, code: &'static str, message: String) {
        self.0.push(Finding { code, message });
    }
}

fn duplicate_extensions(cert: &X509Certificate<'_>, f: &mut Findings) {
    // Extensions are looked at by OID and counted, so a duplicate cannot hide
    // a second SAN or keyUsage from the checks below.
    let count = |oid| cert.extensions().iter().filter(|e| &e.oid == oid).count();
    for (oid, name) in [
        (&OID_X509_EXT_SUBJECT_ALT_NAME, "subjectAltName"),
        (&OID_X509_EXT_KEY_USAGE, "keyUsage"),
        (&OID_X509_EXT_EXTENDED_KEY_USAGE, "extKeyUsage"),
        (&OID_X509_EXT_BASIC_CONSTRAINTS, "basicConstraints"),
    ] {
        if count(oid) > 1 {
            f.add(
                "duplicate_extension",
                format!("has {} {name} extensions; RFC 5280 allows one", count(oid)),
            );
        }
    }
}

/// The names of the subjectAltName extension(s), and the X509-SVID rules on
/// them (exactly one URI SAN, a SPIFFE ID with a path; a critical SAN when
/// the subject is empty).
struct Sans {
    uris: Vec<String>,
    dns: Vec<String>,
    ips: Vec<String>,
    spiffe_id: Option<String>,
}

fn subject_alt_names(cert: &X509Certificate<'_>, f: &mut Findings) -> Sans {
    // --- subjectAltName -------------------------------------------------
    let mut uris = Vec::new();
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    let mut san_critical = None;
    for ext in cert
        .extensions()
        .iter()
        .filter(|e| e.oid == OID_X509_EXT_SUBJECT_ALT_NAME)
    {
        san_critical = Some(san_critical.unwrap_or(true) && ext.critical);
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::URI(u) => uris.push((*u).to_owned()),
                        GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                        GeneralName::IPAddress(b) => ips.push(ip_string(b)),
                        _ => {}
                    }
                }
            }
            other => f.add(
                "malformed_extension",
                format!("subjectAltName cannot be parsed: {}", parse_failure(other)),
            ),
        }
    }
    match uris.len() {
        1 => {}
        0 => f.add(
            "uri_san_count",
            "has no URI SAN; an X509-SVID needs exactly one, holding its SPIFFE ID (X509-SVID §2)"
                .to_owned(),
        ),
        n => f.add(
            "uri_san_count",
            format!("has {n} URI SANs; an X509-SVID needs exactly one (X509-SVID §2)"),
        ),
    }
    let mut spiffe_id = None;
    for uri in &uris {
        let q = quote(uri);
        if !uri.starts_with("spiffe://") {
            f.add(
                "not_spiffe_uri",
                format!("URI SAN {q} is not a spiffe:// URI"),
            );
            continue;
        }
        match SpiffeId::parse(uri) {
            Ok(id) if uris.len() == 1 => spiffe_id = Some(id.to_string()),
            Ok(_) => {}
            Err(SpiffeIdError::MissingPath) => f.add(
                "root_path",
                format!(
                    "URI SAN {q} has no path (root path): it names the trust domain, not a workload (X509-SVID §2)"
                ),
            ),
            Err(e) => f.add(
                "bad_spiffe_id",
                format!("URI SAN {q} is not a valid SPIFFE ID: {e}"),
            ),
        }
    }
    let subject_empty = cert.subject().iter().next().is_none();
    if subject_empty {
        match san_critical {
            None => f.add(
                "empty_subject_no_san",
                "subject is empty and there is no subjectAltName extension".to_owned(),
            ),
            Some(false) => f.add(
                "san_not_critical",
                "subject is empty but the subjectAltName extension is not critical (X509-SVID §3.1, RFC 5280 §4.2.1.6)"
                    .to_owned(),
            ),
            Some(true) => {}
        }
    }
    Sans {
        uris,
        dns,
        ips,
        spiffe_id,
    }
}

fn basic_constraints(cert: &X509Certificate<'_>, f: &mut Findings) {
    // --- basicConstraints -----------------------------------------------
    for ext in cert
        .extensions()
        .iter()
        .filter(|e| e.oid == OID_X509_EXT_BASIC_CONSTRAINTS)
    {
        match ext.parsed_extension() {
            ParsedExtension::BasicConstraints(bc) if bc.ca => f.add(
                "ca_true",
                "basicConstraints has cA=true; an X509-SVID leaf must not be a CA (X509-SVID §4.1)"
                    .to_owned(),
            ),
            ParsedExtension::BasicConstraints(_) => {}
            other => f.add(
                "malformed_extension",
                format!(
                    "basicConstraints cannot be parsed: {}",
                    parse_failure(other)
                ),
            ),
        }
    }
}

fn key_usage(cert: &X509Certificate<'_>, f: &mut Findings) {
    // --- keyUsage -------------------------------------------------------
    let ku_exts: Vec<_> = cert
        .extensions()
        .iter()
        .filter(|e| e.oid == OID_X509_EXT_KEY_USAGE)
        .collect();
    if ku_exts.is_empty() {
        f.add(
            "no_key_usage",
            "has no keyUsage extension; an X509-SVID leaf needs a critical keyUsage with digitalSignature (X509-SVID §4.3)"
                .to_owned(),
        );
    }
    for ext in ku_exts {
        if !ext.critical {
            f.add(
                "key_usage_not_critical",
                "keyUsage is not marked critical (X509-SVID §4.3)".to_owned(),
            );
        }
        match ext.parsed_extension() {
            ParsedExtension::KeyUsage(ku) => {
                if !ku.digital_signature() {
                    f.add(
                        "no_digital_signature",
                        "keyUsage lacks digitalSignature (X509-SVID §4.3)".to_owned(),
                    );
                }
                if ku.key_cert_sign() {
                    f.add(
                        "key_cert_sign",
                        "keyUsage has keyCertSign; a leaf must not sign certificates (X509-SVID §4.3)"
                            .to_owned(),
                    );
                }
                if ku.crl_sign() {
                    f.add(
                        "crl_sign",
                        "keyUsage has cRLSign; a leaf must not sign CRLs (X509-SVID §4.3)"
                            .to_owned(),
                    );
                }
            }
            other => f.add(
                "malformed_extension",
                format!("keyUsage cannot be parsed: {}", parse_failure(other)),
            ),
        }
    }
}

fn ext_key_usage(cert: &X509Certificate<'_>, f: &mut Findings) {
    // --- extKeyUsage (optional; when present both purposes, §4.4) -------
    for ext in cert
        .extensions()
        .iter()
        .filter(|e| e.oid == OID_X509_EXT_EXTENDED_KEY_USAGE)
    {
        match ext.parsed_extension() {
            ParsedExtension::ExtendedKeyUsage(eku) => {
                if !eku.client_auth {
                    f.add(
                        "eku_no_client_auth",
                        "extKeyUsage is present without clientAuth (X509-SVID §4.4); verifiers refuse it as a client certificate"
                            .to_owned(),
                    );
                }
                if !eku.server_auth {
                    f.add(
                        "eku_no_server_auth",
                        "extKeyUsage is present without serverAuth (X509-SVID §4.4); it cannot serve TLS"
                            .to_owned(),
                    );
                }
            }
            other => f.add(
                "malformed_extension",
                format!("extKeyUsage cannot be parsed: {}", parse_failure(other)),
            ),
        }
    }
}

struct Validity {
    nb: i64,
    na: i64,
    seconds_left: i64,
    validity_status: String,
}

fn validity(cert: &X509Certificate<'_>, now: i64, f: &mut Findings) -> Validity {
    // --- validity -------------------------------------------------------
    let nb = cert.validity().not_before.timestamp();
    let na = cert.validity().not_after.timestamp();
    let seconds_left = na.saturating_sub(now);
    let validity_status = if now > na {
        let ago = human_duration(now.abs_diff(na));
        f.add(
            "expired",
            format!("expired {ago} ago (notAfter {})", rfc3339(na)),
        );
        format!("expired {ago} ago")
    } else if now < nb {
        let until = human_duration(nb.abs_diff(now));
        f.add(
            "not_yet_valid",
            format!("not valid yet: notBefore is {} (in {until})", rfc3339(nb)),
        );
        format!("not valid for another {until}")
    } else {
        format!("valid for {}", human_duration(na.abs_diff(now)))
    };
    Validity {
        nb,
        na,
        seconds_left,
        validity_status,
    }
}

fn parse_failure(ext: &ParsedExtension<'_>) -> String {
    match ext {
        ParsedExtension::ParseError { error } => error.to_string(),
        _ => "unexpected content".to_owned(),
    }
}

fn ip_string(b: &[u8]) -> String {
    match b.len() {
        4 => {
            let a: [u8; 4] = [b[0], b[1], b[2], b[3]];
            std::net::Ipv4Addr::from(a).to_string()
        }
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => format!("<{} bytes>", b.len()),
    }
}

fn quote(s: &str) -> String {
    let mut t: String = s.chars().take(MAX_QUOTED).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    format!("{t:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [
            &b""[..],
            b"   \n",
            b"hello",
            b"\x30\x03\x02\x01",
            &[0xff; 64],
        ] {
            assert!(inspect_bytes(input, 0).is_err(), "{input:?}");
        }
        let err = inspect_bytes(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            0,
        )
        .unwrap_err();
        assert_eq!(err, InspectError::NoCertificateInPem);
    }

    #[test]
    fn dev_ca_leaf_is_clean_and_the_ca_itself_is_not() {
        let td = crate::identity::TrustDomain::parse("example.org").unwrap();
        let ca = super::super::DevCa::generate(&td).unwrap();
        let id = SpiffeId::parse("spiffe://example.org/a").unwrap();
        let leaf = ca
            .issue_svid(
                &id,
                std::time::Duration::from_secs(3600),
                &["x.test"],
                &[[10, 0, 0, 1].into()],
            )
            .unwrap();
        let now = crate::unix_now();
        let r = inspect_bytes(leaf.cert_pem.as_bytes(), now).unwrap();
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.spiffe_id.as_deref(), Some("spiffe://example.org/a"));
        assert_eq!(r.dns_sans, ["x.test"]);
        assert_eq!(r.ip_sans, ["10.0.0.1"]);
        assert_eq!(r.thumbprint.len(), 43);
        // Two hours later the same leaf is expired, and says by how much.
        let r = inspect_bytes(leaf.cert_pem.as_bytes(), now + 3 * 3600).unwrap();
        assert_eq!(r.findings.len(), 1);
        assert!(
            r.findings[0].message.starts_with("expired 2h ago"),
            "{:?}",
            r.findings
        );

        let codes: Vec<_> = inspect_bytes(ca.cert_pem().as_bytes(), now)
            .unwrap()
            .findings
            .iter()
            .map(|f| f.code)
            .collect();
        for c in [
            "uri_san_count",
            "ca_true",
            "no_digital_signature",
            "key_cert_sign",
            "crl_sign",
        ] {
            assert!(codes.contains(&c), "{c} missing from {codes:?}");
        }
    }
}
