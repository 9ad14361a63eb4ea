//! Tokens: signing keys and JWKS, claim building, minting with a cache,
//! verification of inbound subject tokens, and the token endpoint's grants:
//! the RFC 8693 token exchange (actor tokens) and the RFC 7523 JWT bearer
//! grant (its replay set), the authorization code and refresh grants of a
//! person's delegation (and the verifier of the tokens they issue), with form parsing and discovery metadata.

pub mod actor;
pub mod authorization_code;
pub(crate) mod build;
pub mod claims;
mod compact;
pub mod exchange;
pub mod form;
pub mod grant;
pub mod id_token;
pub mod issuer_keys;
pub mod jwt_bearer;
pub mod keys;
pub mod metadata;
pub mod mint;
pub mod refresh_grant;
pub mod replay;
pub mod signing_keys;
mod token_error;
pub mod user_token;
pub mod verify;
pub mod verify_cache;

pub use actor::{ActorTokenError, ActorTokenVerifier};
pub use claims::{
    build_claims, AccessTokenClaims, Actor, ClaimsError, Cnf, MintRequest, UserGrantClaims,
};
pub use keys::{KeyError, KeySet, SigningAlgorithm, SigningKey};
pub use mint::{sign_jwt, MintError, MintedToken, Minter};
pub use verify::{SubjectToken, SubjectTokenVerifier, TokenError, TrustedIssuer, LEEWAY_SECS};
pub use verify_cache::VerifiedTokenCache;
