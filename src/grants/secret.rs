//! The bearer secrets of the user's side (authorization codes, refresh
//! tokens): 256 random bits, base64url, and the one-way digest they are kept
//! as. A stolen store file names no usable code or token: the digest is
//! SHA-256, which is enough because the secret carries 256 bits of entropy
//! (a slow hash protects low-entropy passwords, not random keys).

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::GrantsError;

/// A new secret: 32 random bytes as 43 base64url characters.
pub(super) fn new_secret() -> Result<String, GrantsError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| GrantsError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The digest a secret is stored and looked up as.
pub(super) fn digest_of(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, secret.as_bytes()).as_ref())
}

/// A new grant id: `gr-` and 32 lowercase hex digits (not a secret: it is
/// shown to the person on the grants page and written to the audit log).
pub(super) fn new_grant_id() -> Result<String, GrantsError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| GrantsError::Random)?;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(35);
    s.push_str("gr-");
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    Ok(s)
}
