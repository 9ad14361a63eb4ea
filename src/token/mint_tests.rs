//! Minting and cache tests.

use std::sync::atomic::Ordering;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::*;
use crate::identity::{CallerIdentity, SpiffeId};
use crate::token::{AccessTokenClaims, SigningAlgorithm, SubjectToken};

const ISS: &str = "https://gw.example.org";
const ORCH: &str = "spiffe://example.org/ns/a/sa/orchestrator";
const AUD: &str = "https://agents.example.org/invoice";

fn caller(thumb: &str) -> CallerIdentity {
    CallerIdentity {
        spiffe_id: SpiffeId::parse(ORCH).unwrap(),
        thumbprint: thumb.into(),
        not_after: i64::MAX,
    }
}

fn minter(alg: SigningAlgorithm, cache: bool) -> (Minter, Arc<Metrics>) {
    let (key, _) = SigningKey::generate(alg).unwrap();
    let keys = Arc::new(KeySet {
        current: key,
        previous: vec![],
    });
    let metrics = Arc::new(Metrics::default());
    (
        Minter::new(keys, ISS.into(), cache, Arc::clone(&metrics)),
        metrics,
    )
}

fn req<'a>(c: &'a CallerIdentity, granted: &'a [String]) -> MintRequest<'a> {
    MintRequest {
        caller: c,
        subject: None,
        audience: AUD,
        granted_scopes: granted,
        ttl_secs: 300,
        max_chain_depth: 4,
        allow_reentry: false,
    }
}

fn part_json(token: &str, i: usize) -> serde_json::Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[test]
fn minted_token_verifies_with_jsonwebtoken() {
    for (alg, jalg) in [
        (SigningAlgorithm::Es256, jsonwebtoken::Algorithm::ES256),
        (SigningAlgorithm::EdDsa, jsonwebtoken::Algorithm::EdDSA),
    ] {
        let (m, _) = minter(alg, false);
        let c = caller("t1");
        let granted = vec!["read".to_string()];
        let now = crate::unix_now();
        let t = m.token_for(&req(&c, &granted), now).unwrap();
        assert_eq!(t.token.split('.').count(), 3);
        assert_eq!(t.exp, now + 300);

        let header = part_json(&t.token, 0);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], alg.jose_name());
        assert_eq!(header["kid"], m.keys().current.kid());

        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(m.keys().current.public_jwk()).unwrap();
        let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(jalg);
        v.set_audience(&[AUD]);
        v.set_issuer(&[ISS]);
        let data = jsonwebtoken::decode::<AccessTokenClaims>(&*t.token, &dk, &v).unwrap();
        assert_eq!(data.claims.sub, ORCH);
        assert_eq!(data.claims.client_id, ORCH);
        assert_eq!(data.claims.scope.as_deref(), Some("read"));
        assert_eq!(data.claims.jti.len(), 22, "128-bit jti, base64url");
    }
}

#[test]
fn cache_disabled_mints_every_time_with_fresh_jti() {
    let (m, metrics) = minter(SigningAlgorithm::EdDsa, false);
    let c = caller("t1");
    let g = vec!["read".to_string()];
    let a = m.token_for(&req(&c, &g), 1_000).unwrap();
    let b = m.token_for(&req(&c, &g), 1_000).unwrap();
    assert!(!a.cache_hit && !b.cache_hit);
    assert_ne!(a.token, b.token);
    assert_ne!(part_json(&a.token, 1)["jti"], part_json(&b.token, 1)["jti"]);
    assert_eq!(metrics.tokens_minted.load(Ordering::Relaxed), 2);
    assert_eq!(metrics.token_cache_hits.load(Ordering::Relaxed), 0);
    assert_eq!(m.cache_len(), 0);
}

#[test]
fn cache_hit_until_refresh_margin() {
    let (m, metrics) = minter(SigningAlgorithm::Es256, true);
    let c = caller("t1");
    let g = vec!["read".to_string(), "write".to_string()];
    let first = m.token_for(&req(&c, &g), 1_000).unwrap();
    assert!(!first.cache_hit);
    // ttl 300 → margin max(30, 60) = 60: served until exp - 60 = 1_240.
    let hit = m.token_for(&req(&c, &g), 1_239).unwrap();
    assert!(hit.cache_hit);
    assert!(Arc::ptr_eq(&first.token, &hit.token));
    assert_eq!(hit.exp, first.exp);
    // Scope order does not matter for the key.
    let g_rev = vec!["write".to_string(), "read".to_string()];
    assert!(m.token_for(&req(&c, &g_rev), 1_100).unwrap().cache_hit);

    let fresh = m.token_for(&req(&c, &g), 1_240).unwrap();
    assert!(!fresh.cache_hit);
    assert_ne!(fresh.token, first.token);
    assert_eq!(metrics.token_cache_hits.load(Ordering::Relaxed), 2);
    assert_eq!(metrics.tokens_minted.load(Ordering::Relaxed), 2);
    assert_eq!(m.cache_stats(), (2, 2));
}

