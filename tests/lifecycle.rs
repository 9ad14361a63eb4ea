//! The real `actgate serve` binary: draining on SIGTERM with an SSE stream
//! and a request in flight, readiness while draining, a second signal, the
//! drain deadline, and JSON logs carrying the request id the upstream saw.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio::sync::Notify;

use actgate::dev::client::MtlsClient;
use common::gateway::{config_text, make_pki, Options};
use common::upstream::{self, Behaviour};

struct Served {
    child: Child,
    dir: tempfile::TempDir,
    base: String,
    admin: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn client(&self) -> MtlsClient {
        let c = self.dir.path().join("certs");
        MtlsClient::new(
            &c.join("example.org/bundle.pem"),
            Some((
                &c.join("agents/orchestrator.pem"),
                &c.join("agents/orchestrator.key"),
            )),
            false,
        )
        .unwrap()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    async fn admin_get(&self, path: &str) -> Option<StatusCode> {
        let c = common::egress::plain_client();
        let req = http::Request::get(format!("{}{path}", self.admin))
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap();
        c.request(req).await.ok().map(|r| r.status())
    }

    /// Wait (up to `limit`) for the process to exit; its status code.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn json_logs(&self) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
            })
            .collect()
    }
}

/// Start `actgate serve` on a fresh PKI with agents "stream" (SSE held
/// open until released) and "slow" (answers after 1.5 s).
async fn serve(stream_up: &str, slow_up: &str, server: &str) -> Served {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let o = Options::new()
        .agent("stream", stream_up)
        .agent("slow", slow_up)
        .allow("orchestrator", "stream", &[], true)
        .allow("orchestrator", "slow", &[], true)
        .raw(&format!("[server]\n{server}\n[log]\nlevel = \"info\"\n"));
    let text = config_text(dir.path(), &o);
    let port = text
        .split("listen = \"127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    std::fs::write(dir.path().join("actgate.toml"), &text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_actgate"))
        .current_dir(dir.path())
        .args(["serve", "--config", "actgate.toml"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs: Arc<Mutex<Vec<String>>> = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let l2 = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("gateway listening") {
                let _ = tx.send(line.clone());
            }
            l2.lock().unwrap().push(line);
        }
    });
    let line = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the gateway never logged that it listens");
    // Not a terminal: JSON lines.
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let admin = v["fields"]["admin"].as_str().unwrap().to_string();
    Served {
        child,
        dir,
        base: format!("https://localhost:{port}"),
        admin: format!("http://{admin}"),
        logs,
    }
}

