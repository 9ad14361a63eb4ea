//! The admin listener: loopback-only plain HTTP (with its browser
//! protections), mTLS with allowed admin identities, the config checks that
//! keep it that way, and the `actgate approvals` CLI against a running
//! gateway (plain and mTLS).

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::cli::{actgate, text};
use common::gateway::{config_text, id, make_pki, Options, TestGateway};
use common::upstream::{self, Behaviour};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use actgate::config::ConfigFile;
use actgate::dev::client::MtlsClient;
use actgate::metrics::Metrics;
use actgate::snapshot::Snapshot;

fn approval_rule() -> String {
    format!(
        "caller = \"{}\"\nagent = \"bank\"\nscopes = [\"pay\"]\napp_only = true\napproval = \"human\"",
        id("orchestrator")
    )
}

/// A raw HTTP/1.1 exchange, so the test controls every header.
async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn plain_admin_is_for_local_operators_only() {
    let gw = TestGateway::start(Options::new()).await;
    let addr = gw.running.admin_addr.unwrap();
    let ok = raw(
        addr,
        "GET /api/agents HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    // A DNS-rebound name in Host (a web page aiming at localhost).
    let rebound = raw(
        addr,
        "GET /api/agents HTTP/1.1\r\nHost: evil.example:9901\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
    let console = raw(
        addr,
        "GET /console HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(console.starts_with("HTTP/1.1 403"), "{console}");
    // Probes need nothing.
    let probe = raw(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(probe.starts_with("HTTP/1.1 200"), "{probe}");
    // A cross-site form post cannot decide an approval: not JSON, or not same origin.
    let form = raw(addr, "POST /api/approvals/ap-00000000000000000000000000000000/approve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    assert!(form.starts_with("HTTP/1.1 415"), "{form}");
    let cross = raw(addr, "POST /api/approvals/ap-00000000000000000000000000000000/approve HTTP/1.1\r\nHost: 127.0.0.1:1\r\nOrigin: http://evil.example\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}").await;
    assert!(cross.starts_with("HTTP/1.1 403"), "{cross}");
    // The console page carries a strict CSP.
    let page = raw(
        addr,
        "GET /console HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let lower = page.to_ascii_lowercase();
    assert!(
        lower.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{page}"
    );
    // Metrics name every agent: a DNS-rebound page must not read them
    // (scrapers that name the host as they like use health_listen).
    let rebound = raw(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
    assert!(!rebound.contains("actgate_"), "{rebound}");
    // A loopback Host: Prometheus text format.
    let metrics = raw(
        addr,
        &format!(
            "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            addr.port()
        ),
    )
    .await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    let (_, body) = metrics.split_once("\r\n\r\n").unwrap();
    assert_prometheus_text(body);
    // Without [approvals], the API says so.
    let (s, b) = gw.admin(Method::GET, "/api/approvals", None).await;
    assert_eq!(
        (s, b["error"].clone()),
        (StatusCode::NOT_FOUND, json!("approvals_not_configured"))
    );
}

/// Every sample line is `name{labels} value` with a float value, under the
/// `# HELP` and `# TYPE` lines of its family (a histogram's samples are
/// its `_bucket`, `_sum` and `_count`).
fn assert_prometheus_text(text: &str) {
    let mut helped = std::collections::HashSet::new();
    let mut typed = std::collections::HashMap::new();
    let mut samples = 0;
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            assert!(!help.trim().is_empty(), "{line}");
            helped.insert(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                helped.contains(name),
                "{name} has no # HELP before its # TYPE"
            );
            if kind == "counter" {
                assert!(
                    name.ends_with("_total"),
                    "counter {name} does not end in _total"
                );
            }
            typed.insert(name.to_string(), kind.to_string());
            continue;
        }
        assert!(!line.starts_with('#'), "{line}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        value.parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suf| {
                name.strip_suffix(suf)
                    .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "{name} has no # TYPE line");
        samples += 1;
    }
    assert!(samples > 10, "{text}");
}

fn build(text: &str, dir: &std::path::Path) -> Result<Snapshot, String> {
    let path = dir.join("actgate.toml");
    let cfg = ConfigFile::parse(&path, text).map_err(|e| e.to_string())?;
    Snapshot::build(&cfg, Arc::new(Metrics::default())).map_err(|e| e.to_string())
}

#[test]
fn config_keeps_the_admin_listener_safe() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let base = Options::new().agent("bank", "http://127.0.0.1:1");
    let text = config_text(dir.path(), &base);

    let public = text.replace(
        "admin_listen = \"127.0.0.1:0\"",
        "admin_listen = \"0.0.0.0:0\"",
    );
    let e = build(&public, dir.path()).err().unwrap();
    assert!(
        e.contains("gateway.admin_listen") && e.contains("loopback"),
        "{e}"
    );
    // With mTLS it may listen anywhere.
    let mtls = format!(
        "{public}\n[admin]\nmtls = true\nallowed_identities = [\"spiffe://example.org/operator/*\"]\n"
    );
    build(&mtls, dir.path()).unwrap();
    let nobody = format!("{public}\n[admin]\nmtls = true\n");
    let e = build(&nobody, dir.path()).err().unwrap();
    assert!(e.contains("admin.allowed_identities"), "{e}");
    let bad_pattern =
        format!("{text}\n[admin]\nmtls = true\nallowed_identities = [\"spiffe://a/b/../c\"]\n");
    let e = build(&bad_pattern, dir.path()).err().unwrap();
    assert!(e.contains("admin.allowed_identities[0]"), "{e}");

    // A rule that needs approval needs a store, and an admin listener.
    let needs = config_text(
        dir.path(),
        &Options::new()
            .agent("bank", "http://127.0.0.1:1")
            .rule(&approval_rule()),
    );
    let e = build(&needs, dir.path()).err().unwrap();
    assert!(
        e.contains("rule[0].approval") && e.contains("[approvals]"),
        "{e}"
    );
    let no_admin = format!(
        "{}\n[approvals]\ndir = \"ap\"\n",
        needs.replace("admin_listen = \"127.0.0.1:0\"", "")
    );
    let e = build(&no_admin, dir.path()).err().unwrap();
    assert!(
        e.contains("rule[0].approval") && e.contains("admin_listen"),
        "{e}"
    );
    let bad_ttl = format!("{needs}\n[approvals]\ndir = \"ap\"\nttl = \"soon\"\n");
    let e = build(&bad_ttl, dir.path()).err().unwrap();
    assert!(e.contains("approvals.ttl"), "{e}");
    let typo = format!("{needs}\n[approvals]\ndir = \"ap\"\napproval = \"human\"\n");
    assert!(build(&typo, dir.path()).is_err());
    let good = format!("{needs}\n[approvals]\ndir = \"ap\"\n");
    build(&good, dir.path()).unwrap();
    let wrong = needs.replace("approval = \"human\"", "approval = \"maybe\"");
    let e = build(&wrong, dir.path()).err().unwrap();
    assert!(e.contains("maybe"), "{e}");
}

async fn mtls_gateway() -> (TestGateway, common::upstream::TestUpstream) {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("bank", &up.url())
            .rule(&approval_rule())
            .raw(&format!(
                "[approvals]\ndir = \"approvals\"\n\n[admin]\nmtls = true\nallowed_identities = [\"{}\"]\n",
                id("notifier")
            )),
    )
    .await;
    (gw, up)
}

fn admin_client(gw: &TestGateway, who: &str) -> MtlsClient {
    gw.client(who)
}

async fn admin_get(client: &MtlsClient, gw: &TestGateway, path: &str) -> (StatusCode, Value) {
    let url = format!(
        "https://localhost:{}{path}",
        gw.running.admin_addr.unwrap().port()
    );
    let (s, _, b) = client
        .fetch(Method::GET, &url, &HeaderMap::new(), Bytes::new())
        .await
        .unwrap();
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

async fn create_approval(gw: &TestGateway) -> String {
    let (s, _, b) = gw
        .send_message_via(&gw.client("orchestrator"), "bank")
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    b["error"]["data"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn mtls_admin_admits_only_allowed_identities() {
    let (gw, _up) = mtls_gateway().await;
    let approval = create_approval(&gw).await;

    let (s, list) = admin_get(&admin_client(&gw, "notifier"), &gw, "/api/approvals").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["approvals"][0]["id"], approval.as_str());

    // A valid SVID that is not an admin: probes only.
    let intruder = admin_client(&gw, "intruder");
    let (s, _) = admin_get(&intruder, &gw, "/api/approvals").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        admin_get(&intruder, &gw, "/metrics").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin_get(&intruder, &gw, "/console").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin_get(&intruder, &gw, "/healthz").await.0,
        StatusCode::OK
    );

    // No client certificate: no connection at all; plain HTTP: no answer.
    let anon = MtlsClient::new(&gw.ca(), None, false).unwrap();
    let url = format!(
        "https://localhost:{}/healthz",
        gw.running.admin_addr.unwrap().port()
    );
    assert!(anon
        .fetch(Method::GET, &url, &HeaderMap::new(), Bytes::new())
        .await
        .is_err());
    let plain = raw(
        gw.running.admin_addr.unwrap(),
        "GET /api/approvals HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(!plain.starts_with("HTTP/"), "{plain}");

    // Decisions are recorded under the admin's SPIFFE ID.
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    let url = format!(
        "https://localhost:{}/api/approvals/{approval}/approve",
        gw.running.admin_addr.unwrap().port()
    );
    let (s, _, b) = admin_client(&gw, "notifier")
        .fetch(Method::POST, &url, &h, Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let b: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["decided_by"], id("notifier"));
}

/// Run the CLI off the async workers (it blocks until the gateway answers).
async fn cli(dir: &std::path::Path, args: Vec<String>) -> std::process::Output {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        actgate(&dir, &refs)
    })
    .await
    .unwrap()
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_lists_approves_and_denies_on_a_running_gateway() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("bank", &up.url())
            .rule(&approval_rule())
            .raw("[approvals]\ndir = \"approvals\"\n"),
    )
    .await;
    let dir = gw.dir.path().to_path_buf();
    let admin = gw.admin_url();
    let first = create_approval(&gw).await;

    let out = cli(&dir, args(&["approvals", "list", "--admin", &admin])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(
        listed.contains(&first) && listed.contains("pending") && listed.contains("SendMessage"),
        "{listed}"
    );
    assert!(listed.contains(&id("orchestrator")), "{listed}");

    let out = cli(
        &dir,
        args(&[
            "approvals",
            "approve",
            &first,
            "--reason",
            "looks right",
            "--admin",
            &admin,
        ]),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("approved "),
        "{}",
        text(&out.stdout)
    );
    let out = cli(
        &dir,
        args(&["approvals", "show", &first, "--admin", &admin]),
    )
    .await;
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["reason"], "looks right");
    assert_eq!(shown["status"], "approved");

    // The caller's retry goes through once.
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("actgate-approval", HeaderValue::from_str(&first).unwrap());
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {}});
    let (s, _, _) = gw
        .client("orchestrator")
        .fetch(
            Method::POST,
            &format!("{}/agents/bank/a2a/jsonrpc", gw.base),
            &h,
            Bytes::from(body.to_string()),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK);

    // Deny, then a second decision is refused with a clear error and exit 1.
    let out = cli(&dir, args(&["approvals", "list", "--admin", &admin])).await;
    assert_eq!(text(&out.stdout).trim(), "no approvals");
    let second = {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let (_, _, b) = gw
            .client("orchestrator")
            .fetch(
                Method::POST,
                &format!("{}/agents/bank/a2a/jsonrpc", gw.base),
                &h,
                Bytes::from_static(
                    br#"{"jsonrpc":"2.0","id":2,"method":"SendMessage","params":{"x":1}}"#,
                ),
            )
            .await
            .unwrap();
        let b: Value = serde_json::from_slice(&b).unwrap();
        b["error"]["data"]["approval_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let out = cli(
        &dir,
        args(&["approvals", "deny", &second, "--admin", &admin]),
    )
    .await;
    assert!(
        text(&out.stdout).starts_with("denied "),
        "{}",
        text(&out.stdout)
    );
    let out = cli(
        &dir,
        args(&["approvals", "approve", &second, "--admin", &admin]),
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("denied and can no longer be decided"),
        "{}",
        text(&out.stderr)
    );
    let out = cli(
        &dir,
        args(&["approvals", "show", "../etc", "--admin", &admin]),
    )
    .await;
    assert!(!out.status.success());
    let out = cli(
        &dir,
        args(&["approvals", "list", "--all", "--admin", &admin]),
    )
    .await;
    let all = text(&out.stdout);
    assert!(all.contains("used") && all.contains("denied"), "{all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_speaks_mtls_to_the_admin_listener() {
    let (gw, _up) = mtls_gateway().await;
    let approval = create_approval(&gw).await;
    let dir = gw.dir.path().to_path_buf();
    let url = format!(
        "https://localhost:{}",
        gw.running.admin_addr.unwrap().port()
    );
    let certs = gw.certs();
    let (ca, cert, key) = (
        gw.ca().display().to_string(),
        certs.join("agents/notifier.pem").display().to_string(),
        certs.join("agents/notifier.key").display().to_string(),
    );
    let out = cli(
        &dir,
        args(&[
            "approvals",
            "approve",
            &approval,
            "--admin",
            &url,
            "--cacert",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
        ]),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Not an admin identity.
    let (icert, ikey) = (
        certs.join("agents/intruder.pem").display().to_string(),
        certs.join("agents/intruder.key").display().to_string(),
    );
    let out = cli(
        &dir,
        args(&[
            "approvals",
            "list",
            "--admin",
            &url,
            "--cacert",
            &ca,
            "--cert",
            &icert,
            "--key",
            &ikey,
        ]),
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not an allowed admin identity"),
        "{}",
        text(&out.stderr)
    );
}

/// `health_listen`: probes and metrics for kubelet and Prometheus on any
/// address, while the approvals API and the console stay on the admin
/// listener. Nothing on it can change state.
#[tokio::test]
async fn health_listener_serves_probes_and_metrics_and_nothing_else() {
    let gw = TestGateway::start(Options::new().gateway("health_listen = \"127.0.0.1:0\"")).await;
    let addr = gw.running.health_addr.expect("health listener");
    let get = |path: &'static str| async move {
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: 10.1.2.3:9902\r\nConnection: close\r\n\r\n");
        raw(addr, &req).await
    };
    for path in ["/healthz", "/readyz"] {
        let r = get(path).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{path}: {r}");
    }
    let metrics = get("/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("actgate_handshakes_accepted_total"));
    // Any Host: scrapers name it as they like (no Host rule here).
    let named = raw(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(named.starts_with("HTTP/1.1 200"), "{named}");
    for path in ["/api/approvals", "/api/agents", "/console", "/"] {
        let r = get(path).await;
        assert!(r.starts_with("HTTP/1.1 404"), "{path}: {r}");
    }
    let post = raw(addr, "POST /api/approvals/ap-00000000000000000000000000000000/approve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}").await;
    assert!(post.starts_with("HTTP/1.1 404"), "{post}");

    // Unlike a plain admin listener, it may listen on any address.
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let text = config_text(
        dir.path(),
        &Options::new().gateway("health_listen = \"0.0.0.0:9902\""),
    );
    let cfg = ConfigFile::parse(&dir.path().join("actgate.toml"), &text).unwrap();
    Snapshot::build(&cfg, Arc::new(Metrics::default())).expect("health_listen on 0.0.0.0 is fine");
}

/// An operator's mTLS connection serves nothing once the operator's
/// certificate has expired: the next request on it gets 401.
#[tokio::test]
async fn an_operator_connection_stops_serving_when_its_certificate_expires() {
    let (gw, _up) = mtls_gateway().await;
    let leaf = gw.short_lived_svid("notifier", std::time::Duration::from_secs(4));
    let (_d, client) = gw.client_from_pem(&leaf.cert.cert_pem, &leaf.cert.key_pem);
    let (s, _) = admin_get(&client, &gw, "/api/approvals").await;
    assert_eq!(s, StatusCode::OK);
    TestGateway::wait_past(leaf.not_after).await;
    // The pooled connection is reused; a new handshake would be refused
    // (an error, not an answer).
    let (s, b) = admin_get(&client, &gw, "/api/approvals").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert!(b.to_string().contains("expired"), "{b}");
}

/// An operator whose certificate a reloaded CRL revokes can do nothing more
/// on a connection it kept open (it could otherwise still approve calls).
#[tokio::test]
async fn an_operator_connection_stops_serving_when_a_reloaded_crl_revokes_it() {
    let up = upstream::start(Behaviour::Echo).await;
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    // An empty CRL to start with (start_in then copies the PKI).
    let td = dir.path().join("certs").join(common::gateway::TD);
    let ca = actgate::pki::DevCa::from_pem(
        &std::fs::read_to_string(td.join("ca.pem")).unwrap(),
        &std::fs::read_to_string(td.join("ca.key")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("certs/example.org.crl.pem"),
        ca.issue_crl(&[], std::time::Duration::from_secs(3600))
            .unwrap(),
    )
    .unwrap();
    let gw = TestGateway::start_in(
        dir.path(),
        Options::new()
            .agent("bank", &up.url())
            .rule(&approval_rule())
            .trust_domain("crls = [\"certs/example.org.crl.pem\"]")
            .raw(&format!(
                "[approvals]\ndir = \"approvals\"\n\n[admin]\nmtls = true\nallowed_identities = [\"{}\"]\n",
                id("notifier")
            )),
    )
    .await;
    let operator = admin_client(&gw, "notifier");
    let (s, _) = admin_get(&operator, &gw, "/api/approvals").await;
    assert_eq!(s, StatusCode::OK);

    gw.write_crl(&["notifier"]);
    gw.reload().unwrap();

    // The same pooled connection: refused, with the reason.
    let (s, b) = admin_get(&operator, &gw, "/api/approvals").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert!(b.to_string().contains("revoked"), "{b}");
}
