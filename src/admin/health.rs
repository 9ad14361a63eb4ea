//! What the admin listener and the probes-only health listener answer
//! without an operator: `/healthz` (alive), `/readyz` (ready to serve), and
//! `/metrics`, the counters of [`crate::metrics`] plus the gauges derived
//! from the snapshot's material.

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::metrics::text::{Exposition, Kind};
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

/// Per issuer fetched by URL: failed fetches, keys in service, and the age
/// of the key set in service. Issuers are configured URLs; the writer
/// escapes them (a quote or a newline cannot break the format).
fn issuer_metrics(gw: &Snapshot, now: i64, out: &mut Exposition) {
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
    let name = "actgate_issuer_key_fetch_failures_total";
    out.family(
        name,
        Kind::Counter,
        "Failed fetches of a subject issuer's keys, by issuer.",
    );
    for (issuer, n) in &failures {
        out.sample(name, &[("issuer", issuer)], *n);
    }
    // Read once per issuer, so both gauges describe the same key set.
    let key_sets: Vec<_> = slots.iter().map(|s| (s, s.key_count_and_age())).collect();
    let name = "actgate_issuer_keys";
    out.family(
        name,
        Kind::Gauge,
        "Keys in service for a fetched subject issuer.",
    );
    for (s, (count, _)) in &key_sets {
        out.sample(name, &[("issuer", s.issuer())], *count as u64);
    }
    let name = "actgate_issuer_key_set_age_seconds";
    out.family(
        name,
        Kind::Gauge,
        "Seconds since the key set in service of a fetched subject issuer was fetched.",
    );
    for (s, (_, at)) in &key_sets {
        if let Some(at) = at {
            out.sample(name, &[("issuer", s.issuer())], now - at);
        }
    }
}

/// Gauges of the audit log and the approvals store, when configured.
fn state_metrics(gw: &Snapshot, now: i64, out: &mut Exposition) {
    if gw.audit.is_enabled() {
        // 0 while audit writes fail (agent calls are refused meanwhile).
        let healthy = u64::from(gw.audit.is_healthy());
        out.single(
            "actgate_audit_healthy",
            Kind::Gauge,
            "1 while the audit log is written; 0 while writes fail (agent calls are refused).",
            healthy,
        );
        out.single(
            "actgate_audit_records_lost_total",
            Kind::Counter,
            "Audit records that could not be written.",
            gw.audit.stats().1,
        );
    }
    if let Some(store) = &gw.approvals {
        out.single(
            "actgate_approvals_pending",
            Kind::Gauge,
            "Approvals waiting for a person.",
            store.pending_count(now) as u64,
        );
        if let Some(up) = store.backend_up() {
            // 0 while PostgreSQL does not answer (calls needing an
            // approval get 503 meanwhile; everything else is served).
            out.single(
                "actgate_state_backend_up",
                Kind::Gauge,
                "1 while the PostgreSQL state backend answers.",
                u64::from(up),
            );
        }
        if let Some(n) = crate::state::audit_ship::unshipped_records() {
            // Records in the file log not yet in PostgreSQL (grows while
            // it is down, drains when it is back).
            out.single(
                "actgate_audit_unshipped_records",
                Kind::Gauge,
                "Audit records in the file log not yet shipped to PostgreSQL.",
                n,
            );
        }
    }
}

/// Metrics of `gw`: the counters and histograms, gauges derived from its
/// material, and the process's own families.
pub fn render_metrics(gw: &Snapshot) -> String {
    let now = crate::unix_now();
    let mut out = Exposition::default();
    crate::metrics::process::render(&mut out);
    gw.metrics.render_into(&mut out);
    // Process-wide, like the exporter (rendered whether or not it is on,
    // so the family is always there to alert on).
    crate::telemetry::render(&mut out);
    // Expiry as a timestamp (not seconds remaining): an alert compares it
    // with time(), and the value does not change between scrapes.
    if let Some(t) = gw.server_cert_not_after {
        out.single(
            "actgate_server_cert_expiry_timestamp_seconds",
            Kind::Gauge,
            "When the mTLS listener's certificate expires (unix time).",
            t,
        );
    }
    if let Some(t) = gw.signing_key_rotate_at {
        out.single(
            "actgate_token_signing_key_expiry_timestamp_seconds",
            Kind::Gauge,
            "When the token signing key is due for rotation (unix time, from tokens.rotate_after).",
            t,
        );
    }
    state_metrics(gw, now, &mut out);
    issuer_metrics(gw, now, &mut out);
    // 1 when the agent has a card in service, 0 when it answers 503.
    let name = "actgate_agent_card_available";
    out.family(
        name,
        Kind::Gauge,
        "1 while the agent has a verified card in service; 0 while it answers 503.",
    );
    let mut agents: Vec<_> = gw.registry.agents().collect();
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    for a in agents {
        let up = u64::from(a.card.live().is_some());
        out.sample(name, &[("agent", &a.name)], up);
    }
    out.finish()
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
            crate::metrics::text::CONTENT_TYPE,
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
