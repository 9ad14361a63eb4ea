//! The request pipeline: route → authenticate subject → decide → classify →
//! mint → forward → stream back. The only place that knows the order; each
//! stage decides in its own module.
//!
//! Header rule (after linkerd2-proxy's identity header): whatever identity the
//! upstream sees is set here from verified material, and every inbound header
//! that could carry identity is removed first. A caller can never choose it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::a2a;
use crate::approval_gate::{self, GateOutcome};
use crate::audit::{AuditRecord, Decision as AuditDecision, RecordKind};
use crate::cards::serve::ServedCard;
use crate::gateway::Gateway;
use crate::identity::CallerIdentity;
use crate::metrics::Metrics;
use crate::policy::scopes::{token_scopes, TokenScopes};
use crate::policy::{Approval, Decision, DecisionKind, Subject};
use crate::registry::{parse_route, RouteError};
use crate::token::{ClaimsError, MintError, MintRequest, SubjectToken};
use crate::trace::RequestMeta;
use tracing::Instrument;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Response body: either a small gateway-made body or the upstream's stream.
pub type ResponseBody = BoxBody<Bytes, BoxError>;

/// Per-connection context, computed once after the handshake.
#[derive(Debug)]
pub struct ConnContext {
    pub identity: CallerIdentity,
    pub remote: std::net::SocketAddr,
}

/// A pooled HTTP client for one upstream (or all plain-HTTP upstreams).
#[derive(Clone)]
pub enum UpstreamClient {
    Plain(Client<HttpConnector, Full<Bytes>>),
    Tls(Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>),
}

impl UpstreamClient {
    pub fn plain(connect_timeout: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        UpstreamClient::Plain(Client::builder(TokioExecutor::new()).build(http))
    }

    pub fn tls(cfg: rustls::ClientConfig, connect_timeout: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(cfg)
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        UpstreamClient::Tls(Client::builder(TokioExecutor::new()).build(https))
    }

    pub(crate) async fn send(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        match self {
            UpstreamClient::Plain(c) => c.request(req).await,
            UpstreamClient::Tls(c) => c.request(req).await,
        }
    }
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
    let mut rec = AuditRecord::new(RecordKind::Proxy);
    // One id for the log line, the upstream's X-Request-Id and the record.
    rec.request_id = meta.id.as_str().to_owned();
    rec.caller = Some(conn.identity.spiffe_id.as_str().to_owned());
    rec.thumbprint = Some(conn.identity.thumbprint.clone());
    rec.method = Some(req.method().as_str().to_owned());
    // The path only: a query string may carry secrets.
    rec.path = Some(req.uri().path().to_owned());
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
    rec.status = Some(resp.status().as_u16());
    rec.finish(started);
    gw.audit.submit(rec).await;
    resp
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
        Err(e @ RouteError::UnsafePath) => {
            rec.refuse(AuditDecision::Invalid, e.to_string());
            return error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string());
        }
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
    let rest = route.rest.to_string();

    if req.method() == Method::GET
        && (rest == "/.well-known/agent-card.json" || rest == "/.well-known/agent.json")
    {
        rec.operation = Some("GetAgentCard".into());
        if !gw.policy.may_reach(&caller.spiffe_id, &agent.name) {
            rec.refuse(
                AuditDecision::Deny,
                "no rule allows this caller to reach this agent",
            );
            return forbidden(gw);
        }
        let Some(live) = agent.card.live() else {
            return unavailable(&agent.name);
        };
        rec.decision = AuditDecision::Allow;
        return card_response(
            &live.served,
            rest == "/.well-known/agent.json",
            req.headers(),
        );
    }
    if req.method() == Method::GET && rest == "/.well-known/oauth-protected-resource" {
        if !gw.policy.may_reach(&caller.spiffe_id, &agent.name) {
            return forbidden(gw);
        }
        return crate::token_endpoint::protected_resource(gw, &agent);
    }

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
    let body = match read_body(body, &parts.headers, gw.limits.max_request_body).await {
        Ok(b) => b,
        Err(resp) => {
            rec.refuse(AuditDecision::Invalid, "request body refused");
            return resp;
        }
    };
    let op = a2a::classify(&parts.method, &rest, &body);
    rec.operation = Some(op.name.to_string());

    let decision = gw.policy.decide(
        &caller.spiffe_id,
        &agent.name,
        &op.name,
        subject.as_ref().map(Subject::from),
    );
    let (rule, scopes, skills, max_ttl, approval) = match decision {
        Decision::Allow {
            rule,
            scopes,
            skills,
            max_token_lifetime_secs,
            approval,
        } => {
            rec.rule = Some(format!("rule[{rule}]"));
            (rule, scopes, skills, max_token_lifetime_secs, approval)
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

    // Only a verified card may decide how the agent is called: without one
    // the agent is unavailable, never called on an unchecked contract.
    let Some(live) = agent.card.live() else {
        return unavailable(&agent.name);
    };
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
    sanitize_request_headers(&mut headers);
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

/// The single `Authorization: Bearer` value, if any. Several Authorization
/// headers, or another scheme, are refused rather than guessed at.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let s = v
        .to_str()
        .map_err(|_| "Authorization header is not ASCII")?;
    let (scheme, token) = s
        .split_once(' ')
        .ok_or("Authorization header is not 'Bearer TOKEN'")?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err("only Bearer subject tokens are accepted");
    }
    let token = token.trim();
    if token.is_empty() {
        return Err("empty bearer token");
    }
    Ok(Some(token))
}

