//! MCP servers and their rules under hot reload (issue 16): a running
//! gateway picks up a new `[[mcp_server]]`, a tool's changed scopes and a
//! removed rule on the next call; a removed server's sessions are refused;
//! a bad `[[mcp_server]]` is refused naming its file and field while the
//! previous material keeps serving.

mod common;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use common::exchange::Answer;
use common::gateway::{claims, id, Options, TestGateway};
use common::mcp_upstream;

async fn send(
    gw: &TestGateway,
    caller: &str,
    server: &str,
    m: Method,
    h: HeaderMap,
    body: Bytes,
) -> Answer {
    let url = format!("{}/mcp/{server}", gw.base);
    Answer::of(gw.client(caller).fetch(m, &url, &h, body).await.unwrap())
}

async fn post(
    gw: &TestGateway,
    caller: &str,
    server: &str,
    msg: Value,
    sid: Option<&str>,
) -> Answer {
    let mut h: HeaderMap = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ]
    .into_iter()
    .map(|(k, v)| {
        (
            http::HeaderName::from_static(k),
            HeaderValue::from_static(v),
        )
    })
    .collect();
    if let Some(sid) = sid {
        h.insert("mcp-session-id", HeaderValue::from_str(sid).unwrap());
        h.insert(
            "mcp-protocol-version",
            HeaderValue::from_static("2025-11-25"),
        );
    }
    send(
        gw,
        caller,
        server,
        Method::POST,
        h,
        Bytes::from(msg.to_string()),
    )
    .await
}

fn call(id: i64, tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": {"path": "/shared/a.txt"}}})
}

