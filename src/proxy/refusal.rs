//! Every way the proxy route turns a request away, and what each refusal
//! means, in one place (after agentgateway's `ProxyError::into_response` and
//! linkerd's rescue layer): its HTTP status and wire error, its audit
//! decision and reason, the counters it adds to. The route books audit,
//! metrics and the recent-decisions view once per request, from here.

use std::borrow::Cow;

use http::{Response, StatusCode};

use super::approval::Held;
use super::body::BodyRefused;
use super::respond::{
    error, forbidden, insufficient_scope, jsonrpc_error, method_not_allowed, unauthorized,
    unavailable, ResponseBody,
};
use crate::a2a;
use crate::audit::recent::{Decided, RecentDecisions};
use crate::audit::{AuditRecord, Decision as AuditDecision};
use crate::authorize::Denied;
use crate::identity::CallerIdentity;
use crate::mcp::session::SessionRefused;
use crate::metrics::Metrics;
use crate::policy::{DecisionKind, DenyReason};
use crate::registry::Agent;
use crate::token::{ClaimsError, MintError, SubjectToken, TokenError};

/// Why the proxy route did not forward a request (or its forward failed).
#[derive(Debug)]
pub(crate) enum Refusal {
    /// A path under `/agents/` that names no agent.
    NotAgentRoute,
    /// No agent of that name. Answered like [`Refusal::Unreachable`], so
    /// the gateway never reveals which agents exist.
    UnknownAgent,
    /// No rule lets this caller reach the agent; `rule` is the deny rule
    /// that shut it out, if one did.
    Unreachable { rule: Option<usize> },
    /// The RFC 9728 document of an agent the caller cannot reach.
    MetadataUnreachable,
    /// A method other than GET or HEAD on the agent card.
    CardMethod,
    /// The agent has no verified card in service.
    NoCard,
    /// A request the gateway could not name as one A2A operation: refused
    /// with a specific error, audited as `invalid` with what could be read
    /// (the operation, when it was named).
    Unclassified(a2a::Refused),
    /// The `Authorization` header is not one `Bearer` token.
    Bearer(&'static str),
    /// The subject token did not verify (or is bound to another certificate).
    SubjectToken(TokenError),
    /// The body was too large, too slow or unreadable.
    Body(BodyRefused),
    /// Policy, or the card's requirements, deny the call.
    Denied(Denied),
    /// Fail closed: the audit log cannot record the call.
    AuditUnavailable,
    /// The scopes available do not meet the card's requirements: the
    /// scopes that would (the step-up challenge).
    StepUp(Vec<String>),
    /// Allowed by policy, refused by the token rules (chain depth, a cycle,
    /// `may_act`, an expired subject token or certificate), or not signed.
    Mint(MintError),
    /// No client was built for the agent's upstream.
    NoUpstreamClient,
    /// The canonical path cannot be joined to the upstream's URL.
    Unforwardable,
    /// The human-approval gate held the call back.
    Approval(Box<Held>),
    /// The upstream did not answer within `gateway.upstream_timeout`.
    UpstreamTimeout,
    /// The upstream could not be reached.
    UpstreamUnreachable(hyper_util::client::legacy::Error),
    /// An MCP message the gateway could not classify exactly.
    Mcp(crate::mcp::Refused),
    /// An `Mcp-Session-Id` this caller may not use (or none where needed).
    McpSession(SessionRefused),
    /// A method other than POST, GET and DELETE on an MCP route.
    McpMethod,
    /// A browser's request from an `Origin` the MCP server does not list
    /// (`[[mcp_server]] allowed_origins`): the transport spec's defence
    /// against DNS rebinding.
    McpOrigin,
}

/// A request counter of [`Metrics`] a refusal adds one to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    RequestsDenied,
    RequestsUnauthenticated,
    UpstreamErrors,
}

/// Everything booking a refusal needs besides the refusal and the record.
pub(crate) struct Booking<'a> {
    pub metrics: &'a Metrics,
    pub recent: &'a RecentDecisions,
    pub caller: &'a CallerIdentity,
    pub subject: Option<&'a SubjectToken>,
    /// The agent, once the route found it (its decision counters).
    pub agent: Option<&'a Agent>,
    /// The rule that decided, once one did.
    pub rule: Option<usize>,
}

/// The subject token is unusable for this caller: a credential problem
/// (401), not a policy one.
fn credential_problem(e: &MintError) -> bool {
    matches!(
        e,
        MintError::Claims(
            ClaimsError::SubjectExpired { .. }
                | ClaimsError::CallerCertificateExpired { .. }
                | ClaimsError::MayActMismatch { .. }
                | ClaimsError::MayActMalformed,
        )
    )
}

