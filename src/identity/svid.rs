//! X509-SVID leaf checks and identity extraction (X509-SVID.md §§2–5).
//!
//! These are the checks that webpki does not do: it has no URI-name API and
//! does not look at the leaf's keyUsage bits, so the SPIFFE-specific leaf rules
//! live here and run *before* the chain is validated. Chain, time, revocation
//! and EKU-vs-purpose checks stay with webpki (see `verifier.rs`).

use x509_parser::der_parser::oid::Oid;
use x509_parser::extensions::{GeneralName, ParsedExtension, X509Extension};
use x509_parser::oid_registry::{
    OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_EXTENDED_KEY_USAGE, OID_X509_EXT_KEY_USAGE,
    OID_X509_EXT_SUBJECT_ALT_NAME,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{SpiffeId, SpiffeIdError};

/// Upper bound on subjectAltName entries we are willing to scan. A real SVID
/// carries one URI and a handful of DNS names; anything far beyond that is
/// refused rather than walked.
pub const MAX_SAN_ENTRIES: usize = 64;
/// How much of a rejected URI SAN we quote back in errors and logs.
const MAX_QUOTED_URI: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SvidError {
    #[error("no client certificate was presented")]
    NoCertificate,
    #[error("certificate is not valid DER X.509: {0}")]
    Malformed(String),
    #[error("certificate DER is followed by {0} bytes of trailing data")]
    TrailingData(usize),
    #[error("certificate has more than one {0} extension")]
    DuplicateExtension(&'static str),
    #[error("certificate {name} extension cannot be parsed: {reason}")]
    MalformedExtension { name: &'static str, reason: String },
    #[error(
        "certificate has {count} subjectAltName entries; at most {MAX_SAN_ENTRIES} are accepted"
    )]
    TooManySans { count: usize },
    #[error("certificate has {0} URI SANs; an X509-SVID must have exactly one")]
    UriSanCount(usize),
    #[error("certificate URI SAN {uri:?} is not a valid workload SPIFFE ID: {source}")]
    InvalidSpiffeId { uri: String, source: SpiffeIdError },
    #[error("certificate has basicConstraints cA=true; an X509-SVID leaf must not be a CA")]
    CaCertificate,
    #[error("certificate has no keyUsage extension; an X509-SVID leaf must have one with digitalSignature")]
    MissingKeyUsage,
    #[error("certificate keyUsage lacks digitalSignature, which an X509-SVID leaf must have")]
    MissingDigitalSignature,
    #[error("certificate keyUsage has keyCertSign; an X509-SVID leaf must not")]
    KeyCertSign,
    #[error("certificate keyUsage has cRLSign; an X509-SVID leaf must not")]
    CrlSign,
    #[error("certificate extKeyUsage is present but lacks clientAuth, so it cannot authenticate a client")]
    MissingClientAuth,
    #[error("certificate expired at {not_after} (now {now})")]
    Expired { not_after: i64, now: i64 },
    #[error("certificate is not valid before {not_before} (now {now})")]
    NotYetValid { not_before: i64, now: i64 },
}

/// The leaf's extendedKeyUsage purposes that matter for TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtKeyUsage {
    pub server_auth: bool,
    pub client_auth: bool,
}

/// What the gateway takes from a leaf that passed every X509-SVID rule.
#[derive(Debug, Clone)]
pub struct SvidInfo {
    pub spiffe_id: SpiffeId,
    pub not_before: i64,
    pub not_after: i64,
    /// Serial number, lowercase hex (for logs and revocation lists).
    pub serial: String,
    /// `None` when the leaf has no extKeyUsage extension.
    pub ext_key_usage: Option<ExtKeyUsage>,
}

impl SvidInfo {
    /// Whether this SVID may authenticate a TLS *client*.
    ///
    /// X509-SVID §4.4 asks issuers to set both serverAuth and clientAuth, but
    /// §5 lists neither as a validation MUST. For a client certificate only
    /// clientAuth matters: this mirrors webpki's `KeyUsage::client_auth()` (an
    /// absent EKU is accepted; a present one must contain clientAuth) and adds
    /// nothing stricter, because demanding serverAuth on a client certificate
    /// buys no security and would reject SVIDs from spec-lax issuers.
    pub fn check_client_auth(&self) -> Result<(), SvidError> {
        match self.ext_key_usage {
            Some(eku) if !eku.client_auth => Err(SvidError::MissingClientAuth),
            _ => Ok(()),
        }
    }
}

