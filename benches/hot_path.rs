//! Per-connection and per-request stages other than minting: SVID parse,
//! client-certificate verification, caller identity, policy, subject-token
//! verification, A2A classification, routing and header hygiene, the
//! token-cache hit path with its key, and what metrics cost: one request's
//! observation (clock read, histogram) and rendering `/metrics`.
//!
//! `cargo bench --bench hot_path -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use actgate::a2a;
use actgate::identity::{
    svid, CallerIdentity, SpiffeClientVerifier, SpiffeId, SpiffePattern, TrustDomain,
    TrustDomainBundle,
};
use actgate::metrics::Metrics;
use actgate::pki::DevCa;
use actgate::policy::{CallerMatch, Decision, Policy, Rule, Subject};
use actgate::proxy::sanitize_request_headers;
use actgate::registry::parse_route;
use actgate::token::{
    sign_jwt, KeySet, MintRequest, Minter, SigningAlgorithm, SigningKey, SubjectTokenVerifier,
    TrustedIssuer,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};

const GW: &str = "https://gw.example.org";
const IDP: &str = "https://idp.example.com";
const CALLER: &str = "spiffe://example.org/ns/a/sa/orchestrator";
const AGENT_B: &str = "https://agents.example.org/b";
const NOW: i64 = 1_700_000_000;

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("pem")
}

/// A DevCa for example.org, and one SVID it issued for [`CALLER`].
fn svid_fixture() -> (DevCa, CertificateDer<'static>) {
    let td = TrustDomain::parse("example.org").expect("td");
    let ca = DevCa::generate(&td).expect("ca");
    let id = SpiffeId::parse(CALLER).expect("id");
    let leaf = ca
        .issue_svid(&id, Duration::from_secs(3600), &[], &[])
        .expect("svid");
    let leaf = der(&leaf.cert_pem);
    (ca, leaf)
}

fn bench_identity(c: &mut Criterion) {
    let (ca, leaf) = svid_fixture();
    let mut g = c.benchmark_group("identity");
    g.bench_function("parse_svid", |b| {
        b.iter(|| svid::parse_svid(black_box(leaf.as_ref())).expect("svid"))
    });

    // Two trust domains, so the per-domain lookup is not trivially the only one.
    let other = DevCa::generate(&TrustDomain::parse("other.org").expect("td")).expect("ca");
    let verifier = SpiffeClientVerifier::new(
        vec![
            TrustDomainBundle::new(
                TrustDomain::parse("example.org").expect("td"),
                vec![der(ca.cert_pem())],
            ),
            TrustDomainBundle::new(
                TrustDomain::parse("other.org").expect("td"),
                vec![der(other.cert_pem())],
            ),
        ],
        actgate::tls::provider(),
        Arc::new(Metrics::default()),
    )
    .expect("verifier");
    let now = UnixTime::now();
    g.bench_function("verify_client_cert", |b| {
        b.iter(|| {
            verifier
                .verify_client_cert(black_box(&leaf), &[], now)
                .expect("verified")
        })
    });

    let chain = vec![leaf.clone()];
    g.bench_function("caller_identity_from_peer_chain", |b| {
        b.iter(|| CallerIdentity::from_peer_chain(black_box(&chain)).expect("identity"))
    });
    g.finish();
}

/// ~50 rules over 10 agents: exact and pattern callers, the matching rule for
/// the benchmarked request near the end (index 47).
fn policy_fixture() -> Policy {
    let mut rules = Vec::new();
    let scopes = |i: usize| -> Vec<String> {
        vec![
            format!("agent-{}:read", i % 10),
            format!("agent-{}:write", i % 10),
            "profile".to_string(),
        ]
    };
    for i in 0..50 {
        let agent = format!("agent-{}", i % 10);
        let caller = match i {
            47 => "spiffe://example.org/ns/a/sa/*".to_string(),
            _ if i % 3 == 0 => format!("spiffe://example.org/ns/n{i}/sa/*"),
            _ if i % 3 == 1 => format!("spiffe://example.org/ns/a/sa/svc-{i}"),
            _ => format!("spiffe://partner{i}.org/**"),
        };
        let agent = if i == 47 { "agent-7".into() } else { agent };
        let scopes = scopes(i);
        let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let mut rule = Rule::allow(
            CallerMatch::Pattern(SpiffePattern::parse(&caller).expect("pattern")),
            &agent,
            &scopes,
        );
        rule.app_only = i % 2 == 0;
        rules.push(rule);
    }
    Policy::new(rules)
}

