//! The request pipeline: route → authenticate subject → decide → classify →
//! mint → forward → stream back. The only place that knows the order; each
//! stage decides in its own module.
//!
//! Header rule (after linkerd2-proxy's identity header): whatever identity the
//! upstream sees is set here from verified material, and every inbound header
//! that could carry identity is removed first. A caller can never choose it.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;

use crate::a2a;
use crate::approval_gate::{self, GateOutcome};
use crate::audit::{AuditRecord, Decision as AuditDecision, RecordGuard, RecordKind};
use crate::gateway::Gateway;
use crate::identity::CallerIdentity;
use crate::metrics::Metrics;
use crate::policy::scopes::{token_scopes, TokenScopes};
use crate::policy::{Approval, Decision, DecisionKind, Subject};
use crate::registry::{parse_route, RouteError};
use crate::token::{ClaimsError, MintError, MintRequest, SubjectToken};
use crate::trace::RequestMeta;
use tracing::Instrument;

mod headers;
mod respond;
mod upstream;

pub(crate) use headers::{bearer_token, read_body, strip_hop_by_hop};
pub use headers::{
    is_identity_header, parse_header_names, sanitize_request_headers, BadHeaderName,
};
use respond::{
    card_response, forbidden, insufficient_scope, jsonrpc_error, method_not_allowed, unauthorized,
    unavailable,
};
pub use respond::{error, json_response};
use upstream::upstream_uri;
pub use upstream::UpstreamClient;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Response body: either a small gateway-made body or the upstream's stream.
pub type ResponseBody = BoxBody<Bytes, BoxError>;

/// Per-connection context, computed once after the handshake.
#[derive(Debug)]
pub struct ConnContext {
    pub identity: CallerIdentity,
    pub remote: std::net::SocketAddr,
    /// The listener's drain signal: a request dropped while it is on was
    /// (most likely) cut at the drain deadline, and its record says so.
    pub draining: Option<tokio::sync::watch::Receiver<bool>>,
}

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
    gw: Arc<Gateway>,
    conn: Arc<ConnContext>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let meta = RequestMeta::from_headers(req.headers());
    let span = meta.span();
    let mut resp = route(&gw, &conn, req, &meta).instrument(span).await;
    resp.headers_mut()
        .insert(crate::trace::REQUEST_ID.clone(), meta.id.header_value());
    Ok(resp)
}

async fn route(
    gw: &Gateway,
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
            crate::token_endpoint::token(gw, conn, req, &mut rec).await
        }
        // RFC 9728 §3.1 location for the resource {public_url}/agents/NAME.
        (&Method::GET, _) if path.starts_with(PROTECTED_RESOURCE_PREFIX) => {
            match gw.registry.get(&path[PROTECTED_RESOURCE_PREFIX.len()..]) {
                Some(a) if gw.policy.may_reach(&conn.identity.spiffe_id, &a.name) => {
                    endpoint(&mut rec, "GetProtectedResourceMetadata");
                    crate::token_endpoint::protected_resource(gw, a)
                }
                _ => {
                    rec.refuse(
                        AuditDecision::Deny,
                        "no rule lets this caller reach the agent",
                    );
                    forbidden(gw)
                }
            }
        }
        (&Method::GET, "/agents" | "/agents/") => {
            endpoint(&mut rec, "ListAgents");
            agent_list(gw, conn)
        }
        _ if path.starts_with("/agents/") => agent_call(gw, conn, req, &mut rec, meta).await,
        _ => {
            rec.decision = AuditDecision::Invalid;
            rec.reason = Some("no such endpoint".into());
            error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        }
    };
    let status = resp.status().as_u16();
    if rec.kind == RecordKind::TokenExchange && rec.decision == AuditDecision::Allow {
        // Durable first: an issued token is used at the agent with no
        // gateway in between, so it leaves only once its record is on disk.
        return match rec.submit_synced(status).await {
            Ok(()) => resp,
            Err(e) => crate::token_endpoint::not_recorded(&e),
        };
    }
    rec.submit(status).await;
    resp
}

