//! A real HTTPS identity provider for tests: OpenID discovery and a JWKS on
//! 127.0.0.1 with a CA made per test, whose keys the test rotates, which it
//! can take down (connections closed unanswered) or make name another
//! issuer, and which counts the requests it gets. Keys are RSA (RS256) and
//! EC P-256 (ES256); tokens are signed here. Also what tests of any IdP
//! share: a gateway calling one agent for users, its readiness and its key
//! fetch failures.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::certs::TestCa;
use super::gateway::{Options, TestGateway};
use super::upstream::{Behaviour, TestUpstream};
use actgate::token::{SigningAlgorithm, SigningKey};

/// A key of the test IdP.
pub enum IdpKey {
    Rsa { kid: String, pair: RsaKeyPair },
    Ec(SigningKey),
}

impl IdpKey {
    pub fn rsa(kid: &str) -> IdpKey {
        IdpKey::Rsa {
            kid: kid.into(),
            pair: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(),
        }
    }

    pub fn ec() -> IdpKey {
        IdpKey::Ec(SigningKey::generate(SigningAlgorithm::Es256).unwrap().0)
    }

    pub fn kid(&self) -> String {
        match self {
            IdpKey::Rsa { kid, .. } => kid.clone(),
            IdpKey::Ec(k) => k.kid().to_owned(),
        }
    }

    /// The public JWK; RSA keys carry no `alg`, as Entra's and
    /// oidc-provider's do not.
    pub fn jwk(&self) -> Value {
        match self {
            IdpKey::Rsa { kid, pair } => {
                let pk = pair.public_key();
                json!({"kty": "RSA", "kid": kid, "use": "sig",
                    "n": URL_SAFE_NO_PAD.encode(pk.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(pk.exponent().big_endian_without_leading_zero())})
            }
            IdpKey::Ec(k) => k.public_jwk(),
        }
    }

    /// A compact JWS of `claims` with `typ: JWT`, as real IdPs send.
    pub fn sign(&self, claims: &Value) -> String {
        match self {
            IdpKey::Ec(k) => actgate::token::mint::sign_jwt(k, "JWT", claims).unwrap(),
            IdpKey::Rsa { kid, pair } => {
                let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
                let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
                out.push('.');
                out.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    out.as_bytes(),
                    &mut sig,
                )
                .unwrap();
                out.push('.');
                out.push_str(&URL_SAFE_NO_PAD.encode(sig));
                out
            }
        }
    }
}

/// What the IdP answers, changed by the test while it runs.
pub struct IdpState {
    pub jwks: Value,
    /// The `issuer` of the discovery document (the IdP's own URL unless set).
    pub document_issuer: Option<String>,
    /// Close every connection unanswered.
    pub down: bool,
    pub cache_control: Option<String>,
    /// Paths requested, in order.
    pub requests: Vec<String>,
}

pub struct TestIdp {
    /// `https://localhost:PORT`: the issuer.
    pub url: String,
    /// PEM of the CA the IdP's certificate chains to.
    pub ca_path: PathBuf,
    pub state: Arc<Mutex<IdpState>>,
    _dir: tempfile::TempDir,
}