/// The `scope` of the token the server saw for a tools/call.
fn minted_scope(a: &Answer) -> Value {
    let token = a.body["result"]["structuredContent"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {}", a.body));
    claims(token)["scope"].clone()
}

/// Edit the config file on disk (`from` must occur in it) and reload.
fn edit(gw: &TestGateway, from: &str, to: &str) -> Result<(), actgate::config::ConfigErrors> {
    let cfg = std::fs::read_to_string(gw.config_path()).unwrap();
    assert!(cfg.contains(from), "{from:?} not in\n{cfg}");
    std::fs::write(gw.config_path(), cfg.replacen(from, to, 1)).unwrap();
    gw.reload()
}

const TOOL: &str = "[[mcp_server.tool]]\nname = \"read_file\"\nscopes = [\"files:read\"]\n";

#[tokio::test]
async fn mcp_servers_tools_and_rules_follow_a_reload() {
    let files = mcp_upstream::start().await;
    let web = mcp_upstream::start().await;
    let orchestrator_rule = format!(
        "[[rule]]\ncaller = \"{}\"\nmcp_server = \"files\"\napp_only = true\nscopes = [\"files:read\", \"files:list\"]\n",
        id("orchestrator")
    );
    let gw = TestGateway::start(
        Options::new()
            .rule(&format!(
                "caller = \"{}\"\nmcp_server = \"files\"\napp_only = true\nscopes = [\"files:read\"]",
                id("scheduler")
            ))
            .raw(&format!(
                "{orchestrator_rule}\n[[mcp_server]]\nname = \"files\"\nupstream = \"{}\"\n{TOOL}",
                files.url()
            )),
    )
    .await;

    let original = std::fs::read_to_string(gw.config_path()).unwrap();
    let a = post(&gw, "orchestrator", "files", call(1, "read_file"), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(minted_scope(&a), "files:read");
    // A session of the legacy revisions, used again after every reload.
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let a = post(&gw, "orchestrator", "files", init, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let sid = a.headers["mcp-session-id"].to_str().unwrap().to_owned();
    let a = post(&gw, "scheduler", "web", call(2, "search"), None).await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "no such server yet (refused like a server the caller may not reach): {}",
        a.body
    );

    // The tool's scopes change: the next call's token carries the new ones.
    let changed = TOOL.replace("[\"files:read\"]", "[\"files:list\"]");
    edit(&gw, TOOL, &changed).unwrap();
    let a = post(
        &gw,
        "orchestrator",
        "files",
        call(3, "read_file"),
        Some(&sid),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(minted_scope(&a), "files:list");

    // A new [[mcp_server]] and its rule: reachable on the next call.
    let web_server = format!(
        "\n[[mcp_server]]\nname = \"web\"\nupstream = \"{}\"\n\n[[rule]]\ncaller = \"{}\"\nmcp_server = \"web\"\napp_only = true\n",
        web.url(),
        id("scheduler")
    );
    edit(
        &gw,
        &orchestrator_rule,
        &format!("{orchestrator_rule}{web_server}"),
    )
    .unwrap();
    let a = post(&gw, "scheduler", "web", call(4, "search"), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(web.requests().len(), 1);

    // The orchestrator's rule goes: its next call (in its session) is refused
    // before the server; the scheduler's rule for the same server stays.
    let seen = files.requests().len();
    edit(&gw, &orchestrator_rule, "").unwrap();
    let a = post(
        &gw,
        "orchestrator",
        "files",
        call(5, "read_file"),
        Some(&sid),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    // (The route refuses a caller no rule lets reach the server before it
    // reads the body, so the error's `id` is null there.)
    assert_eq!(a.body["jsonrpc"], "2.0", "a JSON-RPC error: {}", a.body);
    assert!(a.body["error"]["code"].is_i64(), "{}", a.body);
    assert_eq!(
        files.requests().len(),
        seen,
        "the server saw the refused call"
    );
    // (read_file now needs files:list, which the scheduler's rule lacks: a
    // tool that needs no scope.)
    let a = post(&gw, "scheduler", "files", call(6, "list_dir"), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    // A bad [[mcp_server]] is refused with its file and field; the previous
    // servers and rules keep serving.
    let bad = edit(
        &gw,
        &format!("upstream = \"{}\"", web.url()),
        "upstream = \"ftp://web.invalid/mcp\"",
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("actgate.toml") && bad.contains("mcp_server") && bad.contains(".upstream"),
        "{bad}"
    );
    assert!(
        gw.metrics().contains("actgate_reload_failures_total 1"),
        "{}",
        gw.metrics()
    );
    let a = post(&gw, "scheduler", "web", call(7, "search"), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(web.requests().len(), 2);

    // The files server goes: its route, and every session on it, is refused.
    let cfg = std::fs::read_to_string(gw.config_path()).unwrap();
    let start = cfg.find("[[mcp_server]]\nname = \"files\"").unwrap();
    let end = start + cfg[start..].find(TOOL.lines().next().unwrap()).unwrap();
    let without = format!("{}{}", &cfg[..start], &cfg[end..].replacen(&changed, "", 1))
        .replace("ftp://web.invalid/mcp", &web.url())
        .replace(&format!("[[rule]]\ncaller = \"{}\"\nmcp_server = \"files\"\napp_only = true\nscopes = [\"files:read\"]", id("scheduler")), "");
    std::fs::write(gw.config_path(), &without).unwrap();
    gw.reload().unwrap_or_else(|e| panic!("{e}\n{without}"));
    let seen = files.requests().len();
    let ping = json!({"jsonrpc": "2.0", "id": 8, "method": "ping"});
    let a = post(&gw, "orchestrator", "files", ping, Some(&sid)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(
        a.body["error"]["code"].is_i64(),
        "a JSON-RPC error: {}",
        a.body
    );
    let mut h = HeaderMap::new();
    h.insert("mcp-session-id", HeaderValue::from_str(&sid).unwrap());
    for m in [Method::GET, Method::DELETE] {
        let a = send(
            &gw,
            "orchestrator",
            "files",
            m.clone(),
            h.clone(),
            Bytes::new(),
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{m}: {}", a.body);
    }
    assert_eq!(files.requests().len(), seen, "a removed server was reached");
    let a = post(&gw, "scheduler", "web", call(9, "search"), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    // Registered again, the server starts afresh: a session from before its
    // removal is not revived.
    std::fs::write(gw.config_path(), &original).unwrap();
    gw.reload().unwrap();
    let ping = json!({"jsonrpc": "2.0", "id": 10, "method": "ping"});
    let a = post(&gw, "orchestrator", "files", ping, Some(&sid)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert_eq!(
        files.requests().len(),
        seen,
        "a stale session was forwarded"
    );
}

/// A server that now stands for another upstream starts afresh: a session
/// opened with the old one is never forwarded to the new one.
#[tokio::test]
async fn a_session_does_not_follow_its_server_to_another_upstream() {
    let old = mcp_upstream::start().await;
    let new = mcp_upstream::start().await;
    let gw = TestGateway::start(Options::new().raw(&format!(
        "[[rule]]\ncaller = \"{}\"\nmcp_server = \"files\"\napp_only = true\nscopes = [\"files:read\"]\n\
         [[mcp_server]]\nname = \"files\"\nupstream = \"{}\"\n{TOOL}",
        id("orchestrator"),
        old.url()
    )))
    .await;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let a = post(&gw, "orchestrator", "files", init, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let sid = a.headers["mcp-session-id"].to_str().unwrap().to_owned();
    let ping = |id: i64| json!({"jsonrpc": "2.0", "id": id, "method": "ping"});
    let a = post(&gw, "orchestrator", "files", ping(1), Some(&sid)).await;
    assert_eq!(a.status, StatusCode::OK, "the session works: {}", a.body);

    edit(&gw, &old.url(), &new.url()).unwrap();
    let a = post(&gw, "orchestrator", "files", ping(2), Some(&sid)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert!(
        new.requests().is_empty(),
        "the old session reached the new upstream"
    );
}
