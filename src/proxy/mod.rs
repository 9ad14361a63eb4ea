//! The mTLS listener's requests: the gateway's own endpoints, the A2A
//! front door and the MCP front door (`/mcp/NAME`, [`mcp_call`]). This file is the order: [`route`] picks the endpoint, and
//! [`agent_call`] runs the stages of an agent call, one line each:
//!
//! ```text
//! route ─▶ reach ─▶ card paths ─▶ canonical path ─▶ subject ─▶ body ─▶ live card ─▶ classify
//!   ─▶ authorize (policy, audit, scopes, lifetime, chain) ─▶ mint ─▶ upstream URL + headers
//!   ─▶ approval gate ─▶ forward ─▶ respond
//! ```
//!
//! Each stage decides in its own module (`reach`, `card`, `classify` → `a2a`,
//! `subject`, `body`, `decide` → [`crate::authorize`], `approval`, `forward`,
//! `extended_card`); a refusal is a [`refusal::Refusal`], booked once.
//!
//! Header rule (after linkerd2-proxy's identity header): whatever identity the
//! upstream sees is set here from verified material, and every inbound header
//! that could carry identity is removed first. A caller can never choose it.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tracing::Instrument;

use crate::audit::{AuditRecord, Decision as AuditDecision, RecordGuard, RecordKind};
use crate::snapshot::Snapshot;
use crate::trace::RequestMeta;

mod agent_call;
pub(crate) mod approval;
mod body;
mod card;
mod classify;
mod context;
mod decide;
mod extended_card;
mod forward;
pub(crate) mod headers;
mod mcp_call;
mod mcp_list;
mod oauth;
mod reach;
mod refusal;
mod respond;
mod subject;

use agent_call::agent_call;
pub(crate) use body::read_body;
pub(crate) use context::request_record;
pub use context::ConnContext;
pub(crate) use headers::{bearer_token, strip_hop_by_hop};
pub use headers::{
    is_identity_header, parse_header_names, sanitize_request_headers, BadHeaderName,
};
use refusal::{Booking, Refusal};
pub use respond::{error, json_response, BoxError, ResponseBody};

/// Handle one request on an authenticated connection. Never fails: every
/// refusal is an HTTP answer. Every request gets a [`RequestMeta`] (request
/// id, trace context): its log lines are recorded in its span, the upstream
/// receives the id and the continued trace, and the caller gets the id back
/// in `X-Request-Id`.
///
/// Every request leaves one audit record, under the same request id.
/// Refusals are written before the response is returned; the rest is
/// buffered by the audit writer (see `audit::writer` for the durability
/// choice).
pub async fn handle(
    gw: Arc<Snapshot>,
    conn: Arc<ConnContext>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let mut meta = RequestMeta::from_headers(req.headers());
    let caller = conn.identity.spiffe_id.as_str();
    let span = crate::telemetry::server_span(&mut meta, req.method(), req.uri().path(), caller);
    let mut resp = route(&gw, &conn, req, &meta).instrument(span).await;
    resp.headers_mut()
        .insert(crate::trace::REQUEST_ID.clone(), meta.id.header_value());
    Ok(resp)
}

async fn route(
    gw: &Arc<Snapshot>,
    conn: &ConnContext,
    req: Request<Incoming>,
    meta: &RequestMeta,
) -> Response<ResponseBody> {
    let started = std::time::Instant::now();
    // From here on the request has its record, even if this future is
    // dropped before it answers (the guard submits it then, as 499).
    let mut rec = RecordGuard::new(&gw.audit, request_record(conn, &req, meta), started)
        .with_drain_signal(conn.draining.clone());
    let path = req.uri().path();
    let endpoint = |rec: &mut AuditRecord, op: &str| {
        rec.operation = Some(op.to_owned());
        rec.decision = AuditDecision::Allow;
    };
    let resp = match (req.method(), path) {
        (&Method::GET, "/.well-known/jwks.json") => {
            endpoint(&mut rec, "GetJwks");
            json_response(StatusCode::OK, gw.jwks_json.clone())
        }
        // The card keys, apart from the token keys (one key, one purpose).
        (&Method::GET, crate::cards::sign::CARD_JWKS_PATH) => {
            endpoint(&mut rec, "GetCardJwks");
            json_response(StatusCode::OK, gw.card_jwks_json.clone())
        }
        (&Method::GET, "/.well-known/oauth-authorization-server") => {
            endpoint(&mut rec, "GetServerMetadata");
            json_response(StatusCode::OK, gw.metadata_json.clone())
        }
        (_, crate::token::exchange::TOKEN_ENDPOINT_PATH) => {
            oauth::token(gw, conn, req, &mut rec).await
        }
        // RFC 9728 §3.1 location for the resource {public_url}/agents/NAME.
        (&Method::GET, _) if path.starts_with(PROTECTED_RESOURCE_PREFIX) => {
            match gw.registry.get(&path[PROTECTED_RESOURCE_PREFIX.len()..]) {
                Some(a) if gw.policy.may_reach(&conn.identity.spiffe_id, &a.name) => {
                    endpoint(&mut rec, "GetProtectedResourceMetadata");
                    oauth::protected_resource(gw, a)
                }
                _ => Refusal::MetadataUnreachable.book(&booking(gw, conn), &mut rec),
            }
        }
        // RFC 9728 §3.1 location for the resource {public_url}/mcp/NAME.
        (&Method::GET, _) if path.starts_with(mcp_call::METADATA_PREFIX) => {
            let name = &path[mcp_call::METADATA_PREFIX.len()..];
            match gw.registry.mcp_server(name) {
                Some(m) if gw.policy.may_reach_mcp(&conn.identity.spiffe_id, name) => {
                    endpoint(&mut rec, "GetProtectedResourceMetadata");
                    mcp_call::protected_resource(gw, m)
                }
                _ => Refusal::MetadataUnreachable.book(&booking(gw, conn), &mut rec),
            }
        }
        _ if path.starts_with(mcp_call::PREFIX) => {
            let at = mcp_call::At {
                gw,
                conn,
                meta,
                started,
            };
            mcp_call::mcp_call(at, req, &mut rec).await
        }
        (&Method::GET, "/agents" | "/agents/") => {
            endpoint(&mut rec, "ListAgents");
            agent_list(gw, conn)
        }
        _ if path.starts_with("/agents/") => {
            agent_call(gw, conn, req, &mut rec, meta, started).await
        }
        _ => {
            rec.decision = AuditDecision::Invalid;
            rec.reason = Some("no such endpoint".into());
            error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        }
    };
    let status = resp.status().as_u16();
    crate::telemetry::record_outcome(&rec, status);
    if rec.kind == RecordKind::TokenExchange && rec.decision == AuditDecision::Allow {
        // Durable first: an issued token is used at the agent with no
        // gateway in between, so it leaves only once its record is on disk.
        return match rec.submit_synced(status).await {
            Ok(()) => resp,
            Err(e) => oauth::not_recorded(&e),
        };
    }
    rec.submit(status).await;
    resp
}

