//! One request from the local agent, forwarded to the remote gateway.
//!
//! Identity: the gateway learns who is calling from the mTLS handshake (the
//! workload certificate), and on whose behalf from the agent's own
//! `Authorization: Bearer` token, passed on unchanged as the subject token.
//! Every other header through which identity or origin could be claimed is
//! removed (the gateway's own hygiene, [`crate::proxy::sanitize_request_headers`]),
//! so the local agent cannot make the sidecar say anything it did not verify.
//!
//! Before any of that, the browser protections ([`crate::browser_guard`]):
//! the listener is plain HTTP on loopback, which every web page open in a
//! browser on this machine can also reach.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tracing::Instrument;

use super::metrics::{Outcome, Route};
use super::{card, mcp, EgressState, Via};
use crate::browser_guard::{self, Refusal};
use crate::proxy::{self, error, BoxError, ResponseBody};
use crate::registry::{parse_route, RouteError};
use crate::trace::{RequestMeta, REQUEST_ID};

/// Largest card the sidecar rewrites.
const MAX_CARD_BYTES: usize = 1024 * 1024;

/// Handle one request on the egress listener. Never fails: every refusal is
/// an HTTP answer (the gateway's error format).
pub async fn handle(
    state: Arc<EgressState>,
    req: Request<Incoming>,
    via: Via,
) -> Result<Response<ResponseBody>, Infallible> {
    let started = std::time::Instant::now();
    let meta = RequestMeta::from_headers(req.headers());
    let span = meta.span();
    let mut seen = Seen {
        route: Route::None,
        outcome: Outcome::Refused,
    };
    let mut resp = forward(&state, req, &meta, via, &mut seen)
        .instrument(span)
        .await;
    state
        .metrics
        .observe_request(seen.route, seen.outcome, started.elapsed());
    // The gateway's answer carries the gateway's id; our own refusals ours.
    if !resp.headers().contains_key(&REQUEST_ID) {
        resp.headers_mut()
            .insert(REQUEST_ID.clone(), meta.id.header_value());
    }
    Ok(resp)
}

/// The browser protections, before anything else: a request a web page
/// could have made never reaches the gateway (it would carry this
/// workload's identity). See [`crate::browser_guard`].
fn browser_check(state: &EgressState, req: &Request<Incoming>, via: Via) -> Result<(), Refusal> {
    if via == Via::Tcp {
        browser_guard::check_host(req.headers(), req.uri(), &state.host_rule)?;
    }
    browser_guard::check_same_origin(req.headers())
}

