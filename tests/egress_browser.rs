//! A web page in the agent's browser must not be able to drive the egress
//! sidecar (which calls peers with the agent's identity): DNS rebinding
//! (a foreign `Host`), cross-site requests (`Origin`, `Sec-Fetch-Site`) and
//! form-style posts (`text/plain`) are refused before anything is sent to
//! the gateway, while a local agent's ordinary requests still go through.

mod common;

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::egress::{send_message_body, unix_post, TestEgress};
use common::gateway::{Options, TestGateway};
use common::upstream::{self, Behaviour};

async fn gateway_with(upstream: &str) -> TestGateway {
    TestGateway::start(Options::new().agent("target", upstream).allow(
        "orchestrator",
        "target",
        &["calendar:read"],
        true,
    ))
    .await
}

/// One raw HTTP/1.1 exchange, so the test controls every header (`Host`
/// included); `headers` are `Name: value` lines.
async fn raw(addr: SocketAddr, method: &str, path: &str, headers: &[String], body: &str) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn status(resp: &str) -> u16 {
    resp.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

const JSONRPC: &str = "/agents/target/a2a/jsonrpc";
const CARD: &str = "/agents/target/.well-known/agent-card.json";

#[tokio::test]
async fn browsers_cannot_drive_the_sidecar() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway_with(&up.url()).await;
    let eg = TestEgress::start(&gw, "orchestrator", "admin_listen = \"127.0.0.1:0\"").await;
    let addr = eg.running.addr.unwrap();
    let port = addr.port();
    let host = format!("Host: 127.0.0.1:{port}");
    let json = "Content-Type: application/json".to_string();
    let body = send_message_body();

    // (what the page sends, expected status, what the error must say)
    let attacks: Vec<(&str, &str, Vec<String>, u16, &str)> = vec![
        // DNS rebinding: attacker.example resolves to 127.0.0.1.
        (
            "POST",
            JSONRPC,
            vec![format!("Host: attacker.example:{port}"), json.clone()],
            403,
            "Host",
        ),
        // Reading the card through a rebound name is refused as well.
        (
            "GET",
            CARD,
            vec![format!("Host: attacker.example:{port}")],
            403,
            "Host",
        ),
        // A loopback name, but another port: not this listener's origin.
        (
            "POST",
            JSONRPC,
            vec![
                format!("Host: localhost:{}", port.wrapping_add(1)),
                json.clone(),
            ],
            403,
            "Host",
        ),
        // No Host at all.
        ("POST", JSONRPC, vec![json.clone()], 400, "Host"),
        // Two Hosts.
        (
            "POST",
            JSONRPC,
            vec![
                host.clone(),
                format!("Host: attacker.example:{port}"),
                json.clone(),
            ],
            400,
            "Host",
        ),
        // A cross-site fetch from a page (CORS would hide the answer, not
        // stop the call).
        (
            "POST",
            JSONRPC,
            vec![
                host.clone(),
                "Origin: https://attacker.example".into(),
                json.clone(),
            ],
            403,
            "origin",
        ),
        (
            "POST",
            JSONRPC,
            vec![host.clone(), "Origin: null".into(), json.clone()],
            403,
            "origin",
        ),
        (
            "POST",
            JSONRPC,
            vec![
                host.clone(),
                "Sec-Fetch-Site: cross-site".into(),
                json.clone(),
            ],
            403,
            "cross-site",
        ),
        // Another local origin (a dev server on localhost:3000) is same-site
        // but not same-origin.
        (
            "POST",
            JSONRPC,
            vec![
                host.clone(),
                "Sec-Fetch-Site: same-site".into(),
                json.clone(),
            ],
            403,
            "cross-site",
        ),
        (
            "GET",
            CARD,
            vec![host.clone(), "Sec-Fetch-Site: cross-site".into()],
            403,
            "cross-site",
        ),
        // A simple (preflight-free) cross-origin POST: text/plain, forms, none.
        (
            "POST",
            JSONRPC,
            vec![host.clone(), "Content-Type: text/plain".into()],
            415,
            "application/json",
        ),
        (
            "POST",
            JSONRPC,
            vec![
                host.clone(),
                "Content-Type: application/x-www-form-urlencoded".into(),
            ],
            415,
            "application/json",
        ),
        ("POST", JSONRPC, vec![host.clone()], 415, "application/json"),
    ];
    for (method, path, headers, want, says) in &attacks {
        let r = raw(addr, method, path, headers, &body).await;
        assert_eq!(status(&r), *want, "{method} {path} {headers:?}: {r}");
        assert!(r.contains(says), "{headers:?}: the error names {says}: {r}");
    }
    assert_eq!(
        up.requests().len(),
        0,
        "a refused request reached the upstream"
    );
    assert!(
        gw.metrics().contains("actgate_handshakes_accepted_total 0"),
        "the sidecar connected to the gateway for a refused request:\n{}",
        gw.metrics()
    );
    // Counted, by reason, on the sidecar's admin listener.
    let admin = eg.running.admin_addr.unwrap();
    let m = raw(admin, "GET", "/metrics", &[format!("Host: {admin}")], "").await;
    assert_eq!(status(&m), 200, "{m}");
    for line in [
        "actgate_egress_requests_refused_total{reason=\"foreign_host\"} 5",
        "actgate_egress_requests_refused_total{reason=\"cross_site\"} 5",
        "actgate_egress_requests_refused_total{reason=\"not_json\"} 3",
    ] {
        assert!(m.contains(line), "{line} missing:\n{m}");
    }

    // What a local agent (or a page of this very origin) sends still works.
    let oks: Vec<(&str, &str, Vec<String>)> = vec![
        ("POST", JSONRPC, vec![host.clone(), json.clone()]),
        (
            "POST",
            JSONRPC,
            vec![
                format!("Host: localhost:{port}"),
                "Content-Type: application/json; charset=utf-8".into(),
            ],
        ),
        (
            "POST",
            JSONRPC,
            vec![
                format!("Host: [::1]:{port}"),
                "Content-Type: application/a2a+json".into(),
            ],
        ),
        (
            "POST",
            JSONRPC,
            vec![
                host.clone(),
                format!("Origin: http://127.0.0.1:{port}"),
                "Sec-Fetch-Site: same-origin".into(),
                json.clone(),
            ],
        ),
        // A user typing the URL: Sec-Fetch-Site none.
        (
            "GET",
            CARD,
            vec![
                format!("Host: LOCALHOST:{port}"),
                "Sec-Fetch-Site: none".into(),
            ],
        ),
    ];
    for (method, path, headers) in &oks {
        let r = raw(
            addr,
            method,
            path,
            headers,
            if *method == "GET" { "" } else { &body },
        )
        .await;
        assert_eq!(status(&r), 200, "{method} {path} {headers:?}: {r}");
    }
    assert_eq!(
        up.requests().len(),
        4,
        "each accepted call reached the upstream"
    );
}

