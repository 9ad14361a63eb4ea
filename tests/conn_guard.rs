//! What one connection may hold and for how long (issue 12, "fail closed"):
//! body and header deadlines, handshake slots apart from verified
//! connections, a per-caller in-flight cap, and a connection that stops
//! serving once its certificate expires or is revoked. Raw sockets where
//! the timing of bytes matters; certificates issued per test.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actgate::pki::DevCa;
use common::gateway::{Options, TestGateway, TD};
use common::upstream::{self, Behaviour};
use http::StatusCode;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A SendMessage body the test policy allows (so only the deadline stops it).
const SEND: &str = r#"{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"text":"hi"}]}}}"#;

async fn gateway(server: &str, gateway: &str) -> (TestGateway, upstream::TestUpstream) {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("target", &up.url())
            .allow("orchestrator", "target", &[], true)
            .gateway(gateway)
            .raw(&format!("[server]\n{server}")),
    )
    .await;
    (gw, up)
}

fn dev_ca(certs: &Path) -> DevCa {
    DevCa::from_pem(
        &std::fs::read_to_string(certs.join(TD).join("ca.pem")).unwrap(),
        &std::fs::read_to_string(certs.join(TD).join("ca.key")).unwrap(),
    )
    .unwrap()
}

/// A raw TLS connection to the gateway presenting `cert_pem` / `key_pem`.
async fn connect_with(gw: &TestGateway, cert_pem: &str, key_pem: &str) -> Tls {
    connect_alpn(gw, cert_pem, key_pem, &[]).await
}

