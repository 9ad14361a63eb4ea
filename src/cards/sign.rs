//! Agent Card signatures (A2A v1.0 §8.4): detached-payload JWS over the
//! canonical card ([`super::canonical`]).
//!
//! Signing input: `BASE64URL(protected) "." BASE64URL(canonical card)`; the
//! payload is not carried. Verification looks keys up only among the keys the
//! caller configured, by the protected header's `kid`: a `jku` in the card is
//! never fetched, since a card could otherwise vouch for itself with a key
//! its author hosts.
//!
//! Interop: a2a-sdk 1.3.0 strips every empty string, list and object before
//! JCS, so its signatures over a card with such members (a scope-less
//! requirement term such as `{"workload-mtls": {"list": []}}`, an empty
//! `description`) do not verify here. That is intended: its canonical form
//! does not cover scope-less requirement terms (reference §3), and accepting
//! it would let an mTLS requirement be removed without breaking a signature.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::canonical::canonicalize;
use super::model::AgentCardSignature;
use crate::token::keys::{KeyError, SigningKey};

/// A key trusted to sign cards: its `kid`, the public key and its algorithm.
pub type VerificationKey = (String, DecodingKey, Algorithm);

/// Where the mTLS listener publishes the card keys: a JWKS of its own, never
/// the token JWKS (`/.well-known/jwks.json`), so a verifier that holds the
/// token keys can never accept a card signature.
pub const CARD_JWKS_PATH: &str = "/.well-known/agent-card-jwks.json";

/// The JWS `typ` of the gateway's card signatures. A2A v1.0 §8.4.2 suggests
/// (SHOULD) `JOSE`, but that is RFC 7515's type for any compact JWS, JWTs
/// included, so it tells a verifier nothing. An explicit type (RFC 8725
/// §3.11) that is neither `JWT` nor `at+jwt` nor ends in `+jwt` is refused by
/// every verifier that checks `typ` as RFC 9068 §4 requires; verifiers that
/// do not check it are stopped by the separate key. Card verifiers are not
/// affected: A2A verification takes the key by `kid`/`jku`, not by `typ`.
pub const CARD_JWS_TYP: &str = "agent-card+jws";

/// The gateway's card-signing key (`[cards]`) and the URL of the card JWKS
/// it is published in, named by `jku` in every signature.
#[derive(Debug, Clone)]
pub struct CardSigner {
    key: SigningKey,
    jku: String,
}

impl CardSigner {
    pub fn new(key: SigningKey, jku: String) -> Self {
        CardSigner { key, jku }
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the card is not a JSON object")]
    NotAnObject,
    #[error("card canonicalisation failed: {0}")]
    Canonical(String),
    #[error("signing the card failed: {0}")]
    Sign(#[from] KeyError),
    #[error("the card carries no signatures")]
    Unsigned,
    /// No signature verified; one reason per signature, in card order.
    #[error("no card signature verifies with a configured key: {}", .0.join("; "))]
    NoValidSignature(Vec<String>),
    #[error("JWKS: {0}")]
    Jwks(String),
}

fn canonical(card: &Value) -> Result<Vec<u8>, SignatureError> {
    if !card.is_object() {
        return Err(SignatureError::NotAnObject);
    }
    canonicalize(card).map_err(|e| SignatureError::Canonical(e.to_string()))
}

/// Sign a card (v1.0 ProtoJSON) with the gateway's card key. Existing
/// `signatures` are not covered (§8.4.1) and are left to the caller.
pub fn sign_card(card: &Value, signer: &CardSigner) -> Result<AgentCardSignature, SignatureError> {
    let payload = canonical(card)?;
    let key = &signer.key;
    // `jku` names the gateway's own card JWKS; it is inside the protected
    // header, so it cannot be swapped without breaking the signature.
    let header = serde_json::json!({
        "alg": key.algorithm().jose_name(),
        "kid": key.kid(),
        "typ": CARD_JWS_TYP,
        "jku": signer.jku,
    });
    let protected = URL_SAFE_NO_PAD.encode(header.to_string());
    let input = format!("{protected}.{}", URL_SAFE_NO_PAD.encode(payload));
    let sig = key.sign(input.as_bytes())?;
    Ok(AgentCardSignature {
        protected,
        signature: URL_SAFE_NO_PAD.encode(sig),
        header: None,
    })
}

/// Verify that at least one of the card's signatures was made by a
/// configured key over the card's canonical form.
pub fn verify_card(card: &Value, keys: &[VerificationKey]) -> Result<(), SignatureError> {
    let payload = canonical(card)?;
    let sigs: Vec<AgentCardSignature> = match card.get("signatures") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| SignatureError::NoValidSignature(vec![format!("$.signatures: {e}")]))?,
    };
    if sigs.is_empty() {
        return Err(SignatureError::Unsigned);
    }
    let payload_b64 = URL_SAFE_NO_PAD.encode(payload);
    let mut reasons = Vec::new();
    for (i, sig) in sigs.iter().enumerate() {
        match verify_one(sig, &payload_b64, keys) {
            Ok(()) => return Ok(()),
            Err(why) => reasons.push(format!("signatures[{i}]: {why}")),
        }
    }
    Err(SignatureError::NoValidSignature(reasons))
}

