//! Egress (sidecar) mode: a plain-HTTP agent calls through the sidecar, which
//! calls the real gateway over mTLS with the agent's workload certificate.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use common::cli::{actgate, text};
use common::egress::{claims, plain, plain_client, send_message_body, unix_post, TestEgress};
use common::gateway::{id, Options, TestGateway, TD};
use common::upstream::{self, Behaviour};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn gateway_with(upstream: &str) -> TestGateway {
    TestGateway::start(Options::new().agent("target", upstream).allow(
        "orchestrator",
        "target",
        &["calendar:read"],
        true,
    ))
    .await
}

#[tokio::test]
async fn the_agent_calls_with_its_workload_identity_and_only_its_bearer_token() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway_with(&up.url()).await;
    let eg = TestEgress::start(&gw, "orchestrator", "").await;
    let user = gw.user_token(json!({"scope": "calendar:read"}));

    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {user}")).unwrap(),
    );
    // Identity claims the local agent must not be able to make.
    h.insert(
        "x-forwarded-client-cert",
        HeaderValue::from_static("URI=spiffe://example.org/agent/tool"),
    );
    h.insert(
        "x-actgate-caller",
        HeaderValue::from_static("spiffe://example.org/agent/tool"),
    );
    h.insert("l5d-client-id", HeaderValue::from_static("tool"));
    h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
    h.insert("x-request-id", HeaderValue::from_static("agent-req-1"));
    h.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    h.insert("tracestate", HeaderValue::from_static("vendor=1"));
    let (status, rh, body) = plain(
        &plain_client(),
        Method::POST,
        &format!("{}/agents/target/a2a/jsonrpc", eg.base),
        &h,
        &send_message_body(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));

    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.uri.path(), "/a2a/jsonrpc");
    // The caller the gateway saw is the sidecar's workload certificate; the
    // subject is the user of the agent's bearer token.
    let auth = s.headers["authorization"].to_str().unwrap();
    let c = claims(auth.strip_prefix("Bearer ").unwrap());
    assert_eq!(c["sub"], "alice@example.com");
    assert_eq!(c["client_id"], id("orchestrator"));
    assert_eq!(c["act"], json!({"sub": id("orchestrator")}));
    for h in [
        "x-forwarded-client-cert",
        "x-actgate-caller",
        "l5d-client-id",
        "x-forwarded-for",
    ] {
        assert!(s.headers.get(h).is_none(), "{h} reached the upstream");
    }
    // A request id of the gateway's own (not the agent's), returned to the agent.
    let rid = s.headers["x-request-id"].to_str().unwrap();
    assert_eq!(rid.len(), 32, "{rid}");
    assert_ne!(rid, "agent-req-1");
    assert_eq!(rh["x-request-id"], rid);
    // The trace continues: same trace id, a new parent id at each hop.
    let tp = s.headers["traceparent"].to_str().unwrap();
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{tp}"
    );
    assert!(!tp.contains("00f067aa0ba902b7"), "{tp}");
    assert!(tp.ends_with("-01"), "{tp}");
    assert_eq!(s.headers["tracestate"], "vendor=1");
}

#[tokio::test]
async fn app_only_calls_and_refusals_come_from_the_gateway() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway_with(&up.url()).await;
    let eg = TestEgress::start(&gw, "orchestrator", "").await;
    let c = plain_client();
    let post = |path: &str, h: HeaderMap| {
        let url = format!("{}{path}", eg.base);
        let c = c.clone();
        async move { plain(&c, Method::POST, &url, &h, &send_message_body()).await }
    };
    // App-only (no bearer): sub is the workload itself.
    let (s, _, _) = post("/agents/target/a2a/jsonrpc", HeaderMap::new()).await;
    assert_eq!(s, StatusCode::OK);
    let auth = up.requests()[0].headers["authorization"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        claims(auth.strip_prefix("Bearer ").unwrap())["sub"],
        id("orchestrator")
    );
    // An agent no rule opens: the gateway's 403.
    let (s, _, b) = post("/agents/nosuch/a2a/jsonrpc", HeaderMap::new()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));
    // A bad bearer token: the gateway's 401.
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_static("Bearer not.a.jwt"),
    );
    let (s, _, _) = post("/agents/target/a2a/jsonrpc", h).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Another scheme is refused by the sidecar itself.
    let mut h = HeaderMap::new();
    h.insert("authorization", HeaderValue::from_static("Basic YTpi"));
    let (s, _, b) = post("/agents/target/a2a/jsonrpc", h).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        String::from_utf8_lossy(&b).contains("Bearer"),
        "{}",
        String::from_utf8_lossy(&b)
    );
    // Only /agents routes are forwarded.
    let (s, _, _) = post("/.well-known/jwks.json", HeaderMap::new()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = post("/agents/target/../x", HeaderMap::new()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        up.requests().len(),
        1,
        "no refused call reached the upstream"
    );
}

