//! Process-wide counters and latency histograms, rendered in the
//! Prometheus text format.
//!
//! Plain atomics: every counter is a single relaxed `fetch_add`, and a
//! histogram observation two ([`histogram`]), cheap enough for the
//! per-request path. What a request counts in is held by what it reaches
//! (an agent's or MCP server's [`TargetMetrics`], created at load), so the
//! hot path looks nothing up; labels come from configuration, never from
//! a request.
//!
//! - [`text`]: the exposition writer (`# HELP`, `# TYPE`, escaping).
//! - [`histogram`]: fixed-bucket histograms in seconds.
//! - [`process`]: `actgate_build_info` and `process_*`, for every process.

pub mod histogram;
pub mod process;
pub mod text;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use histogram::Histogram;
use histogram::{CryptoLayout, Series};
use text::{Exposition, Kind};

/// Why a TLS handshake was refused; one counter per reason. The
/// discriminant is the counter's index (in the order of `ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum HandshakeRejection {
    /// The client sent no certificate.
    NoCertificate,
    /// The leaf breaks an X509-SVID rule or carries no valid SPIFFE ID.
    InvalidSvid,
    /// The SPIFFE ID names a trust domain with no configured bundle.
    UnknownTrustDomain,
    /// Chain, validity time, usage or revocation check failed.
    ChainInvalid,
    /// The handshake did not finish in time.
    Timeout,
    /// Any other TLS failure (protocol error, reset).
    Other,
}

impl HandshakeRejection {
    const ALL: [HandshakeRejection; 6] = [
        Self::NoCertificate,
        Self::InvalidSvid,
        Self::UnknownTrustDomain,
        Self::ChainInvalid,
        Self::Timeout,
        Self::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::NoCertificate => "no_certificate",
            Self::InvalidSvid => "invalid_svid",
            Self::UnknownTrustDomain => "unknown_trust_domain",
            Self::ChainInvalid => "chain_invalid",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }
}

/// What happened to a request, as counted in metrics and recorded in the
/// audit log. The discriminant is the metrics counter index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum DecisionKind {
    Allow,
    Deny,
    /// Allowed by policy, but the caller's scopes do not meet the card's
    /// requirements: 403 `insufficient_scope`.
    StepUp,
    /// Allowed by a rule with `approval = "human"`, and not (yet) approved.
    ApprovalRequired,
}

impl DecisionKind {
    pub const ALL: [DecisionKind; 4] = [
        DecisionKind::Allow,
        DecisionKind::Deny,
        DecisionKind::StepUp,
        DecisionKind::ApprovalRequired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Allow => "allow",
            DecisionKind::Deny => "deny",
            DecisionKind::StepUp => "step_up",
            DecisionKind::ApprovalRequired => "approval_required",
        }
    }
}

/// The `decision` label values of `actgate_request_duration_seconds`, in
/// the order of the audit log's `Decision` (whose discriminant indexes
/// them; `proxy` checks the two agree).
pub const REQUEST_DECISIONS: [&str; 7] = [
    "allow",
    "deny",
    "step_up",
    "approval_required",
    "unauthenticated",
    "invalid",
    "error",
];

/// The `agent` label of requests naming no configured agent or MCP
/// server: parentheses are not allowed in names, so no configured agent
/// can share it, and a caller-chosen name never becomes a label.
pub const UNKNOWN_TARGET: &str = "(unknown)";

/// What one agent (or MCP server) counts: its decisions (one counter per
/// [`DecisionKind`], indexed by its discriminant), the duration of its
/// requests by decision, and its upstream's response time. Held by the
/// agent, so counting is a few relaxed `fetch_add`s with no lookup.
#[derive(Debug, Default)]
pub struct TargetMetrics {
    decisions: [AtomicU64; DecisionKind::ALL.len()],
    durations: [Histogram; REQUEST_DECISIONS.len()],
    upstream: Histogram,
}