/// Why one signature of a card was not accepted.
#[derive(Debug, thiserror::Error)]
enum Rejected {
    #[error("protected header is not base64url")]
    HeaderNotBase64,
    #[error("protected header is not a JSON object")]
    HeaderNotObject,
    #[error("protected header has \"crit\" extensions")]
    Crit,
    #[error("protected header has no \"alg\"")]
    NoAlg,
    #[error("protected header has no \"kid\"")]
    NoKid,
    #[error("kid \"{0}\" is not a configured key")]
    UnknownKid(String),
    #[error("unsupported alg \"{0}\"")]
    UnsupportedAlg(String),
    #[error("alg {alg:?} does not match the configured {configured:?} for kid \"{kid}\"")]
    AlgMismatch {
        alg: Algorithm,
        configured: Algorithm,
        kid: String,
    },
    #[error("signature by kid \"{0}\" does not match the card")]
    Mismatch(String),
    #[error("signature by kid \"{kid}\" is malformed: {source}")]
    Malformed {
        kid: String,
        source: jsonwebtoken::errors::Error,
    },
}

fn verify_one(
    sig: &AgentCardSignature,
    payload_b64: &str,
    keys: &[VerificationKey],
) -> Result<(), Rejected> {
    let header_bytes = URL_SAFE_NO_PAD
        .decode(sig.protected.as_bytes())
        .map_err(|_| Rejected::HeaderNotBase64)?;
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&header_bytes).map_err(|_| Rejected::HeaderNotObject)?;
    // RFC 7515 §4.1.11: extensions we do not understand must be rejected.
    if header.contains_key("crit") {
        return Err(Rejected::Crit);
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(Rejected::NoAlg)?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(Rejected::NoKid)?;
    let (_, key, key_alg) = keys
        .iter()
        .find(|(k, _, _)| k == kid)
        .ok_or_else(|| Rejected::UnknownKid(kid.to_string()))?;
    // The configured algorithm decides; the header must agree with it, so a
    // header cannot steer verification to another algorithm.
    let alg: Algorithm = alg
        .parse()
        .map_err(|_| Rejected::UnsupportedAlg(alg.to_string()))?;
    if alg != *key_alg {
        return Err(Rejected::AlgMismatch {
            alg,
            configured: *key_alg,
            kid: kid.to_string(),
        });
    }
    let input = format!("{}.{payload_b64}", sig.protected);
    match jsonwebtoken::crypto::verify(&sig.signature, input.as_bytes(), key, alg) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Rejected::Mismatch(kid.to_string())),
        Err(source) => Err(Rejected::Malformed {
            kid: kid.to_string(),
            source,
        }),
    }
}

/// Verification keys from a JWKS (`{"keys": [...]}`); each key needs `kid`
/// and `alg`, so no key is ever tried under a guessed algorithm.
pub fn keys_from_jwks(jwks: &Value) -> Result<Vec<VerificationKey>, SignatureError> {
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(jwks.clone()).map_err(|e| SignatureError::Jwks(e.to_string()))?;
    set.keys
        .iter()
        .map(|jwk| {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or_else(|| SignatureError::Jwks("a key has no \"kid\"".into()))?;
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok())
                .ok_or_else(|| {
                    SignatureError::Jwks(format!("key \"{kid}\" has no usable \"alg\""))
                })?;
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| SignatureError::Jwks(format!("key \"{kid}\": {e}")))?;
            Ok((kid, key, alg))
        })
        .collect()
}

#[cfg(test)]
#[path = "sign_tests.rs"]
mod tests;
