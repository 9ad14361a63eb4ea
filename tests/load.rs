//! `actgate-load` against real sockets on 127.0.0.1: a small counting mTLS
//! server, and a real gateway in front of the example agent. Counts only,
//! no timing assertions.

mod common;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use actgate::identity::{SpiffeId, TrustDomain};
use actgate::load::{self, Args, Report};
use common::gateway::{Options, TestGateway};

/// A counting mTLS server (HTTP/1.1 and h2 by ALPN) answering `status`.
struct CountingServer {
    _dir: tempfile::TempDir,
    certs: PathBuf,
    port: u16,
    requests: Arc<AtomicU64>,
    handshakes: Arc<AtomicU64>,
}

impl CountingServer {
    async fn start(status: StatusCode) -> CountingServer {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        let td = TrustDomain::parse("example.org").unwrap();
        let id = SpiffeId::parse("spiffe://example.org/agent/loadgen").unwrap();
        actgate::pki::init_dev_pki(&certs, &td, &[("loadgen", id)]).unwrap();

        let mut roots = rustls::RootCertStore::empty();
        for c in actgate::tls::load_certs(&certs.join("example.org/bundle.pem")).unwrap() {
            roots.add(c).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            actgate::tls::provider(),
        )
        .build()
        .unwrap();
        let cfg = actgate::tls::server_config(
            actgate::tls::load_certs(&certs.join("gateway.pem")).unwrap(),
            actgate::tls::load_key(&certs.join("gateway.key")).unwrap(),
            verifier,
            false,
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicU64::new(0));
        let handshakes = Arc::new(AtomicU64::new(0));
        let (r, h) = (requests.clone(), handshakes.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, r, h) = (acceptor.clone(), r.clone(), h.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    h.fetch_add(1, Ordering::Relaxed);
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let r = r.clone();
                        async move {
                            let _ = req.into_body().collect().await;
                            r.fetch_add(1, Ordering::Relaxed);
                            let mut resp = Response::new(Full::new(Bytes::from_static(
                                b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
                            )));
                            *resp.status_mut() = status;
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        CountingServer {
            _dir: dir,
            certs,
            port,
            requests,
            handshakes,
        }
    }

    fn args(&self, extra: &[&str]) -> Args {
        args_for(
            &format!("https://localhost:{}/a2a/jsonrpc", self.port),
            &self.certs.join("example.org/bundle.pem"),
            &self.certs.join("agents/loadgen"),
            extra,
        )
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }
}

/// Parse a command line exactly as the binary would (`identity` is the
/// cert/key path without extension).
fn args_for(url: &str, ca: &std::path::Path, identity: &std::path::Path, extra: &[&str]) -> Args {
    let mut v: Vec<String> = vec![
        "actgate-load".into(),
        "--url".into(),
        url.into(),
        "--cacert".into(),
        ca.display().to_string(),
        "--cert".into(),
        identity.with_extension("pem").display().to_string(),
        "--key".into(),
        identity.with_extension("key").display().to_string(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    <Args as clap::Parser>::try_parse_from(v).unwrap()
}

fn json_of(r: &Report) -> Value {
    serde_json::to_value(r).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_count_http1() {
    let s = CountingServer::start(StatusCode::OK).await;
    let r = load::run(&s.args(&["--requests", "500", "--connections", "4"]))
        .await
        .unwrap();
    assert_eq!((r.requests, r.errors), (500, 0), "{}", r.table());
    assert_eq!(s.requests(), 500);
    assert_eq!(
        s.handshakes(),
        4,
        "keep-alive: one handshake per connection"
    );
    let j = json_of(&r);
    assert_eq!(j["protocol"], "http/1.1");
    assert_eq!(j["mode"], "closed");
    assert_eq!(j["errors_by_kind"], json!({}));
    assert!(j["latency_us_p50"].as_u64().unwrap() > 0);
    assert!(j.get("streams").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_count_http2() {
    let s = CountingServer::start(StatusCode::OK).await;
    let r = load::run(&s.args(&[
        "--requests",
        "500",
        "--connections",
        "4",
        "--http2",
        "--streams",
        "8",
    ]))
    .await
    .unwrap();
    assert_eq!((r.requests, r.errors), (500, 0), "{}", r.table());
    assert_eq!(s.requests(), 500);
    assert_eq!(s.handshakes(), 4);
    assert_eq!(json_of(&r)["protocol"], "h2");
    assert_eq!(json_of(&r)["streams"], 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_count_new_connection_per_request() {
    let s = CountingServer::start(StatusCode::OK).await;
    let r = load::run(&s.args(&[
        "--requests",
        "500",
        "--connections",
        "4",
        "--new-connection",
    ]))
    .await
    .unwrap();
    assert_eq!((r.requests, r.errors), (500, 0), "{}", r.table());
    assert_eq!(s.requests(), 500);
    assert_eq!(s.handshakes(), 500);
    assert_eq!(json_of(&r)["new_connection"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_keeps_its_rate() {
    let s = CountingServer::start(StatusCode::OK).await;
    let r = load::run(&s.args(&[
        "--rate",
        "200",
        "--duration",
        "2s",
        "--warmup",
        "0s",
        "--connections",
        "4",
    ]))
    .await
    .unwrap();
    let sent = r.requests + r.errors;
    assert!((360..=440).contains(&sent), "{sent} sent\n{}", r.table());
    assert!(
        (360..=440).contains(&s.requests()),
        "server saw {}",
        s.requests()
    );
    let j = json_of(&r);
    assert_eq!(j["mode"], "open");
    assert_eq!(j["target_rate"], 200.0);
    assert!(j["achieved_rate"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_requests_are_not_recorded() {
    let s = CountingServer::start(StatusCode::OK).await;
    let r = load::run(&s.args(&[
        "--rate",
        "100",
        "--duration",
        "1s",
        "--warmup",
        "1s",
        "--connections",
        "2",
    ]))
    .await
    .unwrap();
    // ~100 warm-up + ~100 measured reach the server; only the latter count.
    assert!((90..=110).contains(&r.requests), "{}", r.table());
    assert!((180..=220).contains(&s.requests()), "{}", s.requests());
}

#[test]
fn percentiles_of_a_known_distribution() {
    let p = load::report::percentiles_of(1..=1000);
    assert!((499..=501).contains(&p.p50), "{p:?}");
    assert!((899..=901).contains(&p.p90), "{p:?}");
    assert!((989..=991).contains(&p.p99), "{p:?}");
    assert!((998..=1000).contains(&p.p999), "{p:?}");
    assert_eq!(p.max, 1000);
    assert!((p.mean - 500.5).abs() < 1.0, "{p:?}");
    // Empty: zeros, not a panic.
    assert_eq!(load::report::percentiles_of([]).max, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_through_the_gateway_counts_events() {
    let agent = actgate::dev::example_agent::start(
        "127.0.0.1:0".parse().unwrap(),
        "scheduler",
        json!({"name": "scheduler"}),
    )
    .await
    .unwrap();
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &format!("http://{}", agent.addr))
            .allow("orchestrator", "scheduler", &[], true),
    )
    .await;
    let args = args_for(
        &format!("{}/agents/scheduler/a2a/jsonrpc", gw.base),
        &gw.ca(),
        &gw.certs().join("agents/orchestrator"),
        &[
            "--sse",
            "--method",
            "SendStreamingMessage",
            "--requests",
            "5",
            "--connections",
            "2",
        ],
    );
    let r = load::run(&args).await.unwrap();
    assert_eq!((r.requests, r.errors), (5, 0), "{}", r.table());
    let j = json_of(&r);
    assert!(j["sse_events_min"].as_u64().unwrap() >= 2, "{j}");
    assert!(j["sse_events"].as_u64().unwrap() >= 10, "{j}");
    let ttfe = j["ttfe_us_p50"].as_u64().unwrap();
    assert!(
        ttfe > 0 && ttfe <= j["latency_us_max"].as_u64().unwrap(),
        "{j}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_gives_connect_errors() {
    let s = CountingServer::start(StatusCode::OK).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let args = args_for(
        &format!("https://127.0.0.1:{port}/"),
        &s.certs.join("example.org/bundle.pem"),
        &s.certs.join("agents/loadgen"),
        &["--requests", "20", "--connections", "2", "--json"],
    );
    let r = load::run(&args).await.unwrap();
    assert_eq!(r.requests, 0);
    assert_eq!(r.errors_by_kind.get("connect"), Some(&20), "{}", r.table());
    assert!(r.first_error.as_deref().unwrap().starts_with("connect: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_counted_by_status() {
    let s = CountingServer::start(StatusCode::INTERNAL_SERVER_ERROR).await;
    let r = load::run(&s.args(&["--requests", "30", "--connections", "3"]))
        .await
        .unwrap();
    assert_eq!(r.requests, 0);
    assert_eq!(
        json_of(&r)["errors_by_kind"],
        json!({"http_status_500": 30})
    );
    // A non-2xx answer leaves the keep-alive connection usable.
    assert_eq!(s.handshakes(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_gives_tls_errors() {
    let s = CountingServer::start(StatusCode::OK).await;
    let other = CountingServer::start(StatusCode::OK).await;
    let args = args_for(
        &format!("https://localhost:{}/", s.port),
        &other.certs.join("example.org/bundle.pem"),
        &other.certs.join("agents/loadgen"),
        &["--requests", "3", "--connections", "1"],
    );
    let r = load::run(&args).await.unwrap();
    assert_eq!(r.errors_by_kind.get("tls"), Some(&3), "{}", r.table());
    assert_eq!(s.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_pid_reports_cpu_and_memory() {
    let s = CountingServer::start(StatusCode::OK).await;
    let pid = std::process::id().to_string();
    let r = load::run(&s.args(&[
        "--requests",
        "200",
        "--connections",
        "4",
        "--server-pid",
        &pid,
    ]))
    .await
    .unwrap();
    let j = json_of(&r);
    assert!(j["server_cpu_seconds"].as_f64().unwrap() >= 0.0, "{j}");
    assert!(
        j["server_cpu_us_per_request"].as_f64().unwrap() >= 0.0,
        "{j}"
    );
    assert!(j["server_rss_max_kb"].as_u64().unwrap() > 0, "{j}");
    assert!(j["server_vm_hwm_kb"].as_u64().unwrap() > 0, "{j}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_held_and_measured() {
    let s = CountingServer::start(StatusCode::OK).await;
    let pid = std::process::id().to_string();
    let r = load::run(&s.args(&["--idle-connections", "20", "--server-pid", &pid]))
        .await
        .unwrap();
    let j = json_of(&r);
    assert_eq!(j["idle_connections"], 20, "{j}");
    assert_eq!(s.handshakes(), 20);
    assert_eq!(s.requests(), 20);
    assert!(j["server_rss_after_kb"].as_u64().unwrap() > 0, "{j}");
    assert!(j["bytes_per_connection"].is_number(), "{j}");
}

#[tokio::test]
async fn bad_input_is_a_clear_error() {
    let s = CountingServer::start(StatusCode::OK).await;
    let ca = s.certs.join("example.org/bundle.pem");
    let id = s.certs.join("agents/loadgen");
    let cases: &[(&str, &[&str], &str)] = &[
        ("http://localhost:1/", &[], "use https"),
        ("not a url", &[], "--url"),
        (
            "https://localhost:1/",
            &["--connections", "0"],
            "--connections",
        ),
        ("https://localhost:1/", &["--rate=-5"], "--rate"),
        ("https://localhost:1/", &["--header", "nocolon"], "--header"),
        (
            "https://localhost:1/",
            &["--http2", "--new-connection"],
            "--new-connection",
        ),
        (
            "https://localhost:1/",
            &["--idle-connections", "3"],
            "--server-pid",
        ),
        (
            "https://localhost:1/",
            &["--server-pid", "4000000000"],
            "4000000000",
        ),
    ];
    let missing = args_for(
        "https://localhost:1/",
        std::path::Path::new("/nonexistent/ca.pem"),
        &id,
        &[],
    );
    let e = format!("{:#}", load::run(&missing).await.unwrap_err());
    assert!(
        e.contains("/nonexistent/ca.pem") && e.contains("--cacert"),
        "{e}"
    );
    for (url, extra, needle) in cases {
        let args = args_for(url, &ca, &id, extra);
        let e = format!("{:#}", load::run(&args).await.unwrap_err());
        assert!(e.contains(needle), "{url} {extra:?}: {e}");
    }
}