impl TargetMetrics {
    pub fn count(&self, kind: DecisionKind) {
        self.decisions[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, kind: DecisionKind) -> u64 {
        self.decisions[kind as usize].load(Ordering::Relaxed)
    }

    /// A request answered after `took`, with the audit decision whose
    /// index in [`REQUEST_DECISIONS`] is `decision` (out of range: ignored).
    pub fn observe_request(&self, decision: usize, took: Duration) {
        if let Some(h) = self.durations.get(decision) {
            h.observe(took);
        }
    }

    /// The upstream answered (its response head) after `took`.
    pub fn observe_upstream(&self, took: Duration) {
        self.upstream.observe(took);
    }
}

/// The verified-token cache's counters (`token::verify_cache`) and how
/// long verifying a presented token takes. Shared by every verifier a
/// reload builds, so they count across reloads, as Prometheus counters
/// should.
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Lookups answered from the cache (no signature check).
    pub hits: AtomicU64,
    /// Lookups that found nothing usable: the token is verified in full.
    pub misses: AtomicU64,
    /// Entries dropped: expired, or making room in a full shard.
    pub evictions: AtomicU64,
    /// Verifying a presented subject token (signature and claims, or the
    /// cache's answer), by [`CACHE_LABELS`]: hit, miss.
    pub verifications: [Histogram<CryptoLayout>; 2],
}

/// The `cache` label of the mint and verification histograms, by index.
pub const CACHE_LABELS: [&str; 2] = ["hit", "miss"];
/// Index in [`CACHE_LABELS`].
pub const CACHE_HIT: usize = 0;
/// Index in [`CACHE_LABELS`].
pub const CACHE_MISS: usize = 1;

/// The `result` label of the handshake histogram, by index.
const HANDSHAKE_RESULTS: [&str; 2] = ["accepted", "rejected"];

#[derive(Debug, Default)]
pub struct Metrics {
    /// Per agent (and `mcp:NAME` server) name. Entries outlive reloads (and
    /// agents removed by one), as Prometheus counters should.
    targets: Mutex<BTreeMap<String, Arc<TargetMetrics>>>,
    /// Requests naming no configured agent or MCP server ([`UNKNOWN_TARGET`]).
    pub unknown_target: TargetMetrics,
    pub handshakes_accepted: AtomicU64,
    handshakes_rejected: [AtomicU64; HandshakeRejection::ALL.len()],
    /// TLS handshakes on the mTLS listener, accepted and rejected.
    handshake_durations: [Histogram; 2],
    pub requests_forwarded: AtomicU64,
    pub requests_denied: AtomicU64,
    pub requests_unauthenticated: AtomicU64,
    pub upstream_errors: AtomicU64,
    pub tokens_minted: AtomicU64,
    pub token_cache_hits: AtomicU64,
    /// Producing a token for the upstream or the token endpoint, by
    /// [`CACHE_LABELS`] (a hit is the mint cache's answer).
    pub mint_durations: [Histogram<CryptoLayout>; 2],
    /// The subject tokens' verified-token cache.
    pub subject_token_cache: Arc<CacheCounters>,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    /// Card fetches from upstreams (`fetch_card`), and those that failed
    /// (unreachable, bad status, unparsable, unverifiable, unsatisfiable).
    pub card_fetches: AtomicU64,
    pub card_fetch_failures: AtomicU64,
    /// Requests answered 403 because a human approval is needed (a pending
    /// approval was created or handed back).
    pub approvals_required: AtomicU64,
    /// Retries let through on an approval (each approval at most once).
    pub approvals_used: AtomicU64,
    /// Retries refused: approval unknown, pending, denied, expired, used or
    /// for another request.
    pub approvals_refused: AtomicU64,
    /// Failed fetches of a `[[subject_issuer]]`'s keys, by issuer.
    issuer_key_fetch_failures: Mutex<BTreeMap<String, u64>>,
}

/// The plain counters: name, help, the counter.
type CounterRow<'a> = (&'static str, &'static str, &'a AtomicU64);

impl Metrics {
    pub fn handshake_rejected(&self, why: HandshakeRejection) {
        self.handshakes_rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, why: HandshakeRejection) -> u64 {
        self.handshakes_rejected[why as usize].load(Ordering::Relaxed)
    }

    /// A TLS handshake on the mTLS listener took `took`.
    pub fn observe_handshake(&self, accepted: bool, took: Duration) {
        self.handshake_durations[usize::from(!accepted)].observe(took);
    }