async fn connect_alpn(gw: &TestGateway, cert_pem: &str, key_pem: &str, alpn: &[&[u8]]) -> Tls {
    let mut roots = rustls::RootCertStore::empty();
    for c in actgate::tls::load_certs(&gw.ca()).unwrap() {
        roots.add(c).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(actgate::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(gw.running.addr)
        .await
        .unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// A raw TLS connection as the harness's `agent`.
async fn connect_as(gw: &TestGateway, agent: &str) -> Tls {
    let dir = gw.certs().join("agents");
    let cert = std::fs::read_to_string(dir.join(format!("{agent}.pem"))).unwrap();
    let key = std::fs::read_to_string(dir.join(format!("{agent}.key"))).unwrap();
    connect_with(gw, &cert, &key).await
}

fn post_head(agent: &str, len: usize) -> String {
    format!(
        "POST /agents/{agent}/a2a/jsonrpc HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\na2a-version: 1.0\r\ncontent-length: {len}\r\n\r\n"
    )
}

/// One HTTP/1.1 response: (status, body). Content-Length or chunked.
async fn read_response<R: AsyncReadExt + Unpin>(r: &mut R) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match r.read(&mut byte).await {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let status: u16 = head.get(9..12)?.parse().ok()?;
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if let Some(len) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        body.resize(len, 0);
        r.read_exact(&mut body).await.ok()?;
    } else if lower.contains("transfer-encoding: chunked") {
        while !body.ends_with(b"0\r\n\r\n") {
            match r.read(&mut byte).await {
                Ok(1) => body.push(byte[0]),
                _ => return None,
            }
        }
    }
    Some((status, String::from_utf8_lossy(&body).to_string()))
}

/// Whether the peer closed: EOF (or a TLS close / reset) within `within`.
async fn closed<R: AsyncReadExt + Unpin>(r: &mut R, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    tokio::time::timeout(within, async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// Write `pieces` with `gap` between them, ignoring write errors (the
/// server may have answered and closed meanwhile).
async fn trickle(w: &mut WriteHalf<Tls>, pieces: &[&[u8]], gap: Duration) {
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        if w.write_all(p).await.is_err() || w.flush().await.is_err() {
            return;
        }
    }
}

fn split(tls: Tls) -> (ReadHalf<Tls>, WriteHalf<Tls>) {
    tokio::io::split(tls)
}

#[tokio::test]
async fn a_trickled_body_gets_408_and_never_reaches_the_upstream() {
    // Every piece arrives well within idle_timeout of the last one: only a
    // deadline on the whole body stops this.
    let (gw, up) = gateway("body_timeout = \"1s\"\nidle_timeout = \"30s\"", "").await;
    let (mut r, mut w) = split(connect_as(&gw, "orchestrator").await);
    let reader = tokio::spawn(async move {
        let resp = read_response(&mut r).await;
        let eof = closed(&mut r, Duration::from_secs(10)).await;
        (resp, eof)
    });
    w.write_all(post_head("target", SEND.len()).as_bytes())
        .await
        .unwrap();
    let body = SEND.as_bytes();
    let q = body.len() / 4;
    let pieces = [
        &body[..q],
        &body[q..2 * q],
        &body[2 * q..3 * q],
        &body[3 * q..],
    ];
    trickle(&mut w, &pieces, Duration::from_millis(700)).await;
    let (resp, eof) = reader.await.unwrap();
    let (status, text) = resp.expect("no response");
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(eof, "the connection stayed open after the body deadline");
    assert!(up.requests().is_empty(), "the trickled body was forwarded");
    // The refusal is audited like any other.
    let recs = common::audit::records(&gw.dir.path().join("audit"));
    assert!(
        recs.iter()
            .any(|r| r["status"] == 408 && r["decision"] == "invalid"),
        "{recs:?}"
    );
    // A body sent at once is still served.
    let (s, _, _) = gw.send_message("orchestrator", "target", None).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_trickled_http2_body_gets_408() {
    use http_body_util::{BodyExt, StreamBody};
    let (gw, up) = gateway("body_timeout = \"1s\"\nidle_timeout = \"30s\"", "").await;
    let dir = gw.certs().join("agents");
    let cert = std::fs::read_to_string(dir.join("orchestrator.pem")).unwrap();
    let key = std::fs::read_to_string(dir.join("orchestrator.key")).unwrap();
    let tls = connect_alpn(&gw, &cert, &key, &[b"h2"]).await;
    let (mut client, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    type Chunk = Result<http_body::Frame<bytes::Bytes>, std::io::Error>;
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(4);
    let body = StreamBody::new(tokio_stream_from(rx)).boxed();
    let sender = tokio::spawn(async move {
        let b = SEND.as_bytes();
        let q = b.len() / 4;
        for piece in [&b[..q], &b[q..2 * q], &b[2 * q..3 * q], &b[3 * q..]] {
            let frame = http_body::Frame::data(bytes::Bytes::copy_from_slice(piece));
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    });
    let req = http::Request::post(format!("{}/agents/target/a2a/jsonrpc", gw.base))
        .header("content-type", "application/json")
        .header("a2a-version", "1.0")
        .body(body)
        .unwrap();
    let resp = client.send_request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
    sender.abort();
    assert!(up.requests().is_empty(), "the trickled body was forwarded");
}

/// A `Stream` over an mpsc receiver (no tokio-stream dependency).
fn tokio_stream_from<T>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn trickled_headers_are_cut_off_at_the_header_timeout() {
    let (gw, up) = gateway("header_timeout = \"1s\"\nidle_timeout = \"30s\"", "").await;
    let (mut r, mut w) = split(connect_as(&gw, "orchestrator").await);
    let reader = tokio::spawn(async move {
        let resp = read_response(&mut r).await;
        let eof = resp.is_none() || closed(&mut r, Duration::from_secs(10)).await;
        (resp, eof)
    });
    let head = post_head("target", SEND.len());
    let lines: Vec<String> = head.split_inclusive("\r\n").map(str::to_string).collect();
    let mut pieces: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    pieces.push(SEND.as_bytes());
    trickle(&mut w, &pieces, Duration::from_millis(400)).await;
    let (resp, eof) = reader.await.unwrap();
    assert!(
        resp.as_ref().is_none_or(|(s, _)| *s == 408),
        "slow headers were served: {resp:?}"
    );
    assert!(eof, "the connection stayed open");
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn idle_sockets_without_a_handshake_do_not_take_verified_slots() {
    // Three plain TCP sockets that never start TLS against three connection
    // slots, and a handshake timeout far longer than the test needs.
    let (gw, _up) = gateway("max_connections = 3", "handshake_timeout = \"20s\"").await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(
            tokio::net::TcpStream::connect(gw.running.addr)
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The hang guard is past the handshake timeout: on a server where the
    // idle sockets hold the slots, the caller is served only once one of
    // them is timed out, which the checks below then see.
    let served = tokio::time::timeout(Duration::from_secs(40), async {
        let (mut r, mut w) = split(connect_as(&gw, "orchestrator").await);
        w.write_all(b"GET /agents HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .await
            .unwrap();
        read_response(&mut r).await
    })
    .await
    .expect("the caller was never served");
    assert_eq!(served.map(|(s, _)| s), Some(200));
    // Served while every idle socket was still open: no handshake had timed
    // out to make room.
    let m = gw.metrics();
    assert!(
        m.contains("actgate_handshakes_rejected_total{reason=\"timeout\"} 0"),
        "a handshake timed out first:\n{m}"
    );
    for s in &idle {
        let mut b = [0u8; 1];
        assert!(
            matches!(s.try_read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "an idle socket was closed before the caller was served"
        );
    }
}

#[tokio::test]
async fn idle_sockets_do_not_take_the_mtls_admin_listeners_slots() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("target", &up.url())
            .gateway("handshake_timeout = \"20s\"")
            .raw("[server]\nmax_connections = 2")
            .raw(&format!(
                "[admin]\nmtls = true\nallowed_identities = [\"{}\"]",
                common::gateway::id("notifier")
            )),
    )
    .await;
    let admin = gw.running.admin_addr.unwrap();
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(tokio::net::TcpStream::connect(admin).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = format!("https://localhost:{}/api/approvals", admin.port());
    let client = gw.client("notifier");
    // Hang guard past the handshake timeout, as above.
    let r = tokio::time::timeout(
        Duration::from_secs(40),
        client.fetch(
            http::Method::GET,
            &url,
            &http::HeaderMap::new(),
            bytes::Bytes::new(),
        ),
    )
    .await
    .expect("the operator was never served");
    assert!(r.is_ok(), "{r:?}");
    for s in &idle {
        let mut b = [0u8; 1];
        assert!(
            matches!(s.try_read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "an idle socket was closed before the operator was served"
        );
    }
}

#[tokio::test]
async fn a_caller_over_its_in_flight_cap_gets_429_and_others_are_unaffected() {
    let up = upstream::start(Behaviour::Delayed(Duration::from_secs(3))).await;
    let gw = Arc::new(
        TestGateway::start(
            Options::new()
                .agent("slow", &up.url())
                .allow("orchestrator", "slow", &[], true)
                .allow("notifier", "slow", &[], true)
                .raw("[server]\nmax_in_flight_per_caller = 2"),
        )
        .await,
    );
    // Two held open by the slow upstream, on two connections.
    let mut held = Vec::new();
    for _ in 0..2 {
        let gw = gw.clone();
        held.push(tokio::spawn(async move {
            gw.send_message("orchestrator", "slow", None).await.0
        }));
    }
    while up.requests().len() < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The third, from the same caller on a third connection: refused.
    let (s, h, body) = gw.send_message("orchestrator", "slow", None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "too_many_requests");
    assert!(h.get("retry-after").is_some());
    assert_eq!(up.requests().len(), 2, "the refused call was forwarded");
    // Another caller is not affected.
    let (s, _, _) = gw.send_message("notifier", "slow", None).await;
    assert_eq!(s, StatusCode::OK);
    for h in held {
        assert_eq!(h.await.unwrap(), StatusCode::OK);
    }
    // Once the held ones finished, the caller is served again.
    let (s, _, _) = gw.send_message("orchestrator", "slow", None).await;
    assert_eq!(s, StatusCode::OK);
    let recs = common::audit::records(&gw.dir.path().join("audit"));
    let refused: Vec<&Value> = recs.iter().filter(|r| r["status"] == 429).collect();
    assert_eq!(refused.len(), 1, "{recs:?}");
    assert_eq!(refused[0]["caller"], common::gateway::id("orchestrator"));
}

#[tokio::test]
async fn a_connection_stops_serving_when_its_certificate_expires() {
    let (gw, up) = gateway("idle_timeout = \"60s\"\nheader_timeout = \"60s\"", "").await;
    let short = gw.short_lived_svid("orchestrator", Duration::from_secs(5));
    let (leaf, not_after) = (short.cert, short.not_after);
    let (mut r, mut w) = split(connect_with(&gw, &leaf.cert_pem, &leaf.key_pem).await);
    let request = format!("{}{SEND}", post_head("target", SEND.len()));
    w.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut r).await.map(|(s, _)| s), Some(200));
    // Past notAfter (inclusive), on the same connection.
    TestGateway::wait_past(not_after).await;
    w.write_all(request.as_bytes()).await.unwrap();
    let (status, text) = read_response(&mut r).await.expect("no answer");
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("expired"), "{text}");
    assert!(closed(&mut r, Duration::from_secs(10)).await, "still open");
    assert_eq!(up.requests().len(), 1);
    let recs = common::audit::records(&gw.dir.path().join("audit"));
    assert!(
        recs.iter()
            .any(|r| r["status"] == 401 && r["decision"] == "unauthenticated"),
        "{recs:?}"
    );
}

#[tokio::test]
async fn a_connection_stops_serving_when_a_reloaded_crl_revokes_its_certificate() {
    let up = upstream::start(Behaviour::Echo).await;
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let certs = dir.path().join("certs");
    let crl = certs.join("example.org.crl.pem");
    let ca = dev_ca(&certs);
    std::fs::write(&crl, ca.issue_crl(&[], Duration::from_secs(3600)).unwrap()).unwrap();
    let gw = TestGateway::start_in(
        dir.path(),
        Options::new()
            .agent("target", &up.url())
            .allow("orchestrator", "target", &[], true)
            .allow("notifier", "target", &[], true)
            .trust_domain("crls = [\"certs/example.org.crl.pem\"]"),
    )
    .await;
    let (mut r, mut w) = split(connect_as(&gw, "orchestrator").await);
    let request = format!("{}{SEND}", post_head("target", SEND.len()));
    w.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut r).await.map(|(s, _)| s), Some(200));

    // Revoke the orchestrator's certificate and reload.
    gw.write_crl(&["orchestrator"]);
    gw.reload().unwrap();

    // The open connection's next request is refused, and it is closed.
    w.write_all(request.as_bytes()).await.unwrap();
    let (status, text) = read_response(&mut r).await.expect("no answer");
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("revoked"), "{text}");
    assert!(closed(&mut r, Duration::from_secs(10)).await, "still open");
    assert_eq!(up.requests().len(), 1);
    // Another caller's open connection keeps working across the reload.
    let (s, _, _) = gw.send_message("notifier", "target", None).await;
    assert_eq!(s, StatusCode::OK);
}

/// An SSE stream opened before the caller's certificate expired carries no
/// event after it: the gateway ends the stream at the next frame.
#[tokio::test]
async fn a_stream_stops_when_its_callers_certificate_expires() {
    let release = Arc::new(tokio::sync::Notify::new());
    let up = upstream::start(Behaviour::GatedStream {
        first: "first".into(),
        last: "after-expiry".into(),
        release: release.clone(),
    })
    .await;
    let gw = TestGateway::start(Options::new().agent("stream", &up.url()).allow(
        "orchestrator",
        "stream",
        &[],
        true,
    ))
    .await;
    let short = gw.short_lived_svid("orchestrator", Duration::from_secs(5));
    let (leaf, not_after) = (short.cert, short.not_after);
    let (_d, client) = gw.client_from_pem(&leaf.cert_pem, &leaf.key_pem);
    let mut h = http::HeaderMap::new();
    h.insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"SendStreamingMessage","params":{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"text":"hi"}]}}}"#;
    let resp = client
        .send(
            http::Method::POST,
            &format!("{}/agents/stream/a2a/jsonrpc", gw.base),
            &h,
            bytes::Bytes::from(body),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    use http_body_util::BodyExt;
    let mut stream = resp.into_body();
    let first = stream.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, bytes::Bytes::from("data: first\n\n"));
    TestGateway::wait_past(not_after).await;
    // The upstream now sends its next event; it must not reach the caller.
    release.notify_one();
    let next = tokio::time::timeout(Duration::from_secs(10), stream.frame())
        .await
        .expect("the stream neither ended nor sent");
    assert!(
        !matches!(&next, Some(Ok(f)) if f.data_ref().is_some_and(|d| d.as_ref() == b"data: after-expiry\n\n")),
        "an event reached the caller after its certificate expired: {next:?}"
    );
}

