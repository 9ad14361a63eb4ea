//! Heap allocations per request, counted by a counting global allocator:
//! what the gateway allocates to serve one keep-alive request, app-only and
//! delegated (a user bearer token, the verified-token cache warm), and what
//! one mint costs with the token cache off.
//!
//! `cargo bench --bench allocs` (prints a table; no timings, so the figures
//! do not depend on the load of the machine); `-- telemetry` with spans
//! exported (to a dead collector: the worst case, every batch dropped). With `-- mint-loop N` it only
//! mints N tokens (cache off, delegated), for an instruction profile:
//! `valgrind --tool=callgrind target/release/deps/allocs-* mint-loop 2000`.
//!
//! What is counted: a real gateway (`actgate::server::start`, the code
//! `actgate serve` runs, audit log on) listens on 127.0.0.1 and forwards to
//! a real upstream. The load generator (an mTLS keep-alive client) and the
//! upstream run on this program's main thread, whose allocations are not
//! counted; every other thread is: the gateway's tokio runtime (its own
//! threads) and the audit writer. So a figure is the gateway's own
//! allocations per request: TLS records, hyper, the pipeline, the upstream
//! client, the audit record and its writing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;

#[allow(dead_code, clippy::all)]
#[path = "../tests/common/gateway.rs"]
mod gateway;

use gateway::{Options, TestGateway};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the harness's own thread: its allocations are not counted.
    static EXCLUDED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    // `try_with`: during thread teardown the flag may be gone; count then.
    !EXCLUDED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counting touches only atomics and a const-initialised thread-local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn snapshot() -> (u64, u64) {
    (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    )
}

const WARMUP: usize = 200;
const REQUESTS: usize = 2_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "mint-loop") {
        let n = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(2_000);
        mint_count(n, false);
        return;
    }
    if args.iter().any(|a| a == "telemetry") {
        telemetry_on();
    }
    mint_count(REQUESTS, true);
    EXCLUDED.with(|e| e.set(true));
    // Its blocking threads (the client's DNS lookups) are the harness's too.
    let harness = tokio::runtime::Builder::new_current_thread()
        .on_thread_start(|| EXCLUDED.with(|e| e.set(true)))
        .enable_all()
        .build()
        .expect("harness runtime");
    // The gateway's runtime, on threads of its own (all counted): one
    // worker, as `bench/compare.sh` runs it (`--threads 1`).
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("gateway runtime");

    let up = harness.block_on(upstream());
    let url = format!("http://{up}");
    let opts = |cache: bool| {
        Options::new()
            .agent("scheduler", &url)
            .agent("notifier", &url)
            .allow("orchestrator", "scheduler", &["calendar:write"], true)
            .allow("orchestrator", "notifier", &["notify:send"], false)
            .tokens(&format!("cache = {cache}"))
    };
    let gw = server.block_on(TestGateway::start(opts(true)));
    let nocache = server.block_on(TestGateway::start(opts(false)));
    let user = gw.user_token(json!({}));

    println!("per request, gateway side (mean of {REQUESTS} keep-alive requests after {WARMUP}):");
    println!("{:<44} {:>10} {:>12}", "scenario", "allocs", "bytes");
    for (name, g, agent, token) in [
        ("app-only, token cache warm", &gw, "scheduler", None),
        (
            "delegated (user token), caches warm",
            &gw,
            "notifier",
            Some(user.as_str()),
        ),
        (
            "app-only, mint per request (cache = false)",
            &nocache,
            "scheduler",
            None,
        ),
    ] {
        let (a, b) = harness.block_on(per_request(g, agent, token));
        println!("{name:<44} {a:>10.1} {b:>12.0}");
    }
    let metrics = gw.metrics();
    for line in metrics.lines().filter(|l| l.contains("cache")) {
        println!("  {line}");
    }
}

/// `-- telemetry`: spans made and exported (`[telemetry]` on) to a
/// collector that is not there (nothing listens on 127.0.0.1:9), so every
/// batch fails and is dropped; the export thread is counted with the
/// gateway's. Logs at `warn`: a request logs nothing then.
fn telemetry_on() {
    let section = actgate::config::TelemetrySection {
        enabled: true,
        endpoint: Some("http://127.0.0.1:9/v1/traces".into()),
        ..Default::default()
    };
    let settings = actgate::telemetry::Settings::resolve(&section, |_| None)
        .expect("telemetry settings")
        .expect("telemetry on");
    let log = actgate::config::LogSection {
        level: Some("warn".into()),
        ..Default::default()
    };
    actgate::logging::init_with_telemetry(&log, Some(&settings)).expect("telemetry");
}

