//! What the admin listener and the probes-only health listener answer
//! without an operator: `/healthz` (alive), `/readyz` (ready to serve), and
//! `/metrics`, the counters of [`crate::metrics`] plus the gauges derived
//! from the snapshot's material.

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::snapshot::Snapshot;
use crate::token::issuer_keys::Availability;

/// Ready: not draining, and the material serving is complete and current.
/// A gateway only exists once every certificate, key, card and rule loaded
/// and validated (a failed reload keeps the previous, valid material), so
/// what can still go wrong is time: the listener certificate expiring, and
/// the first fetch of an issuer's keys not done yet. An issuer still without
/// keys after its `startup_timeout` no longer holds readiness back (the
/// gateway serves everything else; that issuer's tokens get 401): it is
/// listed in the `Ok` notes instead.
pub fn readiness(gw: &Snapshot, draining: bool) -> Result<Vec<String>, String> {
    if draining {
        return Err("draining".into());
    }
    if gw
        .server_cert_not_after
        .is_some_and(|t| t <= crate::unix_now())
    {
        return Err("the server certificate has expired".into());
    }
    let now = std::time::Instant::now();
    let mut notes = Vec::new();
    for slot in gw.subject_tokens.issuer_slots() {
        match slot.availability(now) {
            Availability::Ready => {}
            Availability::Waiting => {
                return Err(format!(
                    "waiting for the first fetch of the keys of issuer {}",
                    slot.issuer()
                ))
            }
            Availability::Unavailable(why) => {
                notes.push(format!("issuer {} unavailable: {why}", slot.issuer()));
            }
        }
    }
    notes.sort();
    Ok(notes)
}

/// A Prometheus label value, escaped (issuers are configured URLs, but a
/// quote or a newline must not break the exposition format).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Per issuer fetched by URL: failed fetches, keys in service, and the age
/// of the key set in service.
fn issuer_metrics(gw: &Snapshot, now: i64, out: &mut String) {
    let mut slots: Vec<_> = gw
        .subject_tokens
        .issuer_slots()
        .filter(|s| s.fingerprint().is_some())
        .collect();
    slots.sort_by(|a, b| a.issuer().cmp(b.issuer()));
    // Every fetched issuer from 0, so a rate() sees its first failure.
    let mut failures: std::collections::BTreeMap<String, u64> =
        slots.iter().map(|s| (s.issuer().to_owned(), 0)).collect();
    failures.extend(gw.metrics.issuer_key_fetch_failures());
    out.push_str("# TYPE actgate_issuer_key_fetch_failures_total counter\n");
    for (issuer, n) in failures {
        out.push_str(&format!(
            "actgate_issuer_key_fetch_failures_total{{issuer=\"{}\"}} {n}\n",
            label(&issuer)
        ));
    }
    // Read once per issuer, so both gauges describe the same key set.
    let key_sets: Vec<_> = slots.iter().map(|s| (s, s.key_count_and_age())).collect();
    out.push_str("# TYPE actgate_issuer_keys gauge\n");
    for (s, (count, _)) in &key_sets {
        out.push_str(&format!(
            "actgate_issuer_keys{{issuer=\"{}\"}} {count}\n",
            label(s.issuer())
        ));
    }
    out.push_str("# TYPE actgate_issuer_key_set_age_seconds gauge\n");
    for (s, (_, at)) in &key_sets {
        if let Some(at) = at {
            out.push_str(&format!(
                "actgate_issuer_key_set_age_seconds{{issuer=\"{}\"}} {}\n",
                label(s.issuer()),
                now - at
            ));
        }
    }
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
        if let Some(up) = store.backend_up() {
            // 0 while PostgreSQL does not answer (calls needing an
            // approval get 503 meanwhile; everything else is served).
            gauges.push(("actgate_state_backend_up", f64::from(u8::from(up))));
        }
        if let Some(n) = crate::state::audit_ship::unshipped_records() {
            // Records in the file log not yet in PostgreSQL (grows while
            // it is down, drains when it is back).
            gauges.push(("actgate_audit_unshipped_records", n as f64));
        }
    }
    let mut out = gw.metrics.render_with(&gauges);
    issuer_metrics(gw, now, &mut out);
    // 1 when the agent has a card in service, 0 when it answers 503.
    out.push_str("# TYPE actgate_agent_card_available gauge\n");
    let mut agents: Vec<_> = gw.registry.agents().collect();
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    for a in agents {
        let up = u8::from(a.card.live().is_some());
        out.push_str(&format!(
            "actgate_agent_card_available{{agent=\"{}\"}} {up}\n",
            label(&a.name)
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
            Ok(notes) => (
                StatusCode::OK,
                notes
                    .iter()
                    .fold("ready\n".to_string(), |b, n| b + n + "\n"),
                "text/plain",
            ),
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
