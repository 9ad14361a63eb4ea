//! Inbound subject tokens: trusted issuers and the gateway's own tokens. (STUB)

use super::{Actor, KeySet};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
}

#[derive(Debug, Clone)]
pub struct SubjectToken {
    pub issuer: String,
    pub sub: String,
    pub scopes: Option<Vec<String>>,
    pub exp: i64,
    pub act: Option<Actor>,
    pub may_act: Option<serde_json::Value>,
    pub own: bool,
    /// The audience the token was accepted for.
    pub aud: String,
}

pub struct TrustedIssuer {}

impl TrustedIssuer {
    pub fn from_jwks_json(_issuer: &str, _audience: &str, _jwks: &str) -> Result<Self, TokenError> {
        todo!()
    }
}

pub struct SubjectTokenVerifier {}

impl SubjectTokenVerifier {
    pub fn new(
        _own_issuer: String,
        _own_keys: &KeySet,
        _trusted: Vec<TrustedIssuer>,
    ) -> Result<Self, TokenError> {
        todo!()
    }
    pub fn verify(
        &self,
        _token: &str,
        _presenter_resource: Option<&str>,
        _now: i64,
    ) -> Result<SubjectToken, TokenError> {
        todo!()
    }
}
