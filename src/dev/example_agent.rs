//! A small built-in A2A v1.0 agent used by `actgate demo` and the tests as a
//! real upstream: JSON-RPC and REST (`HTTP+JSON`) bindings, unary and SSE
//! streaming, and its Agent Card at `/.well-known/agent-card.json`.
//!
//! It echoes the text it receives and, **by design for demonstration and
//! testing only**, the `Authorization` header it was given (in the task's
//! `metadata.receivedAuthorization`), so a demo can show exactly which token
//! the gateway minted. Never deploy it as a real agent.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{json, Value};
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, Infallible>;

/// Pause between streamed events, so streaming is visible in the demo.
const STREAM_STEP: Duration = Duration::from_millis(150);

struct AgentState {
    name: String,
    card: Bytes,
    next_task: AtomicU64,
    stream_step: Duration,
}

/// A running example agent.
pub struct ExampleAgent {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

/// Start an example agent called `name` on `addr` (port 0 for any), serving
/// `card` as its Agent Card.
pub async fn start(addr: SocketAddr, name: &str, card: Value) -> std::io::Result<ExampleAgent> {
    start_with_step(addr, name, card, STREAM_STEP).await
}

/// As [`start`], with `step` between streamed events (zero for benchmarks).
pub async fn start_with_step(
    addr: SocketAddr,
    name: &str,
    card: Value,
    step: Duration,
) -> std::io::Result<ExampleAgent> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(AgentState {
        name: name.to_string(),
        card: Bytes::from(card.to_string()),
        next_task: AtomicU64::new(1),
        stream_step: step,
    });
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            // Small SSE frames must not wait for Nagle (40 ms with delayed ACKs).
            let _ = tcp.set_nodelay(true);
            let state = state.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(route(&state, req).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Ok(ExampleAgent { addr, task })
}

async fn route(state: &AgentState, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if method == Method::GET && path == "/.well-known/agent-card.json" {
        return json(StatusCode::OK, state.card.clone());
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return json(StatusCode::BAD_REQUEST, Bytes::from_static(b"{}")),
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match (method, path.as_str()) {
        (Method::POST, "/a2a/jsonrpc") => jsonrpc(state, &parsed, auth),
        (Method::POST, "/a2a/rest/message:send") => {
            let task = make_task(state, &parsed, auth);
            json(StatusCode::OK, Bytes::from(json!({ "task": task }).to_string()))
        }
        (Method::POST, "/a2a/rest/message:stream") => {
            stream(make_task(state, &parsed, auth), None, state.stream_step)
        }
        _ => json(
            StatusCode::NOT_FOUND,
            Bytes::from(json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "no such operation"}}).to_string()),
        ),
    }
}

fn jsonrpc(state: &AgentState, req: &Value, auth: Option<String>) -> Response<Body> {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req.get("method").and_then(Value::as_str).unwrap_or("");
    let params = req.get("params").cloned().unwrap_or(Value::Null);
    match method {
        "SendMessage" | "message/send" => {
            let task = make_task(state, &params, auth);
            let body = json!({"jsonrpc": "2.0", "id": id, "result": {"task": task}});
            json(StatusCode::OK, Bytes::from(body.to_string()))
        }
        "SendStreamingMessage" | "message/stream" => {
            stream(make_task(state, &params, auth), Some(id), state.stream_step)
        }
        _ => {
            let body = json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("method not found: {method}")}});
            json(StatusCode::OK, Bytes::from(body.to_string()))
        }
    }
}

/// The text of every part of `params.message`.
fn input_text(params: &Value) -> String {
    params
        .pointer("/message/parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn make_task(state: &AgentState, params: &Value, auth: Option<String>) -> Value {
    let n = state.next_task.fetch_add(1, Ordering::Relaxed);
    let context = params
        .pointer("/message/contextId")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("ctx-{n}"));
    json!({
        "id": format!("task-{n}"),
        "contextId": context,
        "status": {"state": "TASK_STATE_COMPLETED"},
        "artifacts": [{
            "artifactId": format!("artifact-{n}"),
            "name": "echo",
            "parts": [{"text": format!("{} received: {}", state.name, input_text(params))}]
        }],
        "metadata": {"agent": state.name, "receivedAuthorization": auth}
    })
}

/// SSE: the task (working), two artifact chunks, then the completed status,
/// each a separate event with a pause between them.
fn stream(task: Value, jsonrpc_id: Option<Value>, step: Duration) -> Response<Body> {
    let id = task["id"].clone();
    let ctx = task["contextId"].clone();
    let mut working = task.clone();
    working["status"] = json!({"state": "TASK_STATE_WORKING"});
    working["artifacts"] = json!([]);
    let text = task
        .pointer("/artifacts/0/parts/0/text")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let events = vec![
        json!({"task": working}),
        json!({"artifactUpdate": {"taskId": id, "contextId": ctx,
            "artifact": {"artifactId": "stream", "parts": [{"text": text}]}}}),
        json!({"artifactUpdate": {"taskId": id, "contextId": ctx, "append": true, "lastChunk": true,
            "artifact": {"artifactId": "stream", "parts": [{"text": " (done)"}]}}}),
        json!({"statusUpdate": {"taskId": id, "contextId": ctx,
            "status": {"state": "TASK_STATE_COMPLETED"}, "metadata": task["metadata"].clone()}}),
    ];
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        for (i, ev) in events.into_iter().enumerate() {
            if i > 0 && !step.is_zero() {
                tokio::time::sleep(step).await;
            }
            let payload = match &jsonrpc_id {
                Some(rid) => json!({"jsonrpc": "2.0", "id": rid, "result": ev}),
                None => ev,
            };
            if tx
                .send(Bytes::from(format!("data: {payload}\n\n")))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
