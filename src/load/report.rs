//! Recording results (one `Recorder` per sender, merged at the end) and the
//! report: JSON via serde, or a human table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::conn::ErrorKind;

/// Highest latency recorded exactly: one hour in µs (larger values saturate).
const MAX_US: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    // 3 significant figures; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, MAX_US, 3).unwrap_or_else(|_| unreachable!())
}

/// What one sender saw during the measured interval.
pub struct Recorder {
    pub latency: Histogram<u64>,
    pub ttfe: Histogram<u64>,
    pub ok: u64,
    pub errors: BTreeMap<ErrorKind, u64>,
    pub first_error: Option<String>,
    pub events: u64,
    pub events_min: Option<u64>,
    pub events_max: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            latency: histogram(),
            ttfe: histogram(),
            ok: 0,
            errors: BTreeMap::new(),
            first_error: None,
            events: 0,
            events_min: None,
            events_max: 0,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Recorder {
    pub fn ok(&mut self, latency: Duration) {
        self.ok += 1;
        self.latency.saturating_record(micros(latency));
    }

    /// An SSE stream read to its end: `events` events, the first after `ttfe`.
    pub fn sse(&mut self, events: u64, ttfe: Option<Duration>) {
        self.events += events;
        self.events_min = Some(self.events_min.map_or(events, |m| m.min(events)));
        self.events_max = self.events_max.max(events);
        if let Some(t) = ttfe {
            self.ttfe.saturating_record(micros(t));
        }
    }

    pub fn error(&mut self, kind: ErrorKind, detail: impl FnOnce() -> String) {
        *self.errors.entry(kind).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{}: {}", kind.name(), detail()));
        }
    }

