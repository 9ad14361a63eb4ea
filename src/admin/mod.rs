//! The admin and health listeners, and the admin API behind them.
//!
//! - [`access`]: who may use the admin listener (mTLS identities, or a
//!   local operator on loopback), the types the snapshot holds.
//! - [`listener`]: the admin and probes-only listeners (plain or mTLS).
//! - [`health`]: `/metrics`, `/healthz`, `/readyz`, and the metrics rendering.
//! - this file: the approvals API, the recent-decision and agent views, and
//!   the console's static assets ([`console`]).

// Refusals are whole responses; the admin path is cold, so their size in a
// `Result` costs nothing that matters.
#![allow(clippy::result_large_err)]

pub mod access;
pub mod build;
mod console;
mod console_recent;
pub(crate) mod health;
pub(crate) mod listener;
mod mcp;
mod respond;

use std::sync::Arc;

use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};

use self::respond::method_not_allowed;
use crate::approvals::{Approval, DecideError};
use crate::snapshot::Snapshot;

pub use self::access::Operator;
pub use self::respond::{error, json_response, AdminResponse};

/// Answer `req` if it is one of this module's endpoints; `Err(req)` hands
/// it back for [`health`]'s (metrics, probes, 404).
pub async fn handle(
    gw: Arc<Snapshot>,
    op: Operator,
    req: Request<Incoming>,
) -> Result<AdminResponse, Request<Incoming>> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if let Some(asset) = console::asset(&path) {
        return Ok(if method == Method::GET {
            console::response(asset)
        } else {
            method_not_allowed()
        });
    }
    let Some(api) = path.strip_prefix("/api/") else {
        return Err(req);
    };
    let parts: Vec<&str> = api.split('/').collect();
    Ok(match (&method, parts.as_slice()) {
        (&Method::GET, ["approvals"]) => list_approvals(&gw, req.uri().query()).await,
        (&Method::GET, ["approvals", id]) => show_approval(&gw, id).await,
        (&Method::POST, ["approvals", id, verb @ ("approve" | "deny")]) => {
            let (id, approve) = (id.to_string(), *verb == "approve");
            decide(gw, op, req, id, approve).await
        }
        (&Method::GET, ["recent"]) => console_recent::recent(&gw).await,
        (&Method::GET, ["agents"]) => json_response(StatusCode::OK, agents_json(&gw)),
        (&Method::GET, ["mcp_servers"]) => {
            json_response(StatusCode::OK, mcp::mcp_servers_json(&gw))
        }
        (_, ["approvals", ..] | ["recent"] | ["agents"] | ["mcp_servers"]) => method_not_allowed(),
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
    })
}

fn store(gw: &Snapshot) -> Result<&Arc<crate::approvals::ApprovalStore>, AdminResponse> {
    gw.approvals.as_ref().ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "approvals_not_configured",
            "no [approvals] section in the configuration",
        )
    })
}

/// The answer when the store cannot be read or written (the shared state
/// backend is down): 503, retry later.
fn store_down(e: &crate::approvals::StoreError) -> AdminResponse {
    tracing::error!(error = %e, "approval store unavailable");
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the approval store is unavailable; nothing was changed",
    );
    r.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from(crate::state::RETRY_AFTER_SECS),
    );
    r
}

/// `GET /api/approvals/ID`.
async fn show_approval(gw: &Snapshot, id: &str) -> AdminResponse {
    let store = match store(gw) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match store.get(id).await {
        Ok(Some(a)) => json_response(StatusCode::OK, approval_json(&a, crate::unix_now())),
        Ok(None) => error(StatusCode::NOT_FOUND, "not_found", "no such approval"),
        Err(e) => store_down(&e),
    }
}

/// `GET /api/approvals[?status=pending]`, newest first.
async fn list_approvals(gw: &Snapshot, query: Option<&str>) -> AdminResponse {
    let store = match store(gw) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let want = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("status="));
    let now = crate::unix_now();
    let all = match store.list().await {
        Ok(all) => all,
        Err(e) => return store_down(&e),
    };
    let list: Vec<Value> = all
        .iter()
        .filter(|a| want.is_none_or(|w| a.status(now).as_str() == w))
        .map(|a| approval_json(a, now))
        .collect();
    json_response(StatusCode::OK, json!({"approvals": list}))
}

/// The stored record plus its effective status at `now`.
pub fn approval_json(a: &Approval, now: i64) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("status".into(), json!(a.status(now).as_str()));
    }
    v
}

/// Largest approve/deny body read.
const MAX_DECISION_BODY: usize = 16 * 1024;
/// Longest reason kept.
const MAX_REASON_CHARS: usize = 500;

