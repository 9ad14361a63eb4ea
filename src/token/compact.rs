//! Compact JWS parsing shared by every token reader (subject tokens, actor
//! tokens, JWT-bearer assertions): size and shape, the protected header's
//! refusals, base64url JSON, and jsonwebtoken's errors mapped to ours. No
//! signature is checked here; callers verify before trusting any claim.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;

use super::token_error::TokenError;
use super::verify::MAX_TOKEN_BYTES;

/// Split a compact JWS into header, payload and signature (base64url), after
/// the size limit and shape checks.
pub(super) fn split_compact(token: &str) -> Result<(&str, &str, &str), TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed("longer than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts"));
    };
    Ok((h64, p64, s64))
}

/// The header, checked, of a token split by [`split_compact`]; an empty
/// signature is refused after the header (so `alg: none` is named as such).
pub(super) fn checked_header(
    h64: &str,
    s64: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
    let header = decode_json_object(h64, "header")?;
    check_header(&header)?;
    if s64.is_empty() {
        return Err(malformed("empty signature"));
    }
    Ok(header)
}

/// A NumericDate claim as whole seconds; absent is `None`, any other JSON
/// type (string, float, negative overflow) is malformed.
pub(super) fn numeric_date(
    v: Option<&serde_json::Value>,
    name: &str,
) -> Result<Option<i64>, TokenError> {
    match v {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| malformed(&format!("\"{name}\" is not an integer NumericDate"))),
    }
}

pub(super) struct Header<'a> {
    pub(super) alg: &'a str,
    pub(super) kid: Option<&'a str>,
    pub(super) typ: Option<&'a str>,
}

pub(super) fn check_header(
    h: &serde_json::Map<String, serde_json::Value>,
) -> Result<Header<'_>, TokenError> {
    // We understand no extension, so any `crit` must be refused (RFC 7515 §4.1.11).
    if h.contains_key("crit") {
        return Err(TokenError::Crit);
    }
    // Key material or key locations in the token are attacker-chosen (embedded
    // `jwk`: CVE-2018-0114; `jku`/`x5u`: SSRF). Keys come only from
    // configuration, so such tokens are refused rather than silently ignored.
    for name in ["jku", "jwk", "x5u", "x5c"] {
        if h.contains_key(name) {
            return Err(TokenError::KeyInHeader(name));
        }
    }
    let alg = h
        .get("alg")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| malformed("header has no string \"alg\""))?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(TokenError::AlgorithmNotAllowed("none".into()));
    }
    let opt_str = |name: &str| -> Result<Option<&str>, TokenError> {
        match h.get(name) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(malformed(&format!("header \"{name}\" is not a string"))),
        }
    };
    Ok(Header {
        alg,
        kid: opt_str("kid")?,
        typ: opt_str("typ")?,
    })
}

pub(super) fn decode_json_object(
    part: &str,
    what: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(&format!("{what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(malformed(&format!("{what} is not a JSON object"))),
    }
}

pub(super) fn map_jwt_error(e: jsonwebtoken::errors::Error) -> TokenError {
    match e.into_kind() {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            TokenError::AlgorithmNotAllowed("mismatch".into())
        }
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c),
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidClaimFormat(c) => malformed(&format!("claim \"{c}\" has the wrong type")),
        // serde messages may quote claim values; keep token content out of errors.
        ErrorKind::Json(_) => malformed("claims have the wrong JSON types"),
        ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidEddsaKey | ErrorKind::InvalidRsaKey(_) => {
            TokenError::BadSignature
        }
        other => malformed(&format!("{other:?}")),
    }
}

pub(super) fn malformed(why: &str) -> TokenError {
    TokenError::Malformed(why.to_owned())
}
