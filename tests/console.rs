//! The operator console in a real headless Chromium: a caller's request
//! waits for approval, an operator clicks Approve in the page, the caller's
//! retry goes through, and the console's trail shows the delegation chain.

mod common;

use bytes::Bytes;
use common::cdp::Browser;
use common::gateway::{id, Options, TestGateway};
use common::upstream::{self, Behaviour};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

async fn transfer(gw: &TestGateway, approval: Option<&str>) -> (StatusCode, Value) {
    let user = gw.user_token(json!({"scope": "pay"}));
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("authorization", format!("Bearer {user}").parse().unwrap());
    if let Some(a) = approval {
        h.insert("actgate-approval", HeaderValue::from_str(a).unwrap());
    }
    let body = r#"{"jsonrpc":"2.0","id":9,"method":"SendMessage","params":{"message":{"messageId":"t1","role":"ROLE_USER","parts":[{"text":"transfer 250 EUR to bob"}]}}}"#;
    post_as(
        gw,
        "orchestrator",
        "/agents/bank/a2a/jsonrpc",
        &h,
        body.to_string(),
    )
    .await
}

/// POST `body` to `path` on the gateway as `caller`: status and JSON answer.
async fn post_as(
    gw: &TestGateway,
    caller: &str,
    path: &str,
    h: &HeaderMap,
    body: String,
) -> (StatusCode, Value) {
    let url = format!("{}{path}", gw.base);
    let (s, _, b) = gw
        .client(caller)
        .fetch(Method::POST, &url, h, Bytes::from(body))
        .await
        .unwrap();
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// The page ran under its CSP without errors or violations.
fn assert_ran_cleanly(page: &common::cdp::Cdp) {
    let problems: Vec<&Value> = page
        .events
        .iter()
        .filter(|e| {
            e["method"] == "Runtime.exceptionThrown"
                || (e["method"] == "Log.entryAdded" && e["params"]["entry"]["level"] == "error")
        })
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_approves_in_the_browser_and_the_retry_succeeds() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("bank", &up.url())
            .card("bank", json!({"description": "moves money", "skills": [{"id": "transfer", "name": "Transfer", "description": "send money", "tags": []}]}))
            .rule(&format!(
                "caller = \"{}\"\nagent = \"bank\"\nscopes = [\"pay\"]\napproval = \"human\"",
                id("orchestrator")
            ))
            .raw("[approvals]\ndir = \"approvals\"\n"),
    )
    .await;
    let (s, b) = transfer(&gw, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let approval = b["error"]["data"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();

    let browser = Browser::launch(&format!("{}/console", gw.admin_url()));
    let mut page = browser.page().await;
    page.call("Runtime.enable", json!({})).await;
    page.call("Log.enable", json!({})).await;

    let card = format!("document.querySelector('[data-approval-id=\"{approval}\"]')");
    page.wait_for(&card, "the pending approval").await;
    let shown = page.eval(&format!("{card}.innerText")).await;
    let shown = shown.as_str().unwrap();
    assert!(shown.contains("SendMessage on bank"), "{shown}");
    assert!(shown.contains("alice@example.com"), "{shown}");
    assert!(shown.contains(&id("orchestrator")), "{shown}");
    // The approver reads the body itself, not only its digest.
    assert!(shown.contains("transfer 250 EUR to bob"), "{shown}");
    assert!(
        shown.contains("application/json"),
        "the content type: {shown}"
    );
    // The chain is drawn user → agent.
    let chain = page
        .eval(&format!("[...{card}.querySelectorAll('ol.chain li')].map(li => li.className + ':' + li.textContent)"))
        .await;
    assert_eq!(
        chain,
        json!([
            "user:alice@example.com",
            format!("agent:{}", id("orchestrator"))
        ])
    );

    // ACTGATE_CONSOLE_SCREENSHOT=FILE.png keeps a picture of the page for humans.
    if let Some(path) = std::env::var_os("ACTGATE_CONSOLE_SCREENSHOT") {
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 1100, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        let shot = page
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }

    // The operator types a reason and clicks Approve (real input events).
    page.click(&format!("[data-approval-id=\"{approval}\"] input.reason"))
        .await;
    page.call("Input.insertText", json!({"text": "checked with alice"}))
        .await;
    page.click(&format!("[data-approval-id=\"{approval}\"] button.approve"))
        .await;
    page.wait_for(&format!("!{card}"), "the approval leaving the pending list")
        .await;
    let result = page
        .eval("document.getElementById('decision-result').textContent")
        .await;
    assert_eq!(result, json!(format!("Approved {approval}")));

    let (s, a) = gw
        .admin(Method::GET, &format!("/api/approvals/{approval}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(a["status"], "approved");
    assert_eq!(a["decided_by"], "local-operator");
    assert_eq!(a["reason"], "checked with alice");

    // The caller's retry of the identical request now succeeds, once.
    let (s, b) = transfer(&gw, Some(&approval)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(up.requests().len(), 1);

    // The trail shows the forwarded call with its approval and chain.
    let row = format!("[...document.querySelectorAll('#recent tr[data-decision=\"allow\"]')].find(r => r.innerText.includes('{approval}'))");
    page.wait_for(&row, "the approved call in the recent decisions")
        .await;
    let text = page.eval(&format!("{row}.innerText")).await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("alice@example.com") && text.contains("200"),
        "{text}"
    );
    // The agents view: the card and who may reach the agent.
    let agent = page
        .eval("document.querySelector('[data-agent=\"bank\"]').innerText")
        .await;
    let agent = agent.as_str().unwrap();
    assert!(
        agent.contains("moves money") && agent.contains("Transfer"),
        "{agent}"
    );
    assert!(
        agent.contains(&id("orchestrator")) && agent.contains("human approval"),
        "{agent}"
    );

    // The page ran under its CSP without errors or violations.
    assert_ran_cleanly(&page);
}

/// POST one JSON-RPC message to the MCP route `/mcp/files` as `caller`.
async fn mcp_post(gw: &TestGateway, caller: &str, msg: Value) -> (StatusCode, Value) {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "accept",
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    post_as(gw, caller, "/mcp/files", &h, msg.to_string()).await
}

fn tool_call(id: i64, tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": {"path": "/shared/a.txt"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_lists_mcp_servers_their_tools_and_mcp_decisions() {
    let up = common::mcp_upstream::start().await;
    let gw = TestGateway::start(
        Options::new()
            .rule(&format!(
                "caller = \"{}\"\nmcp_server = \"files\"\napp_only = true\ntools = [\"read_*\"]\nscopes = [\"files:read\"]",
                id("orchestrator")
            ))
            .rule(&format!(
                "caller = \"{}\"\nmcp_server = \"files\"\ntools = [\"delete_file\"]\nscopes = [\"files:delete\"]\napproval = \"human\"",
                id("notifier")
            ))
            .raw(&format!(
                "[approvals]\ndir = \"approvals\"\n\n[[mcp_server]]\nname = \"files\"\nupstream = \"{}\"\n\
                 [[mcp_server.tool]]\nname = \"delete_file\"\nscopes = [\"files:delete\"]\n\
                 [[mcp_server.tool]]\nname = \"read_file\"\nscopes = [\"files:read\"]\n",
                up.url()
            )),
    )
    .await;
    let (s, b) = mcp_post(&gw, "orchestrator", tool_call(1, "read_file")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = mcp_post(&gw, "orchestrator", tool_call(2, "write_file")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");

    // The admin API the console reads.
    let (s, api) = gw.admin(Method::GET, "/api/mcp_servers", None).await;
    assert_eq!(s, StatusCode::OK);
    let files = &api["mcp_servers"][0];
    assert_eq!(files["name"], "files");
    assert_eq!(files["upstream"], up.url());
    assert_eq!(
        files["tools"],
        json!([{"name": "delete_file", "scopes": ["files:delete"]},
               {"name": "read_file", "scopes": ["files:read"]}])
    );
    assert_eq!(files["callers"].as_array().unwrap().len(), 2, "{api}");
    assert_eq!(files["callers"][0]["lists"]["tools"], json!(["read_*"]));
    assert_eq!(files["callers"][0]["lists"]["resources"], Value::Null);
    assert_eq!(files["callers"][1]["approval"], "human");
    let (s, recent) = gw.admin(Method::GET, "/api/recent", None).await;
    assert_eq!(s, StatusCode::OK);
    let denied = recent["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["decision"] == "deny")
        .unwrap_or_else(|| panic!("no denied MCP call in {recent}"));
    assert_eq!(denied["target"], "mcp_server");
    assert_eq!(denied["agent"], "files");
    assert_eq!(denied["operation"], "tools/call");
    assert_eq!(denied["name"], "write_file");

    let browser = Browser::launch(&format!("{}/console", gw.admin_url()));
    let mut page = browser.page().await;
    page.call("Runtime.enable", json!({})).await;
    page.call("Log.enable", json!({})).await;

    let server = "document.querySelector('[data-mcp-server=\"files\"]')";
    page.wait_for(server, "the MCP server in the console").await;
    let shown = page.eval(&format!("{server}.innerText")).await;
    let shown = shown.as_str().unwrap();
    assert!(shown.contains(&up.url()), "the upstream: {shown}");
    assert!(shown.contains("/mcp/files"), "the resource: {shown}");
    assert!(
        shown.contains("delete_file needs files:delete")
            && shown.contains("read_file needs files:read"),
        "the tools and their scopes: {shown}"
    );
    assert!(
        shown.contains(&id("orchestrator")) && shown.contains("tools read_*"),
        "who may call what: {shown}"
    );
    assert!(
        shown.contains(&id("notifier")) && shown.contains("human approval"),
        "{shown}"
    );
    // Recent decisions name the server and the tool.
    for (decision, tool) in [("deny", "write_file"), ("allow", "read_file")] {
        let row = format!("[...document.querySelectorAll('#recent tr[data-decision=\"{decision}\"]')].find(r => r.innerText.includes('tools/call {tool}'))");
        page.wait_for(&row, "the MCP call in the recent decisions")
            .await;
        let text = page.eval(&format!("{row}.innerText")).await;
        assert!(
            text.as_str().unwrap().contains("MCP files"),
            "{decision}: {text}"
        );
    }
    assert_ran_cleanly(&page);
}
