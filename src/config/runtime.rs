//! How the process runs: `[server]` (connection limits, timeouts, draining)
//! and `[log]`, shared by the gateway and the egress sidecar.

use schemars::JsonSchema;
use serde::Deserialize;

/// `[server]`: how every listener (the gateway's mTLS listener, the admin
/// listener, the egress listeners) accepts, limits and drains connections.
/// Read at start; changes take effect on restart.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Most connections open at once on each listener; beyond it new
    /// connections wait in the kernel's accept queue until one closes. On
    /// the gateway's mTLS listener these are verified connections: a socket
    /// takes its slot only after a successful handshake (see
    /// `max_handshakes`). Default 10000.
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
    /// Default `"60s"`.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: String,
    /// On SIGTERM/SIGINT: how long in-flight requests and streams may run
    /// before the process exits anyway. Default `"30s"`.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout: String,
    /// HTTP/1.1: the longest a connection waits for a complete request line
    /// and headers; past it the connection is closed, so a slow-header
    /// client holds nothing longer. The wait runs from the moment the
    /// connection is ready for a request, so it also bounds the pause
    /// between two requests (the lower of this and `idle_timeout` applies).
    /// HTTP/2 headers are bounded by `idle_timeout` and `max_header_bytes`.
    /// Default `"10s"`.
    #[serde(default = "default_header_timeout")]
    pub header_timeout: String,
    /// The whole request body must have arrived this long after the request
    /// started (its headers were read), however it is trickled; past it the
    /// request gets 408 `request_timeout`, nothing of it reaches the
    /// upstream, and the connection is closed once the answer is sent.
    /// HTTP/1.1 and HTTP/2; every body the gateway and the egress sidecar
    /// read (agent calls, the token endpoint). Default `"30s"`.
    #[serde(default = "default_body_timeout")]
    pub body_timeout: String,
    /// Most sockets at once on the gateway's mTLS listener (and on the
    /// admin listener) that have no connection slot yet (handshake in progress, or done and
    /// waiting for a slot). Kept apart from `max_connections`: a socket that
    /// has not completed its handshake never holds a verified connection's
    /// slot, so idle or slow sockets cannot lock callers with certificates
    /// out (each is cut at `gateway.handshake_timeout`). Beyond it new
    /// sockets wait in the kernel's accept queue. Default 1024.
    #[serde(default = "default_max_handshakes")]
    pub max_handshakes: usize,
    /// HTTP/2: most streams (requests) open at once on one connection;
    /// with `body_timeout`, bounds what one connection can hold. Default 100.
    #[serde(default = "default_max_concurrent_streams")]
    pub max_concurrent_streams: u32,
    /// Most requests in progress at once for one caller (SPIFFE ID), across
    /// all its connections, on the gateway's mTLS listener; the next gets
    /// 429 `too_many_requests` with `Retry-After` (audited). A request
    /// counts until its response has been sent (an SSE stream until its
    /// end). Default 256.
    #[serde(default = "default_max_in_flight_per_caller")]
    pub max_in_flight_per_caller: usize,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            max_connections: default_max_connections(),
            max_requests_per_connection: default_max_requests_per_connection(),
            max_header_bytes: default_max_header_bytes(),
            idle_timeout: default_idle_timeout(),
            drain_timeout: default_drain_timeout(),
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            max_handshakes: default_max_handshakes(),
            max_concurrent_streams: default_max_concurrent_streams(),
            max_in_flight_per_caller: default_max_in_flight_per_caller(),
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
fn default_header_timeout() -> String {
    "10s".into()
}
fn default_body_timeout() -> String {
    "30s".into()
}
fn default_max_handshakes() -> usize {
    1024
}
fn default_max_concurrent_streams() -> u32 {
    100
}
fn default_max_in_flight_per_caller() -> usize {
    256
}

/// `[log]`. Logs go to standard error, one line per event.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Auto,
    Json,
    Text,
}
