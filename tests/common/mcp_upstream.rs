//! A small real MCP server for tests: Streamable HTTP with JSON answers
//! (hyper on 127.0.0.1:0), recording every request it receives.
//!
//! - `initialize` answers with a fresh `Mcp-Session-Id`;
//! - `tools/list` lists `read_file`, `delete_file`, `list_dir` (marked
//!   `cacheScope: "public"`, with a `nextCursor`); a request header
//!   `x-test-answer: sse` gets it as one SSE event, `gzip` marked
//!   `Content-Encoding: gzip`, `get-response` on GET a response on the GET
//!   stream;
//! - `tools/call` answers with the tool's name and the bearer token it got
//!   (so a test can check the minted token's claims);
//! - notifications and responses get 202; GET opens an SSE stream with one
//!   event; DELETE ends a session (200).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::net::TcpListener;

pub use super::upstream::Seen;
use super::upstream::{record, serve, Body};

pub struct McpUpstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl McpUpstream {
    /// The Streamable HTTP endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    /// The JSON-RPC methods received, in order.
    pub fn methods(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|s| {
                serde_json::from_slice::<Value>(&s.body)
                    .ok()
                    .and_then(|v| v["method"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| s.method.to_string())
            })
            .collect()
    }
}

pub async fn start() -> McpUpstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let recorded = seen.clone();
    let sessions = Arc::new(AtomicUsize::new(0));
    serve(listener, move |req| {
        answer(req, recorded.clone(), sessions.clone())
    });
    McpUpstream { addr, seen }
}

fn reply(status: StatusCode, ct: &str, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).boxed());
    *r.status_mut() = status;
    if !ct.is_empty() {
        r.headers_mut().insert("content-type", ct.parse().unwrap());
    }
    r
}

async fn answer(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    sessions: Arc<AtomicUsize>,
) -> Response<Body> {
    let parts = record(req, &seen).await;
    let body = seen
        .lock()
        .unwrap()
        .last()
        .map(|s| s.body.clone())
        .unwrap_or_default();
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let form = parts
        .headers
        .get("x-test-answer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match parts.method {
        http::Method::GET if form == "get-response" => {
            return reply(
                StatusCode::OK,
                "text/event-stream",
                "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n\
                 data: {\"jsonrpc\":\"2.0\",\"id\":\"l\",\"result\":{\"tools\":[{\"name\":\"delete_file\"}]}}\n\n".into(),
            )
        }
        http::Method::GET => {
            return reply(
                StatusCode::OK,
                "text/event-stream",
                "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n".into(),
            )
        }
        http::Method::DELETE => return reply(StatusCode::OK, "", String::new()),
        _ => {}
    }
    let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
        return reply(StatusCode::BAD_REQUEST, "", String::new());
    };
    let id = msg["id"].clone();
    let result = match msg["method"].as_str() {
        None => return reply(StatusCode::ACCEPTED, "", String::new()),
        Some(m) if m.starts_with("notifications/") => {
            return reply(StatusCode::ACCEPTED, "", String::new())
        }
        Some("initialize") => {
            let n = sessions.fetch_add(1, Ordering::SeqCst);
            let body = json!({"jsonrpc": "2.0", "id": id, "result": {
                "protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                "serverInfo": {"name": "test-files", "version": "1"}}});
            let mut r = reply(StatusCode::OK, "application/json", body.to_string());
            r.headers_mut().insert(
                "mcp-session-id",
                format!("session-{n}-4f1c9e").parse().unwrap(),
            );
            return r;
        }
        Some("tools/list") => json!({"tools": [
            {"name": "read_file", "inputSchema": {"type": "object"}},
            {"name": "delete_file", "inputSchema": {"type": "object"},
             "annotations": {"destructiveHint": true}},
            {"name": "list_dir", "inputSchema": {"type": "object"}}],
            "nextCursor": "page-2", "cacheScope": "public"}),
        Some("tools/call") => json!({
            "content": [{"type": "text", "text": format!("called {}", msg["params"]["name"])}],
            "structuredContent": {"tool": msg["params"]["name"], "token": auth},
        }),
        Some(_) => json!({}),
    };
    let answer = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
    match form.as_str() {
        "sse" => reply(
            StatusCode::OK,
            "text/event-stream",
            format!("event: message\ndata: {answer}\n\n"),
        ),
        "gzip" => {
            let mut r = reply(StatusCode::OK, "application/json", answer);
            r.headers_mut()
                .insert("content-encoding", "gzip".parse().unwrap());
            r
        }
        _ => reply(StatusCode::OK, "application/json", answer),
    }
}
