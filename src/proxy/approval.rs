//! The proxy's human-approval stage: for a call whose rule says
//! `approval = "human"`, either let it through on a matching approved
//! approval (consumed, durably, before forwarding) or answer 403 with the
//! approval the caller must wait for. One answer per outcome, each with its
//! own code; a JSON-RPC call gets a JSON-RPC error carrying its own `id`.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tracing::Instrument;

use super::headers::APPROVAL_HEADER;
use super::respond::{json_response, ResponseBody};
use crate::a2a::{Binding, Operation};
use crate::approvals::{
    body_digest, Approval, ApprovalRequest, ApprovalStore, BodyPreview, Refusal, StoreError,
};
use crate::audit::recent::delegation_chain;
use crate::identity::CallerIdentity;
use crate::metrics::Metrics;
use crate::token::SubjectToken;

/// Why the gate held a call back.
#[derive(Debug)]
pub enum GateRefusal {
    /// Waiting for a person: the pending approval was created (or handed
    /// back) and the caller retries once it is approved.
    Required,
    /// The approval header was sent more than once.
    AmbiguousHeader,
    /// No store, or the store could not record the approval.
    StoreUnavailable,
    /// The store holds as many pending approvals as it may.
    StoreFull,
    /// The presented approval does not let this call through (pending,
    /// denied, expired, used, mismatched, unknown, or unreadable).
    Refused(Refusal),
}

impl GateRefusal {
    /// The label for records and the recent-decisions view.
    pub fn code(&self) -> &'static str {
        match self {
            GateRefusal::Required => "approval_required",
            GateRefusal::AmbiguousHeader => "invalid_request",
            GateRefusal::StoreUnavailable => "approval_store_unavailable",
            GateRefusal::StoreFull => "approval_store_full",
            GateRefusal::Refused(r) => r.code(),
        }
    }
}

impl Held {
    /// Waiting for a person (not refused).
    pub fn waiting(&self) -> bool {
        matches!(self.why, GateRefusal::Required)
    }
}

/// A call the gate did not let through: why, the approval concerned (if
/// any), and the answer (built here: it carries the approval and, for a
/// JSON-RPC call, the request's own `id`).
#[derive(Debug)]
pub struct Held {
    pub why: GateRefusal,
    pub approval_id: Option<String>,
    pub response: Response<ResponseBody>,
}

/// Headers some servers take as the method to execute instead of the
/// request's own.
const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Every value of `name` in `headers`, as text that tells every byte
/// string apart: visible ASCII as is, a backslash doubled, any other byte
/// as `\xNN` (a header value may hold obs-text; two different values must
/// never bind alike).
fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            let mut out = String::with_capacity(v.len());
            for &b in v.as_bytes() {
                match b {
                    b'\\' => out.push_str("\\\\"),
                    b' '..=b'~' => out.push(char::from(b)),
                    _ => out.push_str(&format!("\\x{b:02x}")),
                }
            }
            out
        })
        .collect()
}

/// The call an approval is bound to, as the upstream will receive it.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub caller: &'a CallerIdentity,
    pub subject: Option<&'a SubjectToken>,
    pub agent: &'a str,
    pub op: &'a Operation,
    pub method: &'a Method,
    /// The canonical path (what is classified and forwarded).
    pub rest: &'a str,
    pub query: Option<&'a str>,
    /// The headers exactly as the upstream will receive them (after
    /// sanitising), so the binding is on what the upstream will execute,
    /// not on what the caller sent.
    pub forwarded: &'a HeaderMap,
    pub body: &'a [u8],
    /// The rule that asked for the approval.
    pub rule: usize,
}

/// The gate as the proxy runs it, last before forwarding: an approval is
/// created only for a request that would otherwise be forwarded, and
/// consumed only when the forward is about to happen. `presented` are the
/// caller's approval headers, copied before sanitising removed them.
pub async fn gate(
    store: Option<&Arc<ApprovalStore>>,
    metrics: &Metrics,
    presented: &HeaderMap,
    call: Call<'_>,
) -> Result<String, Held> {
    let span = crate::telemetry::stage_span!("approval", actgate.approval = tracing::field::Empty);
    let checked = check(
        store,
        metrics,
        presented,
        approval_request(&call),
        call.op,
        call.body,
    )
    .instrument(span.clone())
    .await;
    span.record(
        "actgate.approval",
        if checked.is_ok() { "approved" } else { "held" },
    );
    checked
}