    pub fn merge(&mut self, other: Recorder) {
        self.ok += other.ok;
        let _ = self.latency.add(&other.latency);
        let _ = self.ttfe.add(&other.ttfe);
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.events += other.events;
        self.events_min = match (self.events_min, other.events_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.events_max = self.events_max.max(other.events_max);
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Percentiles of one histogram, in µs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl Percentiles {
    /// All zero for an empty histogram.
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// Percentiles of `values` (µs) computed exactly as a run would.
pub fn percentiles_of(values: impl IntoIterator<Item = u64>) -> Percentiles {
    let mut h = histogram();
    for v in values {
        h.saturating_record(v.max(1));
    }
    Percentiles::of(&h)
}

/// The report; see the module documentation for the field list.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    pub protocol: &'static str,
    pub mode: &'static str,
    pub connections: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams: Option<usize>,
    pub new_connection: bool,
    pub body_bytes: usize,
    pub requests: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    pub duration_s: f64,
    pub rps: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rate: Option<f64>,
    pub achieved_rate: f64,
    pub latency_us_p50: u64,
    pub latency_us_p90: u64,
    pub latency_us_p99: u64,
    pub latency_us_p999: u64,
    pub latency_us_max: u64,
    pub latency_us_mean: f64,
    #[serde(flatten)]
    pub sse: Option<SseReport>,
    #[serde(flatten)]
    pub server: Option<ServerReport>,
    #[serde(flatten)]
    pub idle: Option<IdleReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SseReport {
    pub sse_events: u64,
    pub sse_events_min: u64,
    pub sse_events_max: u64,
    pub ttfe_us_p50: u64,
    pub ttfe_us_p90: u64,
    pub ttfe_us_p99: u64,
    pub ttfe_us_p999: u64,
    pub ttfe_us_max: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    pub server_pid: u32,
    pub server_cpu_seconds: f64,
    pub server_cpu_us_per_request: Option<f64>,
    pub server_rss_max_kb: u64,
    pub server_vm_hwm_kb: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    pub idle_connections: usize,
    pub server_rss_before_kb: u64,
    pub server_rss_after_kb: u64,
    pub bytes_per_connection: f64,
}

/// Shape of the run, for the report header.
pub struct RunShape {
    pub url: String,
    pub http2: bool,
    pub open_loop: Option<f64>,
    pub connections: usize,
    pub streams: usize,
    pub new_connection: bool,
    pub body_bytes: usize,
    pub sse: bool,
}

impl Report {
    pub fn build(shape: &RunShape, rec: &Recorder, elapsed: Duration) -> Report {
        let secs = elapsed.as_secs_f64();
        let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let lat = Percentiles::of(&rec.latency);
        let sse = shape.sse.then(|| {
            let t = Percentiles::of(&rec.ttfe);
            SseReport {
                sse_events: rec.events,
                sse_events_min: rec.events_min.unwrap_or(0),
                sse_events_max: rec.events_max,
                ttfe_us_p50: t.p50,
                ttfe_us_p90: t.p90,
                ttfe_us_p99: t.p99,
                ttfe_us_p999: t.p999,
                ttfe_us_max: t.max,
            }
        });
        Report {
            url: shape.url.clone(),
            protocol: if shape.http2 { "h2" } else { "http/1.1" },
            mode: if shape.open_loop.is_some() {
                "open"
            } else {
                "closed"
            },
            connections: shape.connections,
            streams: shape.http2.then_some(shape.streams),
            new_connection: shape.new_connection,
            body_bytes: shape.body_bytes,
            requests: rec.ok,
            errors: rec.error_count(),
            errors_by_kind: rec.errors.iter().map(|(k, n)| (k.name(), *n)).collect(),
            first_error: rec.first_error.clone(),
            duration_s: (secs * 1e6).round() / 1e6,
            rps: (per_s(rec.ok) * 10.0).round() / 10.0,
            target_rate: shape.open_loop,
            achieved_rate: (per_s(rec.ok + rec.error_count()) * 10.0).round() / 10.0,
            latency_us_p50: lat.p50,
            latency_us_p90: lat.p90,
            latency_us_p99: lat.p99,
            latency_us_p999: lat.p999,
            latency_us_max: lat.max,
            latency_us_mean: lat.mean,
            sse,
            server: None,
            idle: None,
        }
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} {} {} loop, {} connections{}{}",
            self.url,
            self.protocol,
            self.mode,
            self.connections,
            self.streams
                .map(|n| format!(" x {n} streams"))
                .unwrap_or_default(),
            if self.new_connection {
                ", new connection per request"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "  requests ok   {:>12}   errors {}   duration {:.3} s",
            self.requests, self.errors, self.duration_s
        );
        for (k, n) in &self.errors_by_kind {
            let _ = writeln!(s, "    {k:<20} {n}");
        }
        if let Some(e) = &self.first_error {
            let _ = writeln!(s, "    first error: {e}");
        }
        let _ = writeln!(s, "  rps           {:>12.1}", self.rps);
        if let Some(r) = self.target_rate {
            let _ = writeln!(
                s,
                "  target rate   {:>12.1}   achieved {:.1}/s",
                r, self.achieved_rate
            );
        }
        let _ = writeln!(
            s,
            "  latency µs    p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.1}",
            self.latency_us_p50,
            self.latency_us_p90,
            self.latency_us_p99,
            self.latency_us_p999,
            self.latency_us_max,
            self.latency_us_mean
        );
        if let Some(e) = &self.sse {
            let _ = writeln!(
                s,
                "  SSE events    {} (per stream {}..{})",
                e.sse_events, e.sse_events_min, e.sse_events_max
            );
            let _ = writeln!(
                s,
                "  first event µs p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                e.ttfe_us_p50, e.ttfe_us_p90, e.ttfe_us_p99, e.ttfe_us_p999, e.ttfe_us_max
            );
        }
        if let Some(v) = &self.server {
            let _ = writeln!(
                s,
                "  server pid {}: CPU {:.3} s{}, RSS max {} kB, VmHWM {} kB",
                v.server_pid,
                v.server_cpu_seconds,
                v.server_cpu_us_per_request
                    .map(|u| format!(" ({u:.1} µs/request)"))
                    .unwrap_or_default(),
                v.server_rss_max_kb,
                v.server_vm_hwm_kb
            );
        }
        if let Some(i) = &self.idle {
            let _ = writeln!(
                s,
                "  idle connections {}: server RSS {} kB -> {} kB, {:.0} bytes/connection",
                i.idle_connections,
                i.server_rss_before_kb,
                i.server_rss_after_kb,
                i.bytes_per_connection
            );
        }
        s
    }
}
