//! Signing keys, parsed once and kept; `kid`; JWKS.
//!
//! A [`SigningKey`] holds an aws-lc-rs key pair parsed from PKCS#8 exactly once.
//! Re-parsing per signature is what makes stock `jsonwebtoken::encode` cost about
//! twice the raw signature (performance.md §4), so minting signs with this key.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// The JWS algorithms the gateway signs with. Both are compact, fast with a
/// pre-parsed key, and verifiable by every mainstream JOSE library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
pub enum SigningAlgorithm {
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlgorithm {
    /// The JOSE `alg` value.
    pub fn jose_name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The key type the algorithm needs, as people name it.
    fn key_kind(self) -> &'static str {
        match self {
            Self::Es256 => "ECDSA P-256",
            Self::EdDsa => "Ed25519",
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.jose_name())
    }
}

/// Why a signing key could not be loaded, generated or used.
///
/// Messages read well after a file name, so the config loader can report
/// `format!("{path} {err}")`, e.g. "certs/x.key holds an Ed25519 key but
/// tokens.algorithm is ES256".
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key: {0}")]
    Invalid(String),
    #[error("is not PEM (expected a \"-----BEGIN PRIVATE KEY-----\" block)")]
    NotPem,
    #[error("holds a PEM block labelled \"{found}\", expected \"PRIVATE KEY\" (PKCS#8; convert with `openssl pkcs8 -topk8 -nocrypt`)")]
    WrongPemLabel { found: String },
    #[error("holds a PEM block whose body is not valid base64")]
    BadPemBase64,
    #[error("holds a private key that is neither ECDSA P-256 nor Ed25519 (PKCS#8); only ES256 and EdDSA are supported")]
    UnsupportedKey,
    #[error("holds an {found} key but tokens.algorithm is {configured}")]
    AlgorithmMismatch {
        found: &'static str,
        configured: SigningAlgorithm,
    },
    #[error("could not generate a {0} key")]
    Generate(SigningAlgorithm),
    #[error("signing with the {0} key failed")]
    Sign(SigningAlgorithm),
    #[error("could not serialize the JWS: {0}")]
    Serialize(String),
}

enum KeyPair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// A private signing key, parsed once, with its public JWK and `kid` precomputed.
///
/// Cloning shares the parsed key (a reload keeps a retired key published
/// without re-reading its file).
#[derive(Clone)]
pub struct SigningKey {
    pair: std::sync::Arc<KeyPair>,
    alg: SigningAlgorithm,
    kid: String,
    jwk: serde_json::Value,
}