async fn decide(
    gw: Arc<Snapshot>,
    op: Operator,
    req: Request<Incoming>,
    id: String,
    approve: bool,
) -> AdminResponse {
    if let Err(r) = same_origin_json(&req) {
        return r;
    }
    let store = match store(&gw) {
        Ok(s) => s.clone(),
        Err(r) => return r,
    };
    let body = match Limited::new(req.into_body(), MAX_DECISION_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "the body is too large",
            )
        }
    };
    let reason = if body.iter().all(|b| b.is_ascii_whitespace()) {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(o)) => match o.get("reason") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(clean_reason(s)).filter(|s| !s.is_empty()),
                Some(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "reason must be a string",
                    )
                }
            },
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the body must be a JSON object like {\"reason\": \"...\"}",
                )
            }
        }
    };
    // The decision's record is on disk before the decision is stored, and
    // both happen under the store's lock (the file store's, or the row's).
    let decision = crate::approvals::Decision {
        approve,
        by: op.0,
        reason,
        audit: gw.audit.clone(),
        record: decision_record,
    };
    let result = store.decide(id, decision, crate::unix_now()).await;
    let now = crate::unix_now();
    match result {
        Ok(a) => {
            tracing::info!(approval = %a.id, decision = a.state.as_str(), by = a.decided_by.as_deref().unwrap_or("-"), agent = %a.request.agent, caller = %a.request.caller, "approval decided");
            json_response(StatusCode::OK, approval_json(&a, now))
        }
        Err(e @ DecideError::NotRecorded(_)) => {
            tracing::error!(error = %e, "approval decision refused: not recorded");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                "the decision could not be recorded in the audit log; nothing was changed",
            )
        }
        Err(e @ DecideError::SelfDecision { .. }) => {
            error(StatusCode::FORBIDDEN, "self_decision", &e.to_string())
        }
        Err(DecideError::Unknown) => error(StatusCode::NOT_FOUND, "not_found", "no such approval"),
        Err(e @ DecideError::NotPending { .. }) => {
            error(StatusCode::CONFLICT, "not_pending", &e.to_string())
        }
        Err(DecideError::Storage(e)) => store_down(&e),
    }
}

/// Who decided what, for the hash-chained log (the approval file is pruned
/// after `retention` and is not chained).
fn decision_record(a: &Approval) -> crate::audit::AuditRecord {
    let mut rec = crate::audit::AuditRecord::new(crate::audit::RecordKind::ApprovalDecision);
    rec.caller = a.decided_by.clone();
    rec.subject = a.request.subject.clone();
    rec.subject_issuer = a.request.subject_issuer.clone();
    // The approval's chain reads user → … → caller; the record's `act` is
    // the actors only, current first.
    let skip = usize::from(a.request.subject.is_some());
    rec.act = a.request.chain.iter().skip(skip).rev().cloned().collect();
    rec.agent = Some(a.request.agent.clone());
    rec.operation = Some(a.request.operation.clone());
    rec.method = Some(a.request.method.clone());
    rec.path = Some(a.request.path.clone());
    rec.approval_id = Some(a.id.clone());
    rec.reason = a.reason.clone();
    rec.decision = if a.state == crate::approvals::State::Approved {
        crate::audit::Decision::Allow
    } else {
        crate::audit::Decision::Deny
    };
    rec
}

fn clean_reason(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_REASON_CHARS)
        .collect::<String>()
        .trim()
        .to_string()
}

/// State changes must be JSON (a cross-site HTML form cannot send it without
/// a CORS preflight, which is never answered) and, when a browser says where
/// it comes from, from this very origin ([`crate::browser_guard`]).
fn same_origin_json(req: &Request<Incoming>) -> Result<(), AdminResponse> {
    crate::browser_guard::check_json(req.headers())
        .and_then(|()| crate::browser_guard::check_same_origin(req.headers()))
        .map_err(|r| {
            tracing::warn!(
                reason = r.label(),
                path = req.uri().path(),
                "admin request refused: {r}"
            );
            error(r.status(), r.code(), &r.to_string())
        })
}

/// Registered agents, their cards, and the rules that let callers reach them.
fn agents_json(gw: &Snapshot) -> Value {
    let mut agents: Vec<_> = gw.registry.agents().collect();
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    let list: Vec<Value> = agents
        .iter()
        .map(|a| {
            let callers: Vec<Value> = gw
                .policy
                .rules()
                .iter()
                .enumerate()
                // Allow rules: who may reach the agent (deny rules narrow
                // that further, per call; `policy check` explains a call).
                .filter(|(_, r)| r.effect == crate::policy::Effect::Allow && r.names_agent(&a.name))
                .map(|(i, r)| caller_json(i, r, ("operations", json!(r.operations))))
                .collect();
            json!({
                "name": a.name,
                "upstream": a.upstream.to_string(),
                "spiffe_id": a.spiffe_id.as_ref().map(|s| s.to_string()),
                "card": a.card.live().map_or(Value::Null, |live| {
                    serde_json::from_slice::<Value>(&live.served.json).unwrap_or(Value::Null)
                }),
                // Why the card failed to load, fetch or verify, while it stays
                // failed (the agent answers 503 when there is no card at all).
                "card_problem": a.card.problem(),
                "card_source": a.card.fetch.as_ref().map(|f| f.uri.to_string()),
                "callers": callers,
            })
        })
        .collect();
    json!({ "agents": list })
}

/// An allow rule as the console shows who may reach a target (agent or MCP
/// server); `extra` is what only that kind of rule has.
fn caller_json(i: usize, r: &crate::policy::Rule, extra: (&str, Value)) -> Value {
    let mut v = json!({
        "rule": i,
        "caller": r.caller.to_string(),
        "scopes": &*r.scopes,
        "app_only": r.app_only,
        "approval": match r.approval {
            crate::policy::Approval::None => "none",
            crate::policy::Approval::Human => "human",
        },
    });
    v[extra.0] = extra.1;
    v
}
