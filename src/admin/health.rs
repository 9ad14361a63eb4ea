//! What the admin listener and the probes-only health listener answer
//! without an operator: `/healthz` (alive), `/readyz` (ready to serve), and
//! `/metrics`, the counters of [`crate::metrics`] plus the gauges derived
//! from the snapshot's material.

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::snapshot::Snapshot;

/// Ready: not draining, and the material serving is complete and current.
/// A gateway only exists once every certificate, key, card and rule loaded
/// and validated (a failed reload keeps the previous, valid material), so
/// what can still go wrong is time: the listener certificate expiring.
pub fn readiness(gw: &Snapshot, draining: bool) -> Result<(), &'static str> {
    if draining {
        return Err("draining");
    }
    if gw
        .server_cert_not_after
        .is_some_and(|t| t <= crate::unix_now())
    {
        return Err("the server certificate has expired");
    }
    Ok(())
}

/// Metrics of `gw`: the counters plus gauges derived from its material.
pub fn render_metrics(gw: &Snapshot) -> String {
    let now = crate::unix_now();
    let mut gauges = Vec::new();
    if let Some(t) = gw.server_cert_not_after {
        gauges.push(("actgate_server_cert_expiry_seconds", (t - now) as f64));
    }
    if let Some(t) = gw.signing_key_rotate_at {
        gauges.push(("actgate_token_signing_key_expiry_seconds", (t - now) as f64));
    }
    if gw.audit.is_enabled() {
        // 0 while audit writes fail (agent calls are refused meanwhile).
        let healthy = if gw.audit.is_healthy() { 1.0 } else { 0.0 };
        gauges.push(("actgate_audit_healthy", healthy));
        gauges.push(("actgate_audit_records_lost", gw.audit.stats().1 as f64));
    }
    if let Some(store) = &gw.approvals {
        gauges.push(("actgate_approvals_pending", store.pending_count(now) as f64));
    }
    let mut out = gw.metrics.render_with(&gauges);
    // 1 when the agent has a card in service, 0 when it answers 503.
    out.push_str("# TYPE actgate_agent_card_available gauge\n");
    let mut agents: Vec<_> = gw.registry.agents().collect();
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    for a in agents {
        let up = u8::from(a.card.live().is_some());
        out.push_str(&format!(
            "actgate_agent_card_available{{agent=\"{}\"}} {up}\n",
            a.name
        ));
    }
    out
}

/// The answer to a probe, `/metrics`, or anything else (404).
pub(crate) fn response(
    gw: &Snapshot,
    draining: bool,
    path: &str,
) -> Response<http_body_util::Full<Bytes>> {
    let (status, body, ctype) = match path {
        "/metrics" => (
            StatusCode::OK,
            render_metrics(gw),
            "text/plain; version=0.0.4",
        ),
        // Alive as long as the process serves; draining is not a failure.
        "/healthz" => (StatusCode::OK, "ok\n".to_string(), "text/plain"),
        "/readyz" => match readiness(gw, draining) {
            Ok(()) => (StatusCode::OK, "ready\n".to_string(), "text/plain"),
            Err(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
                "text/plain",
            ),
        },
        _ => (
            StatusCode::NOT_FOUND,
            "not found\n".to_string(),
            "text/plain",
        ),
    };
    let mut r = Response::new(http_body_util::Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}
