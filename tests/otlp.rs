//! OTLP traces (`[telemetry]`), checked by a real receiver: a Python HTTP
//! server decoding `ExportTraceServiceRequest` with the official
//! `opentelemetry-proto` package (pinned in tests/otlp/requirements.txt),
//! writing each span as a JSON line and keeping the raw bodies.
//!
//! Telemetry is process-wide (one global subscriber), so one test covers
//! the whole life: spans exported while the collector is up, then the
//! collector killed and calls still answered, the spans counted as dropped.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::gateway::{id, Options, TestGateway};
use common::python::Reaper;
use common::upstream::{self, Behaviour};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn python() -> PathBuf {
    common::python::venv("otlp-venv", "tests/otlp/requirements.txt")
}

/// Start the receiver writing to `out`.jsonl / `out`.raw; its port.
fn start_receiver(py: &Path, out: &Path) -> (Reaper, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/receiver.py");
    common::python::serve(py, &script, &[out.as_os_str()])
}

fn spans(out: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(out.with_extension("jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The spans of `trace_id` once `name` (the last to end) is among them.
async fn trace_with(out: &Path, trace_id: &str, name: &str) -> Vec<Value> {
    for _ in 0..100 {
        let trace: Vec<Value> = spans(out)
            .into_iter()
            .filter(|s| s["trace_id"] == trace_id)
            .collect();
        // The server span ends last.
        if trace.iter().any(|s| s["name"] == name) && trace.iter().any(|s| s["kind"] == 2) {
            return trace;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no {name} span of trace {trace_id}; received: {:#?}",
        spans(out)
    );
}

fn named<'a>(trace: &'a [Value], name: &str) -> &'a Value {
    trace
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} span in {trace:#?}"))
}

fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
}

async fn call(gw: &TestGateway, agent: &str, token: &str, traceparent: Option<&str>) -> StatusCode {
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    if let Some(tp) = traceparent {
        h.insert("traceparent", HeaderValue::from_str(tp).unwrap());
        h.insert("tracestate", HeaderValue::from_static("vendor=opaque"));
    }
    gw.send_message_with("orchestrator", agent, h).await.0
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_are_traced_through_the_stages_and_a_dead_collector_costs_only_spans() {
    let py = tokio::task::spawn_blocking(python).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("spans");
    let (receiver, port) = start_receiver(&py, &out);

    let up = upstream::start(Behaviour::Echo).await;
    let mcp = common::mcp_upstream::start().await;
    let telemetry = format!(
        "[telemetry]\nenabled = true\nendpoint = \"http://127.0.0.1:{port}/v1/traces\"\n\
         service_name = \"actgate-test\"\nexport_interval = \"100ms\"\nexport_timeout = \"2s\"\n\
         [approvals]\ndir = \"approvals\"\n\
         [[mcp_server]]\nname = \"files\"\nupstream = \"{}\"\n\
         [[mcp_server.tool]]\nname = \"read_file\"\nscopes = [\"files:read\"]\n",
        mcp.url()
    );
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .agent("bank", &up.url())
            .allow("orchestrator", "scheduler", &["calendar:read"], false)
            .rule(&format!(
                "caller = \"{}\"\nagent = \"bank\"\nscopes = [\"calendar:read\"]\napproval = \"human\"",
                id("orchestrator")
            ))
            .rule(&format!(
                "caller = \"{}\"\nmcp_server = \"files\"\napp_only = true\ntools = [\"read_*\"]\nscopes = [\"files:read\"]",
                id("orchestrator")
            ))
            .raw(&telemetry),
    )
    .await;
    // As `actgate serve` does: the section (and the OTEL_* variables)
    // resolved, the subscriber installed with the exporter.
    let cfg = actgate::config::ConfigFile::load(&gw.config_path()).unwrap();
    let env = |name: &str| std::env::var(name).ok();
    let settings = actgate::telemetry::Settings::resolve(&cfg.raw.telemetry, env)
        .unwrap()
        .expect("telemetry on");
    actgate::logging::init_with_telemetry(&cfg.raw.log, Some(&settings)).unwrap();

    let user = gw.user_token(json!({}));
    let tp = format!("00-{TRACE}-{CALLER_SPAN}-01");
    assert_eq!(
        call(&gw, "scheduler", &user, Some(&tp)).await,
        StatusCode::OK
    );

    let trace = trace_with(&out, TRACE, "upstream").await;
    let server = trace
        .iter()
        .find(|s| s["kind"] == 2)
        .unwrap_or_else(|| panic!("no server span in {trace:#?}"));
    // The caller's trace continued: its span is the server span's parent.
    assert_eq!(server["parent_span_id"], CALLER_SPAN, "{server:#}");
    assert_eq!(server["resource"]["service.name"], "actgate-test");
    let a = &server["attributes"];
    assert_eq!(a["actgate.caller"], id("orchestrator"), "{server:#}");
    assert_eq!(a["actgate.agent"], "scheduler");
    assert_eq!(a["actgate.operation"], "SendMessage");
    assert_eq!(a["actgate.decision"], "allow");
    assert_eq!(a["actgate.rule"], "rule[0]");
    assert_eq!(a["http.response.status_code"], 200);
    for stage in ["subject_token", "authorize", "mint", "upstream"] {
        let s = named(&trace, stage);
        assert_eq!(s["parent_span_id"], server["span_id"], "{stage}: {s:#}");
    }
    let authorize = &named(&trace, "authorize")["attributes"];
    assert_eq!(authorize["actgate.decision"], "allow");
    assert_eq!(authorize["actgate.rule"], "rule[0]");
    assert_eq!(
        named(&trace, "mint")["attributes"]["actgate.token.cached"],
        false
    );
    let upstream_span = named(&trace, "upstream");
    assert_eq!(upstream_span["kind"], 3, "a client span");
    assert_eq!(
        upstream_span["attributes"]["http.response.status_code"],
        200
    );

    // The upstream continues the trace from the upstream-call span.
    let seen = up.requests();
    let forwarded = seen.last().unwrap();
    assert_eq!(
        forwarded.headers["traceparent"],
        format!(
            "00-{TRACE}-{}-01",
            upstream_span["span_id"].as_str().unwrap()
        )
        .as_str()
    );
    assert_eq!(forwarded.headers["tracestate"], "vendor=opaque");

    // A trace started here: the upstream's trace id is the exported one.
    assert_eq!(call(&gw, "scheduler", &user, None).await, StatusCode::OK);
    let tp = up.requests().last().unwrap().headers["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    let started = &tp[3..35];
    assert_ne!(started, TRACE);
    let trace = trace_with(&out, started, "upstream").await;
    let server = trace.iter().find(|s| s["kind"] == 2).unwrap();
    assert_eq!(server["parent_span_id"], "", "a root span");
    assert_eq!(&tp[36..52], named(&trace, "upstream")["span_id"]);

    // The human gate: held, its span says so, the decision is recorded.
    let held_trace = "0af7651916cd43dd8448eb211c80319c";
    let held = format!("00-{held_trace}-b7ad6b7169203331-01");
    assert_eq!(
        call(&gw, "bank", &user, Some(&held)).await,
        StatusCode::FORBIDDEN
    );
    let trace = trace_with(&out, held_trace, "approval").await;
    assert_eq!(
        named(&trace, "approval")["attributes"]["actgate.approval"],
        "held"
    );
    let server = trace.iter().find(|s| s["kind"] == 2).unwrap();
    assert_eq!(
        server["attributes"]["actgate.decision"],
        "approval_required"
    );
    assert!(trace.iter().all(|s| s["name"] != "upstream"), "{trace:#?}");

    // The MCP route: the same stages, the tool call as the operation.
    let mcp_minted = mcp_call_is_traced(&gw, &mcp, &out).await;

    // No token anywhere in what was exported: the subject token, the
    // minted one the upstream received, nor any JWT.
    let minted = forwarded.headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_owned();
    let raw = std::fs::read(out.with_extension("raw")).unwrap();
    let lines = std::fs::read(out.with_extension("jsonl")).unwrap();
    for exported in [&raw, &lines] {
        for secret in [user.as_str(), minted.as_str(), mcp_minted.as_str(), "eyJ"] {
            assert!(
                !exported
                    .windows(secret.len())
                    .any(|w| w == secret.as_bytes()),
                "{secret:.20}… exported"
            );
        }
    }
    let metrics = gw.metrics();
    assert!(
        counter(&metrics, "actgate_trace_spans_exported_total") >= 20,
        "{metrics}"
    );
    assert_eq!(counter(&metrics, "actgate_trace_spans_dropped_total"), 0);

    // The collector dies: calls are still answered, the spans counted lost.
    drop(receiver);
    for _ in 0..3 {
        assert_eq!(
            call(&gw, "scheduler", &user, Some(&tp)).await,
            StatusCode::OK
        );
    }
    for _ in 0..100 {
        if counter(&gw.metrics(), "actgate_trace_spans_dropped_total") >= 15 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("spans never counted as dropped:\n{}", gw.metrics());
}

#[test]
fn config_check_names_each_bad_telemetry_field() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let bad = "[telemetry]\nenabled = true\nendpoint = \"collector:4318\"\nsample_ratio = 2.0\n\
               export_interval = \"0s\"\n";
    let text = common::gateway::config_text(dir.path(), &Options::new().raw(bad));
    let path = dir.path().join("actgate.toml");
    std::fs::write(&path, &text).unwrap();
    let cfg = actgate::config::ConfigFile::parse(&path, &text).unwrap();
    let metrics = std::sync::Arc::new(actgate::metrics::Metrics::default());
    let err = actgate::snapshot::Snapshot::build(&cfg, metrics)
        .err()
        .expect("refused")
        .to_string();
    for field in [
        "telemetry.endpoint",
        "telemetry.sample_ratio",
        "telemetry.export_interval",
    ] {
        assert!(err.contains(field), "{field} not named in:\n{err}");
    }
}

/// A tool call on the MCP route, traced like an agent call (the same stage
/// functions); the token the MCP server received.
async fn mcp_call_is_traced(
    gw: &TestGateway,
    mcp: &common::mcp_upstream::McpUpstream,
    out: &Path,
) -> String {
    let mcp_trace = "5bf92f3577b34da6a3ce929d0e0e4737";
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "read_file", "arguments": {"path": "/shared/a.txt"}}});
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "accept",
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    let mcp_tp = format!("00-{mcp_trace}-{CALLER_SPAN}-01");
    h.insert("traceparent", HeaderValue::from_str(&mcp_tp).unwrap());
    let (status, _, _) = gw
        .client("orchestrator")
        .fetch(
            http::Method::POST,
            &format!("{}/mcp/files", gw.base),
            &h,
            bytes::Bytes::from(body.to_string()),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let trace = trace_with(out, mcp_trace, "upstream").await;
    let server = trace.iter().find(|s| s["kind"] == 2).unwrap();
    assert_eq!(server["attributes"]["actgate.agent"], "files", "{server:#}");
    assert_eq!(server["attributes"]["actgate.operation"], "tools/call");
    assert_eq!(server["attributes"]["actgate.decision"], "allow");
    for stage in ["subject_token", "authorize", "mint", "upstream"] {
        assert_eq!(
            named(&trace, stage)["parent_span_id"],
            server["span_id"],
            "{stage}"
        );
    }
    let seen = mcp.requests();
    let tp = seen.last().unwrap().headers["traceparent"]
        .to_str()
        .unwrap();
    assert_eq!(&tp[3..35], mcp_trace);
    seen.last().unwrap().headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_owned()
}
