//! The human approval gate end to end: real gateway, real upstream, real
//! admin listener; approve, deny, expiry, replay, another body, another
//! caller, restart on the same data directory.

mod common;

use bytes::Bytes;
use common::gateway::{id, Options, TestGateway};
use common::upstream::{self, Behaviour, TestUpstream};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

/// orchestrator → bank needs a person's approval; orchestrator → scheduler
/// does not. `extra` goes into `[approvals]`.
async fn gateway(extra: &str) -> (TestGateway, TestUpstream) {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("bank", &up.url())
            .agent("scheduler", &up.url())
            .rule(&format!(
                "caller = \"{}\"\nagent = \"bank\"\nscopes = [\"pay\"]\napproval = \"human\"",
                id("orchestrator")
            ))
            .rule(&format!(
                "caller = \"{}\"\nagent = \"bank\"\nscopes = [\"pay\"]\napproval = \"human\"",
                id("scheduler")
            ))
            .allow("orchestrator", "scheduler", &["calendar:write"], false)
            .raw(&format!("[approvals]\ndir = \"approvals\"\n{extra}")),
    )
    .await;
    (gw, up)
}

/// JSON-RPC SendMessage with `text`, on behalf of alice, optionally with an
/// approval to redeem.
async fn pay(
    gw: &TestGateway,
    caller: &str,
    text: &str,
    approval: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let user = gw.user_token(json!({"scope": "pay calendar:write"}));
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {user}")).unwrap(),
    );
    if let Some(a) = approval {
        h.insert("actgate-approval", HeaderValue::from_str(a).unwrap());
    }
    let body = json!({"jsonrpc": "2.0", "id": "req-42", "method": "SendMessage",
        "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": text}]}}});
    let (s, h, b) = gw
        .client(caller)
        .fetch(
            Method::POST,
            &format!("{}/agents/bank/a2a/jsonrpc", gw.base),
            &h,
            Bytes::from(body.to_string()),
        )
        .await
        .unwrap();
    (s, h, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// The approval ID of a first (unapproved) attempt, after checking the
/// JSON-RPC error shape and the hint header.
fn approval_id(status: StatusCode, headers: &HeaderMap, body: &Value) -> String {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["id"], "req-42", "the request's id is kept: {body}");
    assert_eq!(
        body["error"]["data"]["error"], "approval_required",
        "{body}"
    );
    let id = body["error"]["data"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    let hint = headers["www-authenticate"].to_str().unwrap();
    assert!(hint.starts_with("Actgate-Approval "), "{hint}");
    assert!(hint.contains(&format!("approval_id=\"{id}\"")), "{hint}");
    id
}

fn refusal(body: &Value) -> String {
    body["error"]["data"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("not a JSON-RPC approval refusal: {body}"))
        .to_string()
}

async fn decide(gw: &TestGateway, id: &str, verb: &str, reason: &str) -> (StatusCode, Value) {
    gw.admin(
        Method::POST,
        &format!("/api/approvals/{id}/{verb}"),
        Some(json!({"reason": reason})),
    )
    .await
}

#[tokio::test]
async fn approved_request_passes_exactly_once_and_the_header_stays_here() {
    let (gw, up) = gateway("").await;
    let (s, h, b) = pay(&gw, "orchestrator", "pay 100 EUR to bob", None).await;
    let id = approval_id(s, &h, &b);
    assert!(
        up.requests().is_empty(),
        "nothing forwarded before approval"
    );
    gw.expect_metric("actgate_approvals_pending 1").await;

    // The same request again before anyone decided: the same approval.
    let (s, h, b) = pay(&gw, "orchestrator", "pay 100 EUR to bob", None).await;
    assert_eq!(approval_id(s, &h, &b), id);
    // Retrying with it too early is "pending", not a new approval.
    let (s, _, b) = pay(&gw, "orchestrator", "pay 100 EUR to bob", Some(&id)).await;
    assert_eq!(
        (s, refusal(&b)),
        (StatusCode::FORBIDDEN, "approval_pending".into())
    );

    // What the operator sees: who, for whom, through which chain, what.
    let (s, list) = gw
        .admin(Method::GET, "/api/approvals?status=pending", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let a = &list["approvals"][0];
    assert_eq!(a["id"], id.as_str());
    assert_eq!(a["request"]["caller"], id_of("orchestrator"));
    assert_eq!(a["request"]["subject"], "alice@example.com");
    assert_eq!(
        a["request"]["chain"],
        json!(["alice@example.com", id_of("orchestrator")])
    );
    assert_eq!(a["request"]["agent"], "bank");
    assert_eq!(a["request"]["operation"], "SendMessage");
    assert_eq!(a["request"]["body_sha256"].as_str().unwrap().len(), 64);
    let (created, expires) = (
        a["created_at"].as_i64().unwrap(),
        a["expires_at"].as_i64().unwrap(),
    );
    assert_eq!(expires - created, 900, "default expiry is 15 minutes");

    let (s, decided) = decide(&gw, &id, "approve", "invoice 17 checked").await;
    assert_eq!(s, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["decided_by"], "local-operator");
    gw.expect_metric("actgate_approvals_pending 0").await;
    // The decision is in the hash-chained audit log, written before the
    // answer: who decided, what, for whom, through which chain.
    let log: Vec<Value> = common::audit::records(&gw.dir.path().join("audit"))
        .into_iter()
        .filter(|r| r["kind"] == "approval_decision")
        .collect();
    assert_eq!(log.len(), 1, "{log:?}");
    let r = &log[0];
    assert_eq!(r["caller"], "local-operator");
    assert_eq!(r["decision"], "allow");
    assert_eq!(r["approval_id"], id.as_str());
    assert_eq!(r["agent"], "bank");
    assert_eq!(r["subject"], "alice@example.com");
    assert_eq!(r["act"], json!([id_of("orchestrator")]));
    assert_eq!(r["reason"], "invoice 17 checked");

    // Another body under the approved ID: refused, and the approval stays usable.
    let (s, _, b) = pay(&gw, "orchestrator", "pay 9999 EUR to mallory", Some(&id)).await;
    assert_eq!(
        (s, refusal(&b)),
        (StatusCode::FORBIDDEN, "approval_mismatch".into())
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("request body"),
        "{b}"
    );
    // Another caller with the same approval and the same body: refused.
    let (s, _, b) = pay(&gw, "scheduler", "pay 100 EUR to bob", Some(&id)).await;
    assert_eq!(
        (s, refusal(&b)),
        (StatusCode::FORBIDDEN, "approval_mismatch".into())
    );
    assert!(
        b["error"]["message"].as_str().unwrap().contains("caller"),
        "{b}"
    );

    let (s, _, b) = pay(&gw, "orchestrator", "pay 100 EUR to bob", Some(&id)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let seen = up.requests();
    assert_eq!(seen.len(), 1, "exactly one forwarded request");
    assert!(
        seen[0].headers.get("actgate-approval").is_none(),
        "the approval header is never forwarded"
    );
    assert!(String::from_utf8_lossy(&seen[0].body).contains("pay 100 EUR to bob"));

    // Replay of the used approval.
    let (s, _, b) = pay(&gw, "orchestrator", "pay 100 EUR to bob", Some(&id)).await;
    assert_eq!(
        (s, refusal(&b)),
        (StatusCode::FORBIDDEN, "approval_used".into())
    );
    assert_eq!(up.requests().len(), 1);

    // The console's trail has the approved call with its approval ID.
    let (_, recent) = gw.admin(Method::GET, "/api/recent", None).await;
    let allowed: Vec<&Value> = recent["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["decision"] == "allow")
        .collect();
    assert_eq!(allowed.len(), 1, "{recent}");
    assert_eq!(allowed[0]["approval_id"], id.as_str());
    assert_eq!(allowed[0]["status"], 200);
    let m = gw.metrics();
    assert!(m.contains("actgate_approvals_used_total 1"), "{m}");
    assert!(m.contains("actgate_approvals_refused_total 4"), "{m}");

    // Rules without approval are untouched, and never see the header.
    let (s, _, b) = gw
        .send_message_with("orchestrator", "scheduler", {
            let mut h = HeaderMap::new();
            let t = gw.user_token(json!({}));
            h.insert("authorization", format!("Bearer {t}").parse().unwrap());
            h.insert("actgate-approval", HeaderValue::from_static("ap-whatever"));
            h
        })
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(up.requests()[1].headers.get("actgate-approval").is_none());
}

fn id_of(name: &str) -> String {
    id(name)
}

#[tokio::test]
async fn denied_expired_and_unknown_approvals_fail_with_their_own_messages() {
    let (gw, up) = gateway("ttl = \"2s\"").await;

    let (s, h, b) = pay(&gw, "orchestrator", "delete all data", None).await;
    let denied = approval_id(s, &h, &b);
    let (s, d) = decide(&gw, &denied, "deny", "not today").await;
    assert_eq!((s, d["status"].clone()), (StatusCode::OK, json!("denied")));
    let (s, _, b) = pay(&gw, "orchestrator", "delete all data", Some(&denied)).await;
    assert_eq!(
        (s, refusal(&b)),
        (StatusCode::FORBIDDEN, "approval_denied".into())
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not today"),
        "{b}"
    );
    // A decided approval cannot be decided again.
    let (s, _) = decide(&gw, &denied, "approve", "").await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (s, h, b) = pay(&gw, "orchestrator", "send mail to everyone", None).await;
    let approved = approval_id(s, &h, &b);
    assert_eq!(
        decide(&gw, &approved, "approve", "").await.0,
        StatusCode::OK
    );
    let (s, h, b) = pay(&gw, "orchestrator", "move money", None).await;
    let undecided = approval_id(s, &h, &b);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (s, _, b) = pay(
        &gw,
        "orchestrator",
        "send mail to everyone",
        Some(&approved),
    )
    .await;
    assert_eq!(
        (s, refusal(&b)),
        (StatusCode::FORBIDDEN, "approval_expired".into())
    );
    let (s, e) = decide(&gw, &undecided, "approve", "").await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(
        e["error_description"].as_str().unwrap().contains("expired"),
        "{e}"
    );

    let (s, _, b) = pay(
        &gw,
        "orchestrator",
        "x",
        Some("ap-00000000000000000000000000000000"),
    )
    .await;
    assert_eq!(
        (s, refusal(&b)),
        (StatusCode::FORBIDDEN, "approval_unknown".into())
    );
    let (s, _, b) = pay(&gw, "orchestrator", "x", Some("../../etc/passwd")).await;
    assert_eq!(
        (s, refusal(&b)),
        (StatusCode::FORBIDDEN, "approval_unknown".into())
    );
    assert!(up.requests().is_empty(), "nothing was ever forwarded");
}

#[tokio::test]
async fn rest_calls_get_a_plain_json_answer() {
    let (gw, up) = gateway("").await;
    let user = gw.user_token(json!({"scope": "pay"}));
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("authorization", format!("Bearer {user}").parse().unwrap());
    let (s, hdrs, b) = gw
        .client("orchestrator")
        .fetch(
            Method::POST,
            &format!("{}/agents/bank/a2a/rest/message:send", gw.base),
            &h,
            Bytes::from_static(
                br#"{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"pay"}]}}"#,
            ),
        )
        .await
        .unwrap();
    let b: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["error"], "approval_required", "{b}");
    assert!(b.get("jsonrpc").is_none());
    let id = b["approval_id"].as_str().unwrap();
    assert!(hdrs["www-authenticate"].to_str().unwrap().contains(id));
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn approvals_survive_a_restart_and_stay_single_use() {
    let (gw, up) = gateway("").await;
    // One approval used before the restart, one approved but unused.
    let (s, h, b) = pay(&gw, "orchestrator", "first", None).await;
    let used = approval_id(s, &h, &b);
    decide(&gw, &used, "approve", "").await;
    assert_eq!(
        pay(&gw, "orchestrator", "first", Some(&used)).await.0,
        StatusCode::OK
    );
    let (s, h, b) = pay(&gw, "orchestrator", "second", None).await;
    let approved = approval_id(s, &h, &b);
    assert_eq!(
        decide(&gw, &approved, "approve", "ok").await.0,
        StatusCode::OK
    );
    let (s, h, b) = pay(&gw, "orchestrator", "third", None).await;
    let pending = approval_id(s, &h, &b);

    let gw = gw.restart().await;
    gw.expect_metric("actgate_approvals_pending 1").await;
    let (s, _, b) = pay(&gw, "orchestrator", "first", Some(&used)).await;
    assert_eq!(
        (s, refusal(&b)),
        (StatusCode::FORBIDDEN, "approval_used".into())
    );
    let (s, _, b) = pay(&gw, "orchestrator", "second", Some(&approved)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, a) = gw
        .admin(Method::GET, &format!("/api/approvals/{pending}"), None)
        .await;
    assert_eq!((s, a["status"].clone()), (StatusCode::OK, json!("pending")));
    assert_eq!(up.requests().len(), 2);
    // Each approval is one file in the data directory (beside `.lock`).
    let files = std::fs::read_dir(gw.dir.path().join("approvals"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(files, 3);
}

#[tokio::test]
async fn a_reload_keeps_the_store_and_a_refused_reload_changes_nothing() {
    let (gw, up) = gateway("").await;
    let (s, h, b) = pay(&gw, "orchestrator", "keep me", None).await;
    let id = approval_id(s, &h, &b);
    // A good reload: the same store (the pending approval is still there).
    gw.reload().unwrap();
    assert_eq!(decide(&gw, &id, "approve", "").await.0, StatusCode::OK);
    // A refused reload (bad ttl) leaves the store and its expiry untouched.
    let cfg = std::fs::read_to_string(gw.config_path()).unwrap();
    std::fs::write(
        gw.config_path(),
        cfg.replace("dir = \"approvals\"", "dir = \"approvals\"\nttl = \"0s\""),
    )
    .unwrap();
    assert!(gw.reload().is_err());
    let (s, h, b) = pay(&gw, "orchestrator", "new one", None).await;
    let fresh = approval_id(s, &h, &b);
    let (_, a) = gw
        .admin(Method::GET, &format!("/api/approvals/{fresh}"), None)
        .await;
    assert_eq!(
        a["expires_at"].as_i64().unwrap() - a["created_at"].as_i64().unwrap(),
        900
    );
    let (s, _, b) = pay(&gw, "orchestrator", "keep me", Some(&id)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(up.requests().len(), 1);
}
