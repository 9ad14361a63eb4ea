//! Classification strictness (issue 12, "Fail closed"): the gateway decides
//! on exactly what the agent will execute. Every request below goes over real
//! mTLS to the gateway, which forwards to a real Python a2a-sdk upstream
//! (Starlette routing, Python `json`) that records every request it receives
//! and every operation it executes (`tests/interop/recording_upstream.py`).
//!
//! The policy: a deny rule (or a human-approval rule) for `CancelTask`, and an
//! allow rule without `operations`. A request the gateway cannot name must be
//! refused, never matched by the allow-all rule.

mod common;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::gateway::{id, Options, TestGateway};
use common::python::Reaper;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

/// The recording a2a-sdk upstream and the file it records into.
struct Recorder {
    _child: Reaper,
    _dir: tempfile::TempDir,
    log: PathBuf,
    port: u16,
}

impl Recorder {
    async fn start() -> Recorder {
        let py = tokio::task::spawn_blocking(|| {
            common::python::venv("interop-venv", "tests/interop/requirements.txt")
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("recorded.jsonl");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/recording_upstream.py");
        let (child, port) = common::python::serve(&py, &script, &[log.as_os_str()]);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Recorder {
            _child: child,
            _dir: dir,
            log,
            port,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Raw paths (as received on the wire) of every request that arrived.
    fn received(&self) -> Vec<String> {
        self.lines()
            .iter()
            .filter_map(|l| l["request"]["raw_path"].as_str().map(str::to_owned))
            .collect()
    }

    /// Every operation the upstream's request handler executed.
    fn executed(&self) -> Vec<String> {
        self.lines()
            .iter()
            .filter_map(|l| l["executed"].as_str().map(str::to_owned))
            .collect()
    }
}

/// A gateway in front of `up` where CancelTask is restricted by `restriction`
/// (a rule block) and everything else is allowed by a rule without
/// `operations`.
async fn gateway(up: &Recorder, restriction: &str) -> TestGateway {
    TestGateway::start(
        Options::new()
            .agent("recorder", &up.url())
            .rule(restriction)
            .rule(&format!(
                "caller = \"{}\"\nagent = \"recorder\"\nscopes = []\napp_only = true",
                id("orchestrator")
            ))
            .raw("[approvals]\ndir = \"approvals\""),
    )
    .await
}

fn deny_cancel() -> String {
    format!(
        "effect = \"deny\"\ncaller = \"{}\"\nagent = \"recorder\"\noperations = [\"CancelTask\"]",
        id("orchestrator")
    )
}

fn approve_cancel() -> String {
    format!(
        "caller = \"{}\"\nagent = \"recorder\"\noperations = [\"CancelTask\"]\nscopes = []\napp_only = true\napproval = \"human\"",
        id("orchestrator")
    )
}

/// One request from the orchestrator; status, headers and body.
async fn send(
    gw: &TestGateway,
    method: Method,
    path: &str,
    content_type: Option<&'static str>,
    version: &'static str,
    body: &[u8],
) -> (StatusCode, HeaderMap, Bytes) {
    let mut h = HeaderMap::new();
    if let Some(ct) = content_type {
        h.insert("content-type", HeaderValue::from_static(ct));
    }
    h.insert("a2a-version", HeaderValue::from_static(version));
    gw.client("orchestrator")
        .fetch(
            method,
            &format!("{}/agents/recorder{path}", gw.base),
            &h,
            Bytes::copy_from_slice(body),
        )
        .await
        .unwrap()
}

const JSON: Option<&str> = Some("application/json");

/// The proxy records for `path` (as received), flushed first.
async fn records_for(gw: &TestGateway, path: &str) -> Vec<Value> {
    gw.running.current().audit.flush().await.unwrap();
    common::audit::records(&gw.dir.path().join("audit"))
        .into_iter()
        .filter(|r| r["path"] == format!("/agents/recorder{path}"))
        .collect()
}

/// A JSON-RPC refusal: HTTP 400, the JSON-RPC error `code`, the id echoed
/// when readable, and one audit record with decision `invalid`.
async fn expect_jsonrpc_refusal(gw: &TestGateway, body: &[u8], code: i64, id: Value) {
    let (s, _, b) = send(gw, Method::POST, "/a2a/jsonrpc", JSON, "1.0", body).await;
    let text = String::from_utf8_lossy(&b).into_owned();
    assert_eq!(s, StatusCode::BAD_REQUEST, "{text}");
    let v: Value = serde_json::from_slice(&b).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    assert_eq!(v["id"], id, "{v}");
    assert!(
        !v["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{v}"
    );
}

/// Every decided request left exactly one record, with decision `invalid`.
async fn expect_invalid_records(gw: &TestGateway, path: &str, n: usize) {
    let recs = records_for(gw, path).await;
    assert_eq!(recs.len(), n, "{recs:?}");
    for r in &recs {
        assert_eq!(r["decision"], "invalid", "{r}");
        assert_ne!(r["operation"], "unknown", "{r}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_method_member_is_refused_not_forwarded() {
    let up = Recorder::start().await;
    for restriction in [deny_cancel(), approve_cancel()] {
        let gw = gateway(&up, &restriction).await;
        for body in [
            &br#"{"jsonrpc":"2.0","id":7,"method":"GetTask","method":"CancelTask","params":{"id":"t1"}}"#[..],
            // The same name spelled with an escape is the same member.
            br#"{"jsonrpc":"2.0","id":7,"method":"GetTask","\u006dethod":"CancelTask","params":{"id":"t1"}}"#,
            // Duplicates deeper in the body are refused too.
            br#"{"jsonrpc":"2.0","id":7,"method":"GetTask","params":{"id":"t1","id":"t2"}}"#,
        ] {
            expect_jsonrpc_refusal(&gw, body, -32600, json!(7)).await;
        }
        expect_invalid_records(&gw, "/a2a/jsonrpc", 3).await;
    }
    assert_eq!(up.executed(), Vec::<String>::new());
    assert_eq!(up.received(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_byte_order_mark_or_a_utf16_body_is_refused() {
    let up = Recorder::start().await;
    let gw = gateway(&up, &deny_cancel()).await;
    let call = r#"{"jsonrpc":"2.0","id":3,"method":"CancelTask","params":{"id":"t1"}}"#;
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(call.as_bytes());
    expect_jsonrpc_refusal(&gw, &bom, -32700, Value::Null).await;
    let utf16le: Vec<u8> = call.encode_utf16().flat_map(u16::to_le_bytes).collect();
    expect_jsonrpc_refusal(&gw, &utf16le, -32700, Value::Null).await;
    let mut utf16be = vec![0xFE, 0xFF];
    utf16be.extend(call.encode_utf16().flat_map(u16::to_be_bytes));
    expect_jsonrpc_refusal(&gw, &utf16be, -32700, Value::Null).await;
    expect_invalid_records(&gw, "/a2a/jsonrpc", 3).await;
    assert_eq!(up.executed(), Vec::<String>::new());
    assert_eq!(up.received(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_is_refused() {
    let up = Recorder::start().await;
    let gw = gateway(&up, &approve_cancel()).await;
    expect_jsonrpc_refusal(
        &gw,
        br#"[{"jsonrpc":"2.0","id":4,"method":"CancelTask","params":{"id":"t1"}}]"#,
        -32600,
        Value::Null,
    )
    .await;
    expect_invalid_records(&gw, "/a2a/jsonrpc", 1).await;
    assert_eq!(up.received(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_or_miscased_methods_and_non_json_content_types_are_refused() {
    let up = Recorder::start().await;
    let gw = gateway(&up, &deny_cancel()).await;
    for m in ["canceltask", "CancelTask ", "tasks/Cancel", "Nope"] {
        let body = json!({"jsonrpc": "2.0", "id": "x", "method": m, "params": {"id": "t1"}});
        expect_jsonrpc_refusal(&gw, body.to_string().as_bytes(), -32601, json!("x")).await;
    }
    // Not JSON-RPC 2.0.
    expect_jsonrpc_refusal(
        &gw,
        br#"{"jsonrpc":"1.0","id":1,"method":"GetTask"}"#,
        -32600,
        json!(1),
    )
    .await;
    // A JSON body under another media type.
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"t1"}}"#;
    for ct in [
        Some("text/plain"),
        None,
        Some("application/json; charset=utf-16"),
    ] {
        let (s, _, b) = send(&gw, Method::POST, "/a2a/jsonrpc", ct, "1.0", body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{ct:?}");
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error"]["code"], -32600, "{v}");
        assert_eq!(v["id"], 1, "{v}");
    }
    expect_invalid_records(&gw, "/a2a/jsonrpc", 8).await;
    assert_eq!(up.received(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_paths_with_encoded_or_odd_forms_are_refused() {
    let up = Recorder::start().await;
    let gw = gateway(&up, &deny_cancel()).await;
    // An encoded colon: Starlette decodes it and runs CancelTask. The
    // gateway decodes it too, so the call is named CancelTask and denied.
    for path in [
        "/a2a/rest/tasks/t1%3Acancel",
        "/a2a/rest/tasks/t1%3acancel",
        "/a2a/rest/v1/tasks/t1%3Acancel",
        "/a2a/rest/tasks/%74%31%3A%63ancel",
    ] {
        let (s, _, _) = send(&gw, Method::POST, path, JSON, "1.0", b"{}").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
        let recs = records_for(&gw, path).await;
        assert_eq!(recs.len(), 1, "{recs:?}");
        assert_eq!(recs[0]["operation"], "CancelTask", "{path}");
        assert_eq!(recs[0]["decision"], "deny", "{path}");
    }
    for (method, path) in [
        // Other spellings whose meaning to some framework could differ.
        (Method::POST, "/a2a/rest/tasks/t1:CANCEL"),
        (Method::POST, "/a2a/rest/tasks/t1:cancel:cancel"),
        (Method::POST, "/a2a/rest/tasks/t1;x=1:cancel"),
        (Method::POST, "/a2a/rest/tasks/t1%253Acancel"),
        (Method::POST, "/a2a/rest/tasks/t1:cancel/"),
        (Method::POST, "/a2a/rest//tasks/t1:cancel"),
        (Method::POST, "/a2a/rest/x/%2E%2E/tasks/t1:cancel"),
        (Method::POST, "/a2a/rest/tasks%2Ft1:cancel"),
        (Method::GET, "/a2a/rest/tasks/t1:cancel"),
        (Method::POST, "/a2a/rest/TASKS/t1:cancel"),
        (Method::PUT, "/a2a/rest/tasks/t1"),
        (Method::GET, "/a2a/rest/tasks/tasks"),
        (Method::GET, "/somewhere/else"),
    ] {
        let (s, _, b) = send(&gw, method.clone(), path, JSON, "1.0", b"{}").await;
        let text = String::from_utf8_lossy(&b);
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND,
            "{method} {path}: {s} {text}"
        );
        let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
        assert!(
            v["error"].is_string(),
            "{method} {path}: a clear error: {text}"
        );
        assert!(
            v["error_description"].is_string(),
            "{method} {path}: {text}"
        );
        expect_invalid_records(&gw, path, 1).await;
    }
    // Properly spelled, the cancel is denied by the deny rule.
    let (s, _, _) = send(
        &gw,
        Method::POST,
        "/a2a/rest/tasks/t1:cancel",
        JSON,
        "1.0",
        b"{}",
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(up.executed(), Vec::<String>::new());
    assert_eq!(up.received(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_config_path_ending_in_tasks_is_not_list_tasks() {
    let up = Recorder::start().await;
    // Only ListTasks is allowed: the push-config read must not pass as it.
    let gw = TestGateway::start(Options::new().agent("recorder", &up.url()).rule(&format!(
        "caller = \"{}\"\nagent = \"recorder\"\noperations = [\"ListTasks\"]\nscopes = []\napp_only = true",
        id("orchestrator")
    )))
    .await;
    let path = "/a2a/rest/tasks/T/pushNotificationConfigs/tasks";
    let (s, _, _) = send(&gw, Method::GET, path, None, "1.0", b"").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let recs = records_for(&gw, path).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["operation"], "GetTaskPushNotificationConfig");
    assert_eq!(recs[0]["decision"], "deny");
    assert_eq!(up.received(), Vec::<String>::new());
    // ListTasks itself still works.
    let (s, _, _) = send(&gw, Method::GET, "/a2a/rest/tasks", None, "1.0", b"").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(up.executed(), ["ListTasks"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_card_path_variant_is_answered_by_the_gateway() {
    let up = Recorder::start().await;
    let gw = gateway(&up, &deny_cancel()).await;
    for path in [
        "/.well-known/agent-card.json/",
        "/.well-known/agent-card%2Ejson",
        "/.well-known/agent-card.json%2F",
        "/%2Ewell-known/agent-card.json",
        "/.well-known//agent-card.json",
        "/.WELL-KNOWN/Agent-Card.json",
        "/.well-known/agent.json/",
    ] {
        for method in [Method::GET, Method::HEAD] {
            let (s, _, b) = send(&gw, method.clone(), path, None, "1.0", b"").await;
            assert_eq!(s, StatusCode::OK, "{method} {path}");
            if method == Method::GET {
                let card: Value = serde_json::from_slice(&b).unwrap();
                let url = if path.contains("agent.json") {
                    card["url"].clone()
                } else {
                    card["supportedInterfaces"][0]["url"].clone()
                };
                assert_eq!(
                    url,
                    format!("{}/agents/recorder/a2a/jsonrpc", gw.base),
                    "{path}"
                );
            }
        }
    }
    for path in [
        "/.well-known/agent-card.json",
        "/.well-known/agent-card.json/",
        "/.well-known/agent.json",
    ] {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let (s, h, _) = send(&gw, method.clone(), path, JSON, "1.0", b"{}").await;
            assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(h["allow"], "GET, HEAD");
        }
        let recs = records_for(&gw, path).await;
        assert!(recs.iter().any(|r| r["decision"] == "invalid"), "{recs:?}");
    }
    assert_eq!(up.received(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn legitimate_calls_reach_the_upstream_on_their_canonical_path() {
    let up = Recorder::start().await;
    let gw = gateway(&up, &deny_cancel()).await;
    let send_v1 = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
        "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}}});
    let (s, _, b) = send(
        &gw,
        Method::POST,
        "/a2a/jsonrpc",
        JSON,
        "1.0",
        send_v1.to_string().as_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert!(v["result"].is_object(), "{v}");
    let task = v["result"]["task"]["id"].as_str().unwrap().to_owned();

    let send_v03 = json!({"jsonrpc": "2.0", "id": 2, "method": "message/send",
        "params": {"message": {"messageId": "m2", "role": "user", "kind": "message",
                               "parts": [{"kind": "text", "text": "hi"}]}}});
    let (s, _, b) = send(
        &gw,
        Method::POST,
        "/a2a/jsonrpc",
        Some("application/json; charset=utf-8"),
        "0.3",
        send_v03.to_string().as_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let get = json!({"jsonrpc": "2.0", "id": 3, "method": "GetTask", "params": {"id": task}});
    let (s, _, _) = send(
        &gw,
        Method::POST,
        "/a2a/jsonrpc",
        JSON,
        "1.0",
        get.to_string().as_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // REST: v1.0 routes; an encoded unreserved character is forwarded decoded.
    let rest_send =
        json!({"message": {"messageId": "m3", "role": "ROLE_USER", "parts": [{"text": "hi"}]}});
    let (s, _, b) = send(
        &gw,
        Method::POST,
        "/a2a/rest/message:send",
        Some("application/a2a+json"),
        "1.0",
        rest_send.to_string().as_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let encoded = task.replacen('-', "%2D", 1);
    let (s, _, _) = send(
        &gw,
        Method::GET,
        &format!("/a2a/rest/tasks/{encoded}?historyLength=1"),
        None,
        "1.0",
        b"",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = send(&gw, Method::GET, "/a2a/rest/tasks", None, "1.0", b"").await;
    assert_eq!(s, StatusCode::OK);

    assert_eq!(
        up.executed(),
        [
            "SendMessage",
            "SendMessage",
            "GetTask",
            "SendMessage",
            "GetTask",
            "ListTasks"
        ]
    );
    assert_eq!(
        up.received(),
        [
            "/a2a/jsonrpc".to_string(),
            "/a2a/jsonrpc".into(),
            "/a2a/jsonrpc".into(),
            "/a2a/rest/message:send".into(),
            format!("/a2a/rest/tasks/{task}"),
            "/a2a/rest/tasks".into(),
        ]
    );
}
