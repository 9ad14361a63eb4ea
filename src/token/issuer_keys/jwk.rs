//! One JWK, and one issuer's key set, turned into verification keys with
//! their algorithm pinned.
//!
//! A key's algorithm is its JWK's `alg`, checked against its key type; a key
//! without `alg` gets the algorithm its `kty`/`crv` implies (EC P-256 is
//! ES256, P-384 ES384, Ed25519 EdDSA), and an RSA key the first RSA
//! algorithm of the issuer's configured allow-list (RSA alone does not say
//! whether PKCS#1 v1.5 or PSS, nor which hash).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::token::verify::{validation_for, TokenError, VerifyKey};

/// Smallest RSA modulus accepted from a JWKS (RFC 8725 / NIST: 2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// The algorithms accepted from an external issuer, by their JOSE names.
pub const SUPPORTED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The RSA ones among [`SUPPORTED`] (PKCS#1 v1.5 and PSS).
const RSA: &[Algorithm] = SUPPORTED.split_at(6).0;

/// The supported algorithm named `name` (JOSE spelling, exact).
pub fn algorithm(name: &str) -> Option<Algorithm> {
    SUPPORTED.into_iter().find(|a| jose_name(*a) == name)
}

/// The JOSE name of `alg` (`RS256`, `EdDSA`, …).
pub fn jose_name(alg: Algorithm) -> String {
    format!("{alg:?}")
}

/// A key set's string in a message (they are logged and printed): short.
fn cap(s: &str) -> String {
    s.chars().take(32).collect()
}

/// Why one JWK of a key set is refused.
#[derive(Debug, thiserror::Error)]
pub enum JwkError {
    #[error("contains private key material (\"d\")")]
    PrivateKey,
    #[error("\"use\" is {0:?}, not \"sig\"")]
    Use(String),
    #[error("has no \"kty\"")]
    NoKty,
    #[error("RSA key has no \"n\"")]
    NoModulus,
    #[error("RSA \"n\" is not base64url")]
    ModulusNotBase64,
    #[error("RSA key is {0} bits, under 2048")]
    RsaTooShort(usize),
    #[error("unsupported RSA alg {0:?}")]
    RsaAlg(String),
    #[error("RSA key has no \"alg\" and the issuer's `algorithms` names no RSA algorithm")]
    RsaNoAlg,
    #[error("symmetric (\"oct\") keys are not accepted")]
    Symmetric,
    #[error("unsupported key type {kty:?} / curve {crv:?}")]
    KeyType { kty: String, crv: Option<String> },
    #[error("\"alg\" {declared:?} does not match the key type ({alg:?})")]
    AlgMismatch { declared: String, alg: Algorithm },
    #[error("algorithm {0:?} is not in the issuer's `algorithms`")]
    NotAllowed(Algorithm),
    #[error("not a valid JWK: {0}")]
    NotAJwk(serde_json::Error),
    #[error("unusable key: {0}")]
    Unusable(jsonwebtoken::errors::Error),
}

impl JwkError {
    /// Whether a fetched key set may simply leave this key out: keys for
    /// another use or algorithm, or of a kind this gateway does not take
    /// (IdPs publish encryption keys next to signing keys). Private key
    /// material is never one of them: a set that holds it is refused whole.
    fn skippable(&self) -> bool {
        !matches!(self, JwkError::PrivateKey)
    }
}

/// `(kid, pinned algorithm, key)` for one JWK, or why it is refused; an RSA
/// key without `alg` is RS256 (what JWT-SVID bundles mean).
pub(in crate::token) fn parse_jwk(
    jwk: &serde_json::Value,
) -> Result<(Option<String>, Algorithm, DecodingKey), JwkError> {
    parse_jwk_allowing(jwk, None, Some(Algorithm::RS256))
}

/// One published key read exactly as an issuer's key set is read (no
/// private or symmetric keys, `use` = `sig`, `alg` agreeing with the key
/// type, RSA at least 2048 bits), for `actgate token decode`, so its verdict
/// is the gateway's. `rsa_alg` is the algorithm of an RSA key without `alg`.
pub fn parse_published_jwk(
    jwk: &serde_json::Value,
    rsa_alg: Option<Algorithm>,
) -> Result<(Option<String>, Algorithm, DecodingKey), JwkError> {
    parse_jwk_allowing(jwk, None, rsa_alg)
}

/// [`parse_jwk`] for an issuer whose `allowed` algorithms may be
/// configured; `rsa_default` is the algorithm of an RSA key without `alg`
/// when no allow-list names one.
fn parse_jwk_allowing(
    jwk: &serde_json::Value,
    allowed: Option<&[Algorithm]>,
    rsa_default: Option<Algorithm>,
) -> Result<(Option<String>, Algorithm, DecodingKey), JwkError> {
    let get = |name: &str| jwk.get(name).and_then(serde_json::Value::as_str);
    if jwk.get("d").is_some() {
        return Err(JwkError::PrivateKey);
    }
    if let Some(u) = get("use") {
        if u != "sig" {
            return Err(JwkError::Use(cap(u)));
        }
    }
    let kty = get("kty").ok_or(JwkError::NoKty)?;
    let declared = get("alg");
    // The algorithm follows from the key type and curve; a declared `alg` must
    // agree. Symmetric ("oct") keys are never accepted: a published key set
    // holding an HMAC secret would let anyone who reads it forge tokens.
    let alg = match (kty, get("crv")) {
        ("EC", Some("P-256")) => Algorithm::ES256,
        ("EC", Some("P-384")) => Algorithm::ES384,
        ("OKP", Some("Ed25519")) => Algorithm::EdDSA,
        ("RSA", _) => rsa_algorithm(get("n"), declared, allowed, rsa_default)?,
        ("oct", _) => return Err(JwkError::Symmetric),
        (kty, crv) => {
            return Err(JwkError::KeyType {
                kty: cap(kty),
                crv: crv.map(cap),
            })
        }
    };
    if let Some(d) = declared {
        if jose_name(alg) != d {
            return Err(JwkError::AlgMismatch {
                declared: cap(d),
                alg,
            });
        }
    }
    if allowed.is_some_and(|list| !list.contains(&alg)) {
        return Err(JwkError::NotAllowed(alg));
    }
    let parsed: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(jwk.clone()).map_err(JwkError::NotAJwk)?;
    let key = DecodingKey::from_jwk(&parsed).map_err(JwkError::Unusable)?;
    Ok((get("kid").map(str::to_owned), alg, key))
}

/// An RSA key's algorithm: its size checked first, then its `alg`, the
/// allow-list's first RSA algorithm, or `rsa_default`.
fn rsa_algorithm(
    n: Option<&str>,
    declared: Option<&str>,
    allowed: Option<&[Algorithm]>,
    rsa_default: Option<Algorithm>,
) -> Result<Algorithm, JwkError> {
    let n = n.ok_or(JwkError::NoModulus)?;
    let n = URL_SAFE_NO_PAD
        .decode(n)
        .map_err(|_| JwkError::ModulusNotBase64)?;
    let significant = n.iter().skip_while(|b| **b == 0).count();
    if significant < MIN_RSA_MODULUS_BYTES {
        return Err(JwkError::RsaTooShort(significant * 8));
    }
    match declared {
        Some(d) => RSA
            .iter()
            .copied()
            .find(|a| jose_name(*a) == d)
            .ok_or_else(|| JwkError::RsaAlg(cap(d))),
        None => allowed
            .and_then(|list| list.iter().copied().find(|a| RSA.contains(a)))
            .or(rsa_default)
            .ok_or(JwkError::RsaNoAlg),
    }
}

/// How strictly a key set is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// A configured file: every key must be usable (a mistake in a file the
    /// operator wrote is reported, not ignored).
    EveryKey,
    /// A fetched set: keys this gateway cannot use (encryption keys, other
    /// algorithms, short RSA keys) are left out; at least one must remain.
    UsableKeys,
}

