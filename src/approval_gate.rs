//! The proxy's human-approval stage: for a call whose rule says
//! `approval = "human"`, either let it through on a matching approved
//! approval (consumed, durably, before forwarding) or answer 403 with the
//! approval the caller must wait for. One answer per outcome, each with its
//! own code; a JSON-RPC call gets a JSON-RPC error carrying its own `id`.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::a2a::{Binding, Operation};
use crate::approvals::{body_digest, Approval, ApprovalRequest, BodyPreview, Refusal, StoreError};
use crate::gateway::Gateway;
use crate::identity::CallerIdentity;
use crate::metrics::Metrics;
use crate::proxy::{json_response, ResponseBody};
use crate::token::SubjectToken;

/// The header a caller retries with. Never forwarded upstream.
pub static APPROVAL_HEADER: HeaderName = HeaderName::from_static("actgate-approval");

/// What the gate decided.
pub enum GateOutcome {
    /// Forward; the approval (now used) is recorded under this ID.
    Pass(String),
    /// Do not forward: this is the answer, `decision` the label for records.
    Refuse {
        response: Response<ResponseBody>,
        decision: &'static str,
        approval_id: Option<String>,
    },
}

/// Only the approval header(s), copied before the request's headers are
/// sanitised (usually none: an empty `HeaderMap` does not allocate).
pub fn presented(headers: &HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in headers.get_all(&APPROVAL_HEADER) {
        h.append(APPROVAL_HEADER.clone(), v.clone());
    }
    h
}

/// The delegation chain as a person reads it: the user (if any), every
/// earlier agent from the least recent, then the caller.
pub fn chain(caller: &CallerIdentity, subject: Option<&SubjectToken>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(st) = subject {
        v.push(st.sub.clone());
        if let Some(act) = &st.act {
            let mut earlier: Vec<String> = act.chain().map(|a| a.sub.clone()).collect();
            earlier.reverse();
            v.extend(earlier);
        }
    }
    v.push(caller.spiffe_id.to_string());
    v
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

/// Everything the approval is bound to. `forwarded` are the headers exactly
/// as the upstream will receive them (after sanitising), so the binding is
/// on what the upstream will execute, not on what the caller sent.
#[allow(clippy::too_many_arguments)]
pub fn approval_request(
    caller: &CallerIdentity,
    subject: Option<&SubjectToken>,
    agent: &str,
    op: &Operation,
    method: &Method,
    rest: &str,
    query: Option<&str>,
    forwarded: &HeaderMap,
    body: &[u8],
    rule: usize,
) -> ApprovalRequest {
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
    let subject_scopes = subject.and_then(|s| s.scopes.clone()).map(|mut v| {
        v.sort_unstable();
        v.dedup();
        v
    });
    ApprovalRequest {
        caller: caller.spiffe_id.to_string(),
        subject: subject.map(|s| s.sub.clone()),
        subject_issuer: subject.map(|s| s.issuer.clone()),
        chain: chain(caller, subject),
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

/// Run the gate for `req`, whose rule requires a human approval.
pub async fn check(
    gw: &Gateway,
    headers: &HeaderMap,
    req: ApprovalRequest,
    op: &Operation,
    body: &[u8],
) -> GateOutcome {
    let refuse = |response, decision| GateOutcome::Refuse {
        response,
        decision,
        approval_id: None,
    };
    // Configuration guarantees a store when a rule needs approval; without
    // one, nothing could ever approve, so refuse.
    let Some(store) = gw.approvals.clone() else {
        return refuse(
            unavailable(op, body, "no approval store is configured"),
            "approval_store_unavailable",
        );
    };
    let mut values = headers.get_all(&APPROVAL_HEADER).iter();
    let presented = values.next();
    if values.next().is_some() {
        Metrics::inc(&gw.metrics.approvals_refused);
        return refuse(
            answer(
                op,
                body,
                StatusCode::BAD_REQUEST,
                "invalid_request",
                -32600,
                "more than one Actgate-Approval header",
                None,
            ),
            "invalid_request",
        );
    }
    let now = crate::unix_now();
    let Some(id) = presented else {
        // First attempt: create (or hand back) the pending approval. The
        // store fsyncs: keep that off the async workers.
        let created = tokio::task::spawn_blocking(move || store.request(req, now)).await;
        return match created {
            Ok(Ok(a)) => {
                Metrics::inc(&gw.metrics.approvals_required);
                tracing::info!(approval = %a.id, caller = %a.request.caller, agent = %a.request.agent, operation = %a.request.operation, "human approval required");
                GateOutcome::Refuse {
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
                    decision: "approval_required",
                    approval_id: Some(a.id),
                }
            }
            Ok(Err(e @ (StoreError::Full(_) | StoreError::CallerFull(_)))) => {
                refuse(unavailable(op, body, &e.to_string()), "approval_store_full")
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot create an approval");
                refuse(
                    unavailable(op, body, "the approval could not be stored"),
                    "approval_store_unavailable",
                )
            }
            Err(_) => refuse(
                unavailable(op, body, "the approval could not be stored"),
                "approval_store_unavailable",
            ),
        };
    };
    let id = id.to_str().unwrap_or("").trim().to_string();
    let now = crate::unix_now();
    let consumed = tokio::task::spawn_blocking(move || store.consume(&id, &req, now)).await;
    let refusal = match consumed {
        Ok(Ok(a)) => {
            Metrics::inc(&gw.metrics.approvals_used);
            tracing::info!(approval = %a.id, caller = %a.request.caller, agent = %a.request.agent, "approved call let through");
            return GateOutcome::Pass(a.id);
        }
        Ok(Err(r)) => r,
        Err(_) => Refusal::Storage,
    };
    Metrics::inc(&gw.metrics.approvals_refused);
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
    GateOutcome::Refuse {
        response,
        decision: refusal.code(),
        approval_id,
    }
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