impl TestIdp {
    pub async fn start(jwks: Value) -> TestIdp {
        let ca = TestCa::new("idp.test");
        let leaf = ca.builder().dns("localhost").build();
        let dir = tempfile::tempdir().unwrap();
        let ca_path = dir.path().join("idp-ca.pem");
        std::fs::write(&ca_path, pem("CERTIFICATE", ca.root.as_ref())).unwrap();
        let tls = rustls::ServerConfig::builder_with_provider(super::certs::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://localhost:{}",
            listener.local_addr().unwrap().port()
        );
        let state = Arc::new(Mutex::new(IdpState {
            jwks,
            document_issuer: None,
            down: false,
            cache_control: None,
            requests: Vec::new(),
        }));
        let (st, base) = (state.clone(), url.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                if st.lock().unwrap().down {
                    drop(tcp);
                    continue;
                }
                let (acceptor, st, base) = (acceptor.clone(), st.clone(), base.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = service_fn(move |req| answer(req, st.clone(), base.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        TestIdp {
            url,
            ca_path,
            state,
            _dir: dir,
        }
    }

    pub fn set_keys(&self, keys: &[&IdpKey]) {
        self.state.lock().unwrap().jwks = jwks(keys);
    }

    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// How many times the key set was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.requests().iter().filter(|p| *p == "/jwks").count()
    }

    /// A user token of this IdP for the test gateway, signed by `key`.
    pub fn user_token(&self, key: &IdpKey, sub: &str) -> String {
        let now = actgate::unix_now();
        key.sign(
            &json!({"iss": self.url, "sub": sub, "aud": super::gateway::ISSUER,
            "iat": now, "exp": now + 600, "scope": "calendar:write"}),
        )
    }
}

pub fn jwks(keys: &[&IdpKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

async fn answer(
    req: Request<Incoming>,
    st: Arc<Mutex<IdpState>>,
    base: String,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().path().to_owned();
    let mut s = st.lock().unwrap();
    if s.down {
        // Kept-alive connections too: the error makes hyper close it unanswered.
        return Err(std::io::Error::other("down"));
    }
    s.requests.push(path.clone());
    let (status, body) = match path.as_str() {
        "/.well-known/openid-configuration" => {
            let iss = s.document_issuer.clone().unwrap_or_else(|| base.clone());
            (
                StatusCode::OK,
                json!({"issuer": iss, "jwks_uri": format!("{base}/jwks")}),
            )
        }
        "/jwks" => (StatusCode::OK, s.jwks.clone()),
        _ => (StatusCode::NOT_FOUND, json!({})),
    };
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    if let (Some(cc), "/jwks") = (&s.cache_control, path.as_str()) {
        r.headers_mut()
            .insert(http::header::CACHE_CONTROL, cc.parse().unwrap());
    }
    Ok(r)
}

pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A gateway with a scheduler agent the orchestrator may call for users,
/// and the `[[subject_issuer]]` `block`.
pub async fn gateway_with(block: &str) -> (TestGateway, TestUpstream) {
    let up = super::upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .allow("orchestrator", "scheduler", &["calendar:write"], false)
            .raw(block),
    )
    .await;
    (gw, up)
}

/// `/readyz` over the plain admin listener: status and body.
pub async fn readyz(gw: &TestGateway) -> (StatusCode, String) {
    let client = super::egress::plain_client();
    let url = format!("{}/readyz", gw.admin_url());
    let (s, _, b) = super::egress::plain(&client, Method::GET, &url, &HeaderMap::new(), "").await;
    (s, String::from_utf8_lossy(&b).into_owned())
}

/// Poll `/readyz` (bounded) until it answers 200; its body.
pub async fn until_ready(gw: &TestGateway) -> String {
    let mut last = (StatusCode::OK, String::new());
    for _ in 0..200 {
        last = readyz(gw).await;
        if last.0 == StatusCode::OK {
            return last.1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never ready: {last:?}");
}

/// `actgate_issuer_key_fetch_failures_total` of `issuer` on the gateway's
/// `/metrics` (it is listed from 0 for every fetched issuer).
pub fn fetch_failures(gw: &TestGateway, issuer: &str) -> u64 {
    let prefix = format!("actgate_issuer_key_fetch_failures_total{{issuer=\"{issuer}\"}} ");
    let m = gw.metrics();
    let line = m.lines().find_map(|l| l.strip_prefix(&prefix));
    line.unwrap_or_else(|| panic!("no {prefix}in\n{m}"))
        .parse()
        .unwrap()
}

/// A delegated call with `token`: status and body.
pub async fn call(gw: &TestGateway, token: &str) -> (StatusCode, serde_json::Value) {
    let (s, _, body) = gw
        .send_message("orchestrator", "scheduler", Some(token))
        .await;
    (s, body)
}