/// The subject of the benchmarked delegated call.
const USER: Subject<'static> = Subject {
    issuer: IDP,
    sub: "alice@example.com",
    own: false,
};

fn bench_policy(c: &mut Criterion) {
    let policy = policy_fixture();
    let caller = SpiffeId::parse(CALLER).expect("id");
    assert!(matches!(
        policy.decide(&caller, "agent-7", "SendMessage", Some(USER)),
        Decision::Allow { rule: 47, .. }
    ));
    let mut g = c.benchmark_group("policy");
    g.bench_function("decide_50_rules_match_at_47", |b| {
        b.iter(|| {
            policy.decide(
                black_box(&caller),
                black_box("agent-7"),
                "SendMessage",
                Some(USER),
            )
        })
    });
    g.bench_function("decide_50_rules_deny", |b| {
        b.iter(|| {
            policy.decide(
                black_box(&caller),
                black_box("agent-3"),
                "SendMessage",
                Some(USER),
            )
        })
    });
    g.finish();
}

fn bench_subject_tokens(c: &mut Criterion) {
    let (idp_key, _) = SigningKey::generate(SigningAlgorithm::Es256).expect("key");
    let idp_jwks = serde_json::json!({"keys": [idp_key.public_jwk()]}).to_string();
    let trusted = TrustedIssuer::from_jwks_json(IDP, GW, &idp_jwks).expect("issuer");
    let (gw_key, _) = SigningKey::generate(SigningAlgorithm::Es256).expect("key");
    let gw_keys = Arc::new(KeySet {
        current: gw_key,
        previous: vec![],
    });
    let verifier = SubjectTokenVerifier::new(GW.into(), &gw_keys, vec![trusted]).expect("verifier");

    let user = sign_jwt(
        &idp_key,
        "JWT",
        &serde_json::json!({
            "iss": IDP, "sub": "alice@example.com", "aud": GW,
            "iat": NOW - 10, "exp": NOW + 600, "scope": "read write",
            "may_act": {"sub": CALLER}
        }),
    )
    .expect("user token");
    let subject = verifier.verify(&user, None, NOW).expect("user verifies");

    let minter = Minter::new(
        Arc::clone(&gw_keys),
        GW.into(),
        false,
        Arc::new(Metrics::default()),
    );
    let caller = CallerIdentity {
        spiffe_id: SpiffeId::parse(CALLER).expect("id"),
        thumbprint: "M2Q1ZGY0ZDZhYjk0NzQwYjE1ZGQ2ZjZhYjA0NjY2ZjM".into(),
        not_after: i64::MAX,
    };
    let granted = vec!["read".to_string()];
    let own = minter
        .token_for(
            &MintRequest {
                caller: &caller,
                subject: Some(&subject),
                audience: AGENT_B,
                granted_scopes: &granted,
                ttl_secs: 300,
                max_chain_depth: 4,
                allow_reentry: false,
            },
            NOW,
        )
        .expect("mint")
        .token;
    verifier
        .verify(&own, Some(AGENT_B), NOW + 1)
        .expect("own verifies");

    // The same tokens through a verifier without the verified-token cache:
    // what every request paid before the cache.
    let uncached = SubjectTokenVerifier::new(
        GW.into(),
        &gw_keys,
        vec![TrustedIssuer::from_jwks_json(IDP, GW, &idp_jwks).expect("issuer")],
    )
    .and_then(|v| v.with_cache_limits(0, 0))
    .expect("verifier");

    let mut g = c.benchmark_group("subject_token");
    g.bench_function("verify_trusted_es256_uncached", |b| {
        b.iter(|| uncached.verify(black_box(&user), None, NOW).expect("ok"))
    });
    g.bench_function("verify_own_es256_uncached", |b| {
        b.iter(|| {
            uncached
                .verify(black_box(&own), Some(AGENT_B), NOW + 1)
                .expect("ok")
        })
    });
    // Cache hits: the keyed hash, one lookup, the clock and presenter checks.
    g.bench_function("verify_trusted_es256", |b| {
        b.iter(|| verifier.verify(black_box(&user), None, NOW).expect("ok"))
    });
    g.bench_function("verify_own_es256", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&own), Some(AGENT_B), NOW + 1)
                .expect("ok")
        })
    });
    g.finish();
}

