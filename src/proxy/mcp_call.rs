//! `/mcp/NAME`: the MCP front door (issue 16), the same stages as the A2A
//! route, one line each, in an order that is itself a security property:
//!
//! ```text
//! route ─▶ reach ─▶ method ─▶ subject ─▶ body ─▶ classify (crate::mcp) ─▶ session
//!   ─▶ authorize (crate::authorize, McpWhat + the tool's scopes) ─▶ mint
//!   ─▶ headers ─▶ approval gate ─▶ forward ─▶ bind session ─▶ list filter (super::mcp_list) ─▶ stream back
//! ```
//!
//! The upstream receives only a gateway-minted token (`aud` = the server's
//! `resource`, `scope` = exactly the tool's scopes), never the caller's;
//! identity headers are set or removed as for agents. Every refusal is
//! answered as an MCP client reads it ([`super::refusal::mcp_answer`]).

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::approval::{self, Call};
use super::body::body_within;
use super::context::ConnContext;
use super::forward::{self, Forwarded};
use super::headers::{presented_approval, sanitize_request_headers};
use super::mcp_list::{Asked, ListStage};
use super::refusal::{Booking, McpAnswer, Refusal};
use super::respond::{json_response, ResponseBody};
use super::{decide, subject};
use crate::audit::{AuditRecord, McpDetail, RecordKind};
use crate::mcp::session::SessionRefused;
use crate::mcp::{Class, Message};
use crate::policy::{Approval, DecisionKind};
use crate::registry::McpServer;
use crate::snapshot::Snapshot;
use crate::token::SubjectToken;
use crate::trace::RequestMeta;

/// Where MCP routes live.
pub(super) const PREFIX: &str = "/mcp/";
/// RFC 9728 §3.1 location of the metadata for the resource `…/mcp/NAME`.
pub(super) const METADATA_PREFIX: &str = "/.well-known/oauth-protected-resource/mcp/";

static SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");

/// What the stages learned that booking and the answer need.
#[derive(Default)]
struct Seen<'g> {
    server: Option<&'g McpServer>,
    rule: Option<usize>,
    id: serde_json::Value,
}

pub(super) async fn mcp_call(
    at: At<'_, '_>,
    req: Request<Incoming>,
    rec: &mut AuditRecord,
) -> Response<ResponseBody> {
    let At {
        gw, conn, started, ..
    } = at;
    rec.kind = RecordKind::Mcp;
    let mut seen = Seen::default();
    let mut subject = None;
    let done = stages(at, req, rec, &mut seen, &mut subject).await;
    let booking = Booking {
        metrics: &gw.metrics,
        recent: &gw.recent,
        caller: &conn.identity,
        subject: subject.as_ref(),
        agent: None,
        rule: seen.rule,
    };
    let resp = match done {
        Ok((f, list)) => {
            let resp = forward::respond(f, &booking, rec).await;
            let limit = usize::try_from(gw.limits.max_request_body).unwrap_or(usize::MAX);
            let (resp, refused) = list.apply(resp, limit).await;
            // The caller got a JSON-RPC error instead of the upstream's
            // list: the record says so, not "allow".
            if let Some(why) = refused {
                rec.refuse(crate::audit::Decision::Error, why);
            }
            resp
        }
        Err(refusal) => {
            if let (Some(kind), Some(s)) = (refusal.decision_kind(), seen.server) {
                s.metrics.count(kind);
            }
            let metadata = metadata_url(gw, rec.agent.as_deref().unwrap_or_default());
            let at = McpAnswer {
                id: &seen.id,
                resource_metadata: &metadata,
            };
            refusal.book_mcp(&booking, rec, &at)
        }
    };
    super::observe_request(gw, seen.server.map(|s| &*s.metrics), rec, started);
    resp
}

/// The RFC 9728 metadata URL of the route `/mcp/NAME`.
fn metadata_url(gw: &Snapshot, name: &str) -> String {
    format!("{}{METADATA_PREFIX}{name}", gw.public_url)
}