/// Allocations and bytes of one mint (cache off) in this thread, in-process,
/// the mean of `n`; `report`: print them (else only mint, delegated).
fn mint_count(n: usize, report: bool) {
    use actgate::identity::{CallerIdentity, SpiffeId};
    use actgate::metrics::Metrics;
    use actgate::token::{
        Actor, KeySet, MintRequest, Minter, SigningAlgorithm, SigningKey, SubjectToken,
    };
    let (key, _) = SigningKey::generate(SigningAlgorithm::Es256).expect("key");
    let keys = Arc::new(KeySet {
        current: key,
        previous: vec![],
    });
    let minter = Minter::new(
        keys,
        "https://gw.example.org".into(),
        false,
        Arc::new(Metrics::default()),
    );
    let caller = CallerIdentity {
        spiffe_id: SpiffeId::parse("spiffe://example.org/ns/b/sa/agent-b").expect("id"),
        thumbprint: "M2Q1ZGY0ZDZhYjk0NzQwYjE1ZGQ2ZjZhYjA0NjY2ZjM".into(),
        not_after: i64::MAX,
    };
    let subject = SubjectToken {
        issuer: "https://idp.example.com".into(),
        sub: "alice@example.com".into(),
        scopes: Some(vec!["invoices:read".to_string(), "invoices:write".to_string()].into()),
        exp: i64::MAX / 2,
        act: Some(std::sync::Arc::new(Actor {
            sub: "spiffe://example.org/ns/a/sa/agent-a".into(),
            act: None,
        })),
        may_act: None,
        own: false,
        aud: "https://gw.example.org".into(),
        cnf: None,
        grant: None,
    };
    let granted = vec!["invoices:read".to_string(), "invoices:write".to_string()];
    let now = actgate::unix_now();
    if report {
        println!("one mint, cache off, in-process (mean of {n}):");
        println!("{:<44} {:>10} {:>12}", "mint", "allocs", "bytes");
    }
    let kinds = [("app-only", None), ("delegated", Some(&subject))];
    for (name, subject) in kinds.into_iter().skip(usize::from(!report)) {
        let req = MintRequest {
            caller: &caller,
            subject,
            audience: "https://agents.example.org/invoice",
            granted_scopes: &granted,
            ttl_secs: 300,
            max_chain_depth: 4,
            allow_reentry: false,
        };
        for _ in 0..WARMUP {
            minter.token_for(&req, now).expect("mint");
        }
        let (a0, b0) = snapshot();
        for _ in 0..n {
            drop(std::hint::black_box(
                minter.token_for(&req, now).expect("mint"),
            ));
        }
        let (a1, b1) = snapshot();
        if !report {
            continue;
        }
        let n = n as f64;
        println!(
            "{name:<44} {:>10.1} {:>12.0}",
            (a1 - a0) as f64 / n,
            (b1 - b0) as f64 / n
        );
    }
    if report {
        println!();
    }
}

/// Mean allocations and bytes on the gateway's side per request of
/// `REQUESTS` keep-alive SendMessage calls to `agent`.
async fn per_request(gw: &TestGateway, agent: &str, token: Option<&str>) -> (f64, f64) {
    let client = gw.client("orchestrator");
    let url = format!("{}/agents/{agent}/a2a/jsonrpc", gw.base);
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("a2a-version", HeaderValue::from_static("1.0"));
    if let Some(t) = token {
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {t}")).expect("header"),
        );
    }
    let body = Bytes::from(
        json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
            "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}}})
        .to_string(),
    );
    let call = || async {
        let (s, _, b) = client
            .fetch(Method::POST, &url, &h, body.clone())
            .await
            .expect("request");
        assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    };
    for _ in 0..WARMUP {
        call().await;
    }
    let (a0, b0) = snapshot();
    for _ in 0..REQUESTS {
        call().await;
    }
    let (a1, b1) = snapshot();
    let n = REQUESTS as f64;
    ((a1 - a0) as f64 / n, (b1 - b0) as f64 / n)
}

/// An upstream answering every request `200 {}` over HTTP/1.1 keep-alive
/// (like the harness's nginx `return 200`); its address.
async fn upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = service_fn(|_req| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}