#[test]
fn cache_key_separates_every_input() {
    let (m, _) = minter(SigningAlgorithm::EdDsa, true);
    let c = caller("t1");
    let c_rotated = caller("t2");
    let g = vec!["read".to_string()];
    let g2 = vec!["write".to_string()];
    let subject = SubjectToken {
        issuer: "https://idp.example.com".into(),
        sub: "alice".into(),
        scopes: Some(vec!["read".to_string()].into()),
        exp: 100_000,
        act: None,
        may_act: None,
        own: false,
        aud: ISS.into(),
        cnf: None,
        grant: None,
    };
    let mut other_issuer = subject.clone();
    other_issuer.issuer = "https://other-idp.example.com".into();
    let mut with_may_act = subject.clone();
    with_may_act.may_act = Some(std::sync::Arc::new(serde_json::json!({"sub": ORCH})));

    let base = m.token_for(&req(&c, &g), 1_000).unwrap();
    let variants: Vec<MintRequest<'_>> = vec![
        req(&c_rotated, &g),
        req(&c, &g2),
        MintRequest {
            audience: "https://agents.example.org/other",
            ..req(&c, &g)
        },
        MintRequest {
            subject: Some(&subject),
            ..req(&c, &g)
        },
        MintRequest {
            subject: Some(&other_issuer),
            ..req(&c, &g)
        },
        MintRequest {
            subject: Some(&with_may_act),
            ..req(&c, &g)
        },
        MintRequest {
            allow_reentry: true,
            ..req(&c, &g)
        },
    ];
    for (i, r) in variants.iter().enumerate() {
        let t = m.token_for(r, 1_000).unwrap();
        assert!(!t.cache_hit, "variant {i} must not hit");
        assert_ne!(t.token, base.token);
    }
    // Each variant is itself cached now.
    for r in &variants {
        assert!(m.token_for(r, 1_001).unwrap().cache_hit);
    }
}

#[test]
fn cache_key_treats_granted_scopes_as_a_set() {
    let c = caller("t1");
    let sorted = vec!["a".to_string(), "b".to_string()];
    let unsorted = vec!["b".to_string(), "a".to_string(), "b".to_string()];
    assert_eq!(cache_key(&req(&c, &sorted)), cache_key(&req(&c, &unsorted)));
    let only_a = vec!["a".to_string()];
    assert_ne!(cache_key(&req(&c, &sorted)), cache_key(&req(&c, &only_a)));
}

#[test]
fn key_json_is_length_prefixed_like_str() {
    let v = serde_json::json!({"sub": ORCH, "act": {"sub": "x\"y"}});
    let mut a = KeyBuf(Vec::new());
    a.json(&v);
    let mut b = KeyBuf(Vec::new());
    b.str(&v.to_string());
    assert_eq!(a.0, b.0);
}

#[test]
fn short_lived_subject_is_not_cached() {
    let (m, _) = minter(SigningAlgorithm::EdDsa, true);
    let c = caller("t1");
    let g = vec!["read".to_string()];
    let subject = SubjectToken {
        issuer: "https://idp.example.com".into(),
        sub: "alice".into(),
        scopes: Some(vec!["read".to_string()].into()),
        exp: 1_020,
        act: None,
        may_act: None,
        own: false,
        aud: ISS.into(),
        cnf: None,
        grant: None,
    };
    let r = MintRequest {
        subject: Some(&subject),
        ..req(&c, &g)
    };
    let t = m.token_for(&r, 1_000).unwrap();
    assert_eq!(t.exp, 1_020);
    assert!(!m.token_for(&r, 1_000).unwrap().cache_hit);
    assert_eq!(m.cache_len(), 0);
}

#[test]
fn cache_is_bounded() {
    let (m, _) = minter(SigningAlgorithm::EdDsa, true);
    let m = m.with_cache_capacity(4);
    let c = caller("t1");
    let scopes: Vec<Vec<String>> = (0..6).map(|i| vec![format!("s{i}")]).collect();
    for g in &scopes[..4] {
        m.token_for(&req(&c, g), 1_000).unwrap();
    }
    assert_eq!(m.cache_len(), 4);
    // All four are still fresh: purging frees nothing, so the cache is cleared.
    m.token_for(&req(&c, &scopes[4]), 1_000).unwrap();
    assert_eq!(m.cache_len(), 1);
    // Later, the stale entry is purged instead of clearing everything.
    for g in &scopes[1..4] {
        m.token_for(&req(&c, g), 1_000).unwrap();
    }
    assert_eq!(m.cache_len(), 4);
    m.token_for(&req(&c, &scopes[5]), 1_250).unwrap();
    assert_eq!(m.cache_len(), 1);
}

#[test]
fn claims_errors_propagate() {
    let (m, metrics) = minter(SigningAlgorithm::EdDsa, true);
    let c = caller("t1");
    let r = MintRequest {
        ttl_secs: 0,
        ..req(&c, &[])
    };
    assert!(matches!(
        m.token_for(&r, 1_000),
        Err(MintError::Claims(ClaimsError::InvalidTtl(0)))
    ));
    assert_eq!(metrics.tokens_minted.load(Ordering::Relaxed), 0);
}

#[test]
fn sign_jwt_sets_typ_and_kid() {
    let (key, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let t = sign_jwt(&key, "JWT", &serde_json::json!({"sub": "alice"})).unwrap();
    let h = part_json(&t, 0);
    assert_eq!(
        h,
        serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": key.kid()})
    );
    assert_eq!(part_json(&t, 1)["sub"], "alice");
}

#[test]
fn cache_never_serves_a_token_outliving_the_presented_certificate() {
    let (m, _) = minter(SigningAlgorithm::Es256, true);
    let granted = vec!["read".to_string()];
    let now = crate::unix_now();
    let mut long = caller("same-thumb");
    long.not_after = now + 10_000;
    let first = m.token_for(&req(&long, &granted), now).unwrap();
    assert_eq!(first.exp, now + 300);
    assert!(m.token_for(&req(&long, &granted), now).unwrap().cache_hit);
    // Same cache key, a certificate ending sooner: never the cached token.
    let mut short = caller("same-thumb");
    short.not_after = now + 100;
    let t = m.token_for(&req(&short, &granted), now).unwrap();
    assert!(!t.cache_hit);
    assert_eq!(t.exp, now + 100);
    let bound = m.token_bound(&req(&short, &granted), now).unwrap();
    assert_eq!(bound.exp, now + 100);
}