// Never print key material: the derived Debug of the aws-lc-rs pair would at
// best be opaque and at worst leak; only the public identification is shown.
impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parse a PKCS#8 PEM private key for `alg`.
    pub fn from_pkcs8_pem(pem: &str, alg: SigningAlgorithm) -> Result<Self, KeyError> {
        let der = pem_private_key_der(pem)?;
        Self::from_pkcs8_der(&der, alg)
    }

    /// Parse a PKCS#8 DER private key for `alg`.
    pub fn from_pkcs8_der(der: &[u8], alg: SigningAlgorithm) -> Result<Self, KeyError> {
        let ec = || EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der);
        let ed = || Ed25519KeyPair::from_pkcs8(der);
        let pair = match alg {
            SigningAlgorithm::Es256 => match ec() {
                Ok(k) => KeyPair::Es256(k),
                Err(_) if ed().is_ok() => {
                    return Err(KeyError::AlgorithmMismatch {
                        found: SigningAlgorithm::EdDsa.key_kind(),
                        configured: alg,
                    })
                }
                Err(_) => return Err(KeyError::UnsupportedKey),
            },
            SigningAlgorithm::EdDsa => match ed() {
                Ok(k) => KeyPair::EdDsa(k),
                Err(_) if ec().is_ok() => {
                    return Err(KeyError::AlgorithmMismatch {
                        found: SigningAlgorithm::Es256.key_kind(),
                        configured: alg,
                    })
                }
                Err(_) => return Err(KeyError::UnsupportedKey),
            },
        };
        Ok(Self::from_pair(pair, alg))
    }

    /// Generate a fresh key; returns the key and its PKCS#8 PEM.
    pub fn generate(alg: SigningAlgorithm) -> Result<(Self, String), KeyError> {
        let rng = SystemRandom::new();
        let doc = match alg {
            SigningAlgorithm::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            }
            // PKCS#8 v1: what `openssl genpkey -algorithm ED25519` writes and what
            // every other tool reads.
            SigningAlgorithm::EdDsa => Ed25519KeyPair::generate_pkcs8v1(&rng),
        }
        .map_err(|_| KeyError::Generate(alg))?;
        let key = Self::from_pkcs8_der(doc.as_ref(), alg)?;
        Ok((key, pem_encode("PRIVATE KEY", doc.as_ref())))
    }

    fn from_pair(pair: KeyPair, alg: SigningAlgorithm) -> Self {
        // Public members only; the thumbprint input is the RFC 7638 canonical
        // form: required members, lexicographic order, no whitespace.
        let (mut jwk, canonical) = match &pair {
            KeyPair::Es256(k) => {
                // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
                let point = k.public_key().as_ref();
                let x = URL_SAFE_NO_PAD.encode(point.get(1..33).unwrap_or_default());
                let y = URL_SAFE_NO_PAD.encode(point.get(33..65).unwrap_or_default());
                let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
                (
                    serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
                    canonical,
                )
            }
            KeyPair::EdDsa(k) => {
                let x = URL_SAFE_NO_PAD.encode(k.public_key().as_ref());
                let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
                (
                    serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
                    canonical,
                )
            }
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        let kid = URL_SAFE_NO_PAD.encode(digest.as_ref());
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert("kid".into(), kid.clone().into());
            obj.insert("alg".into(), alg.jose_name().into());
            obj.insert("use".into(), "sig".into());
        }
        SigningKey {
            pair: std::sync::Arc::new(pair),
            alg,
            kid,
            jwk,
        }
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url): stable across restarts and
    /// derived from the public key alone, so no `kid` registry is needed.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The public JWK: `kty, crv, x, (y), kid, alg, use`. Never private members.
    pub fn public_jwk(&self) -> serde_json::Value {
        self.jwk.clone()
    }

    /// Sign `msg`. ES256 yields the JOSE fixed-length `r || s` (64 bytes), not DER.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.sign_with(msg, <[u8]>::to_vec)
    }

    /// Sign `msg` and hand the signature to `f` as it lies in the
    /// signature value (no copy into a `Vec` when `f` only reads it).
    pub(crate) fn sign_with<R>(
        &self,
        msg: &[u8],
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, KeyError> {
        match &*self.pair {
            KeyPair::Es256(k) => {
                // aws-lc-rs ignores the rng argument (it uses its own DRBG).
                let rng = SystemRandom::new();
                k.sign(&rng, msg)
                    .map(|s| f(s.as_ref()))
                    .map_err(|_| KeyError::Sign(self.alg))
            }
            KeyPair::EdDsa(k) => k
                .try_sign(msg)
                .map(|s| f(s.as_ref()))
                .map_err(|_| KeyError::Sign(self.alg)),
        }
    }
}

/// The current signing key plus older keys still published for verification.
#[derive(Debug)]
pub struct KeySet {
    pub current: SigningKey,
    pub previous: Vec<SigningKey>,
}

impl KeySet {
    /// All keys, current first.
    pub fn iter(&self) -> impl Iterator<Item = &SigningKey> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }

    /// `{"keys": [...]}` with public members only.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self.iter().map(SigningKey::public_jwk).collect();
        serde_json::json!({ "keys": keys })
    }
}

