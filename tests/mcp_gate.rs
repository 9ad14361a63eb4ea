//! MCP servers behind the gate (issue 16), end to end: a real gateway, real
//! mTLS callers and a small real MCP server (Streamable HTTP, JSON) that
//! records what it receives.

mod common;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use common::exchange::Answer;
use common::gateway::{claims, id, Options, TestGateway, IDP};
use common::mcp_upstream::{self, McpUpstream};

/// [`gateway`]'s MCP server and rules, plus `extra` options.
async fn gateway_with(extra: impl FnOnce(Options) -> Options) -> (TestGateway, McpUpstream) {
    let up = mcp_upstream::start().await;
    let gw = TestGateway::start(extra(options(&up))).await;
    (gw, up)
}

/// Orchestrator may use read_* and delete_file (which needs files:delete,
/// on behalf of a user, after a person approved it) and list; scheduler
/// may call tools for itself; notifier only for a user.
async fn gateway() -> (TestGateway, McpUpstream) {
    gateway_with(|o| o).await
}

fn options(up: &McpUpstream) -> Options {
    Options::new()
            .rule(&format!(
                "caller = \"{}\"\nmcp_server = \"files\"\napp_only = true\ntools = [\"read_*\"]\nscopes = [\"files:read\"]",
                id("orchestrator")
            ))
            .rule(&format!(
                "caller = \"{}\"\nmcp_server = \"files\"\nsubject_issuer = \"{IDP}\"\ntools = [\"delete_file\"]\nscopes = [\"files:delete\"]\napproval = \"human\"",
                id("orchestrator")
            ))
            .rule(&format!(
                "caller = \"{}\"\nmcp_server = \"files\"\nsubject_issuer = \"{IDP}\"\nscopes = [\"files:read\"]",
                id("notifier")
            ))
            .rule(&format!(
                "caller = \"{}\"\nmcp_server = \"files\"\napp_only = true\nscopes = [\"files:read\"]",
                id("scheduler")
            ))
            .raw(&format!(
                "[approvals]\ndir = \"approvals\"\n\n[[mcp_server]]\nname = \"files\"\nupstream = \"{}\"\n\
                 [[mcp_server.tool]]\nname = \"delete_file\"\nscopes = [\"files:delete\"]\n\
                 [[mcp_server.tool]]\nname = \"read_file\"\nscopes = [\"files:read\"]\n",
            up.url()
        ))
}

