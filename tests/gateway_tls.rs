//! TLS at both edges of the gateway: the listener (impersonation, handshake
//! timeout) and https upstreams authenticated by SPIFFE ID.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::gateway::{claims, echoed_token, header, id, Options, TestGateway, TD};
use common::upstream::{self, Behaviour};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls_pki_types::pem::PemObject;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

fn certs(path: &std::path::Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
}
fn key(path: &std::path::Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).unwrap()
}

/// An mTLS upstream presenting `agent`'s SVID from the test PKI; it requires a
/// client certificate from the same bundle and echoes the peer's SPIFFE ID.
async fn tls_upstream(gw_dir: &std::path::Path, agent: &str) -> std::net::SocketAddr {
    let c = gw_dir.join("certs");
    let mut roots = rustls::RootCertStore::empty();
    for r in certs(&c.join(TD).join("bundle.pem")) {
        roots.add(r).unwrap();
    }
    let provider = actgate::tls::provider();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certs(&c.join(format!("agents/{agent}.pem"))),
            key(&c.join(format!("agents/{agent}.key"))),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let peer = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| actgate::identity::CallerIdentity::from_peer_chain(c).ok())
                    .map(|i| i.spiffe_id.to_string());
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let peer = peer.clone();
                    async move {
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let body = json!({"peer": peer, "authorization": auth}).to_string();
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            body,
                        ))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

/// The gateway's config is written before the upstream exists (the upstream
/// needs the PKI the gateway start creates), so start a gateway with the PKI,
/// then a second one in the same directory that points at the upstream.
async fn gateway_with_tls_upstream(present_as: &str) -> (TestGateway, TestGateway) {
    let bootstrap = TestGateway::start(Options::new()).await;
    let addr = tls_upstream(bootstrap.dir.path(), present_as).await;
    let c = bootstrap.certs();
    let opts = Options::new()
        .agent("scheduler", &format!("https://127.0.0.1:{}", addr.port()))
        .allow("orchestrator", "scheduler", &[], true)
        .gateway(&format!(
            "upstream_client_cert = \"{}\"\nupstream_client_key = \"{}\"",
            c.join("gateway.pem").display(),
            c.join("gateway.key").display()
        ));
    let gw = TestGateway::start_in(bootstrap.dir.path(), opts).await;
    (bootstrap, gw)
}

#[tokio::test]
async fn https_upstream_is_reached_with_the_gateway_certificate() {
    let (_keep, gw) = gateway_with_tls_upstream("scheduler").await;
    let (s, _, body) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body["peer"],
        format!("spiffe://{TD}/gateway"),
        "the upstream saw the gateway's SVID"
    );
    assert_eq!(claims(&echoed_token(&body))["sub"], id("orchestrator"));
}

#[tokio::test]
async fn https_upstream_with_the_wrong_spiffe_id_is_not_trusted() {
    // The upstream presents the notifier's (valid, same-CA) SVID where the
    // scheduler is expected: a DNS/CA-only check would accept it.
    let (_keep, gw) = gateway_with_tls_upstream("notifier").await;
    let (s, _, body) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{body}");
}

#[tokio::test]
async fn svid_from_an_untrusted_ca_cannot_impersonate_an_agent() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &[],
        true,
    ))
    .await;
    // Another CA (a different PKI) issuing the orchestrator's exact SPIFFE ID.
    let other = tempfile::tempdir().unwrap();
    common::gateway::make_pki(other.path());
    let oa = other.path().join("certs/agents");
    let forger = actgate::dev::client::MtlsClient::new(
        &gw.ca(),
        Some((&oa.join("orchestrator.pem"), &oa.join("orchestrator.key"))),
        false,
    )
    .unwrap();
    let r = forger
        .fetch(
            Method::POST,
            &format!("{}/agents/scheduler/a2a/jsonrpc", gw.base),
            &HeaderMap::new(),
            Bytes::from_static(b"{}"),
        )
        .await;
    assert!(r.is_err(), "handshake must fail: {r:?}");
    assert!(up.requests().is_empty());
    gw.expect_metric("reason=\"chain_invalid\"} 1").await;
}

#[tokio::test]
async fn stalled_handshakes_time_out_and_are_counted() {
    let gw = TestGateway::start(Options::new().gateway("handshake_timeout = \"200ms\"")).await;
    let mut tcp = tokio::net::TcpStream::connect(gw.running.addr)
        .await
        .unwrap();
    // Half a ClientHello record header, then silence.
    tcp.write_all(&[0x16, 0x03]).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut tcp, &mut buf),
    )
    .await
    .expect("the gateway closes a stalled handshake")
    .unwrap_or(0);
    assert_eq!(n, 0, "connection closed without a response");
    assert!(
        gw.metrics().contains("reason=\"timeout\"} 1"),
        "{}",
        gw.metrics()
    );
}

#[tokio::test]
async fn eddsa_tokens_verify_with_the_published_jwks() {
    let up = upstream::start(Behaviour::Echo).await;
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    // Replace the signing key with an Ed25519 one.
    let (_, pem) =
        actgate::token::SigningKey::generate(actgate::token::SigningAlgorithm::EdDsa).unwrap();
    std::fs::write(dir.path().join("certs/token-signing.key"), pem).unwrap();
    let gw = TestGateway::start_in(
        dir.path(),
        Options::new()
            .agent("scheduler", &up.url())
            .allow("orchestrator", "scheduler", &[], true)
            .tokens("algorithm = \"EdDSA\""),
    )
    .await;
    let (s, _, body) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::OK);
    let tok = echoed_token(&body);
    assert_eq!(header(&tok)["alg"], "EdDSA");
    let (_, jwks) = gw.get_json("orchestrator", "/.well-known/jwks.json").await;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let jwk = set.find(header(&tok)["kid"].as_str().unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.validate_aud = false;
    let c: Value =
        jsonwebtoken::decode(&tok, &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(), &v)
            .unwrap()
            .claims;
    assert_eq!(c["sub"], id("orchestrator"));
}