/// The server `path` names, if some rule lets `caller` reach it. Unknown
/// and unreachable servers get the same answer (the gateway never reveals
/// which servers exist), before any token or body is looked at.
fn reach<'g>(gw: &'g Snapshot, conn: &ConnContext, path: &str) -> Result<&'g McpServer, Refusal> {
    let name = path.strip_prefix(PREFIX).unwrap_or_default();
    let server = gw.registry.mcp_server(name).ok_or(Refusal::UnknownAgent)?;
    if gw.policy.may_reach_mcp(&conn.identity.spiffe_id, name) {
        Ok(server)
    } else {
        Err(Refusal::Unreachable { rule: None })
    }
}

/// A request from a web page (it carries `Origin`) passes only from an
/// origin the server lists; two `Origin` headers, or one that is not text,
/// are refused too (no guessing which one the browser meant).
fn check_origin(server: &McpServer, headers: &http::HeaderMap) -> Result<(), Refusal> {
    let mut all = headers.get_all(http::header::ORIGIN).iter();
    match (all.next(), all.next()) {
        (None, _) => Ok(()),
        (Some(v), None) if v.to_str().is_ok_and(|o| server.origin_allowed(o)) => Ok(()),
        _ => Err(Refusal::McpOrigin),
    }
}

/// Where a request is handled: the snapshot it uses to the end, its
/// connection, its request metadata.
#[derive(Clone, Copy)]
pub(super) struct At<'g, 'c> {
    /// Shared, because a filtered SSE list answer outlives the request.
    pub gw: &'g std::sync::Arc<Snapshot>,
    pub conn: &'c ConnContext,
    pub meta: &'c RequestMeta,
    /// When the request was received (its duration is observed at the end).
    pub started: std::time::Instant,
}

/// The stages, in order.
async fn stages<'g>(
    At { gw, conn, meta, .. }: At<'g, '_>,
    req: Request<Incoming>,
    rec: &mut AuditRecord,
    seen: &mut Seen<'g>,
    subject_slot: &mut Option<SubjectToken>,
) -> Result<(Forwarded, ListStage), Refusal> {
    let caller = &conn.identity;
    rec.agent = Some(req.uri().path()[PREFIX.len()..].to_owned());
    let server = *seen.server.insert(reach(gw, conn, req.uri().path())?);
    if !matches!(*req.method(), Method::POST | Method::GET | Method::DELETE) {
        return Err(Refusal::McpMethod);
    }
    // The endpoint is the configured one, exactly: nothing the caller adds
    // to it reaches the upstream.
    if req.uri().query().is_some() {
        return Err(Refusal::Unforwardable);
    }
    // The body is read and classified before the other checks so that
    // every later refusal answers with the request's JSON-RPC `id` (SDK
    // clients match errors to requests by it). Nothing in it is acted on
    // before the checks pass.
    let (parts, body) = req.into_parts();
    let body = body_within(body, &parts, gw.limits.max_request_body)
        .await
        .map_err(Refusal::Body)?;
    let msg = classify(&parts, &body, rec, seen)?;
    check_origin(server, &parts.headers)?;
    *subject_slot = subject::verify_recorded(
        gw,
        caller,
        &parts.headers,
        (&server.audiences, &server.resource),
        rec,
    )
    .await?;
    let subject = subject_slot.as_ref();
    let session = session(gw, server, caller, &parts, msg.as_ref(), rec)?;
    let what = msg
        .as_ref()
        .map_or(crate::policy::McpWhat::Session, Message::what);
    let ask = super::mcp_list::ask(gw, caller, subject, server, what);
    let allowed = decide::decide(gw, &ask, rec, &mut seen.rule)?;
    let minted = decide::mint(gw, &allowed, rec)?;
    let presented = presented_approval(&parts.headers);
    let headers = upstream_headers(parts.headers, gw, conn, minted.authorization, meta);
    let approval_id = match (allowed.grant.approval, &msg) {
        (Approval::Human, Some(m)) => Some(
            gate(
                gw,
                conn,
                subject,
                server,
                m,
                &headers,
                &presented,
                allowed.grant.rule,
            )
            .await?,
        ),
        // Session operations are never held (policy says so); a GET or
        // DELETE has nothing to approve.
        _ => None,
    };
    rec.approval_id.clone_from(&approval_id);
    server.metrics.count(DecisionKind::Allow);
    let upstream = (parts.method.clone(), server.upstream.clone(), headers);
    let timeout = gw.limits.upstream_timeout;
    let resp = forward::send(&server.client, timeout, upstream, body, &server.metrics).await?;
    let resp = after_forward(
        gw,
        server,
        caller,
        &parts.method,
        msg.as_ref(),
        session,
        resp,
    );
    let asked = Asked {
        gw,
        caller,
        subject,
        server,
        method: &parts.method,
        msg: msg.as_ref(),
    };
    let list = ListStage::of(&asked, resp.headers(), resp.status());
    let f = Forwarded {
        resp,
        extended_card: None,
        binding: crate::a2a::Binding::JsonRpc,
        approval_id,
        token_cached: minted.cache_hit,
    };
    Ok((f, list))
}