impl Refusal {
    /// The audit decision recorded for it.
    pub fn audit_decision(&self) -> AuditDecision {
        match self {
            Refusal::NotAgentRoute
            | Refusal::UnknownAgent
            | Refusal::Unreachable { .. }
            | Refusal::MetadataUnreachable
            | Refusal::McpSession(SessionRefused::Foreign)
            | Refusal::McpOrigin
            | Refusal::Denied(_) => AuditDecision::Deny,
            Refusal::CardMethod
            | Refusal::Mcp(_)
            | Refusal::McpSession(_)
            | Refusal::McpMethod
            | Refusal::Unclassified(_)
            | Refusal::Body(_)
            | Refusal::Unforwardable => AuditDecision::Invalid,
            Refusal::Bearer(_) | Refusal::SubjectToken(_) => AuditDecision::Unauthenticated,
            Refusal::StepUp(_) => AuditDecision::StepUp,
            Refusal::Mint(e) if credential_problem(e) => AuditDecision::Unauthenticated,
            Refusal::Mint(MintError::Claims(_)) => AuditDecision::Deny,
            Refusal::Approval(h) if h.waiting() => AuditDecision::ApprovalRequired,
            // A refused, expired or mismatched approval (or an unusable
            // store) is a deny, with its code.
            Refusal::Approval(_) => AuditDecision::Deny,
            Refusal::NoCard
            | Refusal::AuditUnavailable
            | Refusal::Mint(_)
            | Refusal::NoUpstreamClient
            | Refusal::UpstreamTimeout
            | Refusal::UpstreamUnreachable(_) => AuditDecision::Error,
        }
    }