async fn post(
    gw: &TestGateway,
    caller: &str,
    msg: Value,
    extra: &[(&'static str, &str)],
) -> Answer {
    post_raw(gw, caller, msg.to_string(), extra).await
}

async fn post_raw(
    gw: &TestGateway,
    caller: &str,
    body: String,
    extra: &[(&'static str, &str)],
) -> Answer {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "accept",
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    for (k, v) in extra {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    send(gw, caller, Method::POST, h, Bytes::from(body)).await
}

async fn send(gw: &TestGateway, caller: &str, m: Method, h: HeaderMap, body: Bytes) -> Answer {
    let url = format!("{}/mcp/files", gw.base);
    Answer::of(gw.client(caller).fetch(m, &url, &h, body).await.unwrap())
}

/// POST `msg` as `caller` for a user whose token carries `scopes`.
async fn as_user(gw: &TestGateway, caller: &str, msg: Value, scopes: &str) -> Answer {
    with_token(gw, caller, msg, &gw.user_token(json!({ "scope": scopes }))).await
}

/// POST `msg` as `caller` with the bearer `token`.
async fn with_token(gw: &TestGateway, caller: &str, msg: Value, token: &str) -> Answer {
    let bearer = format!("Bearer {token}");
    post(gw, caller, msg, &[("authorization", &bearer)]).await
}

/// The claims of the token the server saw for a tools/call.
fn minted(a: &Answer) -> Value {
    claims(
        a.body["result"]["structuredContent"]["token"]
            .as_str()
            .unwrap(),
    )
}

/// The route's RFC 9728 metadata (path on the gateway).
const METADATA: &str = "/.well-known/oauth-protected-resource/mcp/files";

fn call(id: i64, tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": {"path": "/shared/a.txt"}}})
}

fn mcp_records(gw: &TestGateway) -> Vec<Value> {
    common::audit::records(&gw.dir.path().join("audit"))
        .into_iter()
        .filter(|r| r["kind"] == "mcp")
        .collect()
}

/// The first MCP record matching `pred`, once the writer has flushed it
/// (an allowed call's record is written within `audit.flush_interval`).
async fn record(gw: &TestGateway, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        if let Some(r) = mcp_records(gw).into_iter().find(|r| pred(r)) {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no such record in {:?}", mcp_records(gw));
}

/// A refusal as an MCP client reads it: JSON, a JSON-RPC error with `id`.
fn assert_jsonrpc_error(a: &Answer, id: Value) -> i64 {
    assert_eq!(a.headers["content-type"], "application/json");
    assert_eq!(a.body["jsonrpc"], "2.0", "{}", a.body);
    assert_eq!(a.body["id"], id, "{}", a.body);
    a.body["error"]["code"].as_i64().expect("a numeric code")
}

#[tokio::test]
async fn an_allowed_tool_call_reaches_the_server_with_a_minted_token_only() {
    let (gw, up) = gateway().await;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let a = post(
        &gw,
        "orchestrator",
        init,
        &[("authorization", "Bearer not-forwarded")],
    )
    .await;
    // A present but invalid token is an error, never ignored or forwarded,
    // answered with the request's id (the SDK matches errors by it).
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert_eq!(assert_jsonrpc_error(&a, json!(0)), -31401);
    assert!(up.requests().is_empty());

    let a = post(
        &gw,
        "orchestrator",
        call(7, "read_file"),
        &[("x-forwarded-client-cert", "URI=spiffe://evil/x")],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["id"], 7);
    let c = minted(&a);
    assert_eq!(c["aud"], format!("{}/mcp/files", gw.base));
    assert_eq!(c["sub"], id("orchestrator"));
    assert_eq!(c["scope"], "files:read");
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].headers.get("x-forwarded-client-cert").is_none());
    assert_eq!(seen[0].uri.path(), "/mcp");
    let rec = record(&gw, |r| r["decision"] == "allow").await;
    assert_eq!(rec["agent"], "files");
    assert_eq!(rec["operation"], "tools/call");
    assert_eq!(rec["mcp"]["tool"], "read_file");
    assert_eq!(
        rec["mcp"]["arguments_sha256"].as_str().map(str::len),
        Some(64)
    );
    assert!(!rec.to_string().contains("/shared/a.txt"), "{rec}");
    // Timed under the server's label: the call, the refused token, the
    // upstream's answer.
    for m in [
        "actgate_request_duration_seconds_count{agent=\"mcp:files\",decision=\"allow\"} 1",
        "actgate_request_duration_seconds_count{agent=\"mcp:files\",decision=\"unauthenticated\"} 1",
        "actgate_upstream_duration_seconds_count{agent=\"mcp:files\"} 1",
    ] {
        gw.expect_metric(m).await;
    }
}

#[tokio::test]
async fn a_forbidden_tool_is_refused_before_the_server_and_audited() {
    let (gw, up) = gateway().await;
    // Scheduler may reach the server (lists) but the rule names no tools list:
    // it may call anything; orchestrator's app-only rule covers read_* only.
    let a = post(&gw, "orchestrator", call(3, "write_file"), &[]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(assert_jsonrpc_error(&a, json!(3)), -31403);
    assert!(
        up.requests().is_empty(),
        "the server saw the forbidden call"
    );
    let rec = record(&gw, |r| r["mcp"]["tool"] == "write_file").await;
    assert_eq!(rec["decision"], "deny");
    gw.expect_metric("actgate_decisions_total{agent=\"mcp:files\",decision=\"deny\"} 1")
        .await;
    // A caller no rule lets reach the server gets the unknown server's
    // answer, before its body is read (so its id is not known: null).
    let a = post(&gw, "intruder", call(4, "read_file"), &[]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_jsonrpc_error(&a, Value::Null);
    assert!(up.requests().is_empty());
    // The unreachable server is not named in its metrics either.
    for m in [
        "actgate_request_duration_seconds_count{agent=\"mcp:files\",decision=\"deny\"} 1",
        "actgate_request_duration_seconds_count{agent=\"(unknown)\",decision=\"deny\"} 1",
    ] {
        gw.expect_metric(m).await;
    }
}

#[tokio::test]
async fn session_operations_are_open_to_callers_that_reach_the_server() {
    let (gw, up) = gateway().await;
    let list = json!({"jsonrpc": "2.0", "id": "l", "method": "tools/list"});
    let a = post(&gw, "orchestrator", list, &[]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(up.methods(), vec!["tools/list"]);
    // A session token carries no tool scope.
    let seen = &up.requests()[0];
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(claims(auth.trim_start_matches("Bearer "))
        .get("scope")
        .is_none());
}

#[tokio::test]
async fn an_under_scoped_user_token_gets_the_step_up_challenge() {
    let (gw, up) = gateway().await;
    let a = as_user(&gw, "orchestrator", call(5, "delete_file"), "files:read").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let challenge = a.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\", scope=\"files:delete\"")
            && challenge.contains(&format!(
                "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp/files\"",
                gw.base
            )),
        "{challenge}"
    );
    assert_eq!(assert_jsonrpc_error(&a, json!(5)), -31403);
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn a_delegated_rule_without_a_user_token_points_at_the_metadata() {
    let (gw, up) = gateway().await;
    let a = post(&gw, "notifier", call(6, "read_file"), &[]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    let metadata = format!("{}{METADATA}", gw.base);
    assert_eq!(
        a.headers["www-authenticate"],
        format!("Bearer resource_metadata=\"{metadata}\"").as_str()
    );
    assert_eq!(assert_jsonrpc_error(&a, json!(6)), -31401);
    assert!(up.requests().is_empty());
    // The metadata document (RFC 9728) for a caller that may reach the server.
    let (s, doc) = gw.get_json("notifier", METADATA).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["resource"], format!("{}/mcp/files", gw.base));
    assert_eq!(doc["authorization_servers"], json!([IDP]));
    assert_eq!(
        doc["scopes_supported"],
        json!(["files:delete", "files:read"])
    );
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    // Not for a caller that may not.
    let (s, _) = gw.get_json("intruder", METADATA).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // With a user token the call goes through, for the user.
    let a = as_user(&gw, "notifier", call(8, "read_file"), "files:read").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let c = minted(&a);
    // The gateway's token, for the user, with the caller as actor.
    assert_eq!(c["iss"], common::gateway::ISSUER);
    assert_eq!(c["sub"], "alice@example.com");
    assert_eq!(c["act"]["sub"], id("notifier"));
    assert_eq!(c["scope"], "files:read");
}

#[tokio::test]
async fn batches_duplicates_and_header_mismatches_never_reach_the_server() {
    let (gw, up) = gateway().await;
    let batch = json!([call(1, "read_file"), call(2, "delete_file")]);
    let a = post(&gw, "orchestrator", batch, &[]).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(assert_jsonrpc_error(&a, Value::Null), -32600);
    let dup = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","name":"delete_file"}}"#;
    let a = post_raw(&gw, "orchestrator", dup.into(), &[]).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(assert_jsonrpc_error(&a, Value::Null), -32600);
    // The header says read_file, the body delete_file: refused (-32020).
    let a = post(
        &gw,
        "orchestrator",
        call(9, "delete_file"),
        &[("mcp-method", "tools/call"), ("mcp-name", "read_file")],
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(assert_jsonrpc_error(&a, json!(9)), -32020);
    assert!(up.requests().is_empty());
    let rec = record(&gw, |r| {
        r["reason"].as_str().is_some_and(|w| w.contains("Mcp-Name"))
    })
    .await;
    assert_eq!(rec["decision"], "invalid");
}

#[tokio::test]
async fn a_session_belongs_to_the_caller_that_created_it() {
    let (gw, up) = gateway().await;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let a = post(&gw, "orchestrator", init, &[]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let sid = a.headers["mcp-session-id"].to_str().unwrap().to_owned();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let with = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let a = post(&gw, "orchestrator", ping.clone(), &with).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let before = up.requests().len();
    // Scheduler may reach the server, but not orchestrator's session.
    let a = post(&gw, "scheduler", ping, &with).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_jsonrpc_error(&a, json!(1));
    let mut h = HeaderMap::new();
    h.insert("mcp-session-id", HeaderValue::from_str(&sid).unwrap());
    let a = send(&gw, "scheduler", Method::GET, h.clone(), Bytes::new()).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = send(&gw, "scheduler", Method::DELETE, h.clone(), Bytes::new()).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // A response to a server request, on another caller's session.
    let resp = json!({"jsonrpc": "2.0", "id": 99, "result": {"roots": []}});
    let a = post(&gw, "scheduler", resp.clone(), &with).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // Or on none.
    let a = post(&gw, "orchestrator", resp, &[]).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        up.requests().len(),
        before,
        "a foreign session reached the server"
    );
    let rec = record(&gw, |r| r["caller"] == id("scheduler")).await;
    assert_eq!(rec["decision"], "deny");
    assert_eq!(rec["mcp"]["session"], sid.as_str());
    // The owner's stream and its end.
    let a = send(&gw, "orchestrator", Method::GET, h.clone(), Bytes::new()).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-type"], "text/event-stream");
    let a = send(&gw, "orchestrator", Method::DELETE, h, Bytes::new()).await;
    assert_eq!(a.status, StatusCode::OK);
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    let a = post(&gw, "orchestrator", ping, &with).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "an ended session is gone");
}

#[tokio::test]
async fn a_held_tool_call_passes_once_after_approval() {
    let (gw, up) = gateway().await;
    let user = gw.user_token(json!({"scope": "files:read files:delete"}));
    let bearer = format!("Bearer {user}");
    let auth = [("authorization", bearer.as_str())];
    let a = post(&gw, "orchestrator", call(10, "delete_file"), &auth).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_jsonrpc_error(&a, json!(10));
    let approval = a.body["error"]["data"]["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(up.requests().is_empty());
    let (s, b) = gw
        .admin(
            Method::POST,
            &format!("/api/approvals/{approval}/approve"),
            Some(json!({"reason": "ok"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Other arguments: not this approval.
    let mut other = call(11, "delete_file");
    other["params"]["arguments"]["path"] = json!("/etc/passwd");
    let with = [
        ("authorization", bearer.as_str()),
        ("actgate-approval", approval.as_str()),
    ];
    let a = post(&gw, "orchestrator", other, &with).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(up.requests().is_empty());
    // The identical call, under a new id and with its own progress token
    // (`_meta` differs per request, as SDK clients send it): passes once.
    let mut retry = call(12, "delete_file");
    retry["params"]["_meta"] = json!({"progressToken": "p-12"});
    let a = post(&gw, "orchestrator", retry, &with).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(minted(&a)["scope"], "files:delete");
    assert!(up.requests()[0].headers.get("actgate-approval").is_none());
    let a = post(&gw, "orchestrator", call(13, "delete_file"), &with).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "an approval is used once");
    assert_eq!(up.requests().len(), 1);
}

/// `actgate policy check --mcp-server` asks the same core: the deciding
/// rule, the tool's scopes, step-up and approval; `config check` names the
/// file and field of a bad `[[mcp_server]]`.
#[tokio::test]
async fn policy_check_and_config_check_know_mcp_servers() {
    use common::cli::{actgate, text};
    let (gw, _up) = gateway().await;
    let dir = gw.dir.path();
    // The running gateway holds its approvals directory: the commands get
    // the same config with their own.
    let text_cfg = std::fs::read_to_string(gw.config_path())
        .unwrap()
        .replace("dir = \"approvals\"", "dir = \"approvals-check\"");
    let cfg = dir.join("check.toml");
    std::fs::write(&cfg, &text_cfg).unwrap();
    let cfg = cfg.to_str().unwrap();
    let orch = id("orchestrator");
    let base = [
        "policy",
        "check",
        "--config",
        cfg,
        "--caller",
        &orch,
        "--mcp-server",
        "files",
    ];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        actgate(dir, &args)
    };
    let o = run(&["--tool", "read_file"]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(
        out.contains("decision: allow") && out.contains("scopes:   files:read"),
        "{out}"
    );
    assert!(
        out.contains(&format!("aud:      {}/mcp/files", gw.base)),
        "{out}"
    );
    let o = run(&["--tool", "write_file"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("decision: deny"),
        "{}",
        text(&o.stdout)
    );
    let o = run(&[
        "--tool",
        "delete_file",
        "--subject",
        "alice",
        "--scope",
        "files:read",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(
        out.contains("decision: step_up") && out.contains("needed:   files:delete"),
        "{out}"
    );
    let o = run(&[
        "--tool",
        "delete_file",
        "--subject",
        "alice",
        "--scope",
        "files:delete",
    ]);
    assert!(
        text(&o.stdout).contains("decision: approval_required"),
        "{}",
        text(&o.stdout)
    );
    let o = run(&["--tool", "x", "--agent", "files"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "--agent and --mcp-server exclude each other"
    );

    // A bad [[mcp_server]]: file and field named.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        text_cfg.replace(
            "name = \"delete_file\"\nscopes = [\"files:delete\"]",
            "name = \"delete_file\"\nscopes = [\"files delete\"]",
        ) + "\n[[mcp_server]]\nname = \"files\"\nupstream = \"ftp://x\"\n"
            + "\n[[mcp_server]]\nname = \"vault\"\nupstream = \"http://user:s3cret@127.0.0.1:9/mcp\"\n",
    )
    .unwrap();
    let o = actgate(dir, &["config", "check", "--config", bad.to_str().unwrap()]);
    let err = text(&o.stderr) + &text(&o.stdout);
    assert!(!o.status.success());
    assert!(
        err.contains("mcp_server[0] (files).tool[0].scopes"),
        "{err}"
    );
    assert!(
        err.contains("mcp_server[1] (files).name") && err.contains("used twice"),
        "{err}"
    );
    // Credentials in an upstream URL would be shown wherever it is shown.
    assert!(
        err.contains("mcp_server[2] (vault).upstream: must not contain credentials"),
        "{err}"
    );
}

/// A user token whose `aud` is the route's resource (RFC 8707, as MCP
/// clients request it) is accepted on that route, and only there: not at an
/// agent, not at another MCP server.
#[tokio::test]
async fn a_user_token_for_the_route_resource_is_accepted_there_only() {
    let agent = common::upstream::start(common::upstream::Behaviour::Echo).await;
    let (gw, up) = gateway_with(|o| {
        o.agent("scheduler", &agent.url())
            .allow("notifier", "scheduler", &["files:read"], false)
    })
    .await;
    let for_aud = |aud: String| gw.user_token(json!({"aud": aud, "scope": "files:read"}));
    let for_route = for_aud(format!("{}/mcp/files", gw.base));
    let a = with_token(&gw, "notifier", call(1, "read_file"), &for_route).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let c = minted(&a);
    assert_eq!(
        (c["sub"].as_str(), c["aud"].clone()),
        (
            Some("alice@example.com"),
            json!(format!("{}/mcp/files", gw.base))
        )
    );
    // The same token at an agent: not its audience.
    let (s, _, b) = gw
        .send_message("notifier", "scheduler", Some(&for_route))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert!(agent.requests().is_empty());
    // A token for another MCP server's resource: refused here.
    let other = for_aud(format!("{}/mcp/web", gw.base));
    let a = with_token(&gw, "notifier", call(2, "read_file"), &other).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert_eq!(up.requests().len(), 1);
}

/// POST a `tools/list` as `caller`, the upstream told to answer in `form`;
/// the raw answer.
async fn list_raw(gw: &TestGateway, caller: &str, form: &str) -> (StatusCode, HeaderMap, Bytes) {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "accept",
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    h.insert("accept-encoding", HeaderValue::from_static("gzip, br"));
    h.insert("x-test-answer", HeaderValue::from_str(form).unwrap());
    let list = json!({"jsonrpc": "2.0", "id": "l", "method": "tools/list"});
    let url = format!("{}/mcp/files", gw.base);
    gw.client(caller)
        .fetch(Method::POST, &url, &h, Bytes::from(list.to_string()))
        .await
        .unwrap()
}

/// [`list_raw`]'s body, asserting a 200 of Content-Type `ct`.
async fn list_ok(gw: &TestGateway, caller: &str, form: &str, ct: &str) -> Bytes {
    let (status, headers, body) = list_raw(gw, caller, form).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], ct);
    body
}

/// The one JSON-RPC message of an SSE answer's `data:` lines.
fn sse_message(body: &[u8]) -> Value {
    let text = std::str::from_utf8(body).unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .collect();
    assert_eq!(data.len(), 1, "{text}");
    serde_json::from_str(data[0]).unwrap()
}

fn tool_names(result: &Value) -> Vec<&str> {
    result["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_json_list_answer_shows_only_the_callers_tools_privately() {
    let (gw, up) = gateway().await;
    // Orchestrator, app-only: read_* only (delete_file needs a user).
    let body = list_ok(&gw, "orchestrator", "json", "application/json").await;
    let a: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(a["id"], "l");
    assert_eq!(tool_names(&a["result"]), vec!["read_file"], "{a}");
    assert_eq!(a["result"]["cacheScope"], "private");
    assert_eq!(a["result"]["nextCursor"], "page-2");
    // Scheduler may call any tool whose scopes its rule grants.
    let (_, _, body) = list_raw(&gw, "scheduler", "json").await;
    let a: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        tool_names(&a["result"]),
        vec!["read_file", "list_dir"],
        "{a}"
    );
    // The upstream was asked for an answer the filter can read.
    assert!(up
        .requests()
        .iter()
        .all(|r| !r.headers.contains_key("accept-encoding")));
}

#[tokio::test]
async fn an_sse_list_answer_is_filtered_inside_its_frames() {
    let (gw, _up) = gateway().await;
    let body = list_ok(&gw, "orchestrator", "sse", "text/event-stream").await;
    let a = sse_message(&body);
    assert_eq!(a["id"], "l");
    assert_eq!(tool_names(&a["result"]), vec!["read_file"], "{a}");
    assert_eq!(a["result"]["cacheScope"], "private");
}

#[tokio::test]
async fn an_unreadable_list_answer_becomes_a_jsonrpc_error() {
    let (gw, _up) = gateway().await;
    let (_, headers, body) = list_raw(&gw, "orchestrator", "gzip").await;
    assert_eq!(headers["content-type"], "application/json");
    assert!(headers.get("content-encoding").is_none());
    let a: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(a["id"], "l");
    assert_eq!(a["error"]["code"], -32603, "{a}");
    assert!(!String::from_utf8_lossy(&body).contains("delete_file"));
    // Its record says the caller got an error, not the list.
    let r = record(&gw, |r| r["operation"] == "tools/list").await;
    assert_eq!(r["decision"], "error", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .starts_with("list answer refused"),
        "{r}"
    );
}

#[tokio::test]
async fn a_response_on_the_get_stream_never_reaches_the_client() {
    let (gw, up) = gateway().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}});
    let a = post(&gw, "orchestrator", init, &[]).await;
    let sid = a.headers["mcp-session-id"].to_str().unwrap().to_owned();
    let mut h = HeaderMap::new();
    h.insert("accept", HeaderValue::from_static("text/event-stream"));
    h.insert("mcp-session-id", HeaderValue::from_str(&sid).unwrap());
    h.insert("x-test-answer", HeaderValue::from_static("get-response"));
    let url = format!("{}/mcp/files", gw.base);
    let (status, _, body) = gw
        .client("orchestrator")
        .fetch(Method::GET, &url, &h, Bytes::new())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8_lossy(&body);
    // The stream ends at the response (the notification in the same chunk
    // goes with it); the list it carried never reaches the client.
    assert!(!text.contains("delete_file"), "{text}");
    assert!(!text.contains("\"result\""), "{text}");
    // The upstream was asked for the stream that carries a response, so
    // the absence above is the filter's doing.
    assert!(up.requests().iter().any(|r| r.method == Method::GET
        && r.headers
            .get("x-test-answer")
            .is_some_and(|v| v == "get-response")));
}
