//! Process-wide counters, rendered in the Prometheus text format.
//!
//! Plain atomics: every counter is a single relaxed `fetch_add`, cheap enough
//! for the per-request path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

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

#[derive(Debug, Default)]
pub struct Metrics {
    pub handshakes_accepted: AtomicU64,
    handshakes_rejected: [AtomicU64; HandshakeRejection::ALL.len()],
    pub requests_forwarded: AtomicU64,
    pub requests_denied: AtomicU64,
    pub requests_unauthenticated: AtomicU64,
    pub upstream_errors: AtomicU64,
    pub tokens_minted: AtomicU64,
    pub token_cache_hits: AtomicU64,
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
}

impl Metrics {
    pub fn handshake_rejected(&self, why: HandshakeRejection) {
        self.handshakes_rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, why: HandshakeRejection) -> u64 {
        self.handshakes_rejected[why as usize].load(Ordering::Relaxed)
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
}