/// The classify stage: a POST body is one MCP message, classified exactly
/// (recorded: method, what it names, the arguments' digest); GET and DELETE
/// carry none.
fn classify(
    parts: &http::request::Parts,
    body: &Bytes,
    rec: &mut AuditRecord,
    seen: &mut Seen<'_>,
) -> Result<Option<Message>, Refusal> {
    if parts.method != Method::POST {
        rec.operation = Some(parts.method.as_str().to_owned());
        if !body.is_empty() {
            return Err(Refusal::Unforwardable);
        }
        return Ok(None);
    }
    let msg = crate::mcp::classify(&parts.headers, body).map_err(|e| {
        seen.id = e.id.clone();
        Refusal::Mcp(e)
    })?;
    seen.id = msg.id.clone();
    rec.operation = Some(msg.method.clone().unwrap_or_else(|| "response".into()));
    let mut detail = rec.mcp.take().unwrap_or_default();
    match &msg.class {
        Class::Tool(n) => detail.tool = Some(n.clone()),
        Class::Resource(u) => detail.resource = Some(u.clone()),
        Class::Prompt(n) => detail.prompt = Some(n.clone()),
        Class::Session | Class::Response => {}
    }
    detail.arguments_sha256.clone_from(&msg.arguments_sha256);
    rec.mcp = Some(detail);
    Ok(Some(msg))
}

/// The session stage: an `Mcp-Session-Id` is usable only by the caller that
/// created it; GET, DELETE and the client's JSON-RPC responses need one.
/// The session id, when the request names one.
fn session(
    gw: &Snapshot,
    server: &McpServer,
    caller: &crate::identity::CallerIdentity,
    parts: &http::request::Parts,
    msg: Option<&Message>,
    rec: &mut AuditRecord,
) -> Result<Option<String>, Refusal> {
    let mut values = parts.headers.get_all(&SESSION_HEADER).iter();
    let id = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(v), None) => Some(
            v.to_str()
                .map_err(|_| Refusal::McpSession(SessionRefused::Malformed))?
                .to_owned(),
        ),
        _ => return Err(Refusal::McpSession(SessionRefused::Malformed)),
    };
    let needs_one = msg.is_none_or(|m| m.class == Class::Response);
    let Some(id) = id else {
        return if needs_one {
            Err(Refusal::McpSession(SessionRefused::Missing))
        } else {
            Ok(None)
        };
    };
    if crate::mcp::session::valid_id(&id) {
        rec.mcp.get_or_insert_with(McpDetail::default).session = Some(id.clone());
    }
    gw.mcp_sessions
        .check(&server.name, &id, caller, std::time::Instant::now())
        .map_err(Refusal::McpSession)?;
    Ok(Some(id))
}

/// The headers the upstream receives: the caller's, sanitised (no identity
/// header survives; the MCP headers, checked against the body, pass), with
/// the minted token and the correlation headers.
fn upstream_headers(
    mut headers: HeaderMap,
    gw: &Snapshot,
    conn: &ConnContext,
    authorization: HeaderValue,
    meta: &RequestMeta,
) -> HeaderMap {
    sanitize_request_headers(&mut headers, &gw.limits.strip_headers);
    // The list filter reads answers as the client would and refuses coded
    // ones; asking for identity coding keeps a compressing upstream's list
    // answers readable (filtered) instead of refused.
    headers.remove(http::header::ACCEPT_ENCODING);
    if gw.limits.forward_client_address {
        if let Ok(v) = HeaderValue::from_str(&conn.remote.ip().to_string()) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v);
        }
    }
    headers.insert(http::header::AUTHORIZATION, authorization);
    meta.apply(&mut headers);
    headers
}

