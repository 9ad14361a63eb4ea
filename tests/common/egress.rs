//! Start a real egress sidecar next to a [`TestGateway`]: its own directory
//! with a copy of one workload's certificate and key (so a test can rotate
//! them), listening on 127.0.0.1:0.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use actgate::config::EgressConfigFile;
use actgate::egress::RunningEgress;

use super::gateway::{TestGateway, TD};

pub struct TestEgress {
    pub dir: tempfile::TempDir,
    pub running: RunningEgress,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

/// The `[egress]` config for `workload` calling `gw`; `extra` is appended
/// inside `[egress]`, `raw` after it.
pub fn egress_config(
    dir: &Path,
    gw: &TestGateway,
    workload: &str,
    extra: &str,
    raw: &str,
) -> String {
    let agents = gw.certs().join("agents");
    std::fs::copy(agents.join(format!("{workload}.pem")), dir.join("svid.pem")).unwrap();
    std::fs::copy(agents.join(format!("{workload}.key")), dir.join("svid.key")).unwrap();
    format!(
        r#"
[egress]
listen = "127.0.0.1:0"
gateway_url = "{base}"
gateway_spiffe_id = "spiffe://{TD}/gateway"
gateway_bundle = "{bundle}"
cert = "svid.pem"
key = "svid.key"
{extra}
{raw}
"#,
        base = gw.base,
        bundle = gw.ca().display(),
    )
}

impl TestEgress {
    pub async fn start(gw: &TestGateway, workload: &str, extra: &str) -> TestEgress {
        Self::start_raw(gw, workload, extra, "").await
    }

    pub async fn start_raw(gw: &TestGateway, workload: &str, extra: &str, raw: &str) -> TestEgress {
        let dir = tempfile::tempdir().unwrap();
        let text = egress_config(dir.path(), gw, workload, extra, raw);
        let path = dir.path().join("egress.toml");
        std::fs::write(&path, &text).unwrap();
        let cfg = EgressConfigFile::parse(&path, &text).unwrap();
        let running = actgate::egress::start(&cfg)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let base = match running.addr {
            Some(a) => format!("http://{a}"),
            None => "http://localhost".into(),
        };
        TestEgress { dir, running, base }
    }

    pub fn svid_paths(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("svid.pem"),
            self.dir.path().join("svid.key"),
        )
    }
}

/// A plain-HTTP client, as an agent without TLS code has.
pub fn plain_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// One request over plain HTTP; status, headers, body. A POST without a
/// `Content-Type` gets `application/json`, as an agent's JSON-RPC client
/// sends (the sidecar refuses a POST that does not declare JSON).
pub async fn plain(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: Method,
    url: &str,
    headers: &HeaderMap,
    body: &str,
) -> (StatusCode, HeaderMap, Bytes) {
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    // A JSON body is sent with its media type (the gateway refuses a
    // JSON-RPC call without one), unless the test chose its own.
    if !body.is_empty() {
        req.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    req.headers_mut().extend(headers.clone());
    if req.method() == Method::POST && !req.headers().contains_key("content-type") {
        req.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
    }
    let resp = client.request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, bytes)
}

/// The claims of a JWT (no verification: the gateway's tests cover that).
/// POST `body` to `path` over the sidecar's Unix socket (HTTP/1.1, one
/// connection per call): the status; the response body is drained.
pub async fn unix_post(
    sock: &Path,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> StatusCode {
    let stream = tokio::net::UnixStream::connect(sock).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = Request::post(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = send
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let _ = resp.into_body().collect().await;
    status
}

pub fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A JSON-RPC SendMessage body.
pub fn send_message_body() -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
        "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}}})
    .to_string()
}