/// The audit record of one request on the mTLS listener, with what is known
/// before anything is decided: one id for the log line, the upstream's
/// X-Request-Id and the record; the caller; the method and the path only
/// (a query string may carry secrets).
pub(crate) fn request_record(
    conn: &ConnContext,
    req: &Request<Incoming>,
    meta: &RequestMeta,
) -> AuditRecord {
    let mut rec = AuditRecord::new(RecordKind::Proxy);
    rec.request_id = meta.id.as_str().to_owned();
    rec.caller = Some(conn.identity.spiffe_id.as_str().to_owned());
    rec.thumbprint = Some(conn.identity.thumbprint.clone());
    rec.method = Some(req.method().as_str().to_owned());
    rec.path = Some(req.uri().path().to_owned());
    rec
}

const PROTECTED_RESOURCE_PREFIX: &str = "/.well-known/oauth-protected-resource/agents/";

/// `GET /agents`: the cards of the agents this caller may call, and only
/// those (the list reveals nothing about agents the caller cannot reach).
fn agent_list(gw: &Gateway, conn: &ConnContext) -> Response<ResponseBody> {
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

async fn agent_call(
    gw: &Gateway,
    conn: &ConnContext,
    req: Request<Incoming>,
    rec: &mut AuditRecord,
    meta: &RequestMeta,
) -> Response<ResponseBody> {
    let caller = &conn.identity;
    let route = match parse_route(req.uri().path()) {
        Ok(r) => r,
        Err(RouteError::NotAgentRoute) => {
            rec.refuse(AuditDecision::Deny, "not an agent route");
            return forbidden(gw);
        }
    };
    // The name as asked for (an unknown agent is evidence too).
    rec.agent = Some(route.agent.to_owned());
    // Unknown agents and denied agents get the same answer, so the gateway
    // never reveals which agents exist.
    let Some(agent) = gw.registry.get(route.agent).cloned() else {
        tracing::info!(caller = %caller.spiffe_id, agent = route.agent, "denied: unknown agent");
        rec.refuse(AuditDecision::Deny, "unknown agent");
        return forbidden(gw);
    };
    // A caller no rule lets reach the agent gets the unknown agent's answer
    // before anything else is looked at: a 401 for its token or a 413 for
    // its body would tell it that the agent exists (and the 401 would make
    // the gateway a token-validity oracle for callers without rights).
    if !gw.policy.may_reach(&caller.spiffe_id, &agent.name) {
        agent.decisions.count(DecisionKind::Deny);
        // The record names the deny rule that shut the caller out, if any.
        let why = gw
            .policy
            .decide_every_operation(&caller.spiffe_id, &agent.name, None);
        rec.rule = why.rule().map(|i| format!("rule[{i}]"));
        tracing::info!(caller = %caller.spiffe_id, agent = %agent.name, "denied: no rule lets this caller reach the agent");
        rec.refuse(
            AuditDecision::Deny,
            "no rule allows this caller to reach this agent",
        );
        return forbidden(gw);
    }
    // Every spelling of the card paths, whatever the method, is answered
    // here: the upstream's own card never reaches a caller.
    if let Some(which) = a2a::card_path(route.rest) {
        return agent_card(gw, caller, &agent, &req, which, rec);
    }
    if req.method() == Method::GET && route.rest == "/.well-known/oauth-protected-resource" {
        rec.operation = Some("GetProtectedResourceMetadata".into());
        if !gw.policy.may_reach(&caller.spiffe_id, &agent.name) {
            rec.refuse(
                AuditDecision::Deny,
                "no rule allows this caller to reach this agent",
            );
            return forbidden(gw);
        }
        rec.decision = AuditDecision::Allow;
        return crate::token_endpoint::protected_resource(gw, &agent);
    }
    // Decoded and normalised once: this form is classified, shown to an
    // approver and forwarded; any other spelling is refused.
    let rest = match a2a::canonical_path(route.rest) {
        Ok(p) => p.into_owned(),
        Err(e) => return classification_refused(gw, caller, &agent, &e.into(), rec),
    };

    // Subject token: a present but invalid one is an error, never ignored.
    let subject = match bearer_token(req.headers()) {
        Ok(None) => None,
        Ok(Some(tok)) => {
            let presenter = gw
                .registry
                .by_identity(&caller.spiffe_id)
                .map(|a| a.resource.as_str());
            // RFC 8705 §3: a certificate-bound token (from the token
            // endpoint, or an IdP's) is usable only over a connection
            // authenticated with that certificate; checked after the
            // signature verified. This also refuses a bound gateway token
            // presented by its audience: the token minted here for the
            // upstream is unbound, so accepting it would silently drop the
            // binding (the token endpoint re-binds instead).
            match gw
                .subject_tokens
                .verify(tok, presenter, crate::unix_now())
                .and_then(|s| s.check_binding(&caller.thumbprint).map(|()| s))
            {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::info!(caller = %caller.spiffe_id, agent = %agent.name, reason = %e, "subject token rejected");
                    rec.refuse(
                        AuditDecision::Unauthenticated,
                        format!("subject token: {e}"),
                    );
                    return unauthorized(gw, &e.to_string());
                }
            }
        }
        Err(msg) => {
            rec.refuse(AuditDecision::Unauthenticated, msg);
            return unauthorized(gw, msg);
        }
    };
    if let Some(s) = &subject {
        rec.set_delegation(caller.spiffe_id.as_str(), s);
    }

    // The body is read (up to the limit) and classified before the decision:
    // rules may allow some operations and not others, and nothing may reach
    // the upstream before the decision.
    let (parts, body) = req.into_parts();
    let body = match read_body(body, &parts, gw.limits.max_request_body).await {
        Ok(b) => b,
        Err(resp) => {
            rec.refuse(AuditDecision::Invalid, "request body refused");
            return resp;
        }
    };
    // Only a verified card may decide how the agent is called (and where
    // its interfaces are): without one the agent is unavailable, never
    // called on an unchecked contract.
    let Some(live) = agent.card.live() else {
        if !gw.policy.may_reach(&caller.spiffe_id, &agent.name) {
            rec.refuse(
                AuditDecision::Deny,
                "no rule lets this caller reach the agent",
            );
            return forbidden(gw);
        }
        rec.refuse(AuditDecision::Error, "no card in service");
        return unavailable(&agent.name);
    };
    let content_type = single_header(&parts.headers, &header::CONTENT_TYPE);
    let op = match a2a::classify(&parts.method, &rest, content_type, &body, &live.endpoints) {
        Ok(op) => op,
        Err(e) => return classification_refused(gw, caller, &agent, &e, rec),
    };
    rec.operation = Some(op.name.to_string());

    let decision = gw.policy.decide(
        &caller.spiffe_id,
        &agent.name,
        &op.name,
        subject.as_ref().map(Subject::from),
    );
    let (rule, scopes, skills, max_ttl, approval, allow_reentry) = match decision {
        Decision::Allow {
            rule,
            scopes,
            skills,
            max_token_lifetime_secs,
            approval,
            allow_reentry,
        } => {
            rec.rule = Some(format!("rule[{rule}]"));
            (
                rule,
                scopes,
                skills,
                max_token_lifetime_secs,
                approval,
                allow_reentry,
            )
        }
        Decision::Deny(reason) => {
            agent.decisions.count(DecisionKind::Deny);
            tracing::info!(caller = %caller.spiffe_id, agent = %agent.name, operation = %op.name, reason = reason.label(), rule = ?reason.rule(), "denied");
            rec.rule = reason.rule().map(|i| format!("rule[{i}]"));
            rec.refuse(AuditDecision::Deny, reason.as_str());
            gw.recent.record(
                caller,
                subject.as_ref(),
                &agent.name,
                &op.name,
                "deny",
                reason.rule(),
                None,
                None,
            );
            return forbidden(gw);
        }
    };
    // Fail closed: while the audit log cannot be written, nothing is
    // forwarded (an action nobody could trace must not happen).
    if !gw.audit.is_healthy() {
        rec.refuse(AuditDecision::Error, "audit log unavailable");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "the gateway cannot record this call right now",
        );
    }

    let card = &live.served;

    // The card's requirements (and those of the skills the rule allows)
    // decide which scopes the token carries, within what policy grants and,
    // on a delegated call, what the subject token carries.
    let token_scopes = token_scopes(card, &scopes, &skills, subject.as_ref());
    let granted: &[String] = match &token_scopes {
        TokenScopes::Borrowed(s) => s,
        TokenScopes::Owned(s) => s,
        TokenScopes::StepUp(needed) => {
            agent.decisions.count(DecisionKind::StepUp);
            tracing::info!(caller = %caller.spiffe_id, agent = %agent.name, operation = %op.name, rule, needed = %needed.join(" "), "insufficient scope");
            rec.refuse(
                AuditDecision::StepUp,
                format!("needs scopes: {}", needed.join(" ")),
            );
            return insufficient_scope(gw, needed);
        }
        TokenScopes::Refused(why) => {
            agent.decisions.count(DecisionKind::Deny);
            tracing::warn!(caller = %caller.spiffe_id, agent = %agent.name, rule, reason = why, "denied");
            rec.refuse(AuditDecision::Deny, *why);
            return forbidden(gw);
        }
    };

    tracing::debug!(caller = %caller.spiffe_id, agent = %agent.name, operation = %op.name, rule, "allowed");

    let minted = match gw.minter.token_for(
        &MintRequest {
            caller,
            subject: subject.as_ref(),
            audience: &agent.resource,
            granted_scopes: granted,
            ttl_secs: max_ttl.map_or(gw.limits.token_ttl_secs, |cap| {
                cap.min(gw.limits.token_ttl_secs)
            }),
            max_chain_depth: gw.limits.max_chain_depth,
            allow_reentry,
        },
        crate::unix_now(),
    ) {
        Ok(m) => m,
        Err(e) => {
            // Allowed by policy, refused by the token rules (chain depth,
            // may_act, an expired subject): counted as a deny.
            agent.decisions.count(DecisionKind::Deny);
            return mint_refusal(gw, caller, &agent.name, subject.as_ref(), e, rec);
        }
    };
    rec.set_minted(&minted);
    // From here on the call is allowed; a failure below is an `error`.
    rec.decision = AuditDecision::Allow;

    let Some(client) = gw.upstreams.get(&agent.name) else {
        rec.refuse(AuditDecision::Error, "no upstream client for this agent");
        return error(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "no upstream client for this agent",
        );
    };
    let uri = match upstream_uri(&agent.upstream, &rest, parts.uri.query()) {
        Ok(u) => u,
        Err(_) => {
            rec.refuse(AuditDecision::Invalid, "request path cannot be forwarded");
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "request path cannot be forwarded",
            );
        }
    };
    let mut headers = parts.headers;
    // The gate reads the caller's Actgate-Approval header; the upstream never
    // sees it (sanitising removes it).
    let headers_for_gate = approval_gate::presented(&headers);
    sanitize_request_headers(&mut headers, &gw.limits.strip_headers);
    if gw.limits.forward_client_address {
        if let Ok(v) = HeaderValue::from_str(&conn.remote.ip().to_string()) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v);
        }
    }
    headers.insert(header::AUTHORIZATION, minted.authorization);
    meta.apply(&mut headers);
    // Upstream credentials from the config replace anything the caller sent
    // under the same name.
    for (name, _) in &live.credentials {
        headers.remove(name);
    }
    for (name, value) in &live.credentials {
        headers.append(name.clone(), value.clone());
    }

    // The human gate comes last, after every other refusal: an approval is
    // created only for a request that would otherwise be forwarded, and
    // consumed only when the forward is about to happen.
    let mut approval_id: Option<String> = None;
    if approval == Approval::Human {
        let bound = approval_gate::approval_request(
            caller,
            subject.as_ref(),
            &agent.name,
            &op,
            &parts.method,
            &rest,
            parts.uri.query(),
            &headers,
            &body,
            rule,
        );
        match approval_gate::check(gw, &headers_for_gate, bound, &op, &body).await {
            GateOutcome::Pass(id) => {
                rec.approval_id = Some(id.clone());
                approval_id = Some(id);
            }
            GateOutcome::Refuse {
                response,
                decision,
                approval_id,
            } => {
                // Waiting for a person is its own kind; a refused, expired
                // or mismatched approval (or an unusable store) is a deny.
                agent.decisions.count(if decision == "approval_required" {
                    DecisionKind::ApprovalRequired
                } else {
                    DecisionKind::Deny
                });
                // Held (pending) is `approval_required`; a refused approval
                // (denied, expired, used, mismatched) is a deny, with its code.
                rec.approval_id = approval_id.clone();
                if decision == "approval_required" {
                    rec.refuse(
                        AuditDecision::ApprovalRequired,
                        "waiting for a human approval",
                    );
                } else {
                    rec.refuse(AuditDecision::Deny, decision);
                }
                gw.recent.record(
                    caller,
                    subject.as_ref(),
                    &agent.name,
                    &op.name,
                    decision,
                    Some(rule),
                    approval_id,
                    None,
                );
                return response;
            }
        }
    }
    agent.decisions.count(DecisionKind::Allow);
    let extended_card =
        (op.name == "GetExtendedAgentCard").then(|| crate::extended_card::wants_v03(&rest, &body));
    let mut up = Request::new(Full::new(body));
    *up.method_mut() = parts.method;
    *up.uri_mut() = uri;
    *up.headers_mut() = headers;

    let result = tokio::time::timeout(gw.limits.upstream_timeout, client.send(up)).await;
    let resp = match result {
        Err(_) => {
            Metrics::inc(&gw.metrics.upstream_errors);
            tracing::warn!(agent = %agent.name, "upstream timed out");
            rec.refuse(AuditDecision::Error, "upstream timed out");
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "the agent did not answer in time",
            );
        }
        Ok(Err(e)) => {
            Metrics::inc(&gw.metrics.upstream_errors);
            tracing::warn!(agent = %agent.name, error = %e, "upstream unreachable");
            rec.refuse(AuditDecision::Error, "upstream unreachable");
            return error(
                StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                "the agent could not be reached",
            );
        }
        Ok(Ok(r)) => r,
    };
    Metrics::inc(&gw.metrics.requests_forwarded);
    gw.recent.record(
        caller,
        subject.as_ref(),
        &agent.name,
        &op.name,
        "allow",
        Some(rule),
        approval_id.clone(),
        Some(resp.status().as_u16()),
    );
    rec.upstream_status = Some(resp.status().as_u16());
    tracing::info!(
        caller = %caller.spiffe_id,
        subject = subject.as_ref().map(|s| s.sub.as_str()).unwrap_or("-"),
        agent = %agent.name,
        operation = %op.name,
        status = resp.status().as_u16(),
        token_cached = minted.cache_hit,
        approval = approval_id.as_deref().unwrap_or("-"),
        "forwarded"
    );
    if let Some(v03) = extended_card {
        return crate::extended_card::rewrite(resp, agent.card.context(), op.binding, v03).await;
    }
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    // The upstream body is passed through frame by frame: SSE events reach
    // the caller as the agent writes them.
    Response::from_parts(parts, body.map_err(|e| Box::new(e) as BoxError).boxed())
}

