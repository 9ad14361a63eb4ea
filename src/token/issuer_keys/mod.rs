//! The keys of the identity providers whose user tokens are accepted
//! (`[[subject_issuer]]`): read from a file, or fetched by URL (a configured
//! `jwks_uri`, or discovery) and refreshed.
//!
//! - [`jwk`]: one JWK, one key set, with each key's algorithm pinned;
//! - [`fetch`]: HTTPS GET of an issuer's documents, bounded in size and time;
//! - [`discovery`]: the key set URL from the issuer's metadata document;
//! - [`cache_control`]: when a fetched set is due again;
//! - [`claim_map`]: which claims hold the scopes and the subject, which are required;
//! - [`slot`]: one issuer's key set in service, swapped by fetches;
//! - [`wait`]: verification that, on an unknown `kid`, waits for a fetch;
//! - [`probe`]: a one-off fetch reporting what an issuer serves (the tools).
//!
//! A fetch is only ever started by the refresher (at start, then as each
//! set comes due) or by a token that passed the cheap checks (shape valid,
//! issuer configured) and named a `kid` the issuer's set lacks; the latter
//! at most once per `min_refresh_interval` per issuer, so tokens, garbage or
//! not, cannot make the gateway hammer an IdP.

pub(crate) mod build;
pub mod cache_control;
pub mod claim_map;
pub mod discovery;
pub mod fetch;
pub mod jwk;
pub mod probe;
pub mod slot;
pub mod wait;

pub use slot::{Availability, IssuerKeySlot, Remote, Timing};

/// What an issuer's tokens are accepted as: one issuer, one purpose, so a
/// user's access token for an agent never doubles as an authorization grant
/// (and a partner's grant never as a subject token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Subject tokens (the proxy route, the token exchange).
    Subject,
    /// RFC 7523 assertions (the JWT bearer grant), valid at most
    /// `max_lifetime_secs` (`exp - iat`).
    Assertion { max_lifetime_secs: i64 },
}