/// An HTTP/2 client that never completes the server's graceful close (it
/// never reads, never acks the GOAWAY's PING) does not keep its connection
/// slot: the connection is dropped once it has lingered with nothing in
/// flight. On the health listener: unauthenticated, open to the network.
#[tokio::test]
async fn a_silent_http2_client_cannot_hold_a_closing_connection() {
    let (gw, _up) = gateway(
        "idle_timeout = \"1s\"\nheader_timeout = \"1s\"",
        "health_listen = \"127.0.0.1:0\"",
    )
    .await;
    let addr = gw.running.health_addr.expect("health listener");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Prior-knowledge h2c: the preface and an empty SETTINGS frame, then silence.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {} // SETTINGS, GOAWAY, PING: read, never answered
            }
        }
    })
    .await;
    assert_eq!(ended, Ok(true), "the silent connection was never dropped");
}

/// The HTTP a connection speaks comes from ALPN when the handshake settled
/// it, and from its first bytes when it did not: HTTP/2 with prior knowledge
/// and no ALPN is still served, and HTTP/1.1 selected by ALPN serves
/// request after request on one connection.
#[tokio::test]
async fn http2_without_alpn_is_sniffed_and_http1_by_alpn_keeps_alive() {
    use http_body_util::Full;
    let (gw, _up) = gateway("", "").await;
    let dir = gw.certs().join("agents");
    let cert = std::fs::read_to_string(dir.join("orchestrator.pem")).unwrap();
    let key = std::fs::read_to_string(dir.join("orchestrator.key")).unwrap();

    let tls = connect_alpn(&gw, &cert, &key, &[]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    let (mut client, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::post(format!("{}/agents/target/a2a/jsonrpc", gw.base))
        .header("content-type", "application/json")
        .header("a2a-version", "1.0")
        .body(Full::new(bytes::Bytes::from_static(SEND.as_bytes())))
        .unwrap();
    let resp = client.send_request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::OK);

    let tls = connect_alpn(&gw, &cert, &key, &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut r, mut w) = split(tls);
    for _ in 0..2 {
        let req = format!("{}{SEND}", post_head("target", SEND.len()));
        w.write_all(req.as_bytes()).await.unwrap();
        let (status, text) = read_response(&mut r).await.expect("no response");
        assert_eq!(status, 200, "{text}");
    }
}