/// Everything the approval is bound to.
pub fn approval_request(c: &Call<'_>) -> ApprovalRequest {
    let Call {
        caller,
        subject,
        agent,
        op,
        method,
        rest,
        query,
        forwarded,
        body,
        rule,
    } = *c;
    let mut path = rest.to_string();
    if let Some(q) = query {
        path.push('?');
        path.push_str(q);
    }
    let content_type = values(forwarded, "content-type");
    let method_override = METHOD_OVERRIDE_HEADERS
        .iter()
        .flat_map(|name| {
            values(forwarded, name)
                .into_iter()
                .map(move |v| format!("{name}: {v}"))
        })
        .collect();
    let subject_scopes = subject.and_then(|s| s.scopes.as_deref()).map(|v| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v.dedup();
        v
    });
    ApprovalRequest {
        caller: caller.spiffe_id.to_string(),
        subject: subject.map(|s| s.sub.to_string()),
        subject_issuer: subject.map(|s| s.issuer.to_string()),
        chain: delegation_chain(caller, subject),
        agent: agent.to_string(),
        operation: op.name.clone(),
        method: method.as_str().to_string(),
        path,
        body_sha256: body_digest(body),
        rule,
        subject_scopes,
        content_type: (!content_type.is_empty()).then(|| content_type.join(", ")),
        a2a_extensions: a2a_headers(forwarded),
        method_override,
        body: BodyPreview::of(body),
    }
}

/// The A2A protocol headers as forwarded, each `name: value`: the
/// extensions a call activates change what it means to the agent, and
/// a2a-sdk also honours v0.3's `X-A2A-Extensions`; the protocol version
/// changes how the agent reads the body.
fn a2a_headers(forwarded: &HeaderMap) -> Vec<String> {
    ["a2a-extensions", "x-a2a-extensions", "a2a-version"]
        .iter()
        .flat_map(|name| {
            values(forwarded, name)
                .into_iter()
                .map(move |v| format!("{name}: {v}"))
        })
        .collect()
}

/// Run the gate for `req`, whose rule requires a human approval: `Ok` with
/// the approval's ID (now used) when it lets the call through.
pub async fn check(
    store: Option<&Arc<ApprovalStore>>,
    metrics: &Metrics,
    headers: &HeaderMap,
    req: ApprovalRequest,
    op: &Operation,
    body: &[u8],
) -> Result<String, Held> {
    let held = |why, response| Held {
        why,
        approval_id: None,
        response,
    };
    // Configuration guarantees a store when a rule needs approval; without
    // one, nothing could ever approve, so refuse.
    let Some(store) = store.cloned() else {
        return Err(held(
            GateRefusal::StoreUnavailable,
            unavailable(op, body, "no approval store is configured"),
        ));
    };
    let mut values = headers.get_all(&APPROVAL_HEADER).iter();
    let presented = values.next();
    if values.next().is_some() {
        Metrics::inc(&metrics.approvals_refused);
        return Err(held(
            GateRefusal::AmbiguousHeader,
            answer(
                op,
                body,
                StatusCode::BAD_REQUEST,
                "invalid_request",
                -32600,
                "more than one Actgate-Approval header",
                None,
            ),
        ));
    }
    match presented {
        None => Err(create(store, metrics, req, op, body).await),
        Some(id) => {
            let id = id.to_str().unwrap_or("").trim().to_string();
            consume(store, metrics, id, req, op, body).await
        }
    }
}

/// First attempt: create (or hand back) the pending approval.
async fn create(
    store: Arc<ApprovalStore>,
    metrics: &Metrics,
    req: ApprovalRequest,
    op: &Operation,
    body: &[u8],
) -> Held {
    let held = |why, response| Held {
        why,
        approval_id: None,
        response,
    };
    let now = crate::unix_now();
    match store.request(req, now).await {
        Ok(a) => {
            Metrics::inc(&metrics.approvals_required);
            tracing::info!(approval = %a.id, caller = %a.request.caller, agent = %a.request.agent, operation = %a.request.operation, "human approval required");
            Held {
                response: answer(
                    op,
                    body,
                    StatusCode::FORBIDDEN,
                    "approval_required",
                    -32050,
                    &format!(
                        "this call needs a person's approval; retry the identical request with the header Actgate-Approval: {} once it is approved",
                        a.id
                    ),
                    Some(&a),
                ),
                why: GateRefusal::Required,
                approval_id: Some(a.id),
            }
        }
        Err(e @ (StoreError::Full(_) | StoreError::CallerFull(_))) => held(
            GateRefusal::StoreFull,
            unavailable(op, body, &e.to_string()),
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot create an approval");
            held(
                GateRefusal::StoreUnavailable,
                unavailable(op, body, "the approval could not be stored"),
            )
        }
    }
}