/// The value of `name` when it is sent exactly once.
fn single_header<'a>(headers: &'a http::HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut all = headers.get_all(name).iter();
    match (all.next(), all.next()) {
        (Some(v), None) => Some(v),
        _ => None,
    }
}

/// Any method on any spelling of the card paths: GET and HEAD get the
/// gateway's card, every other method 405 from the gateway.
fn agent_card(
    gw: &Gateway,
    caller: &CallerIdentity,
    agent: &crate::registry::Agent,
    req: &Request<Incoming>,
    which: a2a::CardPath,
    rec: &mut AuditRecord,
) -> Response<ResponseBody> {
    rec.operation = Some("GetAgentCard".into());
    if !gw.policy.may_reach(&caller.spiffe_id, &agent.name) {
        rec.refuse(
            AuditDecision::Deny,
            "no rule allows this caller to reach this agent",
        );
        return forbidden(gw);
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        rec.refuse(
            AuditDecision::Invalid,
            "method not allowed on the agent card",
        );
        return method_not_allowed("GET, HEAD", "the agent card is read with GET or HEAD");
    }
    let Some(live) = agent.card.live() else {
        rec.refuse(AuditDecision::Error, "no card in service");
        return unavailable(&agent.name);
    };
    rec.decision = AuditDecision::Allow;
    let mut resp = card_response(&live.served, which == a2a::CardPath::Legacy, req.headers());
    // HEAD gets the GET's headers and no body. HTTP/1.1 (hyper) drops the
    // body itself and keeps the length; on HTTP/2 that length would be
    // contradicted by the empty stream, which h2 refuses, so the body goes
    // here and with it the length.
    if req.method() == Method::HEAD && req.version() == http::Version::HTTP_2 {
        *resp.body_mut() = http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed();
        resp.headers_mut().remove(header::CONTENT_LENGTH);
    }
    resp
}