/// `allowed_hosts`: names under which the agent reaches the sidecar besides
/// the loopback ones (a Service name, the `local_url`), checked at load.
#[tokio::test]
async fn configured_hosts_are_accepted_and_checked() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway_with(&up.url()).await;
    let eg = TestEgress::start(
        &gw,
        "orchestrator",
        "allowed_hosts = [\"egress.agent.svc\", \"egress-80.agent.svc:80\"]",
    )
    .await;
    let addr = eg.running.addr.unwrap();
    let port = addr.port();
    let json = "Content-Type: application/json".to_string();
    let body = send_message_body();
    let post = |host: String| {
        let json = json.clone();
        let body = body.clone();
        async move {
            status(
                &raw(
                    addr,
                    "POST",
                    JSONRPC,
                    &[format!("Host: {host}"), json],
                    &body,
                )
                .await,
            )
        }
    };
    assert_eq!(post(format!("egress.agent.svc:{port}")).await, 200);
    assert_eq!(post(format!("EGRESS.agent.svc:{port}")).await, 200);
    assert_eq!(post("egress-80.agent.svc".into()).await, 200);
    assert_eq!(post("egress-80.agent.svc:80".into()).await, 200);
    assert_eq!(post("egress.agent.svc:1".into()).await, 403);
    assert_eq!(post(format!("egress-80.agent.svc:{port}")).await, 403);
    assert_eq!(post(format!("other.agent.svc:{port}")).await, 403);
    assert_eq!(up.requests().len(), 4);

    // Bad entries are refused at load, with the field.
    let dir = tempfile::tempdir().unwrap();
    for (entry, says) in [
        ("http://egress.agent.svc", "not a host name"),
        ("egress.agent.svc:99999", "not a host name"),
        ("", "not a host name"),
        ("*.agent.svc", "not a host name"),
    ] {
        let text = common::egress::egress_config(
            dir.path(),
            &gw,
            "orchestrator",
            &format!("allowed_hosts = [\"{entry}\"]"),
            "",
        );
        let path = dir.path().join("egress.toml");
        let cfg = actgate::config::EgressConfigFile::parse(&path, &text).unwrap();
        let err = match actgate::egress::start(&cfg).await {
            Ok(_) => panic!("{entry:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("egress.allowed_hosts"), "{err}");
        assert!(err.contains(says), "{entry:?}: {err}");
    }
}

/// The Unix socket needs no `Host` rule (no browser can open a socket
/// file), but what a browser marks as cross-site, and bodies not declared
/// JSON, are refused there as well: the rules do not depend on the way in.
#[tokio::test]
async fn the_unix_socket_keeps_the_origin_and_json_rules() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway_with(&up.url()).await;
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("egress.sock");
    let _eg = TestEgress::start(
        &gw,
        "orchestrator",
        &format!("unix_socket = \"{}\"", sock.display()),
    )
    .await;
    let send = |headers: Vec<(&'static str, &'static str)>| {
        let sock = sock.clone();
        async move {
            unix_post(&sock, JSONRPC, &headers, send_message_body())
                .await
                .as_u16()
        }
    };
    let json = ("content-type", "application/json");
    // Any Host on the socket (curl --unix-socket sends "localhost").
    assert_eq!(send(vec![("host", "agent.local"), json]).await, 200);
    assert_eq!(
        send(vec![
            ("host", "localhost"),
            ("sec-fetch-site", "cross-site"),
            json
        ])
        .await,
        403
    );
    assert_eq!(
        send(vec![
            ("host", "localhost"),
            ("origin", "https://attacker.example"),
            json
        ])
        .await,
        403
    );
    assert_eq!(
        send(vec![("host", "localhost"), ("content-type", "text/plain")]).await,
        415
    );
    assert_eq!(
        up.requests().len(),
        1,
        "only the agent's call was forwarded"
    );
}