#[tokio::test]
async fn the_gateway_must_present_the_configured_spiffe_id() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway_with(&up.url()).await;
    // Same CA, right DNS name, wrong SPIFFE ID expected: refused.
    let dir = tempfile::tempdir().unwrap();
    let text = common::egress::egress_config(dir.path(), &gw, "orchestrator", "", "").replace(
        &format!("spiffe://{TD}/gateway"),
        &format!("spiffe://{TD}/agent/scheduler"),
    );
    let path = dir.path().join("egress.toml");
    std::fs::write(&path, &text).unwrap();
    let cfg = actgate::config::EgressConfigFile::parse(&path, &text).unwrap();
    let eg = actgate::egress::start(&cfg).await.unwrap();
    let (s, _, b) = plain(
        &plain_client(),
        Method::POST,
        &format!("http://{}/agents/target/a2a/jsonrpc", eg.addr.unwrap()),
        &HeaderMap::new(),
        &send_message_body(),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_GATEWAY,
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn cards_point_at_the_sidecar_and_need_no_client_certificate() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway_with(&up.url()).await;
    let eg = TestEgress::start(&gw, "orchestrator", "").await;
    let (s, h, body) = plain(
        &plain_client(),
        Method::GET,
        &format!("{}/agents/target/.well-known/agent-card.json", eg.base),
        &HeaderMap::new(),
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(h.get("etag").is_none());
    let card: Value = serde_json::from_slice(&body).unwrap();
    let urls: Vec<&str> = card["supportedInterfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        vec![
            format!("{}/agents/target/a2a/jsonrpc", eg.base),
            format!("{}/agents/target/a2a/rest", eg.base)
        ]
    );
    assert!(
        card["securitySchemes"].get("gateway-mtls").is_none(),
        "{card}"
    );
    assert!(
        card["securitySchemes"].get("gateway-token").is_some(),
        "{card}"
    );
    assert!(!card.to_string().contains("gateway-mtls"), "{card}");
    assert!(card.get("signatures").is_none());
    // v0.3 form too.
    let (s, _, body) = plain(
        &plain_client(),
        Method::GET,
        &format!("{}/agents/target/.well-known/agent.json", eg.base),
        &HeaderMap::new(),
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let v03: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v03["url"], format!("{}/agents/target/a2a/jsonrpc", eg.base));
    // The card of an agent this workload may not reach: the gateway's 403.
    let (s, _, _) = plain(
        &plain_client(),
        Method::GET,
        &format!("{}/agents/nosuch/.well-known/agent-card.json", eg.base),
        &HeaderMap::new(),
        "",
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unix_socket_listener() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway_with(&up.url()).await;
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("egress.sock");
    let eg = TestEgress::start(
        &gw,
        "orchestrator",
        &format!("unix_socket = \"{}\"", sock.display()),
    )
    .await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let status = unix_post(
        &sock,
        "/agents/target/a2a/jsonrpc",
        &[("host", "localhost"), ("content-type", "application/json")],
        send_message_body(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(up.requests().len(), 1);
    let auth = up.requests()[0].headers["authorization"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        claims(auth.strip_prefix("Bearer ").unwrap())["client_id"],
        id("orchestrator")
    );
    drop(eg);
}

/// Rotate the workload certificate five times under continuous requests:
/// every request succeeds, and the gateway sees the new certificates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_across_certificate_rotations() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway_with(&up.url()).await;
    let eg = TestEgress::start(&gw, "orchestrator", "watch_interval = \"50ms\"").await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (stop, ok, url) = (
            stop.clone(),
            ok.clone(),
            format!("{}/agents/target/a2a/jsonrpc", eg.base),
        );
        workers.push(tokio::spawn(async move {
            let c = plain_client();
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (s, _, b) = plain(
                    &c,
                    Method::POST,
                    &url,
                    &HeaderMap::new(),
                    &send_message_body(),
                )
                .await;
                if s == StatusCode::OK {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures.push(format!("{s}: {}", String::from_utf8_lossy(&b)));
                }
            }
            failures
        }));
    }
    let ca = actgate::pki::DevCa::from_pem(
        &std::fs::read_to_string(gw.certs().join(TD).join("ca.pem")).unwrap(),
        &std::fs::read_to_string(gw.certs().join(TD).join("ca.key")).unwrap(),
    )
    .unwrap();
    let sid = actgate::identity::SpiffeId::parse(&id("orchestrator")).unwrap();
    let (cert_path, key_path) = eg.svid_paths();
    for i in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let issued = ca
            .issue_svid(&sid, Duration::from_secs(3600), &[], &[])
            .unwrap();
        // Like `cert renew`: key first, then certificate, each replaced
        // atomically; in between the pair does not match.
        let tmp = eg.dir.path().join(format!("tmp{i}"));
        std::fs::write(&tmp, &issued.key_pem).unwrap();
        std::fs::rename(&tmp, &key_path).unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        std::fs::write(&tmp, &issued.cert_pem).unwrap();
        std::fs::rename(&tmp, &cert_path).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for w in workers {
        failures.extend(w.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        ok.load(Ordering::Relaxed) > 20,
        "too few requests ran: {}",
        ok.load(Ordering::Relaxed)
    );
    // The gateway caches a token per caller certificate: each certificate
    // the sidecar presented shows up as its own token at the upstream.
    let tokens: std::collections::HashSet<String> = up
        .requests()
        .iter()
        .map(|s| s.headers["authorization"].to_str().unwrap().to_string())
        .collect();
    assert!(
        tokens.len() >= 6,
        "only {} distinct caller certificates were seen",
        tokens.len()
    );
    // The last certificate is the one in use.
    let now_serving = eg.running.state.material.load();
    assert!(now_serving.not_after > actgate::unix_now() + 3000);
}

#[test]
fn egress_configs_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("actgate.egress.example.toml")).unwrap();
    std::fs::write(dir.path().join("egress.toml"), &example).unwrap();
    let o = actgate(dir.path(), &["certs", "init", "--out", "certs"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let check = |text_: &str| {
        std::fs::write(dir.path().join("e.toml"), text_).unwrap();
        actgate(dir.path(), &["config", "check", "--config", "e.toml"])
    };
    let o = check(&example);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("egress sidecar for spiffe://example.org/agent/orchestrator calling spiffe://example.org/gateway"),
        "{}",
        text(&o.stdout)
    );

    // Not on loopback: refused with the field and the reason...
    let open = example.replace("listen = \"127.0.0.1:15001\"", "listen = \"0.0.0.0:15001\"");
    let o = check(&open);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("e.toml: egress.listen: 0.0.0.0:15001 is not a loopback address"),
        "{}",
        text(&o.stderr)
    );
    // ...unless explicitly allowed.
    let o = check(&open.replace("allow_non_loopback = false", "allow_non_loopback = true"));
    assert!(o.status.success(), "{}", text(&o.stderr));

    // Every problem, each with its field.
    let bad = example
        .replace("https://localhost:8443", "http://localhost:8443")
        .replace("spiffe://example.org/gateway", "spiffe://example.org")
        .replace(
            "certs/agents/orchestrator.key",
            "certs/agents/scheduler.key",
        )
        .replace("drain_timeout = \"30s\"", "drain_timeout = \"soon\"");
    let o = check(&bad);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    for needle in [
        "e.toml: egress.gateway_url: \"http://localhost:8443\" is not an absolute https:// URL",
        "e.toml: egress.gateway_spiffe_id:",
        "e.toml: server.drain_timeout:",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    // A key that does not match the certificate.
    let o = check(&example.replace(
        "certs/agents/orchestrator.key",
        "certs/agents/scheduler.key",
    ));
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("e.toml: egress.key:"),
        "{}",
        text(&o.stderr)
    );
    // Unknown keys are errors; serve refuses an egress config with a pointer.
    let o = check(&example.replace("watch_interval", "watch_intervall"));
    assert!(
        text(&o.stderr).contains("watch_intervall"),
        "{}",
        text(&o.stderr)
    );
    let o = actgate(dir.path(), &["serve", "--config", "egress.toml"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("actgate egress --config"),
        "{}",
        text(&o.stderr)
    );
}