/// What an issuer's tokens must carry: one of `audiences` as `aud`, and
/// `sub` unless the subject is mapped to another claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acceptance {
    pub audiences: Vec<String>,
    pub require_sub: bool,
}

/// The `Validation` of a key with algorithm `alg` for `issuer`'s tokens.
fn issuer_validation(
    alg: Algorithm,
    issuer: &str,
    accept: &Acceptance,
) -> jsonwebtoken::Validation {
    let mut v = validation_for(alg, issuer, None);
    v.set_audience(&accept.audiences);
    v.validate_aud = true;
    if !accept.require_sub {
        v.required_spec_claims.remove("sub");
    }
    v
}

/// One issuer's key set: the keys of `jwks` (`{"keys": [...]}`), each with
/// the `Validation` for `issuer` and `accept`. With
/// [`Strictness::UsableKeys`], the keys left out and why.
pub(in crate::token) fn key_set(
    issuer: &str,
    accept: &Acceptance,
    jwks: &[u8],
    allowed: Option<&[Algorithm]>,
    strictness: Strictness,
) -> Result<(Vec<VerifyKey>, Vec<String>), TokenError> {
    let err = |reason: String| TokenError::Jwks {
        issuer: issuer.to_owned(),
        reason,
    };
    let doc: serde_json::Value =
        serde_json::from_slice(jwks).map_err(|e| err(format!("JWKS is not JSON: {e}")))?;
    let list = doc
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| err("JWKS has no \"keys\" array".into()))?;
    if list.is_empty() {
        return Err(err("JWKS has no keys".into()));
    }
    let mut keys: Vec<VerifyKey> = Vec::with_capacity(list.len());
    let mut skipped = Vec::new();
    for (i, jwk) in list.iter().enumerate() {
        let (kid, alg, key) = match parse_jwk_allowing(jwk, allowed, None) {
            Ok(k) => k,
            Err(why) if strictness == Strictness::UsableKeys && why.skippable() => {
                skipped.push(format!("JWKS key #{i}: {why}"));
                continue;
            }
            Err(why) => return Err(err(format!("JWKS key #{i}: {why}"))),
        };
        if kid.is_some() && keys.iter().any(|k| k.kid == kid) {
            return Err(err(format!("JWKS key #{i}: duplicate kid")));
        }
        keys.push(VerifyKey {
            kid,
            alg,
            key,
            validation: issuer_validation(alg, issuer, accept),
        });
    }
    if keys.is_empty() {
        return Err(err(format!(
            "JWKS has no usable signing key ({})",
            skipped.join("; ")
        )));
    }
    Ok((keys, skipped))
}

#[cfg(test)]
#[path = "jwk_tests.rs"]
mod tests;