/// A request the gateway could not name as one A2A operation: refused with
/// a specific error, audited as `invalid` with what could be read.
fn classification_refused(
    gw: &Gateway,
    caller: &CallerIdentity,
    agent: &crate::registry::Agent,
    e: &a2a::Refused,
    rec: &mut AuditRecord,
) -> Response<ResponseBody> {
    // A caller that may not reach the agent learns no more than it would
    // about an agent that does not exist.
    if !gw.policy.may_reach(&caller.spiffe_id, &agent.name) {
        rec.refuse(
            AuditDecision::Deny,
            "no rule lets this caller reach the agent",
        );
        return forbidden(gw);
    }
    tracing::info!(caller = %caller.spiffe_id, agent = %agent.name, reason = %e, "refused: request not classified");
    rec.operation = e.operation().map(str::to_owned);
    rec.refuse(AuditDecision::Invalid, e.to_string());
    match e {
        a2a::Refused::JsonRpc {
            code, reason, id, ..
        } => jsonrpc_error(e.status(), *code, reason, id),
        a2a::Refused::NoRoute => error(e.status(), "not_found", &e.to_string()),
        a2a::Refused::NotPost => method_not_allowed("POST", &e.to_string()),
        _ => error(e.status(), "invalid_request", &e.to_string()),
    }
}

