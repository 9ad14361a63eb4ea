//! What an approval is bound to and what the approver sees: a retry that
//! differs in anything the upstream acts on is refused; the body is shown
//! (API and CLI), tokens removed; stored terminal controls are escaped in
//! CLI output; one caller cannot take every pending slot. Real gateway,
//! real upstream, real admin listener, the real `actgate` binary.

mod common;

use bytes::Bytes;
use common::cli::{actgate, text};
use common::gateway::{id, Options, TestGateway};
use common::upstream::{self, Behaviour, TestUpstream};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

async fn gateway(approvals_extra: &str) -> (TestGateway, TestUpstream) {
    let up = upstream::start(Behaviour::Echo).await;
    let rule = |caller: &str| {
        format!(
            "caller = \"{}\"\nagent = \"bank\"\nscopes = [\"pay\"]\napproval = \"human\"",
            id(caller)
        )
    };
    let gw = TestGateway::start(
        Options::new()
            .agent("bank", &up.url())
            .rule(&rule("orchestrator"))
            .rule(&rule("scheduler"))
            .raw(&format!(
                "[approvals]\ndir = \"approvals\"\n{approvals_extra}"
            )),
    )
    .await;
    (gw, up)
}

/// One variant of the payment request.
struct Pay<'a> {
    caller: &'a str,
    text: &'a str,
    user: Value,
    headers: Vec<(&'static str, &'a str)>,
}

impl<'a> Pay<'a> {
    fn new(text: &'a str) -> Self {
        Pay {
            caller: "orchestrator",
            text,
            user: json!({"scope": "pay"}),
            headers: vec![("content-type", "application/json")],
        }
    }