/// Parse a leaf and apply every X509-SVID leaf rule except validity time and chain.
///
/// Checked: exactly one URI SAN (all SAN extensions and all URI entries are
/// counted, before any filtering), that URI is a workload SPIFFE ID, cA is not
/// set, keyUsage is present with digitalSignature and without keyCertSign and
/// cRLSign. Criticality of keyUsage is an issuance rule and is not enforced.
pub fn parse_svid(der: &[u8]) -> Result<SvidInfo, SvidError> {
    let cert = parse_cert(der)?;
    let uri = single_uri_san(&cert)?;
    let spiffe_id = SpiffeId::parse(uri).map_err(|source| SvidError::InvalidSpiffeId {
        uri: quote(uri),
        source,
    })?;

    if let Some(ext) = unique_ext(&cert, &OID_X509_EXT_BASIC_CONSTRAINTS, "basicConstraints")? {
        match ext.parsed_extension() {
            // webpki also refuses a CA as end entity, but an SVID with cA=true
            // is an SVID rule violation in its own right (X509-SVID §4.1), so
            // it is named here rather than left to a generic chain error.
            ParsedExtension::BasicConstraints(bc) if bc.ca => return Err(SvidError::CaCertificate),
            ParsedExtension::BasicConstraints(_) => {}
            other => return Err(malformed("basicConstraints", other)),
        }
    }

    // webpki ignores the leaf's keyUsage bits entirely; a leaf that may sign
    // certificates or CRLs could mint identities, so refuse it here (§4.3).
    let ku = match unique_ext(&cert, &OID_X509_EXT_KEY_USAGE, "keyUsage")? {
        None => return Err(SvidError::MissingKeyUsage),
        Some(ext) => match ext.parsed_extension() {
            ParsedExtension::KeyUsage(ku) => ku,
            other => return Err(malformed("keyUsage", other)),
        },
    };
    if ku.key_cert_sign() {
        return Err(SvidError::KeyCertSign);
    }
    if ku.crl_sign() {
        return Err(SvidError::CrlSign);
    }
    if !ku.digital_signature() {
        return Err(SvidError::MissingDigitalSignature);
    }

    let ext_key_usage = match unique_ext(&cert, &OID_X509_EXT_EXTENDED_KEY_USAGE, "extKeyUsage")? {
        None => None,
        Some(ext) => match ext.parsed_extension() {
            ParsedExtension::ExtendedKeyUsage(eku) => Some(ExtKeyUsage {
                server_auth: eku.server_auth,
                client_auth: eku.client_auth,
            }),
            other => return Err(malformed("extKeyUsage", other)),
        },
    };

    let validity = cert.validity();
    Ok(SvidInfo {
        spiffe_id,
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        serial: hex(cert.raw_serial()),
        ext_key_usage,
    })
}

/// Validity-time check against `now` (unix seconds), inclusive at both ends
/// as in RFC 5280 §4.1.2.5.
pub fn check_validity(info: &SvidInfo, now: i64) -> Result<(), SvidError> {
    if now < info.not_before {
        return Err(SvidError::NotYetValid {
            not_before: info.not_before,
            now,
        });
    }
    if now > info.not_after {
        return Err(SvidError::Expired {
            not_after: info.not_after,
            now,
        });
    }
    Ok(())
}

/// Best-effort identification of a (possibly rejected) leaf for log lines:
/// the serial and the first URI SAN, shortened. Never fails; never returns the
/// certificate itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeafLogFields {
    pub serial: Option<String>,
    pub uri: Option<String>,
}

pub fn log_fields(der: &[u8]) -> LeafLogFields {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return LeafLogFields::default();
    };
    let uri = cert
        .extensions()
        .iter()
        .filter_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => Some(san),
            _ => None,
        })
        .flat_map(|san| san.general_names.iter().take(MAX_SAN_ENTRIES))
        .find_map(|gn| match gn {
            GeneralName::URI(u) => Some(quote(u)),
            _ => None,
        });
    LeafLogFields {
        serial: Some(hex(cert.raw_serial())),
        uri,
    }
}

fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, SvidError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| SvidError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(SvidError::TrailingData(rest.len()));
    }
    Ok(cert)
}

