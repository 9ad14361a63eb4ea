//! Signing and the token cache. (STUB)

use std::sync::Arc;

use super::{ClaimsError, KeySet, MintRequest};

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    #[error("signing failed")]
    Sign,
}

pub struct MintedToken {
    pub token: Arc<str>,
    pub exp: i64,
    pub cache_hit: bool,
}

pub struct Minter {}

impl Minter {
    pub fn new(
        _keys: Arc<KeySet>,
        _issuer: String,
        _cache_enabled: bool,
        _metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        todo!()
    }
    pub fn token_for(&self, _req: &MintRequest<'_>, _now: i64) -> Result<MintedToken, MintError> {
        todo!()
    }
    pub fn cache_stats(&self) -> (u64, u64) {
        todo!()
    }
}

/// STUB
pub fn sign_jwt(
    _key: &super::SigningKey,
    _typ: &str,
    _claims: &impl serde::Serialize,
) -> Result<String, super::KeyError> {
    todo!()
}
