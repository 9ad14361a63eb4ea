//! `actgate-load`: an mTLS load generator with exact connection control.
//!
//! Every connection is a TCP connect, a rustls handshake presenting the
//! client certificate (server verified by `--cacert`, name from the URL
//! host), then a hyper 1 `client::conn` HTTP/1.1 or HTTP/2 handshake; no pool.
//!
//! # Modes
//!
//! - **Closed loop** (default): each HTTP/1.1 connection, or each of
//!   `--streams` slots per HTTP/2 connection, sends its next request as soon
//!   as the previous one completes. `--duration` after `--warmup` (warm-up
//!   requests are not recorded), or exactly `--requests N` (no warm-up).
//! - **Open loop** (`--rate R`): wrk2-style. The total rate is split evenly
//!   over the senders (connections, × streams with HTTP/2), staggered; each
//!   sender has a schedule of intended send times and latency is measured
//!   from the *intended* time, so a stall is not hidden by coordinated
//!   omission. A sender that falls behind sends at once.
//! - **`--new-connection`**: a fresh TCP + TLS handshake per request,
//!   HTTP/1.1 with `Connection: close`; the latency includes the handshake.
//! - **`--idle-connections N`** (needs `--server-pid`): open N connections
//!   (one request each), hold them idle for 2 s, and compare the server's
//!   VmRSS before and after.
//!
//! Connections are opened before the clock starts. A connection that breaks
//! is reopened by its sender; that reconnect counts in the request's latency.
//! The measured duration runs from the start of the measured interval to the
//! completion of the last recorded request. Each request has a 10 s limit.
//!
//! # JSON report (`--json`)
//!
//! One object, snake_case, latencies in µs (HdrHistogram, 3 significant
//! figures; percentiles are 0 if nothing succeeded):
//!
//! | field | meaning |
//! |---|---|
//! | `url`, `protocol` (`http/1.1`\|`h2`), `mode` (`closed`\|`open`) | what ran |
//! | `connections`, `streams` (h2 only), `new_connection`, `body_bytes` | shape |
//! | `requests` | 2xx responses read to the end (recorded) |
//! | `errors`, `errors_by_kind` | count, and `{kind: count}` with kinds `connect`, `tls`, `http_status_<code>`, `timeout`, `io`, `body` |
//! | `first_error` | the first error's message (absent if none) |
//! | `duration_s`, `rps` | measured interval, `requests / duration_s` |
//! | `target_rate` (open loop only), `achieved_rate` | requests/s asked for; `(requests + errors) / duration_s` |
//! | `latency_us_p50`, `_p90`, `_p99`, `_p999`, `_max`, `_mean` | latency of OK requests |
//! | `sse_events`, `sse_events_min`, `sse_events_max` (`--sse`) | events in total and per stream |
//! | `ttfe_us_p50`, `_p90`, `_p99`, `_p999`, `_max` (`--sse`) | time to the end of the first event |
//! | `server_pid`, `server_cpu_seconds`, `server_cpu_us_per_request`, `server_rss_max_kb`, `server_vm_hwm_kb` (`--server-pid`) | utime+stime delta over the measured interval; VmRSS max sampled every 100 ms; VmHWM at the end |
//! | `idle_connections`, `server_rss_before_kb`, `server_rss_after_kb`, `bytes_per_connection` (`--idle-connections`) | connections still open after 2 s idle, RSS delta × 1024 / that count |
//!
//! The binary raises its own open-files soft limit to the hard limit.

pub mod args;
pub mod conn;
pub mod procstat;
pub mod report;
pub mod request;
pub mod run;

pub use args::Args;
pub use report::Report;
pub use run::run;

/// Raise the open-files soft limit to the hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}
