//! The sidecar's `/metrics`: its requests by route and outcome, the
//! gateway's response time, the browser-protection refusals, and the
//! families every actgate process exports (`actgate_build_info`,
//! `process_*`). The sidecar knows no configured agent names (it forwards
//! whatever the local agent asks for), so no label carries a name: route
//! and outcome are fixed sets.

use std::time::Duration;

use crate::browser_guard::RefusalCounters;
use crate::metrics::histogram::{self, Series};
use crate::metrics::text::Exposition;
use crate::metrics::Histogram;

/// What a request asked the sidecar for (the `route` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/agents` and `/agents/NAME/...`.
    Agents = 0,
    /// `/mcp/NAME` and its RFC 9728 metadata.
    Mcp = 1,
    /// Anything else, or refused before the route was known.
    None = 2,
}

const ROUTES: [&str; 3] = ["agents", "mcp", "none"];

/// How a request ended (the `outcome` label): the class of the gateway's
/// answer, the sidecar's own refusal, or no answer from the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The gateway answered with this status.
    Gateway(http::StatusCode),
    /// The sidecar refused it (browser rules, route, credential, body).
    Refused,
    /// The gateway timed out or could not be reached (or was not the
    /// configured SPIFFE ID).
    GatewayError,
}

const OUTCOMES: [&str; 6] = ["2xx", "3xx", "4xx", "5xx", "refused", "gateway_error"];

impl Outcome {
    fn index(self) -> usize {
        match self {
            Outcome::Gateway(s) if s.is_success() || s.is_informational() => 0,
            Outcome::Gateway(s) if s.is_redirection() => 1,
            Outcome::Gateway(s) if s.is_client_error() => 2,
            Outcome::Gateway(_) => 3,
            Outcome::Refused => 4,
            Outcome::GatewayError => 5,
        }
    }
}

/// The sidecar's request histograms, held by its state.
#[derive(Debug, Default)]
pub struct EgressMetrics {
    requests: [[Histogram; OUTCOMES.len()]; ROUTES.len()],
    gateway: [Histogram; ROUTES.len()],
}

impl EgressMetrics {
    /// A request answered after `took`.
    pub fn observe_request(&self, route: Route, outcome: Outcome, took: Duration) {
        self.requests[route as usize][outcome.index()].observe(took);
    }

    /// The gateway answered (its response head) after `took`.
    pub fn observe_gateway(&self, route: Route, took: Duration) {
        self.gateway[route as usize].observe(took);
    }

    /// The whole exposition of the sidecar.
    pub fn render(&self, refusals: &RefusalCounters) -> String {
        let mut out = Exposition::default();
        crate::metrics::process::render(&mut out);
        // Most route and outcome pairs never happen: observed ones only.
        let name_help = (
            "actgate_egress_request_duration_seconds",
            "Requests from the local agent, from receipt to the response head, by route and outcome.",
        );
        let series = ROUTES.iter().zip(&self.requests).flat_map(|(route, hs)| {
            let labels = OUTCOMES.map(|o| [("route", *route), ("outcome", o)]);
            labels.into_iter().zip(hs)
        });
        histogram::family(&mut out, name_help, Series::Observed, series);
        let name_help = (
            "actgate_egress_gateway_duration_seconds",
            "The gateway's response time (to the response head, over mTLS), by route.",
        );
        let series = ROUTES.iter().map(|r| [("route", *r)]).zip(&self.gateway);
        histogram::family(&mut out, name_help, Series::Observed, series);
        refusals.render(&mut out, "actgate_egress_requests_refused_total");
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_by_status_class() {
        use http::StatusCode as S;
        let labels: Vec<_> = [
            Outcome::Gateway(S::OK),
            Outcome::Gateway(S::FOUND),
            Outcome::Gateway(S::FORBIDDEN),
            Outcome::Gateway(S::BAD_GATEWAY),
            Outcome::Refused,
            Outcome::GatewayError,
        ]
        .iter()
        .map(|o| OUTCOMES[o.index()])
        .collect();
        assert_eq!(labels, OUTCOMES);
        let m = EgressMetrics::default();
        m.observe_request(
            Route::Agents,
            Outcome::Gateway(S::FORBIDDEN),
            Duration::from_millis(3),
        );
        m.observe_gateway(Route::Agents, Duration::from_millis(2));
        let text = m.render(&RefusalCounters::default());
        for line in [
            "actgate_egress_request_duration_seconds_count{route=\"agents\",outcome=\"4xx\"} 1",
            "actgate_egress_gateway_duration_seconds_bucket{route=\"agents\",le=\"0.0025\"} 1",
            "actgate_egress_requests_refused_total{reason=\"cross_site\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert!(!text.contains("route=\"mcp\""), "{text}");
    }
}
