//! actgate: an identity gateway for AI agents.
//!
//! The request flow, one module per stage (see README and ARCHITECTURE):
//!
//! ```text
//! TCP accept ─▶ TLS handshake ─▶ HTTP request ─▶ route ─▶ classify ─▶ authorize ─▶ mint ─▶ gate ─▶ forward
//!   server      identity          server          registry  a2a        authorize    token   proxy    proxy
//! ```
#![forbid(unsafe_code)]

pub mod a2a;
pub(crate) mod admin;
pub(crate) mod approvals;
pub mod audit;
pub mod authorize;
pub(crate) mod browser_guard;
pub mod cards;
pub mod config;
pub mod dev;
pub mod dir_lock;
pub mod durable_file;
pub mod duration;
pub mod egress;
pub mod grants;
pub mod identity;
pub mod load;
pub mod logging;
pub mod mcp;
pub mod metrics;
pub mod pki;
pub mod policy;
pub mod proxy;
pub mod registry;
pub mod scope_token;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod telemetry;
pub mod terminal;
pub mod tls;
pub mod token;
pub mod trace;
pub(crate) mod upstream;
pub mod user_auth;

/// Seconds since the Unix epoch, the unit of every JWT time claim.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
