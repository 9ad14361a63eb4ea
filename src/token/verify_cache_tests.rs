//! The verified-token cache (`super::super::verify_cache`) seen through the
//! verifier: a hit must answer exactly as a miss would.

use super::*;

/// The same token through a verifier without cache, for comparison.
fn uncached(f: &Fixture) -> SubjectTokenVerifier {
    let trusted = TrustedIssuer::from_jwks_json(
        IDP,
        GW,
        &json!({"keys": [f.idp_key.public_jwk()]}).to_string(),
    )
    .unwrap();
    SubjectTokenVerifier::new(GW.into(), &f.gw_keys, vec![trusted])
        .unwrap()
        .with_cache_limits(0, 0)
        .unwrap()
}

#[test]
fn a_cached_token_is_refused_the_instant_it_expires() {
    let f = fixture();
    let token = idp_token(&f, user_claims());
    let exp = NOW + 600;
    let plain = uncached(&f);
    assert!(verify(&f, &token).is_ok());
    assert_eq!(f.verifier.cache().len(), 1, "verified once, kept");
    let last_good = exp + LEEWAY_SECS - 1;
    assert!(f.verifier.verify(&token, None, last_good).is_ok());
    for now in [exp + LEEWAY_SECS, exp + LEEWAY_SECS + 1, exp + 86_400] {
        assert_eq!(
            f.verifier.verify(&token, None, now),
            Err(TokenError::Expired),
            "cached, at {now}"
        );
        assert_eq!(
            plain.verify(&token, None, now),
            Err(TokenError::Expired),
            "uncached, at {now}"
        );
    }
    assert!(plain.cache().is_empty(), "a zero-sized cache holds nothing");
    // A cached token is not valid before its nbf either.
    let mut c = user_claims();
    c["nbf"] = json!(NOW + 100);
    let early = idp_token(&f, c);
    assert!(f.verifier.verify(&early, None, NOW + 100).is_ok());
    assert_eq!(
        f.verifier.verify(&early, None, NOW),
        Err(TokenError::NotYetValid)
    );
}

#[test]
fn a_hit_answers_as_a_miss_does() {
    let f = fixture();
    let plain = uncached(&f);
    let user_token = idp_token(&f, user_claims());
    let user = verify(&f, &user_token).unwrap();
    let own = own_token(&f, Some(&user), AGENT_B);
    let mut bound = user_claims();
    bound["cnf"] = json!({"x5t#S256": "abc"});
    let bound = idp_token(&f, bound);
    let mut bad_cnf = user_claims();
    bad_cnf["cnf"] = json!({"jkt": "abc"});
    let bad_cnf = idp_token(&f, bad_cnf);
    let cases = [
        (&user_token, None, NOW),
        (&own, Some(AGENT_B), NOW + 1),
        (&own, Some(AGENT_C), NOW + 1),
        (&own, None, NOW + 1),
        (&own, Some(AGENT_B), NOW + 301 + LEEWAY_SECS),
        (&bound, None, NOW),
        (&bad_cnf, None, NOW),
    ];
    // Twice: the first round fills the cache, the second is all hits.
    for round in 0..2 {
        for (token, presenter, now) in &cases {
            assert_eq!(
                f.verifier.verify(token, *presenter, *now),
                plain.verify(token, *presenter, *now),
                "round {round}: presenter {presenter:?} at {now}"
            );
        }
    }
}

#[test]
fn a_token_cached_for_one_presenter_is_refused_for_another() {
    let f = fixture();
    let token = own_token(&f, None, AGENT_B);
    assert!(f.verifier.verify(&token, Some(AGENT_B), NOW).is_ok());
    assert!(!f.verifier.cache().is_empty());
    assert_eq!(
        f.verifier.verify(&token, Some(AGENT_C), NOW),
        Err(TokenError::NotAudience)
    );
    // The certificate binding holds on a hit: the cached claims carry it.
    let mut c = user_claims();
    c["cnf"] = json!({"x5t#S256": "abc"});
    let bound = idp_token(&f, c);
    for _ in 0..2 {
        let t = verify(&f, &bound).unwrap();
        assert_eq!(t.check_binding("xyz"), Err(TokenError::CertificateMismatch));
        assert_eq!(t.check_binding("abc"), Ok(()));
    }
}

