//! actgate: an identity gateway for AI agents.
//!
//! The request flow, one module per stage (see README and ARCHITECTURE):
//!
//! ```text
//! TCP accept ─▶ TLS handshake ─▶ HTTP request ─▶ route ─▶ classify ─▶ decide ─▶ mint ─▶ forward
//!   server      identity          server          registry  a2a        policy     token    proxy
//! ```
#![forbid(unsafe_code)]

pub mod a2a;
pub mod admin;
pub mod approval_gate;
pub mod approvals;
pub mod audit;
pub mod browser_guard;
pub mod card_source;
pub mod cards;
pub mod config;
pub mod dev;
pub mod durable_file;
pub mod duration;
pub mod egress;
pub mod extended_card;
pub mod gateway;
pub mod identity;
pub mod listener;
pub mod load;
pub mod logging;
pub mod metrics;
pub mod pki;
pub mod policy;
pub mod proxy;
pub mod recent;
pub mod registry;
pub mod server;
pub mod signing_keys;
pub mod terminal;
pub mod tls;
pub mod token;
pub mod token_endpoint;
pub mod trace;

// moved (issue 13); alias removed after merge
pub use dev::{client, example_agent};

/// Seconds since the Unix epoch, the unit of every JWT time claim.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