/// Methods whose body the upstream acts on: the body must be declared JSON
/// (JSON-RPC, and the A2A HTTP+JSON binding), which a cross-site page cannot
/// send without a preflight.
fn needs_json(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

fn refused(state: &EgressState, req: &Request<Incoming>, r: Refusal) -> Response<ResponseBody> {
    state.refusals.count(r);
    let h = req.headers();
    // Debug formatting escapes control characters in these input values.
    tracing::warn!(
        reason = r.label(),
        host = ?h.get(http::header::HOST),
        origin = ?h.get(http::header::ORIGIN),
        sec_fetch_site = ?h.get("sec-fetch-site"),
        content_type = ?h.get(http::header::CONTENT_TYPE),
        method = %req.method(),
        "egress request refused: it could come from a web page in a local browser"
    );
    error(r.status(), r.code(), &r.to_string())
}

/// A refusal is the whole answer, built once per request; its size in a
/// `Result` costs a copy, not an allocation.
type Refused = Response<ResponseBody>;

/// What a request's metrics are labelled with, learned on the way.
struct Seen {
    route: Route,
    outcome: Outcome,
}

async fn forward(
    state: &EgressState,
    req: Request<Incoming>,
    meta: &RequestMeta,
    via: Via,
    seen: &mut Seen,
) -> Response<ResponseBody> {
    match try_forward(state, req, meta, via, seen).await {
        Ok(resp) | Err(resp) => resp,
    }
}

/// The stages in order: browser checks, route, subject token, body, the
/// headers the gateway sees, send, stream (or rewrite the card) back.
#[allow(clippy::result_large_err)]
async fn try_forward(
    state: &EgressState,
    req: Request<Incoming>,
    meta: &RequestMeta,
    via: Via,
    seen: &mut Seen,
) -> Result<Response<ResponseBody>, Refused> {
    if let Err(r) = browser_check(state, &req, via) {
        return Err(refused(state, &req, r));
    }
    let target = route(req.uri().path())?;
    seen.route = match target {
        Target::AgentList | Target::Agent(..) => Route::Agents,
        Target::Mcp(_) | Target::McpMetadata(_) => Route::Mcp,
    };
    if needs_json(req.method()) {
        if let Err(r) = browser_guard::check_json(req.headers()) {
            return Err(refused(state, &req, r));
        }
    }
    // The agent's own bearer token is the subject token; anything else in
    // Authorization is refused here rather than silently dropped.
    let bearer = match proxy::bearer_token(req.headers()) {
        Ok(t) => t.map(str::to_string),
        Err(why) => return Err(error(StatusCode::UNAUTHORIZED, "invalid_request", why)),
    };
    let (parts, body) = req.into_parts();
    let body = proxy::read_body(body, &parts, state.settings.max_request_body).await?;
    let headers = outgoing_headers(state, parts.headers, bearer.as_deref(), meta)?;
    let uri = gateway_uri(state, &parts.uri)?;
    let card_request = match &target {
        Target::Agent(name, rest) if parts.method == Method::GET => {
            card::is_card_path(rest).map(|v03| (name.clone(), v03))
        }
        _ => None,
    };
    let mut up = Request::new(Full::new(body));
    *up.method_mut() = parts.method.clone();
    *up.uri_mut() = uri;
    *up.headers_mut() = headers;

    // The material current now; a rotation during the request does not
    // change it (the old client finishes what it started).
    let material = state.material.load_full();
    let sent = std::time::Instant::now();
    let resp = send(state, &material, up).await.inspect_err(|_| {
        seen.outcome = Outcome::GatewayError;
    })?;
    state.metrics.observe_gateway(seen.route, sent.elapsed());
    seen.outcome = Outcome::Gateway(resp.status());
    tracing::info!(
        workload = %material.spiffe_id,
        target = %target,
        method = %parts.method,
        status = resp.status().as_u16(),
        delegated = bearer.is_some(),
        "forwarded to the gateway"
    );
    let (mut rparts, rbody) = resp.into_parts();
    proxy::strip_hop_by_hop(&mut rparts.headers);
    if let Some((name, v03)) = card_request {
        if rparts.status == StatusCode::OK {
            return Ok(card_response(rparts, rbody, &name, v03, &state.local_url).await);
        }
    }
    if let Target::Mcp(_) | Target::McpMetadata(_) = &target {
        mcp::local_challenge(&mut rparts.headers, &state.local_url);
    }
    if let Target::McpMetadata(name) = &target {
        if rparts.status == StatusCode::OK {
            return Ok(mcp::metadata_response(rparts, rbody, name, &state.local_url).await);
        }
    }
    // Streamed frame by frame (SSE events as the agent writes them).
    Ok(Response::from_parts(
        rparts,
        rbody.map_err(|e| Box::new(e) as BoxError).boxed(),
    ))
}

/// What the local agent asked for: the sidecar forwards these and nothing
/// else.
#[derive(Debug)]
enum Target {
    /// `/agents`: the list of agents.
    AgentList,
    /// `/agents/NAME/REST`.
    Agent(String, String),
    /// `/mcp/NAME`: an MCP server's Streamable HTTP endpoint.
    Mcp(String),
    /// `/.well-known/oauth-protected-resource/mcp/NAME` (RFC 9728).
    McpMetadata(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::AgentList => f.write_str("agents"),
            Target::Agent(name, _) => write!(f, "agent {name}"),
            Target::Mcp(name) | Target::McpMetadata(name) => write!(f, "mcp server {name}"),
        }
    }
}

