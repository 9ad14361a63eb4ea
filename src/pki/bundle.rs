//! Trust bundles: SPIFFE bundle JSON (an RFC 7517 JWK Set, SPIFFE Trust
//! Domain and Bundle §4) and PEM, in both directions.
//!
//! [`load_bundle_any`] is what the gateway uses for `[[trust_domain]] bundle`:
//! it takes either form and returns the X.509 authorities.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// `use` of an X.509 authority in a SPIFFE bundle.
pub const X509_SVID_USE: &str = "x509-svid";
/// Upper bound on keys scanned in one bundle.
pub const MAX_KEYS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("bundle is empty")]
    Empty,
    #[error("SPIFFE bundle JSON is invalid: {0}")]
    Json(String),
    #[error("SPIFFE bundle: {0}")]
    Invalid(String),
    #[error("SPIFFE bundle keys[{index}]: {reason}")]
    Key { index: usize, reason: String },
    #[error(
        "bundle contains no X.509 authorities (no key with \"use\": \"x509-svid\" and an \"x5c\")"
    )]
    NoAuthorities,
    #[error("PEM bundle cannot be parsed: {0}")]
    Pem(String),
    #[error("PEM bundle contains no `-----BEGIN CERTIFICATE-----` block")]
    NoCertificatesInPem,
    #[error("PEM bundle contains a private key; a trust bundle holds certificates only")]
    PrivateKeyInPem,
    #[error("bundle certificate #{index} is not a valid X.509 certificate: {reason}")]
    BadCertificate { index: usize, reason: String },
    #[error("neither PEM nor SPIFFE bundle JSON (expected `-----BEGIN CERTIFICATE-----` or a JSON object starting with '{{')")]
    UnknownFormat,
}

/// Load trust anchors from PEM or SPIFFE bundle JSON, told apart by the first
/// non-whitespace character (`{` means JSON).
///
/// JSON: `keys` is required; keys whose `use` is not `x509-svid`, or which
/// carry no `x5c`, are ignored (bundle spec §4.2.2: unknown `use` values and
/// entries without `x5c` are skipped); an `x5c` must hold exactly one
/// certificate, and the JWK's own key parameters, when given, must match that
/// certificate's public key. Duplicate JSON object keys anywhere are refused,
/// because parsers disagree on which duplicate wins. An empty result is an
/// error: a bundle that trusts nothing is almost always a mistake here.
pub fn load_bundle_any(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, BundleError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(BundleError::Empty),
        Some(b'{') => Ok(parse_spiffe_bundle(bytes)?.roots),
        Some(b'-') => load_pem(bytes),
        Some(_) => Err(BundleError::UnknownFormat),
    }
}

/// A parsed SPIFFE bundle.
#[derive(Debug, Clone)]
pub struct SpiffeBundle {
    pub roots: Vec<CertificateDer<'static>>,
    pub sequence: Option<u64>,
    pub refresh_hint: Option<u64>,
}

pub fn parse_spiffe_bundle(bytes: &[u8]) -> Result<SpiffeBundle, BundleError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let StrictValue(doc) =
        StrictValue::deserialize(&mut de).map_err(|e| BundleError::Json(e.to_string()))?;
    de.end().map_err(|e| BundleError::Json(e.to_string()))?;
    let Value::Object(top) = doc else {
        return Err(BundleError::Invalid(
            "top level is not a JSON object".into(),
        ));
    };
    if top.contains_key("trust_domains") && !top.contains_key("keys") {
        return Err(BundleError::Invalid(
            "this is a bundle map (\"trust_domains\"); give one trust domain's bundle".into(),
        ));
    }
    let keys = match top.get("keys") {
        Some(Value::Array(k)) => k,
        Some(_) => return Err(BundleError::Invalid("\"keys\" is not an array".into())),
        None => return Err(BundleError::Invalid("\"keys\" is missing".into())),
    };
    if keys.len() > MAX_KEYS {
        return Err(BundleError::Invalid(format!(
            "{} keys; at most {MAX_KEYS} are accepted",
            keys.len()
        )));
    }
    let uint = |name: &str| -> Result<Option<u64>, BundleError> {
        match top.get(name) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                BundleError::Invalid(format!("\"{name}\" is not a non-negative integer"))
            }),
        }
    };
    let sequence = uint("spiffe_sequence")?;
    let refresh_hint = uint("spiffe_refresh_hint")?;

    let mut roots = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let bad = |reason: String| BundleError::Key { index, reason };
        let Value::Object(jwk) = key else {
            return Err(bad("not a JSON object".into()));
        };
        if jwk.get("use").and_then(Value::as_str) != Some(X509_SVID_USE) {
            continue;
        }
        let Some(x5c) = jwk.get("x5c") else { continue };
        let x5c = match x5c {
            Value::Array(a) if a.len() == 1 => &a[0],
            Value::Array(a) => {
                return Err(bad(format!(
                    "x5c holds {} certificates; an x509-svid authority has exactly one",
                    a.len()
                )))
            }
            _ => return Err(bad("x5c is not an array".into())),
        };
        let b64 = x5c
            .as_str()
            .ok_or_else(|| bad("x5c[0] is not a string".into()))?;
        // RFC 7517 §4.7: standard base64 (not base64url) DER.
        let der = STANDARD
            .decode(b64)
            .map_err(|e| bad(format!("x5c[0] is not base64: {e}")))?;
        let expected = jwk_of_cert(&der).map_err(|e| bad(format!("x5c[0]: {e}")))?;
        for (name, want) in &expected {
            if let Some(got) = jwk.get(name) {
                if got != want {
                    return Err(bad(format!(
                        "\"{name}\" does not match the public key of the x5c certificate"
                    )));
                }
            }
        }
        roots.push(CertificateDer::from(der));
    }
    if roots.is_empty() {
        return Err(BundleError::NoAuthorities);
    }
    Ok(SpiffeBundle {
        roots,
        sequence,
        refresh_hint,
    })
}