/// The human gate, last before forwarding: bound to the server, the method,
/// what it names and the canonical `params` (the tool's name and arguments),
/// not to the JSON-RPC `id`, so the identical call retried with
/// `Actgate-Approval` (as clients do, under a new id) passes once.
#[allow(clippy::too_many_arguments)]
async fn gate(
    gw: &Snapshot,
    conn: &ConnContext,
    subject: Option<&SubjectToken>,
    server: &McpServer,
    msg: &Message,
    forwarded: &HeaderMap,
    presented: &HeaderMap,
    rule: usize,
) -> Result<String, Refusal> {
    let op = crate::a2a::Operation {
        name: match msg.name() {
            Some(n) => format!("{} {n}", msg.method.as_deref().unwrap_or_default()),
            None => msg.method.clone().unwrap_or_default(),
        },
        binding: crate::a2a::Binding::JsonRpc,
        streaming: false,
    };
    // Apart from an agent of the same name.
    let target = crate::registry::mcp::metric_label(&server.name);
    let path = format!("{PREFIX}{}", server.name);
    let call = Call {
        caller: &conn.identity,
        subject,
        agent: &target,
        op: &op,
        method: &Method::POST,
        rest: &path,
        query: None,
        forwarded,
        body: &msg.params,
        rule,
    };
    approval::gate(gw.approvals.as_ref(), &gw.metrics, presented, call)
        .await
        .map_err(|h| Refusal::Approval(Box::new(h)))
}

/// After the upstream answered: the session its `initialize` answer names
/// is bound to this caller; an ended (DELETE) or vanished (404) session is
/// forgotten. An id the gateway cannot bind (another caller's) is never
/// handed out.
fn after_forward(
    gw: &Snapshot,
    server: &McpServer,
    caller: &crate::identity::CallerIdentity,
    method: &Method,
    msg: Option<&Message>,
    session: Option<String>,
    mut resp: Response<Incoming>,
) -> Response<Incoming> {
    let now = std::time::Instant::now();
    // Only a successful `initialize` opens a session: an error answer that
    // names one would only take a slot in the table.
    if msg.is_some_and(Message::is_initialize) && resp.status().is_success() {
        let returned = resp
            .headers()
            .get(&SESSION_HEADER)
            .map(|v| v.to_str().map(str::to_owned));
        match returned {
            Some(Ok(id)) if gw.mcp_sessions.bind(&server.name, &id, caller, now) => {}
            Some(_) => {
                tracing::warn!(server = %server.name, "upstream session id not usable; not handed out");
                resp.headers_mut().remove(&SESSION_HEADER);
            }
            None => {}
        }
    }
    if let Some(id) = session {
        let ended = *method == Method::DELETE && resp.status().is_success();
        if ended || resp.status() == StatusCode::NOT_FOUND {
            gw.mcp_sessions.end(&server.name, &id);
        }
    }
    resp
}

/// `GET /.well-known/oauth-protected-resource/mcp/NAME` (RFC 9728): the
/// route's resource, the subject issuers its delegated rules accept, and
/// the scopes its tools need that rules grant.
pub(super) fn protected_resource(gw: &Snapshot, server: &McpServer) -> Response<ResponseBody> {
    let rules: Vec<_> = gw
        .policy
        .rules()
        .iter()
        .filter(|r| r.effect == crate::policy::Effect::Allow && r.names_mcp_server(&server.name))
        .collect();
    let mut issuers: Vec<String> = Vec::new();
    for r in &rules {
        match &r.subject.issuer {
            Some(i) => issuers.push(i.clone()),
            None => issuers.extend(
                gw.subject_tokens
                    .issuer_slots()
                    .map(|s| s.issuer().to_owned()),
            ),
        }
    }
    issuers.sort_unstable();
    issuers.dedup();
    let mut scopes: Vec<&String> = server
        .tools
        .values()
        .flatten()
        .filter(|s| rules.iter().any(|r| r.scopes.contains(s)))
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
    let doc = serde_json::json!({
        "resource": server.resource,
        "authorization_servers": issuers,
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "tls_client_certificate_bound_access_tokens": true,
    });
    let mut r = json_response(StatusCode::OK, Bytes::from(doc.to_string()));
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    r
}