/// A SendMessage JSON-RPC request of about 1 KiB.
fn jsonrpc_body() -> Vec<u8> {
    let text = "Please reschedule the quarterly review with the finance team to next \
                Tuesday afternoon, keep the same attendees, and attach the draft agenda. ";
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": "req-8f14e45f-ceea-467f-a0e6-9b1a7c3b5d2e",
        "method": "SendMessage",
        "params": {
            "message": {
                "role": "ROLE_USER",
                "messageId": "9b1a7c3b-5d2e-4f0a-8c1d-2e3f4a5b6c7d",
                "contextId": "ctx-3c4d5e6f-7a8b-9c0d-1e2f-3a4b5c6d7e8f",
                "parts": [{"text": text.repeat(5)}],
                "metadata": {"locale": "en-GB", "client": "orchestrator/1.4.2"}
            },
            "configuration": {"acceptedOutputModes": ["text/plain", "application/json"],
                              "historyLength": 10, "blocking": true}
        }
    });
    serde_json::to_vec(&body).expect("json")
}

/// What a typical SDK client sends, plus spoofed identity headers.
fn request_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("host", "gw.example.org:8443"),
        ("user-agent", "a2a-python/0.3.7 httpx/0.28.1"),
        ("accept", "application/json, text/event-stream"),
        ("accept-encoding", "gzip, deflate, br"),
        ("content-type", "application/json"),
        ("content-length", "1024"),
        ("connection", "keep-alive"),
        ("authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln"),
        ("a2a-version", "1.0"),
        ("a2a-extensions", "https://example.org/ext/trace/v1"),
        ("x-request-id", "3f1b2c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"),
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("tracestate", "rojo=00f067aa0ba902b7"),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-actgate-caller", "spiffe://example.org/admin"),
    ] {
        h.append(
            HeaderName::from_static(k),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

fn bench_request(c: &mut Criterion) {
    let body = jsonrpc_body();
    assert!((900..1300).contains(&body.len()), "body is {}", body.len());
    let mut g = c.benchmark_group("request");
    let endpoints = a2a::Endpoints::new([("JSONRPC", "/a2a/jsonrpc"), ("HTTP+JSON", "/a2a/rest")]);
    let json = HeaderValue::from_static("application/json");
    g.bench_function("classify_jsonrpc_1k", |b| {
        b.iter(|| {
            a2a::classify(
                &http::Method::POST,
                black_box("/a2a/jsonrpc"),
                Some(&json),
                &body,
                &endpoints,
            )
            .expect("classified")
        })
    });
    g.bench_function("classify_rest_path", |b| {
        b.iter(|| {
            let path = a2a::canonical_path(black_box(
                "/a2a/rest/tenant1/tasks/5d2e-4f0a/pushNotificationConfigs/c1",
            ))
            .expect("canonical");
            a2a::classify(&http::Method::GET, &path, None, b"", &endpoints).expect("classified")
        })
    });
    g.bench_function("parse_route", |b| {
        b.iter(|| parse_route(black_box("/agents/scheduler/a2a/jsonrpc")).expect("route"))
    });
    let headers = request_headers();
    g.bench_function("sanitize_request_headers", |b| {
        b.iter_batched(
            || headers.clone(),
            |mut h| {
                sanitize_request_headers(&mut h, &[]);
                h
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// The token-cache hit path as the proxy drives it: app-only and delegated.
fn bench_token_cache(c: &mut Criterion) {
    let (key, _) = SigningKey::generate(SigningAlgorithm::Es256).expect("key");
    let keys = Arc::new(KeySet {
        current: key,
        previous: vec![],
    });
    let minter = Minter::new(keys, GW.into(), true, Arc::new(Metrics::default()));
    let caller = CallerIdentity {
        spiffe_id: SpiffeId::parse(CALLER).expect("id"),
        thumbprint: "M2Q1ZGY0ZDZhYjk0NzQwYjE1ZGQ2ZjZhYjA0NjY2ZjM".into(),
        not_after: i64::MAX,
    };
    let subject = actgate::token::SubjectToken {
        issuer: IDP.into(),
        sub: "alice@example.com".into(),
        scopes: Some(vec!["invoices:read".to_string(), "invoices:write".to_string()].into()),
        exp: NOW + 3600,
        act: None,
        may_act: Some(std::sync::Arc::new(serde_json::json!({ "sub": CALLER }))),
        own: false,
        aud: GW.into(),
        cnf: None,
        grant: None,
    };
    // Sorted, as the gateway keeps rule scopes; the unsorted variant below
    // shows the cost when a caller passes them in another order.
    let granted = vec![
        "invoices:read".to_string(),
        "invoices:write".to_string(),
        "profile".to_string(),
    ];
    let unsorted = vec![
        "invoices:write".to_string(),
        "invoices:read".to_string(),
        "profile".to_string(),
    ];
    let app_only = MintRequest {
        caller: &caller,
        subject: None,
        audience: AGENT_B,
        granted_scopes: &granted,
        ttl_secs: 300,
        max_chain_depth: 4,
        allow_reentry: false,
    };
    let delegated = MintRequest {
        subject: Some(&subject),
        ..app_only
    };
    let app_only_unsorted = MintRequest {
        granted_scopes: &unsorted,
        ..app_only
    };
    minter.token_for(&app_only, NOW).expect("prime");
    minter.token_for(&delegated, NOW).expect("prime");
    let mut g = c.benchmark_group("token_cache");
    g.bench_function("hit_app_only", |b| {
        b.iter(|| minter.token_for(black_box(&app_only), NOW).expect("hit"))
    });
    g.bench_function("hit_app_only_unsorted_scopes", |b| {
        b.iter(|| {
            minter
                .token_for(black_box(&app_only_unsorted), NOW)
                .expect("hit")
        })
    });
    g.bench_function("hit_delegated_may_act", |b| {
        b.iter(|| minter.token_for(black_box(&delegated), NOW).expect("hit"))
    });
    g.finish();
}

/// A request's observation as the proxy makes it (a clock read at the
/// start, one at the end, the histogram), and a scrape of 20 agents with
/// every decision seen.
fn bench_metrics(c: &mut Criterion) {
    let mut g = c.benchmark_group("metrics");
    let m = Metrics::default();
    let agent = m.target("scheduler");
    g.bench_function("histogram_observe", |b| {
        b.iter(|| agent.observe_request(black_box(0), black_box(Duration::from_micros(300))))
    });
    g.bench_function("observe_request", |b| {
        b.iter(|| {
            let started = std::time::Instant::now();
            agent.observe_request(black_box(0), started.elapsed());
        })
    });
    for i in 0..20 {
        let t = m.target(&format!("agent-{i}"));
        for d in 0..actgate::metrics::REQUEST_DECISIONS.len() {
            t.observe_request(d, Duration::from_micros(300 * (d as u64 + 1)));
        }
        t.observe_upstream(Duration::from_millis(2));
    }
    g.bench_function("render_20_agents", |b| b.iter(|| black_box(m.render())));
    g.finish();
}

criterion_group!(
    benches,
    bench_identity,
    bench_policy,
    bench_subject_tokens,
    bench_request,
    bench_token_cache,
    bench_metrics
);
criterion_main!(benches);