    /// The metrics of the agent (or `mcp:NAME` server) `name`, created on
    /// first use (at load).
    pub fn target(&self, name: &str) -> Arc<TargetMetrics> {
        let mut map = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(name.to_string()).or_default())
    }

    pub fn issuer_key_fetch_failed(&self, issuer: &str) {
        let mut map = self
            .issuer_key_fetch_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *map.entry(issuer.to_string()).or_default() += 1;
    }

    /// Failed issuer key fetches so far, by issuer.
    pub fn issuer_key_fetch_failures(&self) -> Vec<(String, u64)> {
        let map = self
            .issuer_key_fetch_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text exposition of these counters and histograms alone.
    pub fn render(&self) -> String {
        let mut out = Exposition::default();
        self.render_into(&mut out);
        out.finish()
    }

    /// Write every family of these counters and histograms to `out`.
    pub fn render_into(&self, out: &mut Exposition) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        self.render_handshakes(out);
        for (name, help, c) in self.counter_rows() {
            out.single(name, Kind::Counter, help, get(c));
        }
        self.render_targets(out);
        let cache = &self.subject_token_cache;
        for (name_help, hs) in [
            (
                (
                    "actgate_token_mint_duration_seconds",
                    "Producing a token for an upstream or the token endpoint; cache=\"hit\" when the mint cache answered.",
                ),
                &self.mint_durations,
            ),
            (
                (
                    "actgate_subject_token_verification_duration_seconds",
                    "Verifying a presented subject token (signature and claims, or the verified-token cache's answer).",
                ),
                &cache.verifications,
            ),
        ] {
            let series = CACHE_LABELS.iter().map(|l| [("cache", *l)]).zip(hs);
            histogram::family(out, name_help, Series::All, series);
        }
        let hits = get(&self.token_cache_hits) as f64;
        let total = hits + get(&self.tokens_minted) as f64;
        let ratio = if total > 0.0 { hits / total } else { 0.0 };
        out.single(
            "actgate_token_cache_hit_ratio",
            Kind::Gauge,
            "Share of upstream tokens served from the mint cache since start.",
            ratio,
        );
    }

    fn render_handshakes(&self, out: &mut Exposition) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.single(
            "actgate_handshakes_accepted_total",
            Kind::Counter,
            "mTLS handshakes that proved a SPIFFE identity.",
            get(&self.handshakes_accepted),
        );
        let name = "actgate_handshakes_rejected_total";
        out.family(name, Kind::Counter, "mTLS handshakes refused, by reason.");
        for (i, why) in HandshakeRejection::ALL.iter().enumerate() {
            out.sample(
                name,
                &[("reason", why.label())],
                get(&self.handshakes_rejected[i]),
            );
        }
        let name_help = (
            "actgate_tls_handshake_duration_seconds",
            "TLS handshakes on the mTLS listener, from accept to the verified identity (or the refusal).",
        );
        let series = HANDSHAKE_RESULTS.iter().map(|r| [("result", *r)]);
        histogram::family(
            out,
            name_help,
            Series::All,
            series.zip(&self.handshake_durations),
        );
    }

    fn counter_rows(&self) -> [CounterRow<'_>; 16] {
        let cache = &self.subject_token_cache;
        [
            ("actgate_requests_forwarded_total", "Requests forwarded to an upstream (agent or MCP server).", &self.requests_forwarded),
            ("actgate_requests_denied_total", "Requests refused by policy, reachability or scopes (unknown agents included).", &self.requests_denied),
            ("actgate_requests_unauthenticated_total", "Requests refused for their credential (the subject token, its binding, its lifetime).", &self.requests_unauthenticated),
            ("actgate_upstream_errors_total", "Allowed requests whose upstream timed out or could not be reached.", &self.upstream_errors),
            ("actgate_tokens_minted_total", "Tokens signed (upstream tokens and the token endpoint's).", &self.tokens_minted),
            ("actgate_token_cache_hits_total", "Upstream tokens served from the mint cache.", &self.token_cache_hits),
            ("actgate_subject_token_cache_hits_total", "Subject tokens answered by the verified-token cache.", &cache.hits),
            ("actgate_subject_token_cache_misses_total", "Subject tokens verified in full (not in the cache).", &cache.misses),
            ("actgate_subject_token_cache_evictions_total", "Verified-token cache entries dropped (expired, or to make room).", &cache.evictions),
            ("actgate_reloads_total", "Configuration reloads applied.", &self.reloads),
            ("actgate_reload_failures_total", "Configuration reloads refused (the previous material stays in service).", &self.reload_failures),
            ("actgate_card_fetches_total", "Agent card fetches from upstreams.", &self.card_fetches),
            ("actgate_card_fetch_failures_total", "Agent card fetches that failed (unreachable, bad status, unparsable, unverifiable).", &self.card_fetch_failures),
            ("actgate_approvals_required_total", "Requests answered 403 because a human approval is needed.", &self.approvals_required),
            ("actgate_approvals_used_total", "Retries let through on an approval.", &self.approvals_used),
            ("actgate_approvals_refused_total", "Retries refused: approval unknown, pending, denied, expired, used or for another request.", &self.approvals_refused),
        ]
    }

    /// Decisions, request durations and upstream times per target.
    fn render_targets(&self, out: &mut Exposition) {
        let map = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        let name = "actgate_decisions_total";
        out.family(
            name,
            Kind::Counter,
            "Requests to a configured agent or MCP server, by decision.",
        );
        for (target, t) in map.iter() {
            for kind in DecisionKind::ALL {
                out.sample(
                    name,
                    &[("agent", target), ("decision", kind.as_str())],
                    t.get(kind),
                );
            }
        }
        let all = || {
            map.iter()
                .map(|(n, t)| (n.as_str(), &**t))
                .chain([(UNKNOWN_TARGET, &self.unknown_target)])
        };
        let name_help = (
            "actgate_request_duration_seconds",
            "Requests on agent and MCP routes, from receipt to the response head, by agent and audit decision.",
        );
        let series = all().flat_map(|(target, t)| {
            let labels = REQUEST_DECISIONS.map(|d| [("agent", target), ("decision", d)]);
            labels.into_iter().zip(&t.durations)
        });
        histogram::family(out, name_help, Series::Observed, series);
        let name_help = (
            "actgate_upstream_duration_seconds",
            "Upstream response time (to the response head) of forwarded requests, by agent.",
        );
        let series = all().map(|(target, t)| ([("agent", target)], &t.upstream));
        histogram::family(out, name_help, Series::Observed, series);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_counter_and_label() {
        let m = Metrics::default();
        for (i, why) in HandshakeRejection::ALL.iter().enumerate() {
            assert_eq!(*why as usize, i, "ALL is in discriminant order");
            m.handshake_rejected(*why);
            m.handshake_rejected(*why);
            assert_eq!(m.rejected(*why), 2);
            assert!(m
                .render()
                .contains(&format!("reason=\"{}\"}} 2", why.label())));
        }
    }

    #[test]
    fn decisions_are_counted_per_agent_and_kind() {
        let m = Metrics::default();
        for (i, kind) in DecisionKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i, "ALL is in discriminant order");
        }
        let a = m.target("scheduler");
        a.count(DecisionKind::Allow);
        a.count(DecisionKind::Allow);
        m.target("scheduler").count(DecisionKind::StepUp);
        m.target("notifier").count(DecisionKind::ApprovalRequired);
        a.observe_request(0, Duration::from_millis(2));
        m.unknown_target
            .observe_request(1, Duration::from_micros(100));
        let out = m.render();
        for line in [
            "actgate_decisions_total{agent=\"scheduler\",decision=\"allow\"} 2",
            "actgate_decisions_total{agent=\"scheduler\",decision=\"step_up\"} 1",
            "actgate_decisions_total{agent=\"scheduler\",decision=\"deny\"} 0",
            "actgate_decisions_total{agent=\"notifier\",decision=\"approval_required\"} 1",
            "actgate_request_duration_seconds_count{agent=\"scheduler\",decision=\"allow\"} 1",
            "actgate_request_duration_seconds_bucket{agent=\"(unknown)\",decision=\"deny\",le=\"0.0005\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line} in\n{out}");
        }
        // Never observed: no series (the family's HELP and TYPE stay).
        assert!(!out.contains("decision=\"step_up\",le="), "{out}");
        assert!(
            !out.contains("actgate_decisions_total{agent=\"(unknown)\""),
            "{out}"
        );
    }

    #[test]
    fn every_family_has_help_and_type() {
        let out = Metrics::default().render();
        let mut helped = std::collections::BTreeSet::new();
        for l in out.lines() {
            if let Some(rest) = l.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default();
                assert!(helped.insert(name.to_string()), "{name} twice");
                continue;
            }
            if l.starts_with('#') {
                continue;
            }
            let sample = l.split(['{', ' ']).next().unwrap_or_default();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| sample.strip_suffix(s).filter(|f| helped.contains(*f)))
                .unwrap_or(sample);
            assert!(helped.contains(family), "{sample} has no HELP");
        }
    }
}
