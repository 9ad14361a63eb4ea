//! A small built-in MCP server (Streamable HTTP, JSON answers, no sessions)
//! used by `actgate demo` as a real upstream behind the gateway's MCP route:
//! `initialize`, `ping`, `tools/list` and `tools/call` for three file tools
//! (`read_file`, `write_file`, `delete_file`) that touch nothing.
//!
//! **For demonstration only**, every `tools/call` answer carries the claims
//! of the bearer token the server was given (`structuredContent.token`,
//! decoded without verification), so the demo can show which token the
//! gateway minted. It never echoes the token itself. Never deploy it.

use std::convert::Infallible;
use std::net::SocketAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{json, Value};
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, Infallible>;

/// A running example MCP server.
pub struct ExampleMcpServer {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

impl ExampleMcpServer {
    /// Its Streamable HTTP endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }
}

/// Start the server on `addr` (port 0 for any).
pub async fn start(addr: SocketAddr) -> std::io::Result<ExampleMcpServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = service_fn(|req| async move { Ok::<_, Infallible>(answer(req).await) });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Ok(ExampleMcpServer { addr, task })
}

async fn answer(req: Request<Incoming>) -> Response<Body> {
    if req.uri().path() != "/mcp" {
        return plain(StatusCode::NOT_FOUND);
    }
    if req.method() != Method::POST {
        // No GET stream and no sessions to DELETE: the spec's answer.
        return plain(StatusCode::METHOD_NOT_ALLOWED);
    }
    let claims = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(unverified_claims);
    let Ok(body) = Limited::new(req.into_body(), 64 * 1024).collect().await else {
        return plain(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let Ok(msg) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return rpc(json!({"jsonrpc": "2.0", "id": null,
            "error": {"code": -32700, "message": "parse error"}}));
    };
    let id = msg.get("id").cloned();
    let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
    let Some(id) = id else {
        // A notification (`notifications/initialized`…): accepted, no body.
        return plain(StatusCode::ACCEPTED);
    };
    let result = match method {
        "initialize" => Ok(json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "actgate-example-files", "version": env!("CARGO_PKG_VERSION")}
        })),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": tools()})),
        "tools/call" => call(&msg["params"], claims),
        _ => Err((-32601, "method not found")),
    };
    rpc(match result {
        Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
        Err((code, message)) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        }
    })
}

fn tools() -> Value {
    let tool = |name: &str, description: &str, read_only: bool| {
        json!({
            "name": name,
            "description": description,
            "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
            "annotations": {"readOnlyHint": read_only, "destructiveHint": !read_only}
        })
    };
    json!([
        tool("read_file", "Read a file from the shared folder.", true),
        tool("write_file", "Write a file in the shared folder.", false),
        tool(
            "delete_file",
            "Delete a file from the shared folder.",
            false
        ),
    ])
}

fn call(params: &Value, claims: Option<Value>) -> Result<Value, (i64, &'static str)> {
    let name = params["name"].as_str().unwrap_or("");
    let path = params["arguments"]["path"].as_str().unwrap_or("?");
    let text = match name {
        "read_file" => format!("(the example server pretends to read {path})"),
        "write_file" => format!("(the example server pretends to write {path})"),
        "delete_file" => format!("(the example server pretends to delete {path})"),
        _ => return Err((-32602, "unknown tool")),
    };
    Ok(json!({
        "content": [{"type": "text", "text": text}],
        "structuredContent": {"token": claims.unwrap_or(Value::Null)},
        "isError": false
    }))
}

/// A JWT's payload, not verified (the demo only shows it).
fn unverified_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn rpc(v: Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn plain(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()).boxed());
    *r.status_mut() = status;
    r
}