pub(crate) async fn read_body(
    body: Incoming,
    headers: &HeaderMap,
    limit: u64,
) -> Result<Bytes, Response<ResponseBody>> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("request body exceeds {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
    }
    // The body is read whole (up to the limit) before anything is forwarded:
    // the operation, and so the decision, depends on the JSON-RPC method, and
    // nothing may reach the upstream before the decision.
    match Limited::new(body, limit as usize).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "request body could not be read",
        )),
    }
}

fn upstream_uri(base: &Uri, rest: &str, query: Option<&str>) -> Result<Uri, http::Error> {
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

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
/// Parsed `HeaderName`s, so removing them neither parses nor lower-cases a
/// name per request.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Headers through which a caller could claim an identity or an origin.
static IDENTITY_HEADERS: [HeaderName; 12] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-forwarded-client-cert"),
    HeaderName::from_static("client-cert"),
    HeaderName::from_static("client-cert-chain"),
    HeaderName::from_static("l5d-client-id"),
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-real-ip"),
    header::FORWARDED,
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-client-cert"),
    HeaderName::from_static("x-ssl-client-cert"),
];

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in &HOP_BY_HOP {
        headers.remove(h);
    }
}

/// Remove hop-by-hop and every identity-bearing header (all copies, any case:
/// `HeaderMap` names are case-insensitive) and the `Host` (the client sets the
/// upstream's). `A2A-Version`, `A2A-Extensions` and the rest pass through.
pub fn sanitize_request_headers(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
    for h in &IDENTITY_HEADERS {
        headers.remove(h);
    }
    let actgate: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-actgate-"))
        .cloned()
        .collect();
    for k in actgate {
        headers.remove(k);
    }
    headers.remove(header::HOST);
    headers.remove(&crate::approval_gate::APPROVAL_HEADER);
}

fn full(b: impl Into<Bytes>) -> ResponseBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub fn json_response(status: StatusCode, body: Bytes) -> Response<ResponseBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub fn error(status: StatusCode, code: &str, message: &str) -> Response<ResponseBody> {
    let body = serde_json::json!({"error": code, "error_description": message}).to_string();
    json_response(status, Bytes::from(body))
}

fn forbidden(gw: &Gateway) -> Response<ResponseBody> {
    Metrics::inc(&gw.metrics.requests_denied);
    error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "the caller may not call this agent, or it does not exist",
    )
}

/// 403 with the RFC 6750 step-up challenge: the scopes that would let the
/// call through, so the caller can return with a user token carrying them.
fn insufficient_scope(gw: &Gateway, needed: &[String]) -> Response<ResponseBody> {
    Metrics::inc(&gw.metrics.requests_denied);
    let scope = needed.join(" ");
    let mut r = error(
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        &format!("this call needs the scopes: {scope}"),
    );
    let scope: String = scope
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
    )) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// 503 for an agent with no card in service (its card failed to load,
/// fetch or verify, and no good one came before). Logged where it failed.
fn unavailable(agent: &str) -> Response<ResponseBody> {
    tracing::debug!(agent, "agent unavailable: no card in service");
    let mut resp = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "agent_unavailable",
        "the agent's card could not be loaded or verified; try again later",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    resp
}

/// A served card, with `ETag`/`Cache-Control` and `If-None-Match` support.
fn card_response(card: &ServedCard, v03: bool, headers: &HeaderMap) -> Response<ResponseBody> {
    let etag = if v03 {
        format!("W/{}", card.etag)
    } else {
        card.etag.clone()
    };
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if not_modified {
        let mut r = Response::new(full(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        json_response(
            StatusCode::OK,
            if v03 {
                card.json_v03.clone()
            } else {
                card.json.clone()
            },
        )
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    // Only callers allowed to reach the agent see its card: no shared caches.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    r
}

fn unauthorized(gw: &Gateway, why: &str) -> Response<ResponseBody> {
    Metrics::inc(&gw.metrics.requests_unauthenticated);
    let mut r = error(StatusCode::UNAUTHORIZED, "invalid_token", why);
    let desc: String = why
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "Bearer error=\"invalid_token\", error_description=\"{desc}\""
    )) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

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
        sanitize_request_headers(&mut h);
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