    fn header(mut self, name: &'static str, value: &'a str) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
        self
    }

    async fn send(&self, gw: &TestGateway, approval: Option<&str>) -> (StatusCode, Value) {
        let user = gw.user_token(self.user.clone());
        let mut h = HeaderMap::new();
        for (n, v) in &self.headers {
            h.append(*n, HeaderValue::from_str(v).unwrap());
        }
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {user}")).unwrap(),
        );
        if let Some(a) = approval {
            h.insert("actgate-approval", HeaderValue::from_str(a).unwrap());
        }
        let body = json!({"jsonrpc": "2.0", "id": "req-1", "method": "SendMessage",
            "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": self.text}]}}});
        let (s, _, b) = gw
            .client(self.caller)
            .fetch(
                Method::POST,
                &format!("{}/agents/bank/a2a/jsonrpc", gw.base),
                &h,
                Bytes::from(body.to_string()),
            )
            .await
            .unwrap();
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// First attempt: held; the approval's id.
    async fn held(&self, gw: &TestGateway) -> String {
        let (s, b) = self.send(gw, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert_eq!(b["error"]["data"]["error"], "approval_required", "{b}");
        b["error"]["data"]["approval_id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

async fn approve(gw: &TestGateway, id: &str) {
    let (s, b) = gw
        .admin(
            Method::POST,
            &format!("/api/approvals/{id}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// Refused as a mismatch naming `what` (or refused earlier, as a request
/// the gateway will not forward at all: never let through).
fn assert_mismatch(got: (StatusCode, Value), what: &str) {
    let (s, b) = got;
    assert!(s.is_client_error(), "refused: {s} {b}");
    if s == StatusCode::FORBIDDEN && b["error"]["data"]["error"].is_string() {
        assert_eq!(b["error"]["data"]["error"], "approval_mismatch", "{b}");
        let msg = b["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(what), "expected a {what} mismatch: {b}");
    }
}

#[tokio::test]
async fn a_retry_that_differs_in_what_the_upstream_acts_on_is_refused() {
    let (gw, up) = gateway("").await;
    let pay = Pay::new("pay 100 EUR to bob");
    let id = pay.held(&gw).await;
    approve(&gw, &id).await;

    // Another media type: the upstream would parse the same bytes otherwise.
    let other_type = Pay::new("pay 100 EUR to bob").header("content-type", "text/plain");
    assert_mismatch(other_type.send(&gw, Some(&id)).await, "content type");
    // An added extension changes what the call means to the agent.
    let extended = Pay::new("pay 100 EUR to bob").header("a2a-extensions", "urn:example:pay-all");
    assert_mismatch(extended.send(&gw, Some(&id)).await, "A2A extensions");
    // a2a-sdk also honours v0.3's header name; and another protocol version
    // reads the body differently.
    let legacy = Pay::new("pay 100 EUR to bob").header("x-a2a-extensions", "urn:example:pay-all");
    assert_mismatch(legacy.send(&gw, Some(&id)).await, "A2A extensions");
    let version = Pay::new("pay 100 EUR to bob").header("a2a-version", "0.3");
    assert_mismatch(
        version.send(&gw, Some(&id)).await,
        "A2A extensions or version",
    );
    // The user granted other scopes in the token presented now.
    let mut wider = Pay::new("pay 100 EUR to bob");
    wider.user = json!({"scope": "pay admin"});
    assert_mismatch(wider.send(&gw, Some(&id)).await, "subject token scopes");
    assert!(up.requests().is_empty(), "nothing forwarded");

    // A method override is stripped before forwarding (and so before the
    // binding): the retry carrying one is the approved request, and the
    // upstream executes exactly that, a POST without the override.
    let overridden = Pay::new("pay 100 EUR to bob").header("x-http-method-override", "DELETE");
    let (s, b) = overridden.send(&gw, Some(&id)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].headers.get("x-http-method-override").is_none());
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].headers["content-type"], "application/json");

    // Once: the identical retry after that is a replay.
    let (s, b) = pay.send(&gw, Some(&id)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["error"]["data"]["error"], "approval_used", "{b}");
    assert_eq!(up.requests().len(), 1);
}

/// Run the CLI off the async workers (it blocks until the gateway answers).
async fn cli(gw: &TestGateway, args: &[&str]) -> (String, Vec<u8>) {
    let dir = gw.dir.path().to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        actgate(&dir, &refs)
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    (text(&out.stdout), out.stdout)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_approver_sees_the_body_not_only_its_digest_and_never_a_token() {
    let (gw, _up) = gateway("").await;
    let planted = gw.user_token(json!({"sub": "someone-else"}));
    let text_sent = format!("pay 100 EUR to bob, auth {planted}");
    let id = Pay::new(&text_sent).held(&gw).await;

    let (s, a) = gw
        .admin(Method::GET, &format!("/api/approvals/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let shown = a["request"]["body"]["text"].as_str().unwrap();
    assert!(shown.contains("pay 100 EUR to bob"), "{a}");
    assert!(shown.contains("[token removed]"), "{a}");
    assert!(
        !a.to_string().contains(&planted),
        "no token in the API: {a}"
    );
    assert_eq!(a["request"]["content_type"], "application/json");

    let admin = gw.admin_url();
    let (shown, _) = cli(&gw, &["approvals", "show", &id, "--admin", &admin]).await;
    let shown_json: Value = serde_json::from_str(&shown).unwrap();
    assert!(
        shown_json["request"]["body"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("pay 100 EUR to bob") && t.contains("[token removed]")),
        "{shown}"
    );
    assert!(!shown.contains(&planted), "{shown}");
    let (listed, _) = cli(&gw, &["approvals", "list", "--admin", &admin]).await;
    assert!(listed.contains("body="), "{listed}");
    assert!(listed.contains("pay 100 EUR"), "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_terminal_controls_are_escaped_in_cli_output() {
    let (gw, _up) = gateway("").await;
    let evil = "\u{1b}[2J\u{1b}]0;owned\u{7}mallory\u{202e}knab";
    let mut pay = Pay::new("pay \u{1b}[2J 100 EUR\u{9b}");
    pay.user = json!({"scope": "pay", "sub": evil});
    let id = pay.held(&gw).await;
    gw.running.current().audit.flush().await.unwrap();

    let admin = gw.admin_url();
    let audit_dir = gw.dir.path().join("audit");
    let audit_dir = audit_dir.to_str().unwrap();
    for args in [
        vec!["approvals", "list", "--admin", &admin],
        vec!["approvals", "show", &id, "--admin", &admin],
        vec!["audit", "query", audit_dir],
        vec!["audit", "query", "--json", audit_dir],
    ] {
        let (out, bytes) = cli(&gw, &args).await;
        assert!(
            !bytes.contains(&0x1b) && !bytes.contains(&0x07),
            "{args:?} printed a raw control character: {out:?}"
        );
        assert!(
            !out.contains('\u{202e}') && !out.contains('\u{9b}'),
            "{args:?} printed a raw bidi/C1 control: {out:?}"
        );
        assert!(out.contains("mallory"), "{args:?}: {out}");
        assert!(
            out.contains("\\x1b[2J") || out.contains("\\u001b[2J"),
            "{args:?} shows the escape, escaped: {out}"
        );
    }
}

#[tokio::test]
async fn one_caller_cannot_take_every_pending_approval() {
    let (gw, _up) = gateway("max_pending = 10\nmax_pending_per_caller = 1\n").await;
    Pay::new("pay 1 EUR").held(&gw).await;
    let (s, b) = Pay::new("pay 2 EUR").send(&gw, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("this caller has too many approvals pending")),
        "{b}"
    );
    // Another caller is not starved.
    let mut other = Pay::new("pay 3 EUR");
    other.caller = "scheduler";
    other.held(&gw).await;
}

#[test]
fn max_pending_per_caller_is_checked_against_max_pending() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let opts = Options::new()
        .raw("[approvals]\ndir = \"approvals\"\nmax_pending = 5\nmax_pending_per_caller = 6\n");
    let cfg = common::gateway::config_text(dir.path(), &opts);
    std::fs::write(dir.path().join("gw.toml"), cfg).unwrap();
    let o = actgate(dir.path(), &["config", "check", "--config", "gw.toml"]);
    let err = text(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("gw.toml: approvals.max_pending_per_caller: must be at least 1 and at most approvals.max_pending (5)"),
        "{err}"
    );
}
