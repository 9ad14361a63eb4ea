//! Tokens: signing keys and JWKS, claim building, minting with a cache, and
//! verification of inbound subject tokens.

pub mod claims;
pub mod keys;
pub mod mint;
pub mod verify;

pub use claims::{build_claims, AccessTokenClaims, Actor, ClaimsError, Cnf, MintRequest};
pub use keys::{KeyError, KeySet, SigningAlgorithm, SigningKey};
pub use mint::{sign_jwt, MintError, MintedToken, Minter};
pub use verify::{SubjectToken, SubjectTokenVerifier, TokenError, TrustedIssuer, LEEWAY_SECS};