fn mint_refusal(
    gw: &Gateway,
    caller: &CallerIdentity,
    agent: &str,
    subject: Option<&SubjectToken>,
    e: MintError,
    rec: &mut AuditRecord,
) -> Response<ResponseBody> {
    tracing::info!(caller = %caller.spiffe_id, agent, subject = subject.map(|s| s.sub.as_str()).unwrap_or("-"), reason = %e, "token not minted");
    let decision = match &e {
        MintError::Claims(
            ClaimsError::SubjectExpired { .. }
            | ClaimsError::CallerCertificateExpired { .. }
            | ClaimsError::MayActMismatch { .. }
            | ClaimsError::MayActMalformed,
        ) => AuditDecision::Unauthenticated,
        MintError::Claims(_) => AuditDecision::Deny,
        _ => AuditDecision::Error,
    };
    rec.refuse(decision, format!("token not minted: {e}"));
    match e {
        // The subject token is unusable for this caller: a credential
        // problem (401), not a policy one.
        MintError::Claims(
            ClaimsError::SubjectExpired { .. }
            | ClaimsError::CallerCertificateExpired { .. }
            | ClaimsError::MayActMismatch { .. }
            | ClaimsError::MayActMalformed,
        ) => unauthorized(gw, &e.to_string()),
        MintError::Claims(_) => {
            Metrics::inc(&gw.metrics.requests_denied);
            error(StatusCode::FORBIDDEN, "forbidden", &e.to_string())
        }
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "token could not be minted",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, Uri};

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
