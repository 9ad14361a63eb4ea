//! The demo's MCP step: the orchestrator uses a tool server (the built-in
//! [`actgate::dev::example_mcp`]) through the gateway's `/mcp/files` route,
//! with tool-level rules, a filtered `tools/list`, a refused tool, and a
//! destructive tool held for a person's approval.

use anyhow::Context;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{json, Value};

use super::calls::{check, field, heading, print_claims, say, spiffe, Demo};
use super::steps::STEPS;
use super::USER;

/// Which step this is (before the audit step, which looks for its records).
pub const STEP: usize = 6;

/// One answer of the MCP route.
struct McpAnswer {
    status: u16,
    body: Value,
}

impl McpAnswer {
    fn error_code(&self) -> Option<i64> {
        self.body.pointer("/error/code").and_then(Value::as_i64)
    }
    fn error_message(&self) -> &str {
        self.body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("-")
    }
    /// The claims of the token the server received (the example server
    /// shows them).
    fn server_saw(&self) -> Option<&Value> {
        self.body
            .pointer("/result/structuredContent/token")
            .filter(|t| t.is_object())
    }
}

/// POST one JSON-RPC message to `/mcp/files` as `caller`.
async fn post(
    d: &Demo,
    caller: &str,
    msg: Value,
    token: Option<&str>,
    approval: Option<&str>,
) -> anyhow::Result<McpAnswer> {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "accept",
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    if msg["method"] != "initialize" {
        h.insert(
            "mcp-protocol-version",
            HeaderValue::from_static("2025-11-25"),
        );
    }
    if let Some(t) = token {
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {t}"))?,
        );
    }
    if let Some(id) = approval {
        h.insert("actgate-approval", HeaderValue::from_str(id)?);
    }
    let url = format!("{}/mcp/files", d.base);
    let (status, _, body) = d
        .client(caller)?
        .fetch(Method::POST, &url, &h, Bytes::from(msg.to_string()))
        .await
        .with_context(|| format!("POST {url}"))?;
    Ok(McpAnswer {
        status: status.as_u16(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

fn tool_call(id: i64, tool: &str, path: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": {"path": path}}})
}

/// The step. `files_token` is alice's token holding `files:delete`.
pub async fn tools(d: &Demo, files_token: &str) -> anyhow::Result<bool> {
    heading(
        STEP,
        STEPS,
        "MCP: the orchestrator uses the files tool server through /mcp/files",
    );
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "actgate-demo", "version": "1"}}});
    let a = post(d, "orchestrator", init, None, None).await?;
    let mut ok = check(
        a.status == 200,
        "initialize: any caller a rule lets reach the server",
    );

    say("tools/list: the server has read_file, write_file and delete_file; the orchestrator sees");
    let a = post(
        d,
        "orchestrator",
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        None,
        None,
    )
    .await?;
    let names: Vec<&str> = a
        .body
        .pointer("/result/tools")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    field("tools", &names.join(", "));
    ok &= check(
        names == ["read_file"],
        "the list shows only what the caller may use for itself (least privilege the model can see)",
    );

    let a = post(
        d,
        "orchestrator",
        tool_call(3, "read_file", "/shared/agenda.txt"),
        None,
        None,
    )
    .await?;
    field("tools/call", &format!("read_file → {}", a.status));
    let saw = a.server_saw();
    if let Some(c) = saw {
        print_claims(
            "token the server received (minted by the gateway, for this tool only):",
            c,
        );
    }
    let claim = |k: &str| saw.and_then(|c| c[k].as_str()).unwrap_or("");
    ok &= check(
        a.status == 200
            && claim("sub") == spiffe("orchestrator")
            && claim("aud") == format!("{}/mcp/files", d.base)
            && claim("scope") == "files:read",
        "allowed: aud = the MCP route, scope = exactly the tool's scopes",
    );

    let a = post(
        d,
        "orchestrator",
        tool_call(4, "write_file", "/shared/agenda.txt"),
        None,
        None,
    )
    .await?;
    field(
        "tools/call",
        &format!(
            "write_file → {} ({} {})",
            a.status,
            a.error_code().unwrap_or(0),
            a.error_message()
        ),
    );
    ok &= check(
        a.status == 403 && a.error_code() == Some(-31403),
        "a tool no rule allows is refused before the server, as a JSON-RPC error the client reads",
    );
    Ok(ok & held_delete(d, files_token).await?)
}

/// `delete_file` for alice: held until a person approves it, then passes
/// once with `sub` = alice, `act` = the orchestrator.
async fn held_delete(d: &Demo, files_token: &str) -> anyhow::Result<bool> {
    say(&format!(
        "delete_file for {USER} (her token holds files:delete): irreversible, so a person decides"
    ));
    let msg = tool_call(5, "delete_file", "/shared/old-draft.txt");
    let a = post(d, "orchestrator", msg.clone(), Some(files_token), None).await?;
    let id = a
        .body
        .pointer("/error/data/approval_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    field(
        "tools/call",
        &format!("delete_file → {} (approval {id})", a.status),
    );
    let mut ok = check(
        a.status == 403 && !id.is_empty(),
        "held: the JSON-RPC error names the approval",
    );
    if id.is_empty() {
        return Ok(false);
    }
    let (status, _) = d.approve(&id, "demo: old draft may go").await?;
    field(
        "approve",
        &format!("POST /api/approvals/{id}/approve → {status}"),
    );
    // The retry carries a new JSON-RPC id: the approval is bound to the
    // tool and its arguments, not to the id.
    let mut retry = msg;
    retry["id"] = json!(6);
    let a = post(d, "orchestrator", retry, Some(files_token), Some(&id)).await?;
    let saw = a.server_saw();
    let claim = |p: &str| {
        saw.and_then(|c| c.pointer(p))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    field(
        "retry",
        &format!(
            "{} sub={} act={} scope={}",
            a.status,
            claim("/sub"),
            claim("/act/sub"),
            claim("/scope")
        ),
    );
    ok &= check(
        a.status == 200
            && claim("/sub") == USER
            && claim("/act/sub") == spiffe("orchestrator")
            && claim("/scope") == "files:delete",
        "approved: the identical call passes once, sub = alice, act = orchestrator",
    );
    Ok(ok)
}
