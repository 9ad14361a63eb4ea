//! The token-exchange grant end to end below HTTP: form parsing, subject
//! token verification (ES256), target and policy, scope checks, and minting a
//! certificate-bound ES256 token. A real gateway built from a development PKI.
//!
//! `cargo bench --bench exchange -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use actgate::config::ConfigFile;
use actgate::identity::{CallerIdentity, SpiffeId, TrustDomain};
use actgate::metrics::Metrics;
use actgate::snapshot::Snapshot;
use actgate::token::{exchange, sign_jwt, SigningAlgorithm, SigningKey};
use criterion::{criterion_group, criterion_main, Criterion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

const ORCH: &str = "spiffe://example.org/agent/orchestrator";

fn bench_exchange(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    let td = TrustDomain::parse("example.org").expect("td");
    let ids = vec![("orchestrator", SpiffeId::parse(ORCH).expect("id"))];
    actgate::pki::init_dev_pki(&certs, &td, &ids).expect("pki");
    let card = dir.path().join("card.json");
    std::fs::write(
        &card,
        r#"{"name":"scheduler","description":"d","version":"1","supportedInterfaces":[{"url":"http://127.0.0.1:9/a2a/jsonrpc","protocolBinding":"JSONRPC","protocolVersion":"1.0"}],"capabilities":{},"defaultInputModes":["text/plain"],"defaultOutputModes":["text/plain"],"skills":[]}"#,
    )
    .expect("card");
    let c_ = certs.display();
    let text = format!(
        r#"
[gateway]
listen = "127.0.0.1:0"
issuer = "https://gw.example.org"
public_url = "https://gw.example.org"
server_cert = "{c_}/gateway.pem"
server_key = "{c_}/gateway.key"
watch_files = false
[[trust_domain]]
name = "example.org"
bundle = "{c_}/example.org/bundle.pem"
[tokens]
signing_key = "{c_}/token-signing.key"
[cards]
signing_key = "{c_}/card-signing.key"
[[subject_issuer]]
issuer = "https://idp.example.com"
jwks = "{c_}/idp-jwks.json"
audience = "https://gw.example.org"
[[agent]]
name = "scheduler"
card = "{}"
upstream = "http://127.0.0.1:9"
[[rule]]
caller = "{ORCH}"
agent = "scheduler"
scopes = ["calendar:read", "calendar:write"]
"#,
        card.display()
    );
    let path = dir.path().join("actgate.toml");
    let cfg = ConfigFile::parse(&path, &text).expect("config");
    let gw = Snapshot::build(&cfg, Arc::new(Metrics::default())).expect("gateway");

    let leaf_pem = std::fs::read(certs.join("agents/orchestrator.pem")).expect("cert");
    let leaf = CertificateDer::from_pem_slice(&leaf_pem).expect("pem");
    let caller = CallerIdentity::from_peer_chain(&[leaf]).expect("identity");

    let idp = SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(certs.join("idp.key")).expect("idp key"),
        SigningAlgorithm::Es256,
    )
    .expect("idp key");
    let now = actgate::unix_now();
    let user = sign_jwt(
        &idp,
        "JWT",
        &serde_json::json!({"iss": "https://idp.example.com", "sub": "alice@example.com",
            "aud": "https://gw.example.org", "iat": now, "exp": now + 3600,
            "scope": "calendar:read calendar:write"}),
    )
    .expect("user token");
    let body = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
         &subject_token={user}\
         &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
         &audience=scheduler&scope=calendar%3Aread"
    );
    exchange::exchange(&gw, &caller, body.as_bytes(), now).expect("exchange works");

    let mut g = c.benchmark_group("token_exchange");
    g.bench_function("exchange_es256_user_token", |b| {
        b.iter(|| {
            exchange::exchange(&gw, &caller, black_box(body.as_bytes()), now).expect("issued")
        })
    });
    g.finish();
}

criterion_group!(benches, bench_exchange);
criterion_main!(benches);