    /// Why, as the audit record says it.
    pub fn reason(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Refusal::NotAgentRoute => "not an agent route",
            Refusal::UnknownAgent => "unknown agent",
            Refusal::Unreachable { .. } => "no rule allows this caller to reach this agent",
            Refusal::MetadataUnreachable => "no rule lets this caller reach the agent",
            Refusal::CardMethod => "method not allowed on the agent card",
            Refusal::NoCard => "no card in service",
            Refusal::Unclassified(e) => return Cow::Owned(e.to_string()),
            Refusal::Bearer(msg) => *msg,
            Refusal::SubjectToken(e) => return Cow::Owned(format!("subject token: {e}")),
            Refusal::Body(_) => "request body refused",
            Refusal::Denied(d) => d.as_str(),
            Refusal::AuditUnavailable => "audit log unavailable",
            Refusal::StepUp(needed) => {
                return Cow::Owned(format!("needs scopes: {}", needed.join(" ")))
            }
            Refusal::Mint(e) => return Cow::Owned(format!("token not minted: {e}")),
            Refusal::NoUpstreamClient => "no upstream client for this agent",
            Refusal::Unforwardable => "request path cannot be forwarded",
            Refusal::Approval(h) if h.waiting() => "waiting for a human approval",
            Refusal::Approval(h) => h.why.code(),
            Refusal::UpstreamTimeout => "upstream timed out",
            Refusal::UpstreamUnreachable(_) => "upstream unreachable",
            Refusal::Mcp(e) => return Cow::Owned(e.to_string()),
            Refusal::McpSession(s) => s.as_str(),
            Refusal::McpMethod => "method not allowed on an MCP route",
            Refusal::McpOrigin => "Origin not allowed on this MCP route",
        })
    }

    /// The agent's decision counter (`actgate_decisions_total`) it adds
    /// to, if any. A forward that failed upstream was counted as allowed
    /// before it was sent.
    pub fn decision_kind(&self) -> Option<DecisionKind> {
        match self {
            Refusal::Unreachable { .. } | Refusal::Denied(_) | Refusal::Mint(_) => {
                Some(DecisionKind::Deny)
            }
            Refusal::StepUp(_) => Some(DecisionKind::StepUp),
            // Waiting for a person is its own kind; a refused approval is a deny.
            Refusal::Approval(h) if h.waiting() => Some(DecisionKind::ApprovalRequired),
            Refusal::Approval(_) => Some(DecisionKind::Deny),
            _ => None,
        }
    }

    /// The request counter it adds to, if any.
    pub fn counter(&self) -> Option<Counter> {
        match self {
            Refusal::NotAgentRoute
            | Refusal::UnknownAgent
            | Refusal::Unreachable { .. }
            | Refusal::MetadataUnreachable
            | Refusal::McpSession(SessionRefused::Foreign)
            | Refusal::McpOrigin
            | Refusal::Denied(_)
            | Refusal::StepUp(_) => Some(Counter::RequestsDenied),
            Refusal::Mint(e) if credential_problem(e) => Some(Counter::RequestsUnauthenticated),
            Refusal::Mint(MintError::Claims(_)) => Some(Counter::RequestsDenied),
            Refusal::Bearer(_) | Refusal::SubjectToken(_) => Some(Counter::RequestsUnauthenticated),
            Refusal::UpstreamTimeout | Refusal::UpstreamUnreachable(_) => {
                Some(Counter::UpstreamErrors)
            }
            _ => None,
        }
    }

    /// The label it gets in the recent-decisions view; refusals before or
    /// beside the decision are not shown there.
    fn recent_label(&self) -> Option<&'static str> {
        match self {
            Refusal::Denied(Denied::Policy(_)) => Some("deny"),
            Refusal::Approval(h) => Some(h.why.code()),
            _ => None,
        }
    }

    /// The wire error code (`error`, or `jsonrpc_error` for a JSON-RPC
    /// error object, whose numeric code the classifier chose).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotAgentRoute
            | Refusal::UnknownAgent
            | Refusal::Unreachable { .. }
            | Refusal::MetadataUnreachable
            | Refusal::Denied(_) => "forbidden",
            Refusal::CardMethod => "method_not_allowed",
            Refusal::NoCard => "agent_unavailable",
            Refusal::Unclassified(a2a::Refused::JsonRpc { .. }) => "jsonrpc_error",
            Refusal::Unclassified(a2a::Refused::NoRoute) => "not_found",
            Refusal::Unclassified(a2a::Refused::NotPost) => "method_not_allowed",
            Refusal::Unclassified(_) => "invalid_request",
            Refusal::Bearer(_) | Refusal::SubjectToken(_) => "invalid_token",
            Refusal::Body(b) => b.code(),
            Refusal::AuditUnavailable => "audit_unavailable",
            Refusal::StepUp(_) => "insufficient_scope",
            Refusal::Mint(e) if credential_problem(e) => "invalid_token",
            Refusal::Mint(MintError::Claims(_)) => "forbidden",
            Refusal::Mint(_) => "internal_error",
            Refusal::NoUpstreamClient => "bad_gateway",
            Refusal::Unforwardable => "invalid_request",
            Refusal::Approval(h) => h.why.code(),
            Refusal::UpstreamTimeout => "upstream_timeout",
            Refusal::UpstreamUnreachable(_) => "upstream_unreachable",
            Refusal::Mcp(_) => "jsonrpc_error",
            Refusal::McpSession(SessionRefused::Unknown | SessionRefused::Foreign) => "not_found",
            Refusal::McpSession(_) => "invalid_request",
            Refusal::McpMethod => "method_not_allowed",
            Refusal::McpOrigin => "forbidden",
        }
    }

    /// The answer the caller gets.
    pub fn into_response(self) -> Response<ResponseBody> {
        match self {
            Refusal::NotAgentRoute
            | Refusal::UnknownAgent
            | Refusal::Unreachable { .. }
            | Refusal::MetadataUnreachable
            | Refusal::Denied(_) => forbidden(),
            Refusal::CardMethod => {
                method_not_allowed("GET, HEAD", "the agent card is read with GET or HEAD")
            }
            Refusal::NoCard => unavailable(),
            Refusal::Unclassified(e) => match &e {
                a2a::Refused::JsonRpc {
                    code, reason, id, ..
                } => jsonrpc_error(e.status(), *code, reason, id),
                a2a::Refused::NoRoute => error(e.status(), "not_found", &e.to_string()),
                a2a::Refused::NotPost => method_not_allowed("POST", &e.to_string()),
                _ => error(e.status(), "invalid_request", &e.to_string()),
            },
            Refusal::Bearer(msg) => unauthorized(msg),
            Refusal::SubjectToken(e) => unauthorized(&e.to_string()),
            Refusal::Body(b) => b.into_response(),
            Refusal::AuditUnavailable => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                "the gateway cannot record this call right now",
            ),
            Refusal::StepUp(needed) => insufficient_scope(&needed),
            Refusal::Mint(e) if credential_problem(&e) => unauthorized(&e.to_string()),
            Refusal::Mint(e @ MintError::Claims(_)) => {
                error(StatusCode::FORBIDDEN, "forbidden", &e.to_string())
            }
            Refusal::Mint(_) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "token could not be minted",
            ),
            Refusal::NoUpstreamClient => error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "no upstream client for this agent",
            ),
            Refusal::Unforwardable => error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "request path cannot be forwarded",
            ),
            Refusal::Approval(h) => h.response,
            Refusal::UpstreamTimeout => error(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "the agent did not answer in time",
            ),
            Refusal::UpstreamUnreachable(_) => error(
                StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                "the agent could not be reached",
            ),
            Refusal::Mcp(e) => {
                let mut r = jsonrpc_error(StatusCode::BAD_REQUEST, e.code(), &e.to_string(), &e.id);
                r.extensions_mut().insert(KeepCode);
                r
            }
            // A foreign session is answered like an unknown one: nobody
            // learns that another caller's session id exists.
            Refusal::McpSession(SessionRefused::Unknown | SessionRefused::Foreign) => error(
                StatusCode::NOT_FOUND,
                "not_found",
                SessionRefused::Unknown.as_str(),
            ),
            Refusal::McpSession(s) => error(StatusCode::BAD_REQUEST, "invalid_request", s.as_str()),
            Refusal::McpMethod => method_not_allowed(
                "POST, GET, DELETE",
                "an MCP route takes POST, GET and DELETE",
            ),
            Refusal::McpOrigin => error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the request's Origin is not allowed on this MCP route",
            ),
        }
    }

    /// The one log line of a refusal.
    fn log(&self, b: &Booking<'_>, rec: &AuditRecord) {
        let caller = &b.caller.spiffe_id;
        let agent = rec.agent.as_deref().unwrap_or("-");
        let operation = rec.operation.as_deref().unwrap_or("-");
        let reason = self.reason();
        match self {
            Refusal::UpstreamTimeout => tracing::warn!(agent, "upstream timed out"),
            Refusal::UpstreamUnreachable(e) => {
                tracing::warn!(agent, error = %e, "upstream unreachable")
            }
            Refusal::Denied(Denied::Card(_)) => {
                tracing::warn!(%caller, agent, rule = b.rule, %reason, "denied")
            }
            Refusal::NoCard => tracing::debug!(agent, "agent unavailable: no card in service"),
            Refusal::StepUp(_) => {
                tracing::info!(%caller, agent, operation, rule = b.rule, %reason, "insufficient scope")
            }
            Refusal::Mint(e) => {
                let subject = b.subject.map_or("-", |s| &*s.sub);
                tracing::info!(%caller, agent, subject, reason = %e, "token not minted")
            }
            Refusal::SubjectToken(e) => {
                tracing::info!(%caller, agent, reason = %e, "subject token rejected")
            }
            Refusal::Unclassified(e) => {
                tracing::info!(%caller, agent, reason = %e, "refused: request not classified")
            }
            Refusal::Mcp(e) => {
                tracing::info!(%caller, server = agent, reason = %e, "refused: MCP message not classified")
            }
            Refusal::McpSession(SessionRefused::Foreign) => {
                tracing::warn!(%caller, server = agent, "refused: MCP session of another caller")
            }
            Refusal::Approval(_) => {}
            _ if self.audit_decision() == AuditDecision::Deny => {
                tracing::info!(%caller, agent, operation, rule = b.rule, %reason, "denied")
            }
            _ => tracing::debug!(%caller, agent, error = self.code(), %reason, "refused"),
        }
    }

    /// [`Refusal::book`] on an MCP route: the same booking, and the answer
    /// as an MCP client reads it ([`mcp_answer`]).
    pub(crate) fn book_mcp(
        self,
        b: &Booking<'_>,
        rec: &mut AuditRecord,
        at: &McpAnswer<'_>,
    ) -> Response<ResponseBody> {
        // A delegated rule and no user token: the MCP client is to get one
        // (401 pointing at the metadata), not a plain policy denial.
        let wants_user = matches!(
            self,
            Refusal::Denied(Denied::Policy(DenyReason::AppOnlyNotAllowed))
        );
        if let Refusal::Mcp(e) = &self {
            rec.operation = e.method.clone();
        }
        let resp = self.book(b, rec);
        mcp_answer(resp, at, wants_user)
    }

    /// Book the refusal once (audit record, counters, the recent-decisions
    /// view, the log line) and answer it.
    pub(crate) fn book(self, b: &Booking<'_>, rec: &mut AuditRecord) -> Response<ResponseBody> {
        if let Refusal::Unclassified(e) = &self {
            rec.operation = e.operation().map(str::to_owned);
        }
        if let Refusal::Approval(h) = &self {
            rec.approval_id.clone_from(&h.approval_id);
        }
        // The record names the deny rule that shut the caller out, if any.
        if let Refusal::Unreachable { rule } = &self {
            rec.rule = rule.map(|i| format!("rule[{i}]"));
        }
        self.log(b, rec);
        rec.refuse(self.audit_decision(), self.reason());
        if let (Some(kind), Some(agent)) = (self.decision_kind(), b.agent) {
            agent.metrics.count(kind);
        }
        match self.counter() {
            Some(Counter::RequestsDenied) => Metrics::inc(&b.metrics.requests_denied),
            Some(Counter::RequestsUnauthenticated) => {
                Metrics::inc(&b.metrics.requests_unauthenticated)
            }
            Some(Counter::UpstreamErrors) => Metrics::inc(&b.metrics.upstream_errors),
            None => {}
        }
        if let Some(decision) = self.recent_label() {
            b.recent.record(Decided {
                caller: b.caller,
                subject: b.subject,
                agent: rec.agent.as_deref().unwrap_or_default(),
                operation: rec.operation.as_deref().unwrap_or_default(),
                mcp_route: rec.kind == crate::audit::RecordKind::Mcp,
                mcp: rec.mcp.as_ref(),
                decision,
                rule: b.rule,
                approval_id: rec.approval_id.as_deref(),
                status: None,
            });
        }
        self.into_response()
    }
}