fn load_pem(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, BundleError> {
    use rustls_pki_types::pem::SectionKind;
    let mut certs = Vec::new();
    for item in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(bytes) {
        let (kind, der) = item.map_err(|e| BundleError::Pem(e.to_string()))?;
        match kind {
            SectionKind::Certificate => certs.push(CertificateDer::from(der)),
            SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey => {
                return Err(BundleError::PrivateKeyInPem)
            }
            _ => {}
        }
    }
    if certs.is_empty() {
        return Err(BundleError::NoCertificatesInPem);
    }
    for (index, c) in certs.iter().enumerate() {
        match X509Certificate::from_der(c.as_ref()) {
            Ok(([], _)) => {}
            Ok(_) => {
                return Err(BundleError::BadCertificate {
                    index,
                    reason: "trailing data".into(),
                })
            }
            Err(e) => {
                return Err(BundleError::BadCertificate {
                    index,
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok(certs)
}

/// Why a certificate's key has no JWK form.
#[derive(Debug, thiserror::Error)]
enum KeyJwkError {
    #[error("{0}")]
    Der(#[from] x509_parser::nom::Err<x509_parser::error::X509Error>),
    #[error("trailing data after the certificate")]
    TrailingData,
    #[error("{0}")]
    Key(#[from] x509_parser::error::X509Error),
    #[error("unsupported EC point of {0} bytes")]
    EcPointLength(usize),
    #[error("EC point is not uncompressed")]
    EcCompressed,
    #[error("unsupported public key type (EC or RSA expected)")]
    KeyType,
}

/// The public JWK members (`kty`, `crv`, `x`, `y` or `n`, `e`) of a
/// certificate's key. EC P-256/384/521 and RSA.
fn jwk_of_cert(der: &[u8]) -> Result<Map<String, Value>, KeyJwkError> {
    let (rest, cert) = X509Certificate::from_der(der)?;
    if !rest.is_empty() {
        return Err(KeyJwkError::TrailingData);
    }
    let mut m = Map::new();
    match cert.public_key().parsed()? {
        PublicKey::EC(p) => {
            let data = p.data();
            let (crv, n) = match data.len() {
                65 => ("P-256", 32),
                97 => ("P-384", 48),
                133 => ("P-521", 66),
                l => return Err(KeyJwkError::EcPointLength(l)),
            };
            if data.first() != Some(&4) {
                return Err(KeyJwkError::EcCompressed);
            }
            m.insert("kty".into(), "EC".into());
            m.insert("crv".into(), crv.into());
            m.insert("x".into(), URL_SAFE_NO_PAD.encode(&data[1..=n]).into());
            m.insert("y".into(), URL_SAFE_NO_PAD.encode(&data[n + 1..]).into());
        }
        PublicKey::RSA(rsa) => {
            let trim = |b: &[u8]| {
                let z = b.iter().take_while(|x| **x == 0).count();
                URL_SAFE_NO_PAD.encode(&b[z.min(b.len().saturating_sub(1))..])
            };
            m.insert("kty".into(), "RSA".into());
            m.insert("n".into(), trim(rsa.modulus).into());
            m.insert("e".into(), trim(rsa.exponent).into());
        }
        _ => return Err(KeyJwkError::KeyType),
    }
    Ok(m)
}

/// A SPIFFE bundle document for `roots`: one `x509-svid` JWK per root with
/// its key parameters and `x5c`, no `kid` (bundle spec §4.2.1).
pub fn spiffe_bundle_json(
    roots: &[CertificateDer<'_>],
    sequence: u64,
    refresh_hint: u64,
) -> Result<String, BundleError> {
    let mut keys = Vec::with_capacity(roots.len());
    for (index, root) in roots.iter().enumerate() {
        let mut jwk = jwk_of_cert(root.as_ref()).map_err(|e| BundleError::BadCertificate {
            index,
            reason: e.to_string(),
        })?;
        jwk.insert("use".into(), X509_SVID_USE.into());
        jwk.insert(
            "x5c".into(),
            Value::Array(vec![STANDARD.encode(root.as_ref()).into()]),
        );
        keys.push(Value::Object(jwk));
    }
    if keys.is_empty() {
        return Err(BundleError::NoAuthorities);
    }
    let doc = serde_json::json!({
        "keys": keys,
        "spiffe_sequence": sequence,
        "spiffe_refresh_hint": refresh_hint,
    });
    Ok(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n")
}

/// PEM text of `certs`.
pub fn to_pem(certs: &[CertificateDer<'_>]) -> String {
    let mut out = String::new();
    for c in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = STANDARD.encode(c.as_ref());
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// A JSON value that refuses duplicate object keys at any depth.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(StrictValue(x)) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(serde::de::Error::custom(format!("duplicate key {k:?}")));
            }
            let StrictValue(v) = map.next_value()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::TrustDomain;

    fn root() -> CertificateDer<'static> {
        let ca =
            super::super::DevCa::generate(&TrustDomain::parse("example.org").unwrap()).unwrap();
        CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap()
    }

    #[test]
    fn json_and_pem_round_trip() {
        let r = root();
        let json = spiffe_bundle_json(std::slice::from_ref(&r), 7, 300).unwrap();
        let parsed = parse_spiffe_bundle(json.as_bytes()).unwrap();
        assert_eq!(parsed.roots, vec![r.clone()]);
        assert_eq!((parsed.sequence, parsed.refresh_hint), (Some(7), Some(300)));
        assert_eq!(load_bundle_any(json.as_bytes()).unwrap(), vec![r.clone()]);
        let pem = to_pem(std::slice::from_ref(&r));
        assert_eq!(load_bundle_any(pem.as_bytes()).unwrap(), vec![r]);
    }

    #[test]
    fn ignores_other_uses_and_keys_without_x5c() {
        let r = root();
        let b64 = STANDARD.encode(r.as_ref());
        let doc = format!(
            r#"{{"keys":[{{"use":"jwt-svid","kid":"k","kty":"EC"}},{{"use":"x509-svid","kty":"EC"}},{{"use":"x509-svid","x5c":["{b64}"]}},{{"use":"future","x5c":["AA=="]}}]}}"#
        );
        assert_eq!(load_bundle_any(doc.as_bytes()).unwrap(), vec![r]);
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let r = root();
        let b64 = STANDARD.encode(r.as_ref());
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "bundle is empty"),
            ("garbage".into(), "neither PEM nor SPIFFE bundle JSON"),
            ("{".into(), "SPIFFE bundle JSON is invalid"),
            (r#"{"keys":[]}"#.into(), "no X.509 authorities"),
            (r#"{"spiffe_sequence":1}"#.into(), "\"keys\" is missing"),
            (r#"{"trust_domains":{}}"#.into(), "bundle map"),
            (
                format!(r#"{{"keys":[{{"use":"x509-svid","x5c":["{b64}","{b64}"]}}]}}"#),
                "keys[0]: x5c holds 2 certificates",
            ),
            (
                r#"{"keys":[{"use":"x509-svid","x5c":["!!"]}]}"#.into(),
                "keys[0]: x5c[0] is not base64",
            ),
            (
                format!(r#"{{"keys":[{{"use":"x509-svid","crv":"P-384","x5c":["{b64}"]}}]}}"#),
                "\"crv\" does not match",
            ),
            (
                format!(r#"{{"keys":[],"keys":[{{"use":"x509-svid","x5c":["{b64}"]}}]}}"#),
                "duplicate key \"keys\"",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into(),
                "contains a private key",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
                "certificate #0 is not a valid X.509 certificate",
            ),
        ];
        for (input, want) in cases {
            let err = load_bundle_any(input.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err:?} lacks {want:?}");
        }
    }
}