/// Extract the DER of the single `PRIVATE KEY` block of a PEM document.
fn pem_private_key_der(pem: &str) -> Result<Vec<u8>, KeyError> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let start = pem.find(BEGIN).ok_or(KeyError::NotPem)?;
    let after_begin = pem.get(start + BEGIN.len()..).ok_or(KeyError::NotPem)?;
    let label_end = after_begin.find(DASHES).ok_or(KeyError::NotPem)?;
    let label = after_begin.get(..label_end).ok_or(KeyError::NotPem)?;
    if label != "PRIVATE KEY" {
        // Covers "EC PRIVATE KEY" (SEC1), "ENCRYPTED PRIVATE KEY", certificates…
        return Err(KeyError::WrongPemLabel {
            found: label.chars().take(40).collect(),
        });
    }
    let body_and_rest = after_begin
        .get(label_end + DASHES.len()..)
        .ok_or(KeyError::NotPem)?;
    let end_marker = "-----END PRIVATE KEY-----";
    let body_end = body_and_rest.find(end_marker).ok_or(KeyError::NotPem)?;
    let body: String = body_and_rest
        .get(..body_end)
        .ok_or(KeyError::NotPem)?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(body.as_bytes())
        .map_err(|_| KeyError::BadPemBase64)
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_parse_round_trip_keeps_kid() {
        for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let (key, pem) = SigningKey::generate(alg).unwrap();
            let again = SigningKey::from_pkcs8_pem(&pem, alg).unwrap();
            assert_eq!(key.kid(), again.kid());
            assert_eq!(again.algorithm(), alg);
        }
    }

    #[test]
    fn es256_signature_is_fixed_64_bytes_and_verifies() {
        let (key, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let sig = key.sign(b"msg").unwrap();
        assert_eq!(sig.len(), 64);
        let jwk = key.public_jwk();
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
        let mut point = vec![4u8];
        point.extend(x);
        point.extend(y);
        let pk = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            point,
        );
        pk.verify(b"msg", &sig).unwrap();
    }

    #[test]
    fn eddsa_signature_verifies() {
        let (key, _) = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let sig = key.sign(b"msg").unwrap();
        let x = URL_SAFE_NO_PAD
            .decode(key.public_jwk()["x"].as_str().unwrap())
            .unwrap();
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, x)
            .verify(b"msg", &sig)
            .unwrap();
    }

    #[test]
    fn kid_is_rfc7638_thumbprint() {
        // RFC 8037 Appendix A.3: thumbprint of the Ed25519 example key.
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        assert_eq!(
            URL_SAFE_NO_PAD.encode(d.as_ref()),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        // And our key computes its kid the same way from its own JWK.
        let (key, _) = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let jwk = key.public_jwk();
        let canonical = format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            jwk["x"].as_str().unwrap()
        );
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        assert_eq!(key.kid(), URL_SAFE_NO_PAD.encode(d.as_ref()));
        assert_eq!(jwk["kid"], key.kid());
    }

    #[test]
    fn public_jwk_has_no_private_members() {
        for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let (key, _) = SigningKey::generate(alg).unwrap();
            let jwk = key.public_jwk();
            let obj = jwk.as_object().unwrap();
            assert!(!obj.contains_key("d"));
            assert_eq!(obj["use"], "sig");
            assert_eq!(obj["alg"], alg.jose_name());
            let expected: &[&str] = match alg {
                SigningAlgorithm::Es256 => &["alg", "crv", "kid", "kty", "use", "x", "y"],
                SigningAlgorithm::EdDsa => &["alg", "crv", "kid", "kty", "use", "x"],
            };
            let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
            got.sort_unstable();
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn parse_errors_are_precise() {
        let (_, ed_pem) = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let (_, ec_pem) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();

        let err = SigningKey::from_pkcs8_pem(&ed_pem, SigningAlgorithm::Es256).unwrap_err();
        assert!(matches!(err, KeyError::AlgorithmMismatch { .. }));
        assert_eq!(
            format!("certs/x.key {err}"),
            "certs/x.key holds an Ed25519 key but tokens.algorithm is ES256"
        );
        let err = SigningKey::from_pkcs8_pem(&ec_pem, SigningAlgorithm::EdDsa).unwrap_err();
        assert!(matches!(err, KeyError::AlgorithmMismatch { .. }));

        assert!(matches!(
            SigningKey::from_pkcs8_pem("hello", SigningAlgorithm::Es256),
            Err(KeyError::NotPem)
        ));
        let sec1 = ec_pem.replace("PRIVATE KEY", "EC PRIVATE KEY");
        assert!(matches!(
            SigningKey::from_pkcs8_pem(&sec1, SigningAlgorithm::Es256),
            Err(KeyError::WrongPemLabel { found }) if found == "EC PRIVATE KEY"
        ));
        let bad = "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            SigningKey::from_pkcs8_pem(bad, SigningAlgorithm::Es256),
            Err(KeyError::BadPemBase64)
        ));
        // A P-384 key: valid PKCS#8, wrong curve.
        let rng = SystemRandom::new();
        let p384 = EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        let pem = pem_encode("PRIVATE KEY", p384.as_ref());
        assert!(matches!(
            SigningKey::from_pkcs8_pem(&pem, SigningAlgorithm::Es256),
            Err(KeyError::UnsupportedKey)
        ));
    }

    #[test]
    fn debug_redacts_key_material() {
        let (key, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let s = format!("{key:?}");
        assert!(s.contains(key.kid()));
        assert!(!s.contains("pair"));
    }

    #[test]
    fn jwks_lists_current_then_previous() {
        let (a, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let (b, _) = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let (ka, kb) = (a.kid().to_owned(), b.kid().to_owned());
        let set = KeySet {
            current: a,
            previous: vec![b],
        };
        let jwks = set.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0]["kid"], ka.as_str());
        assert_eq!(keys[1]["kid"], kb.as_str());
    }
}