/// The one URI SAN, after counting every URI entry in every SAN extension.
///
/// Counting before filtering matters: a verifier that took "the first spiffe
/// URI" would accept a leaf asserting two identities (§5 requires rejection).
fn single_uri_san<'a>(cert: &'a X509Certificate<'_>) -> Result<&'a str, SvidError> {
    let ext = unique_ext(cert, &OID_X509_EXT_SUBJECT_ALT_NAME, "subjectAltName")?;
    let names = match ext.map(X509Extension::parsed_extension) {
        None => return Err(SvidError::UriSanCount(0)),
        Some(ParsedExtension::SubjectAlternativeName(san)) => &san.general_names,
        Some(other) => return Err(malformed("subjectAltName", other)),
    };
    if names.len() > MAX_SAN_ENTRIES {
        return Err(SvidError::TooManySans { count: names.len() });
    }
    let mut uris = names.iter().filter_map(|gn| match gn {
        GeneralName::URI(u) => Some(*u),
        _ => None,
    });
    match (uris.next(), uris.count()) {
        (Some(uri), 0) => Ok(uri),
        (None, _) => Err(SvidError::UriSanCount(0)),
        (Some(_), more) => Err(SvidError::UriSanCount(1 + more)),
    }
}

/// RFC 5280 §4.2 forbids repeating an extension; x509-parser does not reject
/// it by itself, and a second copy could hide a contradicting value.
fn unique_ext<'a, 'b>(
    cert: &'a X509Certificate<'b>,
    oid: &Oid<'_>,
    name: &'static str,
) -> Result<Option<&'a X509Extension<'b>>, SvidError> {
    let mut found = None;
    for ext in cert.extensions().iter().filter(|e| e.oid == *oid) {
        if found.is_some() {
            return Err(SvidError::DuplicateExtension(name));
        }
        found = Some(ext);
    }
    Ok(found)
}

fn malformed(name: &'static str, parsed: &ParsedExtension<'_>) -> SvidError {
    let reason = match parsed {
        ParsedExtension::ParseError { error } => error.to_string(),
        _ => "unexpected content".to_owned(),
    };
    SvidError::MalformedExtension { name, reason }
}