#[test]
fn a_refused_signature_is_never_cached() {
    let f = fixture();
    let good = idp_token(&f, user_claims());
    let (h, rest) = good.split_once('.').unwrap();
    let (p, _) = rest.split_once('.').unwrap();
    let (other, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let sig = other.sign(format!("{h}.{p}").as_bytes()).unwrap();
    let forged = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig));
    for _ in 0..3 {
        assert_eq!(verify(&f, &forged), Err(TokenError::BadSignature));
    }
    assert!(f.verifier.cache().is_empty());
    // The genuine token with the same header and payload is then accepted:
    // the forged one left nothing behind under the shared claims.
    assert!(verify(&f, &good).is_ok());
}

#[test]
fn new_keys_mean_an_empty_cache() {
    // Key rotation or a reload builds a new verifier: tokens of the old key
    // are refused at once, not served from what the old verifier cached.
    let f = fixture();
    let token = idp_token(&f, user_claims());
    assert!(verify(&f, &token).is_ok());
    assert_eq!(f.verifier.cache().len(), 1);
    let (rotated, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let jwks = json!({"keys": [rotated.public_jwk()]}).to_string();
    let trusted = TrustedIssuer::from_jwks_json(IDP, GW, &jwks).unwrap();
    let after = SubjectTokenVerifier::new(GW.into(), &f.gw_keys, vec![trusted]).unwrap();
    assert!(after.cache().is_empty());
    assert!(matches!(
        after.verify(&token, None, NOW),
        Err(TokenError::UnknownKey(_) | TokenError::BadSignature)
    ));
}

#[test]
fn a_flood_of_distinct_tokens_stays_within_the_limits() {
    let f = fixture();
    let max_entries = 64;
    let max_bytes = 64 * 1024;
    let v = uncached(&f)
        .with_cache_limits(max_entries, max_bytes)
        .unwrap();
    let mut last = String::new();
    for i in 0..1_000 {
        let mut c = user_claims();
        c["sub"] = json!(format!("user-{i}"));
        last = idp_token(&f, c);
        assert!(v.verify(&last, None, NOW).is_ok());
        assert!(
            v.cache().len() <= max_entries,
            "{} entries",
            v.cache().len()
        );
        assert!(
            v.cache().bytes() <= max_bytes,
            "{} bytes",
            v.cache().bytes()
        );
    }
    assert!(v.cache().len() > max_entries / 2, "the cache is used");
    assert_eq!(&*v.verify(&last, None, NOW).unwrap().sub, "user-999");
}

#[test]
fn cache_hits_misses_and_evictions_are_counted_in_the_metrics() {
    let f = fixture();
    let metrics = Metrics::default();
    // Limits set after the counters: they are kept across the new cache.
    let v = uncached(&f)
        .with_cache_counters(Arc::clone(&metrics.subject_token_cache))
        .with_cache_limits(16, 1024 * 1024)
        .unwrap();
    let shown = |name: &str| -> u64 {
        let out = metrics.render();
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("actgate_subject_token_cache_{name}_total ")))
            .unwrap_or_else(|| panic!("no {name} counter in\n{out}"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        (shown("hits"), shown("misses"), shown("evictions")),
        (0, 0, 0)
    );
    let token = idp_token(&f, user_claims());
    assert!(v.verify(&token, None, NOW).is_ok());
    assert_eq!(
        (shown("hits"), shown("misses")),
        (0, 1),
        "first sight: a miss"
    );
    for _ in 0..3 {
        assert!(v.verify(&token, None, NOW).is_ok());
    }
    assert_eq!((shown("hits"), shown("misses")), (3, 1));
    // Found expired: dropped (an eviction) and verified again (a miss).
    let late = NOW + 600 + LEEWAY_SECS;
    assert_eq!(v.verify(&token, None, late), Err(TokenError::Expired));
    assert_eq!(
        (shown("hits"), shown("misses"), shown("evictions")),
        (3, 2, 1)
    );
    // A flood past the 16 entries evicts to make room.
    for i in 0..200 {
        let mut c = user_claims();
        c["sub"] = json!(format!("user-{i}"));
        assert!(v.verify(&idp_token(&f, c), None, NOW).is_ok());
    }
    assert_eq!(shown("misses"), 202);
    assert!(shown("evictions") > 1, "{}", shown("evictions"));
    assert!(v.cache().len() <= 16);
    // A disabled cache counts nothing.
    let before = (shown("hits"), shown("misses"), shown("evictions"));
    let off = uncached(&f).with_cache_counters(Arc::clone(&metrics.subject_token_cache));
    assert!(off.verify(&token, None, NOW).is_ok());
    assert_eq!(before, (shown("hits"), shown("misses"), shown("evictions")));
}
