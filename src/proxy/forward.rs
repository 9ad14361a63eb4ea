//! The forward stages: the request the upstream receives (URL, headers),
//! sending it within the timeout, and streaming the answer back.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tracing::Instrument;

use super::headers::{sanitize_request_headers, strip_hop_by_hop};
use super::refusal::{Booking, Refusal};
use super::respond::{BoxError, ResponseBody};
use crate::a2a::Binding;
use crate::audit::recent::Decided;
use crate::audit::AuditRecord;
use crate::metrics::{Metrics, TargetMetrics};
use crate::registry::card_slot::LiveCard;
use crate::snapshot::Limits;
use crate::trace::{RequestMeta, TRACEPARENT};
use crate::upstream::UpstreamClient;

/// The upstream URL of a routed request: the agent's base path, the
/// canonical path, the query as sent.
pub(super) fn upstream_uri(
    base: &Uri,
    rest: &str,
    query: Option<&str>,
) -> Result<Uri, http::Error> {
    let base_path = base.path().trim_end_matches('/');
    let mut pq =
        String::with_capacity(base_path.len() + rest.len() + query.map_or(0, |q| q.len() + 1));
    pq.push_str(base_path);
    pq.push_str(rest);
    if let Some(q) = query {
        pq.push('?');
        pq.push_str(q);
    }
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(pq.parse()?);
    Ok(Uri::from_parts(parts)?)
}

/// The headers the upstream receives: the caller's, sanitised (no
/// identity header survives), with the gateway's identity (the minted
/// token), the correlation headers and the configured upstream credentials.
pub(super) fn upstream_headers(
    mut headers: HeaderMap,
    limits: &Limits,
    remote: std::net::SocketAddr,
    authorization: HeaderValue,
    meta: &RequestMeta,
    live: &LiveCard,
) -> HeaderMap {
    sanitize_request_headers(&mut headers, &limits.strip_headers);
    if limits.forward_client_address {
        if let Ok(v) = HeaderValue::from_str(&remote.ip().to_string()) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v);
        }
    }
    headers.insert(header::AUTHORIZATION, authorization);
    meta.apply(&mut headers);
    // Upstream credentials from the config replace anything the caller sent
    // under the same name.
    for (name, _) in &live.credentials {
        headers.remove(name);
    }
    for (name, value) in &live.credentials {
        headers.append(name.clone(), value.clone());
    }
    headers
}

/// Send the request, waiting at most `timeout` for the answer's headers;
/// the time the upstream took to answer goes to `target`'s histogram
/// (failures are counted in `actgate_upstream_errors_total` instead: a
/// timeout would only measure the timeout).
pub(super) async fn send(
    client: &UpstreamClient,
    timeout: Duration,
    (method, uri, headers): (Method, Uri, HeaderMap),
    body: Bytes,
    target: &TargetMetrics,
) -> Result<Response<Incoming>, Refusal> {
    let span = crate::telemetry::stage_span!(
        "upstream",
        otel.kind = "client",
        http.request.method = %method,
        server.address = uri.host(),
        http.response.status_code = tracing::field::Empty,
    );
    let mut up = Request::new(Full::new(body));
    *up.method_mut() = method;
    *up.uri_mut() = uri;
    *up.headers_mut() = headers;
    // With telemetry on, the upstream continues the trace from this span.
    if let Some(tp) = crate::telemetry::traceparent(&span) {
        up.headers_mut().insert(TRACEPARENT.clone(), tp);
    }
    let sent = std::time::Instant::now();
    let answered = tokio::time::timeout(timeout, client.send(up))
        .instrument(span.clone())
        .await;
    match answered {
        Err(_) => Err(Refusal::UpstreamTimeout),
        Ok(Err(e)) => Err(Refusal::UpstreamUnreachable(e)),
        Ok(Ok(r)) => {
            target.observe_upstream(sent.elapsed());
            span.record("http.response.status_code", i64::from(r.status().as_u16()));
            Ok(r)
        }
    }
}

/// A forwarded call, as the upstream answered it.
pub(super) struct Forwarded {
    pub resp: Response<Incoming>,
    /// `GetExtendedAgentCard`: the answer is rewritten; `true` when asked
    /// in the v0.3 form.
    pub extended_card: Option<bool>,
    pub binding: Binding,
    pub approval_id: Option<String>,
    pub token_cached: bool,
}

/// Book the forwarded call once (counter, recent-decisions view, record,
/// log line) and stream the upstream's answer back.
pub(super) async fn respond(
    f: Forwarded,
    b: &Booking<'_>,
    rec: &mut AuditRecord,
) -> Response<ResponseBody> {
    let status = f.resp.status().as_u16();
    let agent = rec.agent.as_deref().unwrap_or_default();
    let operation = rec.operation.as_deref().unwrap_or_default();
    Metrics::inc(&b.metrics.requests_forwarded);
    b.recent.record(Decided {
        caller: b.caller,
        subject: b.subject,
        agent,
        operation,
        mcp_route: rec.kind == crate::audit::RecordKind::Mcp,
        mcp: rec.mcp.as_ref(),
        decision: "allow",
        rule: b.rule,
        approval_id: f.approval_id.as_deref(),
        status: Some(status),
    });
    tracing::info!(
        caller = %b.caller.spiffe_id,
        subject = b.subject.map(|s| &*s.sub).unwrap_or("-"),
        agent,
        operation,
        status,
        token_cached = f.token_cached,
        approval = f.approval_id.as_deref().unwrap_or("-"),
        "forwarded"
    );
    rec.upstream_status = Some(status);
    if let (Some(v03), Some(agent)) = (f.extended_card, b.agent) {
        return super::extended_card::rewrite(f.resp, agent.card.context(), f.binding, v03).await;
    }
    let (mut parts, body) = f.resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    // The upstream body is passed through frame by frame: SSE events reach
    // the caller as the agent writes them.
    Response::from_parts(parts, body.map_err(|e| Box::new(e) as BoxError).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_uris_keep_base_path_and_query() {
        let base: Uri = "http://127.0.0.1:9001/base".parse().unwrap();
        assert_eq!(
            upstream_uri(&base, "/a2a/jsonrpc", Some("A2A-Version=1.0"))
                .unwrap()
                .to_string(),
            "http://127.0.0.1:9001/base/a2a/jsonrpc?A2A-Version=1.0"
        );
        let base: Uri = "http://h:1".parse().unwrap();
        assert_eq!(
            upstream_uri(&base, "/", None).unwrap().to_string(),
            "http://h:1/"
        );
    }
}