fn quote(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED_URI) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or_default()),
        None => s.to_owned(),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, ExtendedKeyUsagePurpose as Eku,
        IsCa, KeyPair, KeyUsagePurpose as Ku, SanType,
    };

    struct Spec {
        sans: Vec<SanType>,
        ku: Vec<Ku>,
        eku: Vec<Eku>,
        is_ca: IsCa,
    }

    fn uri(s: &str) -> SanType {
        SanType::URI(s.try_into().unwrap())
    }

    fn good() -> Spec {
        Spec {
            sans: vec![uri("spiffe://example.org/agent/a")],
            ku: vec![Ku::DigitalSignature],
            eku: vec![Eku::ServerAuth, Eku::ClientAuth],
            is_ca: IsCa::ExplicitNoCa,
        }
    }

    fn make(spec: Spec) -> Vec<u8> {
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.subject_alt_names = spec.sans;
        p.key_usages = spec.ku;
        p.extended_key_usages = spec.eku;
        p.is_ca = spec.is_ca;
        p.serial_number = Some(vec![0x01, 0xab].into());
        let key = KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn accepts_a_profile_svid() {
        let info = parse_svid(&make(good())).unwrap();
        assert_eq!(info.spiffe_id.as_str(), "spiffe://example.org/agent/a");
        assert_eq!(info.serial, "01ab");
        assert!(info.not_before < info.not_after);
        assert_eq!(
            info.ext_key_usage,
            Some(ExtKeyUsage {
                server_auth: true,
                client_auth: true
            })
        );
        assert!(info.check_client_auth().is_ok());
    }

    #[test]
    fn accepts_dns_sans_no_eku_and_no_basic_constraints() {
        let mut s = good();
        s.sans
            .push(SanType::DnsName("localhost".try_into().unwrap()));
        s.sans.push(SanType::IpAddress([127, 0, 0, 1].into()));
        s.eku.clear();
        s.is_ca = IsCa::NoCa;
        let info = parse_svid(&make(s)).unwrap();
        assert_eq!(info.ext_key_usage, None);
        assert!(info.check_client_auth().is_ok());
    }

    #[test]
    fn rejects_leaf_rule_violations() {
        type Edit = fn(&mut Spec);
        let cases: Vec<(&str, Edit, SvidError)> = vec![
            ("no SAN", |s| s.sans.clear(), SvidError::UriSanCount(0)),
            (
                "DNS only",
                |s| s.sans = vec![SanType::DnsName("a.example".try_into().unwrap())],
                SvidError::UriSanCount(0),
            ),
            (
                "two URIs",
                |s| s.sans.push(uri("https://example.org/x")),
                SvidError::UriSanCount(2),
            ),
            (
                "two spiffe URIs",
                |s| s.sans.push(uri("spiffe://example.org/b")),
                SvidError::UriSanCount(2),
            ),
            (
                "cA=true",
                |s| s.is_ca = IsCa::Ca(BasicConstraints::Unconstrained),
                SvidError::CaCertificate,
            ),
            ("no KU", |s| s.ku.clear(), SvidError::MissingKeyUsage),
            (
                "KU without digitalSignature",
                |s| s.ku = vec![Ku::KeyEncipherment],
                SvidError::MissingDigitalSignature,
            ),
            (
                "keyCertSign",
                |s| s.ku.push(Ku::KeyCertSign),
                SvidError::KeyCertSign,
            ),
            ("cRLSign", |s| s.ku.push(Ku::CrlSign), SvidError::CrlSign),
        ];
        for (name, edit, want) in cases {
            let mut s = good();
            edit(&mut s);
            assert_eq!(parse_svid(&make(s)).unwrap_err(), want, "{name}");
        }
    }

    #[test]
    fn rejects_bad_uris_with_the_id_error() {
        for (u, want) in [
            ("https://example.org/x", SpiffeIdError::WrongScheme),
            ("spiff://example.org/x", SpiffeIdError::WrongScheme),
            ("spiffe://example.org", SpiffeIdError::MissingPath),
            ("spiffe://example.org/", SpiffeIdError::TrailingSlash),
            ("spiffe://example.org//x", SpiffeIdError::EmptySegment),
        ] {
            let mut s = good();
            s.sans = vec![uri(u)];
            match parse_svid(&make(s)) {
                Err(SvidError::InvalidSpiffeId { uri, source }) => {
                    assert_eq!(uri, u);
                    assert_eq!(source, want, "{u}");
                }
                other => panic!("{u}: {other:?}"),
            }
        }
    }

    #[test]
    fn error_message_counts_uri_sans() {
        let mut s = good();
        s.sans.push(uri("spiffe://example.org/b"));
        let msg = parse_svid(&make(s)).unwrap_err().to_string();
        assert_eq!(
            msg,
            "certificate has 2 URI SANs; an X509-SVID must have exactly one"
        );
    }

    #[test]
    fn rejects_too_many_sans() {
        let mut s = good();
        for i in 0..MAX_SAN_ENTRIES {
            s.sans.push(SanType::DnsName(
                format!("h{i}.example").try_into().unwrap(),
            ));
        }
        assert_eq!(
            parse_svid(&make(s)).unwrap_err(),
            SvidError::TooManySans {
                count: MAX_SAN_ENTRIES + 1
            }
        );
    }

    #[test]
    fn eku_server_auth_only_cannot_authenticate_a_client() {
        let mut s = good();
        s.eku = vec![Eku::ServerAuth];
        let info = parse_svid(&make(s)).unwrap();
        assert_eq!(info.check_client_auth(), Err(SvidError::MissingClientAuth));
    }

    #[test]
    fn rejects_garbage_and_trailing_data() {
        assert!(matches!(
            parse_svid(b"not a cert"),
            Err(SvidError::Malformed(_))
        ));
        assert!(matches!(parse_svid(&[]), Err(SvidError::Malformed(_))));
        let mut der = make(good());
        der.extend_from_slice(&[0, 0]);
        assert_eq!(parse_svid(&der).unwrap_err(), SvidError::TrailingData(2));
    }

    #[test]
    fn validity_window() {
        let info = parse_svid(&make(good())).unwrap();
        let (nb, na) = (info.not_before, info.not_after);
        assert!(check_validity(&info, nb).is_ok());
        assert!(check_validity(&info, na).is_ok());
        assert_eq!(
            check_validity(&info, nb - 1),
            Err(SvidError::NotYetValid {
                not_before: nb,
                now: nb - 1
            })
        );
        assert_eq!(
            check_validity(&info, na + 1),
            Err(SvidError::Expired {
                not_after: na,
                now: na + 1
            })
        );
    }

    #[test]
    fn log_fields_are_best_effort() {
        let f = log_fields(&make(good()));
        assert_eq!(f.serial.as_deref(), Some("01ab"));
        assert_eq!(f.uri.as_deref(), Some("spiffe://example.org/agent/a"));
        assert_eq!(log_fields(b"junk"), LeafLogFields::default());
        assert_eq!(quote(&"a".repeat(300)).chars().count(), MAX_QUOTED_URI + 1);
    }
}
