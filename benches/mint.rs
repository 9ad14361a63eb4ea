//! Token minting cost: hand-rolled JWS with a pre-parsed aws-lc-rs key versus
//! stock `jsonwebtoken::encode`, and the cache hit path.
//!
//! `cargo bench --bench mint -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use actgate::identity::{CallerIdentity, SpiffeId};
use actgate::metrics::Metrics;
use actgate::token::{
    build_claims, Actor, KeySet, MintRequest, Minter, SigningAlgorithm, SigningKey, SubjectToken,
};
use criterion::{criterion_group, criterion_main, Criterion};

const ISS: &str = "https://gw.example.org";
const NOW: i64 = 1_700_000_000;

fn caller() -> CallerIdentity {
    CallerIdentity {
        spiffe_id: SpiffeId::parse("spiffe://example.org/ns/b/sa/agent-b").expect("spiffe id"),
        thumbprint: "M2Q1ZGY0ZDZhYjk0NzQwYjE1ZGQ2ZjZhYjA0NjY2ZjM".into(),
        not_after: i64::MAX,
    }
}

/// A realistic delegated request: user subject with one prior actor.
fn subject() -> SubjectToken {
    SubjectToken {
        issuer: ISS.into(),
        sub: "alice@example.com".into(),
        scopes: Some(vec!["invoices:read".to_string(), "invoices:write".to_string()].into()),
        exp: NOW + 3600,
        act: Some(std::sync::Arc::new(Actor {
            sub: "spiffe://example.org/ns/a/sa/agent-a".into(),
            act: None,
        })),
        may_act: None,
        own: true,
        aud: "https://agents.example.org/b".into(),
        cnf: None,
        grant: None,
    }
}

fn minter(alg: SigningAlgorithm, cache: bool) -> (Minter, String) {
    let (key, pem) = SigningKey::generate(alg).expect("generate");
    let keys = Arc::new(KeySet {
        current: key,
        previous: vec![],
    });
    (
        Minter::new(keys, ISS.into(), cache, Arc::new(Metrics::default())),
        pem,
    )
}

fn bench_mint(c: &mut Criterion) {
    let caller = caller();
    let subject = subject();
    let granted = vec!["invoices:read".to_string(), "invoices:write".to_string()];
    let req = MintRequest {
        caller: &caller,
        subject: Some(&subject),
        audience: "https://agents.example.org/invoice",
        granted_scopes: &granted,
        ttl_secs: 300,
        max_chain_depth: 4,
        allow_reentry: false,
    };

    let (es, es_pem) = minter(SigningAlgorithm::Es256, false);
    let (ed, _) = minter(SigningAlgorithm::EdDsa, false);
    let (cached, _) = minter(SigningAlgorithm::Es256, true);
    cached.token_for(&req, NOW).expect("prime cache");

    let mut g = c.benchmark_group("mint");
    g.bench_function("es256_preparsed", |b| {
        b.iter(|| es.token_for(black_box(&req), NOW).expect("mint"))
    });
    g.bench_function("eddsa_preparsed", |b| {
        b.iter(|| ed.token_for(black_box(&req), NOW).expect("mint"))
    });
    g.bench_function("cache_hit", |b| {
        b.iter(|| cached.token_for(black_box(&req), NOW).expect("hit"))
    });

    // Stock jsonwebtoken for comparison, same claims and header.
    let claims = build_claims(&req, ISS, NOW, "AAAAAAAAAAAAAAAAAAAAAA".into()).expect("claims");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(es.keys().current.kid().to_owned());
    let enc = jsonwebtoken::EncodingKey::from_ec_pem(es_pem.as_bytes()).expect("pem");
    g.bench_function("jsonwebtoken_es256_encode", |b| {
        b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &enc).expect("encode"))
    });
    g.bench_function("jsonwebtoken_es256_from_pem_and_encode", |b| {
        b.iter(|| {
            let k =
                jsonwebtoken::EncodingKey::from_ec_pem(black_box(es_pem.as_bytes())).expect("pem");
            jsonwebtoken::encode(&header, black_box(&claims), &k).expect("encode")
        })
    });
    // Floors: the raw signature over a token-sized input, and claims alone.
    let input = vec![b'a'; 560];
    g.bench_function("raw_sign_es256", |b| {
        b.iter(|| es.keys().current.sign(black_box(&input)).expect("sign"))
    });
    g.bench_function("raw_sign_eddsa", |b| {
        b.iter(|| ed.keys().current.sign(black_box(&input)).expect("sign"))
    });
    g.bench_function("claims_and_json_only", |b| {
        b.iter(|| {
            let c = build_claims(black_box(&req), ISS, NOW, "AAAAAAAAAAAAAAAAAAAAAA".into())
                .expect("claims");
            serde_json::to_vec(&c).expect("json")
        })
    });
    g.finish();
}

criterion_group!(benches, bench_mint);
criterion_main!(benches);