/// Marks an answer whose JSON-RPC code is the spec's (a classification
/// error), kept as is by [`mcp_answer`].
#[derive(Debug, Clone, Copy)]
struct KeepCode;

/// Where an MCP refusal is answered: the request's `id` and the route's
/// RFC 9728 metadata URL.
pub(crate) struct McpAnswer<'a> {
    pub id: &'a serde_json::Value,
    pub resource_metadata: &'a str,
}

/// The JSON-RPC code of a gateway refusal with HTTP `status`: outside the
/// range JSON-RPC and MCP reserve (−32768 … −32000), so no client reads a
/// policy answer as a protocol error: −31000 − status (−31401, −31403, …).
pub fn mcp_code(status: StatusCode) -> i64 {
    -31000 - i64::from(status.as_u16())
}

/// Turn a gateway answer into the one an MCP client reads (issue 16): the
/// same status and headers, a JSON-RPC error body carrying the request's
/// `id`, the message and the `data` of the answer (an approval's id), and
/// every Bearer challenge pointing at the route's resource metadata. SDK
/// clients without an OAuth provider surface only the JSON-RPC error.
pub(crate) fn mcp_answer(
    resp: Response<ResponseBody>,
    at: &McpAnswer<'_>,
    wants_user: bool,
) -> Response<ResponseBody> {
    use futures_util::FutureExt as _;
    use http::header::{self, HeaderValue};
    use http_body_util::BodyExt as _;
    let (mut parts, body) = resp.into_parts();
    // Gateway-made bodies are complete in memory: ready at the first poll.
    let bytes = body
        .collect()
        .now_or_never()
        .and_then(Result::ok)
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let (message, mut data) = match v.get("error") {
        Some(e) if v.get("jsonrpc").is_some() => (
            e.get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_owned(),
            e.get("data").cloned(),
        ),
        _ => (
            v.get("error_description")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_owned(),
            v.get("error").map(|c| serde_json::json!({ "error": c })),
        ),
    };
    let mut message = message;
    if wants_user {
        parts.status = StatusCode::UNAUTHORIZED;
        message = "this MCP server is called on behalf of a user: send a user token (see the resource metadata)".into();
        data = Some(serde_json::json!({ "error": "invalid_token" }));
        if let Ok(v) = HeaderValue::from_str(&format!(
            "Bearer resource_metadata=\"{}\"",
            at.resource_metadata
        )) {
            parts.headers.insert(header::WWW_AUTHENTICATE, v);
        }
    } else if let Some(challenge) = parts
        .headers
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .filter(|c| c.starts_with("Bearer "))
    {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{challenge}, resource_metadata=\"{}\"",
            at.resource_metadata
        )) {
            parts.headers.insert(header::WWW_AUTHENTICATE, v);
        }
    }
    let code = match (
        parts.extensions.get::<KeepCode>(),
        v["error"]["code"].as_i64(),
    ) {
        (Some(_), Some(c)) => c,
        _ => mcp_code(parts.status),
    };
    let mut error = serde_json::json!({ "code": code, "message": message });
    if let (Some(d), Some(o)) = (data, error.as_object_mut()) {
        o.insert("data".into(), d);
    }
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": at.id, "error": error });
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, super::respond::full(body.to_string()))
}

#[cfg(test)]
#[path = "refusal_tests.rs"]
mod tests;
