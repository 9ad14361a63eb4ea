//! Claim sets: `act` nesting, scope narrowing, `aud` binding, lifetime caps. (STUB)

use serde::{Deserialize, Serialize};

use super::SubjectToken;
use crate::identity::CallerIdentity;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("delegation chain too deep")]
    ChainTooDeep,
    #[error("cycle")]
    ActorCycle,
    #[error("may_act")]
    MayActMismatch,
    #[error("expired")]
    SubjectExpired,
}

/// Everything that decides the content of one minted token.
pub struct MintRequest<'a> {
    pub caller: &'a CallerIdentity,
    pub subject: Option<&'a SubjectToken>,
    pub audience: &'a str,
    /// Scopes policy grants this caller at this agent (before narrowing).
    pub granted_scopes: &'a [String],
    pub ttl_secs: i64,
    pub max_chain_depth: usize,
}