/// Observe a request to an agent or MCP server, answered now with the
/// record's decision: in `target`'s histograms, or under the fixed
/// unknown label when the route found none (a caller-chosen name never
/// becomes a label).
fn observe_request(
    gw: &Snapshot,
    target: Option<&crate::metrics::TargetMetrics>,
    rec: &AuditRecord,
    started: std::time::Instant,
) {
    let target = target.unwrap_or(&gw.metrics.unknown_target);
    target.observe_request(rec.decision as usize, started.elapsed());
}

/// Booking for a refusal before any agent or subject is known.
fn booking<'a>(gw: &'a Snapshot, conn: &'a ConnContext) -> Booking<'a> {
    Booking {
        metrics: &gw.metrics,
        recent: &gw.recent,
        caller: &conn.identity,
        subject: None,
        agent: None,
        rule: None,
    }
}

const PROTECTED_RESOURCE_PREFIX: &str = "/.well-known/oauth-protected-resource/agents/";

/// `GET /agents`: the cards of the agents this caller may call, and only
/// those (the list reveals nothing about agents the caller cannot reach).
fn agent_list(gw: &Snapshot, conn: &ConnContext) -> Response<ResponseBody> {
    // Agents without a card in service are left out: there is nothing
    // verified to show, and calling them would get 503.
    let mut agents: Vec<_> = gw
        .registry
        .agents()
        .filter(|a| gw.policy.may_reach(&conn.identity.spiffe_id, &a.name))
        .filter_map(|a| a.card.live().map(|live| (a, live)))
        .collect();
    agents.sort_by(|(a, _), (b, _)| a.name.cmp(&b.name));
    let mut out = String::from("{\"agents\":[");
    for (i, (a, live)) in agents.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Names are validated at load (letters, digits, '.', '_', '-'), so
        // they need no JSON escaping; cards are serialised JSON already.
        out.push_str("{\"name\":\"");
        out.push_str(&a.name);
        out.push_str("\",\"card\":");
        out.push_str(&String::from_utf8_lossy(&live.served.json));
        out.push('}');
    }
    out.push_str("]}");
    json_response(StatusCode::OK, Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{self, HeaderValue};
    use http::HeaderMap;

    #[test]
    fn request_duration_labels_are_the_audit_decisions() {
        // Index by index: the histogram of a decision is labelled with its
        // audit name (a decision past the labels would go unobserved).
        for (i, label) in crate::metrics::REQUEST_DECISIONS.iter().enumerate() {
            let d: AuditDecision = serde_json::from_value(serde_json::json!(label)).unwrap();
            assert_eq!((d as usize, d.as_str()), (i, *label));
        }
    }

    #[test]
    fn identity_headers_are_removed_in_every_spelling() {
        let mut h = HeaderMap::new();
        h.append("Authorization", HeaderValue::from_static("Bearer x"));
        h.append(
            "X-Forwarded-Client-Cert",
            HeaderValue::from_static("URI=spiffe://evil/x"),
        );
        h.append(
            "x-forwarded-client-cert",
            HeaderValue::from_static("second"),
        );
        h.append(
            "X-Actgate-Caller",
            HeaderValue::from_static("spiffe://evil/x"),
        );
        h.append("l5d-client-id", HeaderValue::from_static("evil"));
        h.append(
            "Connection",
            HeaderValue::from_static("keep-alive, x-custom"),
        );
        h.append("x-custom", HeaderValue::from_static("1"));
        h.append("A2A-Version", HeaderValue::from_static("1.0"));
        h.append("A2A-Extensions", HeaderValue::from_static("urn:x"));
        h.append("Actgate-Approval", HeaderValue::from_static("ap-1"));
        sanitize_request_headers(&mut h, &[]);
        let mut names: Vec<_> = h.keys().map(|k| k.as_str().to_string()).collect();
        names.sort();
        assert_eq!(names, vec!["a2a-extensions", "a2a-version"]);
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), Ok(None));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_token(&h), Ok(Some("abc")));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer_token(&h).is_err());
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert!(bearer_token(&h).is_err());
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        h.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert!(bearer_token(&h).is_err());
    }
}