/// The [`Target`] of `path`; anything else is not forwarded.
#[allow(clippy::result_large_err)]
fn route(path: &str) -> Result<Target, Refused> {
    if path == "/agents" || path == "/agents/" {
        return Ok(Target::AgentList);
    }
    if let Some(name) = path.strip_prefix(mcp::METADATA_PREFIX) {
        return mcp::server_name(name)
            .map(|n| Target::McpMetadata(n.to_owned()))
            .ok_or_else(not_found);
    }
    if let Some(name) = path.strip_prefix("/mcp/") {
        return mcp::server_name(name)
            .map(|n| Target::Mcp(n.to_owned()))
            .ok_or_else(not_found);
    }
    if !path.starts_with("/agents/") {
        return Err(not_found());
    }
    match parse_route(path) {
        // Refused here as the gateway would (card paths excepted: the
        // gateway answers every spelling of those itself).
        Ok(r) => match crate::a2a::canonical_path(r.rest) {
            Err(e) if crate::a2a::card_path(r.rest).is_none() => Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &e.to_string(),
            )),
            _ => Ok(Target::Agent(r.agent.to_string(), r.rest.to_string())),
        },
        Err(RouteError::NotAgentRoute) => Err(not_found()),
    }
}

/// The headers the gateway sees: the local agent's, cleaned by the
/// gateway's own hygiene, plus the approval id, the subject token and the
/// trace context.
#[allow(clippy::result_large_err)]
fn outgoing_headers(
    state: &EgressState,
    mut headers: HeaderMap,
    bearer: Option<&str>,
    meta: &RequestMeta,
) -> Result<HeaderMap, Refused> {
    // The approval id is not identity: it names a decision the gateway
    // checks against this very request, so it passes (hygiene strips it).
    let approval = crate::proxy::headers::presented_approval(&headers);
    proxy::sanitize_request_headers(&mut headers, &state.settings.strip_headers);
    for (name, value) in &approval {
        headers.append(name.clone(), value.clone());
    }
    if let Some(tok) = bearer {
        match HeaderValue::from_str(&format!("Bearer {tok}")) {
            Ok(v) => {
                headers.insert(header::AUTHORIZATION, v);
            }
            Err(_) => {
                return Err(error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_request",
                    "bearer token is not a valid header value",
                ))
            }
        }
    }
    meta.apply(&mut headers);
    Ok(headers)
}

/// The same path and query on the gateway.
#[allow(clippy::result_large_err)]
fn gateway_uri(state: &EgressState, uri: &Uri) -> Result<Uri, Refused> {
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("{}{path_and_query}", state.settings.gateway_base)
        .parse()
        .map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "request path cannot be forwarded",
            )
        })
}

/// Send to the gateway with `material`'s client, within the response timeout.
#[allow(clippy::result_large_err)]
async fn send(
    state: &EgressState,
    material: &super::Material,
    up: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, Refused> {
    let sent =
        tokio::time::timeout(state.settings.response_timeout, material.client.send(up)).await;
    match sent {
        Err(_) => {
            tracing::warn!("gateway timed out");
            Err(error(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "the gateway did not answer in time",
            ))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, error_source = ?std::error::Error::source(&e), "gateway unreachable");
            Err(error(
                StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                "the gateway could not be reached (or did not present the expected SPIFFE ID)",
            ))
        }
        Ok(Ok(r)) => Ok(r),
    }
}

/// The gateway's card, rewritten for the local agent.
async fn card_response(
    mut parts: http::response::Parts,
    body: Incoming,
    agent: &str,
    v03: bool,
    local_url: &str,
) -> Response<ResponseBody> {
    let bytes = match http_body_util::Limited::new(body, MAX_CARD_BYTES)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "the gateway's agent card could not be read",
            )
        }
    };
    let Ok(mut card) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return error(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the gateway's agent card is not JSON",
        );
    };
    card::for_local(&mut card, agent, local_url, v03);
    let body = Bytes::from(card.to_string());
    // Validators of the gateway's bytes no longer describe these.
    parts.headers.remove(header::ETAG);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Response::from_parts(
        parts,
        Full::new(body).map_err(|never| match never {}).boxed(),
    )
}

fn not_found() -> Response<ResponseBody> {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "the egress listener forwards /agents, /agents/NAME/... and /mcp/NAME only",
    )
}
