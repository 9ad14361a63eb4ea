//! Command-line options of `actgate-load` and their validation.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use http::{HeaderName, HeaderValue};

use crate::duration::{self, DurationError, Strictness};

/// The A2A JSON-RPC method put in the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RpcMethod {
    #[value(name = "SendMessage")]
    SendMessage,
    #[value(name = "SendStreamingMessage")]
    SendStreamingMessage,
}

impl RpcMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RpcMethod::SendMessage => "SendMessage",
            RpcMethod::SendStreamingMessage => "SendStreamingMessage",
        }
    }
}

/// mTLS load generator for actgate (and any HTTPS server that wants a client
/// certificate).
#[derive(Debug, Clone, Parser)]
#[command(name = "actgate-load", version)]
pub struct Args {
    /// Target URL, https://host[:port]/path.
    #[arg(long)]
    pub url: String,
    /// PEM CA bundle that verifies the server (name taken from the URL host).
    #[arg(long)]
    pub cacert: PathBuf,
    /// PEM client certificate chain to present.
    #[arg(long)]
    pub cert: PathBuf,
    /// PEM private key of the client certificate.
    #[arg(long)]
    pub key: PathBuf,
    /// Use HTTP/2 (ALPN h2) instead of HTTP/1.1.
    #[arg(long)]
    pub http2: bool,
    /// Number of connections (concurrency with HTTP/1.1).
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// HTTP/2: concurrent streams per connection.
    #[arg(long, default_value_t = 10)]
    pub streams: usize,
    /// Measured interval, e.g. 10s, 500ms, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unrecorded run-in before the measured interval (not used with --requests).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Send exactly this many requests instead of running for --duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Open loop: fixed total rate in requests/s (latency from intended send time).
    #[arg(long)]
    pub rate: Option<f64>,
    /// A fresh TCP+TLS handshake per request (HTTP/1.1, Connection: close).
    #[arg(long)]
    pub new_connection: bool,
    /// JSON-RPC body padded to about this many bytes.
    #[arg(long, default_value_t = 200)]
    pub body_size: usize,
    /// JSON-RPC method in the body.
    #[arg(long, value_enum, default_value_t = RpcMethod::SendMessage)]
    pub method: RpcMethod,
    /// Read a text/event-stream response to its end; count events and time to first event.
    #[arg(long)]
    pub sse: bool,
    /// Extra request header, 'Name: value' (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// GET without a body instead of POST.
    #[arg(long)]
    pub get: bool,
    /// Sample this server process's CPU and memory from /proc over the measured interval.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Memory per idle connection: open N connections, one request each, hold
    /// them idle for 2 s and compare the server's RSS (needs --server-pid).
    #[arg(long)]
    pub idle_connections: Option<usize>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Accepted `--rate` range, requests/s (NaN and infinities are outside).
pub const MIN_RATE: f64 = 0.001;
pub const MAX_RATE: f64 = 1e9;

/// Largest accepted `--body-size` (64 MiB): a typo must not exhaust memory.
pub const MAX_BODY: usize = 64 << 20;

impl Args {
    /// Reject combinations that cannot run, with messages that say why.
    pub fn validate(&self) -> anyhow::Result<()> {
        use anyhow::bail;
        if self.connections == 0 {
            bail!("--connections must be at least 1");
        }
        if self.streams == 0 {
            bail!("--streams must be at least 1");
        }
        if let Some(r) = self.rate {
            if !(MIN_RATE..=MAX_RATE).contains(&r) {
                bail!("--rate must be between {MIN_RATE} and {MAX_RATE} requests per second");
            }
        }
        if self.requests == Some(0) {
            bail!("--requests must be at least 1");
        }
        if self.requests.is_none() && self.duration.is_zero() && self.idle_connections.is_none() {
            bail!("--duration must be longer than zero");
        }
        if self.new_connection && self.http2 {
            bail!("--new-connection uses HTTP/1.1 with Connection: close; drop --http2");
        }
        if self.body_size > MAX_BODY {
            bail!("--body-size is limited to {MAX_BODY} bytes");
        }
        if let Some(n) = self.idle_connections {
            if n == 0 {
                bail!("--idle-connections must be at least 1");
            }
            if self.server_pid.is_none() {
                bail!("--idle-connections measures the server's memory and needs --server-pid");
            }
        }
        self.parsed_headers()?;
        Ok(())
    }

    /// `--header` values as header pairs.
    pub fn parsed_headers(&self) -> anyhow::Result<Vec<(HeaderName, HeaderValue)>> {
        self.headers.iter().map(|h| parse_header(h)).collect()
    }
}

/// `Name: value` → a header pair.
pub fn parse_header(s: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("--header {s:?}: expected 'Name: value'"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| anyhow::anyhow!("--header {s:?}: invalid header name"))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| anyhow::anyhow!("--header {s:?}: invalid header value"))?;
    Ok((name, value))
}

/// `10s`, `500ms`, `2m`, `1.5s`, `250us`; a bare number is seconds; zero
/// is allowed (`--warmup 0s`). The grammar is [`crate::duration`]'s.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    duration::parse_as(s, Strictness::Measurement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let (n, v) = parse_header("Authorization: Bearer x:y").unwrap();
        assert_eq!(n, "authorization");
        assert_eq!(v, "Bearer x:y");
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header("bad name: v").is_err());
    }
}