/// A retry with approval `id`: consumed (durably) if it matches and is
/// approved, refused with its own code otherwise.
async fn consume(
    store: Arc<ApprovalStore>,
    metrics: &Metrics,
    id: String,
    req: ApprovalRequest,
    op: &Operation,
    body: &[u8],
) -> Result<String, Held> {
    let now = crate::unix_now();
    let refusal = match store.consume(id, req, now).await {
        Ok(a) => {
            Metrics::inc(&metrics.approvals_used);
            tracing::info!(approval = %a.id, caller = %a.request.caller, agent = %a.request.agent, "approved call let through");
            return Ok(a.id);
        }
        Err(r) => r,
    };
    Metrics::inc(&metrics.approvals_refused);
    let (status, rpc_code) = match &refusal {
        Refusal::Storage => (StatusCode::SERVICE_UNAVAILABLE, -32057),
        Refusal::Pending(_) => (StatusCode::FORBIDDEN, -32051),
        Refusal::Denied { .. } => (StatusCode::FORBIDDEN, -32052),
        Refusal::Expired(_) => (StatusCode::FORBIDDEN, -32053),
        Refusal::Used(_) => (StatusCode::FORBIDDEN, -32054),
        Refusal::Mismatch(..) => (StatusCode::FORBIDDEN, -32055),
        Refusal::Unknown => (StatusCode::FORBIDDEN, -32056),
    };
    let approval_id = match &refusal {
        Refusal::Pending(id)
        | Refusal::Denied { id, .. }
        | Refusal::Expired(id)
        | Refusal::Used(id)
        | Refusal::Mismatch(id, _) => Some(id.clone()),
        Refusal::Unknown | Refusal::Storage => None,
    };
    tracing::info!(approval = approval_id.as_deref().unwrap_or("-"), reason = %refusal, "approval refused");
    let mut response = answer(
        op,
        body,
        status,
        refusal.code(),
        rpc_code,
        &refusal.to_string(),
        None,
    );
    // Still pending: the same hint as the first answer, so the caller knows
    // to keep waiting on this approval.
    if let Refusal::Pending(id) = &refusal {
        if let Ok(v) = HeaderValue::from_str(&challenge("approval_pending", id)) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    Err(Held {
        why: GateRefusal::Refused(refusal),
        approval_id,
        response,
    })
}

fn challenge(code: &str, id: &str) -> String {
    // `id` is a validated approval ID (`ap-` + hex): nothing to escape.
    format!("Actgate-Approval error=\"{code}\", approval_id=\"{id}\"")
}

fn unavailable(op: &Operation, body: &[u8], why: &str) -> Response<ResponseBody> {
    answer(
        op,
        body,
        StatusCode::SERVICE_UNAVAILABLE,
        "approval_store_unavailable",
        -32057,
        why,
        None,
    )
}

/// The JSON answer: a JSON-RPC error (with the request's `id`) for JSON-RPC
/// calls, the gateway's `{"error", "error_description"}` otherwise; with the
/// approval's ID, status and expiry when there is one to wait for.
fn answer(
    op: &Operation,
    body: &[u8],
    status: StatusCode,
    code: &str,
    rpc_code: i64,
    message: &str,
    approval: Option<&Approval>,
) -> Response<ResponseBody> {
    let mut data = json!({ "error": code });
    if let (Some(a), Some(d)) = (approval, data.as_object_mut()) {
        d.insert("approval_id".into(), json!(a.id));
        d.insert("status".into(), json!(a.state.as_str()));
        d.insert("expires_at".into(), json!(a.expires_at));
    }
    let out = if op.binding == Binding::JsonRpc {
        json!({
            "jsonrpc": "2.0",
            "id": jsonrpc_id(body),
            "error": { "code": rpc_code, "message": message, "data": data },
        })
    } else {
        let mut v = json!({ "error": code, "error_description": message });
        if let (Some(o), Some(d)) = (v.as_object_mut(), data.as_object()) {
            for (k, val) in d.iter().filter(|(k, _)| *k != "error") {
                o.insert(k.clone(), val.clone());
            }
        }
        v
    };
    let mut r = json_response(status, Bytes::from(out.to_string()));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // The store (or the state backend) is down or full for now: fail
        // closed, and say when to try again.
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(crate::state::RETRY_AFTER_SECS),
        );
    }
    if let Some(a) = approval {
        if let Ok(v) = HeaderValue::from_str(&challenge(code, &a.id)) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

/// The `id` member of a JSON-RPC request (`null` when absent or unreadable,
/// as JSON-RPC 2.0 prescribes for errors that cannot name the request).
fn jsonrpc_id(body: &[u8]) -> Value {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        #[serde(default)]
        id: Value,
    }
    serde_json::from_slice::<IdOnly>(body)
        .map(|r| match r.id {
            v @ (Value::String(_) | Value::Number(_)) => v,
            _ => Value::Null,
        })
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonrpc_ids_are_kept() {
        assert_eq!(
            jsonrpc_id(br#"{"jsonrpc":"2.0","id":7,"method":"x"}"#),
            json!(7)
        );
        assert_eq!(jsonrpc_id(br#"{"id":"a-1"}"#), json!("a-1"));
        assert_eq!(jsonrpc_id(br#"{"id":{"x":1}}"#), Value::Null);
        assert_eq!(jsonrpc_id(b"not json"), Value::Null);
    }
}