/// The egress config in the Kubernetes sidecar example's ConfigMap passes
/// `actgate config check`, with the files csi-driver-spiffe mounts in place.
#[test]
fn the_kubernetes_sidecar_example_config_checks_clean() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let yaml = std::fs::read_to_string(
        root.join("deploy/kubernetes/examples/egress-sidecar/configmap.yaml"),
    )
    .unwrap();
    // The block scalar under `egress.toml: |`, dedented.
    let mut lines = yaml
        .lines()
        .skip_while(|l| !l.trim_end().ends_with("egress.toml: |"));
    lines
        .next()
        .expect("configmap.yaml has an egress.toml entry");
    let body: Vec<&str> = lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .collect();
    let toml: String = body
        .iter()
        .map(|l| l.get(4..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(toml.contains("[egress]"), "{toml}");

    let dir = tempfile::tempdir().unwrap();
    let o = actgate(dir.path(), &["certs", "init", "--out", "certs"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // What csi-driver-spiffe mounts: tls.crt, tls.key, ca.crt. The example's
    // gateway ID is in example.org, the dev PKI's trust domain.
    let mount = dir.path().join("spiffe.io");
    std::fs::create_dir_all(&mount).unwrap();
    let c = dir.path().join("certs");
    std::fs::copy(c.join("agents/scheduler.pem"), mount.join("tls.crt")).unwrap();
    std::fs::copy(c.join("agents/scheduler.key"), mount.join("tls.key")).unwrap();
    std::fs::copy(c.join("example.org/bundle.pem"), mount.join("ca.crt")).unwrap();
    let toml = toml.replace(
        "/var/run/secrets/spiffe.io/",
        &format!("{}/", mount.display()),
    );
    std::fs::write(dir.path().join("egress.toml"), toml).unwrap();
    let o = actgate(dir.path(), &["config", "check", "--config", "egress.toml"]);
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(
        text(&o.stdout).contains("ok (egress sidecar for spiffe://example.org/agent/scheduler"),
        "{}",
        text(&o.stdout)
    );
}

/// The sidecar drains like the gateway: not ready at once (its /healthz
/// stays up), an SSE stream in progress through it finishes, then it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_drains_a_stream_in_progress() {
    use http_body_util::BodyExt;
    let release = Arc::new(tokio::sync::Notify::new());
    let up = upstream::start(Behaviour::GatedStream {
        first: "first".into(),
        last: "last".into(),
        release: release.clone(),
    })
    .await;
    let gw = gateway_with(&up.url()).await;
    let eg = TestEgress::start(&gw, "orchestrator", "admin_listen = \"127.0.0.1:0\"").await;
    let admin = format!("http://{}", eg.running.admin_addr.unwrap());
    let c = plain_client();
    let status = |path: &'static str| {
        let (c, url) = (c.clone(), format!("{admin}{path}"));
        async move { plain(&c, Method::GET, &url, &HeaderMap::new(), "").await.0 }
    };
    assert_eq!(status("/readyz").await, StatusCode::OK);

    let req = http::Request::post(format!("{}/agents/target/a2a/jsonrpc", eg.base))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            send_message_body(),
        )))
        .unwrap();
    let resp = plain_client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, bytes::Bytes::from("data: first\n\n"));

    let TestEgress {
        dir: _dir,
        running,
        base,
    } = eg;
    let shutdown = tokio::spawn(running.shutdown());
    let mut ready = StatusCode::OK;
    for _ in 0..100 {
        ready = status("/readyz").await;
        if ready != StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status("/healthz").await, StatusCode::OK);
    // No new connections on the egress listener.
    let fresh = plain_client();
    let req = http::Request::get(format!("{base}/agents"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    assert!(
        fresh.request(req).await.is_err(),
        "a new connection was served while draining"
    );
    assert!(!shutdown.is_finished());
    release.notify_one();
    let last = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(last, bytes::Bytes::from("data: last\n\n"));
    let cut = tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cut, 0, "every connection finished before the deadline");
}