fn jsonrpc(method: &str) -> Bytes {
    Bytes::from(
        json!({"jsonrpc": "2.0", "id": 1, "method": method,
            "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}}})
        .to_string(),
    )
}

fn headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h
}

/// Open an SSE stream through the gateway and read its first event.
async fn open_stream(s: &Served) -> http_body_util::combinators::BoxBody<Bytes, hyper::Error> {
    let resp = s
        .client()
        .send(
            Method::POST,
            &format!("{}/agents/stream/a2a/jsonrpc", s.base),
            &headers(),
            jsonrpc("SendStreamingMessage"),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body().boxed();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, Bytes::from("data: first\n\n"));
    body
}

async fn wait_not_ready(s: &Served) {
    for _ in 0..100 {
        if s.admin_get("/readyz").await == Some(StatusCode::SERVICE_UNAVAILABLE) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("/readyz never reported not-ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_streams_and_requests_then_exits_0() {
    let release = Arc::new(Notify::new());
    let stream_up = upstream::start(Behaviour::GatedStream {
        first: "first".into(),
        last: "last".into(),
        release: release.clone(),
    })
    .await;
    let slow_up = upstream::start(Behaviour::Delayed(Duration::from_millis(1500))).await;
    let mut s = serve(&stream_up.url(), &slow_up.url(), "drain_timeout = \"20s\"").await;
    assert_eq!(s.admin_get("/readyz").await, Some(StatusCode::OK));

    let mut stream = open_stream(&s).await;
    // A unary request in flight (the upstream answers after 1.5 s).
    let slow_client = s.client();
    let slow_url = format!("{}/agents/slow/a2a/jsonrpc", s.base);
    let slow = tokio::spawn(async move {
        slow_client
            .fetch(Method::POST, &slow_url, &headers(), jsonrpc("SendMessage"))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    s.signal("-TERM");
    wait_not_ready(&s).await;
    // Alive while draining.
    assert_eq!(s.admin_get("/healthz").await, Some(StatusCode::OK));
    // No new connections.
    let refused = s
        .client()
        .fetch(
            Method::GET,
            &format!("{}/agents", s.base),
            &HeaderMap::new(),
            Bytes::new(),
        )
        .await;
    assert!(
        refused.is_err(),
        "a new connection was served while draining"
    );

    // The request in flight completes.
    let (status, _, _) = slow.await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK);
    // The stream is still open and gets its last event.
    assert_eq!(
        s.wait_exit(Duration::from_millis(200)),
        None,
        "exited with a stream open"
    );
    release.notify_one();
    let last = stream.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(last, Bytes::from("data: last\n\n"));
    assert!(stream.frame().await.is_none(), "the stream ends");
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));

    // JSON logs: the "forwarded" line of the slow call carries, in its
    // request span, the id the upstream received as X-Request-Id.
    let sent_id = slow_up.requests()[0].headers["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let logs = s.json_logs();
    let line = logs
        .iter()
        .find(|l| l["fields"]["message"] == "forwarded" && l["fields"]["agent"] == "slow")
        .unwrap_or_else(|| panic!("no forwarded line for slow in {logs:#?}"));
    assert_eq!(line["span"]["request_id"], sent_id.as_str(), "{line}");
    assert_eq!(line["level"], "INFO");
    let tp = slow_up.requests()[0].headers["traceparent"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(line["span"]["trace_id"], &tp[3..35], "{line}");
    assert!(
        logs.iter().any(|l| l["fields"]["message"] == "drained"),
        "{logs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_and_the_deadline_ends_a_drain() {
    let release = Arc::new(Notify::new());
    let stream_up = upstream::start(Behaviour::GatedStream {
        first: "first".into(),
        last: "last".into(),
        release,
    })
    .await;
    let slow_up = upstream::start(Behaviour::Echo).await;

    // Second signal: exits at once, with the stream still open.
    let mut s = serve(&stream_up.url(), &slow_up.url(), "drain_timeout = \"60s\"").await;
    let _stream = open_stream(&s).await;
    s.signal("-TERM");
    wait_not_ready(&s).await;
    assert_eq!(s.wait_exit(Duration::from_millis(300)), None);
    s.signal("-INT");
    assert_eq!(s.wait_exit(Duration::from_secs(5)), Some(130));

    // Deadline: a stream that never ends is cut after drain_timeout, exit 0.
    let mut s = serve(&stream_up.url(), &slow_up.url(), "drain_timeout = \"1s\"").await;
    let mut stream = open_stream(&s).await;
    s.signal("-TERM");
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    let end = stream.frame().await;
    assert!(!matches!(end, Some(Ok(_))), "the stream was cut: {end:?}");
    let logs = s.json_logs();
    assert!(
        logs.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("drain deadline reached"))),
        "{logs:#?}"
    );
}

/// A unary request still in progress at the drain deadline is ended there
/// and leaves its one audit record before the process exits (it used to be
/// dropped with the process, after the final flush: no record at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cut_at_the_drain_deadline_leaves_its_record() {
    let release = Arc::new(Notify::new());
    let stream_up = upstream::start(Behaviour::GatedStream {
        first: "first".into(),
        last: "last".into(),
        release,
    })
    .await;
    let slow_up = upstream::start(Behaviour::Delayed(Duration::from_secs(6))).await;
    let mut s = serve(&stream_up.url(), &slow_up.url(), "drain_timeout = \"1s\"").await;
    let slow_client = s.client();
    let slow_url = format!("{}/agents/slow/a2a/jsonrpc", s.base);
    let slow = tokio::spawn(async move {
        slow_client
            .fetch(Method::POST, &slow_url, &headers(), jsonrpc("SendMessage"))
            .await
    });
    // The call has reached the upstream (which holds it for 6 s).
    for _ in 0..200 {
        if !slow_up.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        slow_up.requests().len(),
        1,
        "the call never reached the upstream"
    );
    s.signal("-TERM");
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(
        !matches!(slow.await.unwrap(), Ok((StatusCode::OK, _, _))),
        "the cut call was answered"
    );
    let recs: Vec<Value> = common::audit::records(&s.dir.path().join("audit"))
        .into_iter()
        .filter(|r| r["agent"] == "slow")
        .collect();
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(recs[0]["decision"], "allow", "{:#}", recs[0]);
    assert_eq!(recs[0]["status"], 499, "{:#}", recs[0]);
    assert!(
        recs[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("closed_while_draining")),
        "{:#}",
        recs[0]
    );
}

#[tokio::test]
async fn a_second_gateway_on_the_same_audit_directory_is_refused_at_start() {
    let stream_up = upstream::start(Behaviour::Delayed(Duration::ZERO)).await;
    let slow_up = upstream::start(Behaviour::Delayed(Duration::ZERO)).await;
    let s = serve(&stream_up.url(), &slow_up.url(), "").await;
    // The same config on other ports: same audit directory (the default,
    // beside the config). It would fork the running gateway's chain.
    let cfg = std::fs::read_to_string(s.dir.path().join("actgate.toml")).unwrap();
    let port = s.base.rsplit(':').next().unwrap();
    let admin = s.admin.trim_start_matches("http://");
    let second = cfg
        .replace(&format!("127.0.0.1:{port}\""), "127.0.0.1:0\"")
        .replace(&format!("{admin}\""), "127.0.0.1:0\"");
    assert_ne!(second, cfg);
    std::fs::write(s.dir.path().join("second.toml"), second).unwrap();
    let o = tokio::task::spawn_blocking({
        let dir = s.dir.path().to_path_buf();
        move || {
            Command::new(env!("CARGO_BIN_EXE_actgate"))
                .current_dir(dir)
                .args(["serve", "--config", "second.toml"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the second gateway started:\n{err}");
    assert!(
        err.contains("in use by another actgate process") && err.contains("[audit] directory"),
        "{err}"
    );
    // The first one still serves.
    assert_eq!(s.admin_get("/healthz").await, Some(StatusCode::OK));
}
