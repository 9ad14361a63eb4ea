//! How the process runs: `[server]` (connection limits, timeouts, draining)
//! and `[log]`, shared by the gateway and the egress sidecar.

use serde::Deserialize;

/// `[server]`: how every listener (the gateway's mTLS listener, the admin
/// listener, the egress listeners) accepts, limits and drains connections.
/// Read at start; changes take effect on restart.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Most connections open at once on each listener; beyond it new
    /// connections wait in the kernel's accept queue until one closes.
    /// Default 10000.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Requests served on one connection before the server closes it
    /// gracefully (HTTP/1.1 `Connection: close`, HTTP/2 `GOAWAY`), so
    /// long-lived clients spread over replicas. `0`: no limit. Default 10000.
    #[serde(default = "default_max_requests_per_connection")]
    pub max_requests_per_connection: u64,
    /// Largest request head in bytes (request line and headers; HTTP/2: the
    /// decoded header list). Larger gets 431 (HTTP/1.1) or a stream reset
    /// (HTTP/2). At least 8192. Default 65536.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// A connection with no request in progress for this long is closed.
    /// On HTTP/1.1 it also bounds the time a client may take to send a
    /// request's headers (slow-header clients). Default `"60s"`.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: String,
    /// On SIGTERM/SIGINT: how long in-flight requests and streams may run
    /// before the process exits anyway. Default `"30s"`.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            max_connections: default_max_connections(),
            max_requests_per_connection: default_max_requests_per_connection(),
            max_header_bytes: default_max_header_bytes(),
            idle_timeout: default_idle_timeout(),
            drain_timeout: default_drain_timeout(),
        }
    }
}

fn default_max_connections() -> usize {
    10_000
}
fn default_max_requests_per_connection() -> u64 {
    10_000
}
fn default_max_header_bytes() -> usize {
    64 * 1024
}
fn default_idle_timeout() -> String {
    "60s".into()
}
fn default_drain_timeout() -> String {
    "30s".into()
}

/// `[log]`. Logs go to standard error, one line per event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Level filter, e.g. `"info"`, `"debug"`, `"warn,actgate=debug"`
    /// (tracing `EnvFilter` syntax). `RUST_LOG`, when set, wins. Default
    /// `"info"`.
    pub level: Option<String>,
    /// `"auto"` (default: JSON when standard error is not a terminal,
    /// human-readable when it is), `"json"` or `"text"`.
    #[serde(default)]
    pub format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Auto,
    Json,
    Text,
}
