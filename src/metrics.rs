//! Process-wide counters, rendered in the Prometheus text format.
//!
//! Plain atomics: every counter is a single relaxed `fetch_add`, cheap enough
//! for the per-request path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

/// One agent's request decisions, one counter per [`DecisionKind`]
/// (indexed by its discriminant). Held by the agent, so counting is a single
/// relaxed `fetch_add` with no lookup.
#[derive(Debug, Default)]
pub struct DecisionCounters([AtomicU64; DecisionKind::ALL.len()]);

impl DecisionCounters {
    pub fn count(&self, kind: DecisionKind) {
        self.0[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, kind: DecisionKind) -> u64 {
        self.0[kind as usize].load(Ordering::Relaxed)
    }
}

/// The verified-token cache's counters (`token::verify_cache`). Shared by
/// every verifier a reload builds, so they count across reloads, as
/// Prometheus counters should.
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Lookups answered from the cache (no signature check).
    pub hits: AtomicU64,
    /// Lookups that found nothing usable: the token is verified in full.
    pub misses: AtomicU64,
    /// Entries dropped: expired, or making room in a full shard.
    pub evictions: AtomicU64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// Decision counters by agent name. Entries outlive reloads (and agents
    /// removed by one), as Prometheus counters should.
    decisions: Mutex<BTreeMap<String, Arc<DecisionCounters>>>,
    pub handshakes_accepted: AtomicU64,
    handshakes_rejected: [AtomicU64; HandshakeRejection::ALL.len()],
    pub requests_forwarded: AtomicU64,
    pub requests_denied: AtomicU64,
    pub requests_unauthenticated: AtomicU64,
    pub upstream_errors: AtomicU64,
    pub tokens_minted: AtomicU64,
    pub token_cache_hits: AtomicU64,
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

impl Metrics {
    pub fn handshake_rejected(&self, why: HandshakeRejection) {
        self.handshakes_rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, why: HandshakeRejection) -> u64 {
        self.handshakes_rejected[why as usize].load(Ordering::Relaxed)
    }

    /// The decision counters of `agent`, created on first use (at load).
    pub fn decision_counters(&self, agent: &str) -> Arc<DecisionCounters> {
        let mut map = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(agent.to_string()).or_default())
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

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        self.render_with(&[])
    }

    /// Prometheus text exposition, with extra gauges appended.
    pub fn render_with(&self, gauges: &[(&str, f64)]) -> String {
        let mut out = String::with_capacity(1024);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(out, "# TYPE actgate_handshakes_accepted_total counter");
        let _ = writeln!(
            out,
            "actgate_handshakes_accepted_total {}",
            get(&self.handshakes_accepted)
        );
        let _ = writeln!(out, "# TYPE actgate_handshakes_rejected_total counter");
        for (i, why) in HandshakeRejection::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "actgate_handshakes_rejected_total{{reason=\"{}\"}} {}",
                why.label(),
                get(&self.handshakes_rejected[i])
            );
        }
        for (name, c) in [
            ("actgate_requests_forwarded_total", &self.requests_forwarded),
            ("actgate_requests_denied_total", &self.requests_denied),
            (
                "actgate_requests_unauthenticated_total",
                &self.requests_unauthenticated,
            ),
            ("actgate_upstream_errors_total", &self.upstream_errors),
            ("actgate_tokens_minted_total", &self.tokens_minted),
            ("actgate_token_cache_hits_total", &self.token_cache_hits),
            (
                "actgate_subject_token_cache_hits_total",
                &self.subject_token_cache.hits,
            ),
            (
                "actgate_subject_token_cache_misses_total",
                &self.subject_token_cache.misses,
            ),
            (
                "actgate_subject_token_cache_evictions_total",
                &self.subject_token_cache.evictions,
            ),
            ("actgate_reloads_total", &self.reloads),
            ("actgate_reload_failures_total", &self.reload_failures),
            ("actgate_card_fetches_total", &self.card_fetches),
            (
                "actgate_card_fetch_failures_total",
                &self.card_fetch_failures,
            ),
            ("actgate_approvals_required_total", &self.approvals_required),
            ("actgate_approvals_used_total", &self.approvals_used),
            ("actgate_approvals_refused_total", &self.approvals_refused),
        ] {
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", get(c));
        }
        let _ = writeln!(out, "# TYPE actgate_decisions_total counter");
        {
            let map = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
            // Agent names are validated at load ([A-Za-z0-9._-]): nothing
            // to escape in a label value.
            for (agent, c) in map.iter() {
                for kind in DecisionKind::ALL {
                    let _ = writeln!(
                        out,
                        "actgate_decisions_total{{agent=\"{agent}\",decision=\"{}\"}} {}",
                        kind.as_str(),
                        c.get(kind)
                    );
                }
            }
        }
        let hits = get(&self.token_cache_hits) as f64;
        let total = hits + get(&self.tokens_minted) as f64;
        let ratio = if total > 0.0 { hits / total } else { 0.0 };
        let _ = writeln!(out, "# TYPE actgate_token_cache_hit_ratio gauge");
        let _ = writeln!(out, "actgate_token_cache_hit_ratio {ratio:.4}");
        for (name, v) in gauges {
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {v}");
        }
        out
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
        let a = m.decision_counters("scheduler");
        a.count(DecisionKind::Allow);
        a.count(DecisionKind::Allow);
        m.decision_counters("scheduler").count(DecisionKind::StepUp);
        m.decision_counters("notifier")
            .count(DecisionKind::ApprovalRequired);
        let out = m.render();
        for line in [
            "actgate_decisions_total{agent=\"scheduler\",decision=\"allow\"} 2",
            "actgate_decisions_total{agent=\"scheduler\",decision=\"step_up\"} 1",
            "actgate_decisions_total{agent=\"scheduler\",decision=\"deny\"} 0",
            "actgate_decisions_total{agent=\"notifier\",decision=\"approval_required\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line} in\n{out}");
        }
    }
}