/// A call that needs a person's approval works through the sidecar: the
/// `Actgate-Approval` header reaches the gateway (it names a decision the
/// gateway checks against this very request, not an identity).
#[tokio::test]
async fn approvals_work_through_the_sidecar() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("bank", &up.url())
            .rule(&format!(
                "caller = \"{}\"\nagent = \"bank\"\nscopes = [\"pay\"]\napp_only = true\napproval = \"human\"",
                id("orchestrator")
            ))
            .raw("[approvals]\ndir = \"approvals\"\n"),
    )
    .await;
    let eg = TestEgress::start(&gw, "orchestrator", "").await;
    let c = plain_client();
    let url = format!("{}/agents/bank/a2a/jsonrpc", eg.base);
    let (s, _, b) = plain(
        &c,
        Method::POST,
        &url,
        &HeaderMap::new(),
        &send_message_body(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let b: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let approval = b["error"]["data"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _) = gw
        .admin(
            Method::POST,
            &format!("/api/approvals/{approval}/approve"),
            Some(serde_json::json!({"reason": "ok"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut h = HeaderMap::new();
    h.insert("actgate-approval", approval.parse().unwrap());
    let (s, _, b) = plain(&c, Method::POST, &url, &h, &send_message_body()).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert_eq!(up.requests().len(), 1, "forwarded once, after the approval");
    assert!(
        up.requests()[0].headers.get("actgate-approval").is_none(),
        "the approval header stops at the gateway"
    );
}
