//! `[server]` limits on the gateway's mTLS listener: connections, requests
//! per connection, header size, idle timeout.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::gateway::{Options, TestGateway};
use common::upstream::{self, Behaviour};

async fn gateway(server: &str) -> (TestGateway, upstream::TestUpstream) {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("target", &up.url())
            .allow("orchestrator", "target", &[], true)
            .raw(&format!("[server]\n{server}")),
    )
    .await;
    (gw, up)
}

/// A raw mTLS connection as `orchestrator`, handshake done.
async fn tls_connect(
    gw: &TestGateway,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in actgate::tls::load_certs(&gw.ca()).unwrap() {
        roots.add(c).unwrap();
    }
    let agents = gw.certs().join("agents");
    let chain = actgate::tls::load_certs(&agents.join("orchestrator.pem")).unwrap();
    let key =
        rustls::pki_types::PrivateKeyDer::from_pem_file(agents.join("orchestrator.key")).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(actgate::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(gw.running.addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut s = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await?;
    // TLS 1.3: the server's verdict on the client certificate arrives with
    // its first application data; a request proves the connection is served.
    s.write_all(b"GET /agents HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await?;
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"HTTP/1.1 200");
    Ok(s)
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let (gw, _up) = gateway("max_connections = 1").await;
    let first = tls_connect(&gw).await.unwrap();
    // The second is not served while the first is open...
    let second = tokio::time::timeout(Duration::from_millis(700), tls_connect(&gw)).await;
    assert!(
        second.is_err(),
        "a second connection was served past max_connections = 1"
    );
    // ...and is, once the first closes.
    drop(first);
    let second = tokio::time::timeout(Duration::from_secs(5), tls_connect(&gw)).await;
    assert!(matches!(second, Ok(Ok(_))), "{second:?}");
}

#[tokio::test]
async fn a_connection_closes_after_its_request_limit() {
    let (gw, up) = gateway("max_requests_per_connection = 2").await;
    let client = gw.client("orchestrator");
    let mut closes = 0;
    for _ in 0..4 {
        let (s, h, _) = gw.send_message_via(&client, "target").await;
        assert_eq!(s, StatusCode::OK);
        if h.get("connection").is_some_and(|v| v == "close") {
            closes += 1;
        }
    }
    assert_eq!(closes, 2, "every second response closes its connection");
    assert_eq!(up.requests().len(), 4);
    // Four requests over one pooled client took two connections.
    gw.expect_metric("actgate_handshakes_accepted_total 2\n")
        .await;
}

#[tokio::test]
async fn oversized_request_headers_get_431() {
    let (gw, up) = gateway("max_header_bytes = 8192").await;
    let client = gw.client("orchestrator");
    let mut h = HeaderMap::new();
    h.insert(
        "x-big",
        HeaderValue::from_str(&"a".repeat(16 * 1024)).unwrap(),
    );
    let (s, _, _) = client
        .fetch(
            Method::POST,
            &format!("{}/agents/target/a2a/jsonrpc", gw.base),
            &h,
            Bytes::from_static(b"{}"),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(up.requests().is_empty());
    // A normal request still fits.
    let (s, _, _) = gw
        .send_message_via(&gw.client("orchestrator"), "target")
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let (gw, _up) = gateway("idle_timeout = \"300ms\"").await;
    let mut conn = tls_connect(&gw).await.unwrap();
    // Drain the rest of the first response, then wait past the idle timeout:
    // the server closes the connection (EOF, or a TLS close).
    let mut buf = vec![0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true), "the idle connection was not closed");
    // A busy connection is not idle: a slow request on it completes.
    let slow = upstream::start(Behaviour::Delayed(Duration::from_millis(800))).await;
    let gw2 = TestGateway::start(
        Options::new()
            .agent("slow", &slow.url())
            .allow("orchestrator", "slow", &[], true)
            .raw("[server]\nidle_timeout = \"300ms\""),
    )
    .await;
    let (s, _, _) = gw2
        .send_message_via(&gw2.client("orchestrator"), "slow")
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[test]
fn server_settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let text = common::gateway::config_text(dir.path(), &Options::new())
        + "[server]\nmax_connections = 0\nmax_header_bytes = 100\nidle_timeout = \"never\"\n"
        + "header_timeout = \"0s\"\nbody_timeout = \"soon\"\nmax_handshakes = 0\n"
        + "max_concurrent_streams = 0\nmax_in_flight_per_caller = 0\n"
        + "[log]\nlevel = \"actgate=loud\"\n";
    let path = dir.path().join("a.toml");
    std::fs::write(&path, &text).unwrap();
    let o = common::cli::actgate(dir.path(), &["config", "check", "--config", "a.toml"]);
    assert!(!o.status.success());
    let err = common::cli::text(&o.stderr);
    for needle in [
        "a.toml: server.max_connections: must be between 1",
        "a.toml: server.max_header_bytes: must be at least 8192",
        "a.toml: server.idle_timeout:",
        "a.toml: server.header_timeout: \"0s\" is zero",
        "a.toml: server.body_timeout:",
        "a.toml: server.max_handshakes: must be between 1",
        "a.toml: server.max_concurrent_streams: must be at least 1",
        "a.toml: server.max_in_flight_per_caller: must be at least 1",
        "a.toml: log.level:",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}
