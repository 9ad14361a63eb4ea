//! Verifier tests: one per attack, plus happy paths.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::*;
use crate::identity::{CallerIdentity, SpiffeId};
use crate::metrics::Metrics;
use crate::token::{sign_jwt, MintRequest, Minter, SigningKey};

const GW: &str = "https://gw.example.org";
const IDP: &str = "https://idp.example.com";
const ORCH: &str = "spiffe://example.org/ns/a/sa/orchestrator";
const AGENT_B: &str = "https://agents.example.org/b";
const AGENT_C: &str = "https://agents.example.org/c";
const NOW: i64 = 1_700_000_000;

struct Fixture {
    idp_key: SigningKey,
    gw_keys: Arc<KeySet>,
    verifier: SubjectTokenVerifier,
}

fn fixture_with(idp_alg: SigningAlgorithm) -> Fixture {
    let (idp_key, _) = SigningKey::generate(idp_alg).unwrap();
    let idp_jwks = json!({"keys": [idp_key.public_jwk()]}).to_string();
    let trusted = TrustedIssuer::from_jwks_json(IDP, GW, &idp_jwks).unwrap();
    let (gw_key, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let (gw_old, _) = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
    let gw_keys = Arc::new(KeySet {
        current: gw_key,
        previous: vec![gw_old],
    });
    let verifier = SubjectTokenVerifier::new(GW.into(), &gw_keys, vec![trusted]).unwrap();
    Fixture {
        idp_key,
        gw_keys,
        verifier,
    }
}

fn fixture() -> Fixture {
    fixture_with(SigningAlgorithm::Es256)
}

fn user_claims() -> Value {
    json!({
        "iss": IDP, "sub": "alice@example.com", "aud": GW,
        "iat": NOW - 10, "exp": NOW + 600, "scope": "read write",
        "may_act": {"sub": ORCH}
    })
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Sign an arbitrary header and payload with `key`.
fn forge(key: &SigningKey, header: Value, payload: Value) -> String {
    let input = format!("{}.{}", b64(&header), b64(&payload));
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn idp_header(f: &Fixture) -> Value {
    json!({"alg": f.idp_key.algorithm().jose_name(), "typ": "JWT", "kid": f.idp_key.kid()})
}

fn idp_token(f: &Fixture, claims: Value) -> String {
    sign_jwt(&f.idp_key, "JWT", &claims).unwrap()
}

fn verify(f: &Fixture, token: &str) -> Result<SubjectToken, TokenError> {
    f.verifier.verify(token, None, NOW)
}

#[test]
fn trusted_issuer_happy_path() {
    for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
        let f = fixture_with(alg);
        let t = verify(&f, &idp_token(&f, user_claims())).unwrap();
        assert_eq!(&*t.issuer, IDP);
        assert_eq!(&*t.sub, "alice@example.com");
        assert_eq!(
            t.scopes.as_deref(),
            Some(&["read".to_string(), "write".to_string()][..])
        );
        assert_eq!(t.exp, NOW + 600);
        assert_eq!(t.may_act.as_deref(), Some(&json!({"sub": ORCH})));
        assert_eq!(&*t.aud, GW);
        assert!(!t.own);
        assert!(t.act.is_none());
    }
}

#[test]
fn audience_array_containing_gateway_is_accepted() {
    let f = fixture();
    let mut c = user_claims();
    c["aud"] = json!(["https://other.example", GW]);
    assert!(verify(&f, &idp_token(&f, c)).is_ok());
}

#[test]
fn token_without_kid_needs_a_single_key() {
    let f = fixture();
    let header = json!({"alg": "ES256", "typ": "JWT"});
    assert!(verify(&f, &forge(&f.idp_key, header.clone(), user_claims())).is_ok());
    // The gateway has two keys: no kid is ambiguous.
    let mut c = user_claims();
    c["iss"] = json!(GW);
    assert_eq!(
        verify(&f, &forge(&f.gw_keys.current, header, c)),
        Err(TokenError::MissingKid)
    );
}

#[test]
fn alg_none_is_rejected() {
    let f = fixture();
    for alg in ["none", "None", "NONE"] {
        let t = format!(
            "{}.{}.",
            b64(&json!({"alg": alg, "typ": "JWT"})),
            b64(&user_claims())
        );
        assert_eq!(
            verify(&f, &t),
            Err(TokenError::AlgorithmNotAllowed("none".into()))
        );
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_rejected() {
    use aws_lc_rs::hmac;
    let f = fixture();
    // The classic key-confusion attack: HMAC keyed with the public key bytes
    // (here the uncompressed point, and the JWK JSON itself).
    let jwk = f.idp_key.public_jwk();
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
    let mut point = vec![4u8];
    point.extend(x);
    point.extend(y);
    for secret in [point, jwk.to_string().into_bytes()] {
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": f.idp_key.kid()});
        let input = format!("{}.{}", b64(&header), b64(&user_claims()));
        let key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
        let sig = hmac::sign(&key, input.as_bytes());
        let t = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
        assert_eq!(
            verify(&f, &t),
            Err(TokenError::AlgorithmNotAllowed("HS256".into()))
        );
    }
}

#[test]
fn header_alg_must_match_the_pinned_key_algorithm() {
    let f = fixture();
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": f.idp_key.kid()});
    assert_eq!(
        verify(&f, &forge(&f.idp_key, header, user_claims())),
        Err(TokenError::AlgorithmNotAllowed("EdDSA".into()))
    );
}

#[test]
fn unknown_kid_is_rejected() {
    let f = fixture();
    let mut header = idp_header(&f);
    header["kid"] = json!("../../etc/passwd");
    assert_eq!(
        verify(&f, &forge(&f.idp_key, header, user_claims())),
        Err(TokenError::UnknownKey("../../etc/passwd".into()))
    );
}

#[test]
fn unknown_issuer_is_rejected() {
    let f = fixture();
    let mut c = user_claims();
    c["iss"] = json!("https://evil.example");
    assert_eq!(
        verify(&f, &idp_token(&f, c)),
        Err(TokenError::UnknownIssuer("https://evil.example".into()))
    );
    let mut c = user_claims();
    c.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        verify(&f, &idp_token(&f, c)),
        Err(TokenError::MissingClaim("iss".into()))
    );
}

#[test]
fn trusted_key_cannot_sign_for_the_gateway_issuer() {
    // A trusted IdP (or its stolen key) claiming to be the gateway: the kid is
    // looked up among the gateway's own keys only.
    let f = fixture();
    let mut c = user_claims();
    c["iss"] = json!(GW);
    c["aud"] = json!(AGENT_B);
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": f.idp_key.kid()});
    assert!(matches!(
        f.verifier
            .verify(&forge(&f.idp_key, header, c), Some(AGENT_B), NOW),
        Err(TokenError::UnknownKey(_))
    ));
}

#[test]
fn wrong_audience_is_rejected() {
    let f = fixture();
    let mut c = user_claims();
    c["aud"] = json!("https://someone-else.example");
    assert_eq!(
        verify(&f, &idp_token(&f, c)),
        Err(TokenError::WrongAudience)
    );
    let mut c = user_claims();
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        verify(&f, &idp_token(&f, c)),
        Err(TokenError::MissingClaim("aud".into()))
    );
}

#[test]
fn time_checks() {
    let f = fixture();
    let cases: [(&str, Value, Result<(), TokenError>); 7] = [
        (
            "expired",
            json!(NOW - LEEWAY_SECS),
            Err(TokenError::Expired),
        ),
        ("long expired", json!(NOW - 3600), Err(TokenError::Expired)),
        (
            "expired within leeway",
            json!(NOW - LEEWAY_SECS + 1),
            Ok(()),
        ),
        (
            "exp as string",
            json!((NOW + 60).to_string()),
            Err(TokenError::MissingClaim("exp".into())),
        ),
        ("nbf", Value::Null, Ok(())),
        ("nbf", json!(NOW + 3600), Err(TokenError::NotYetValid)),
        ("iat", json!(NOW + 3600), Err(TokenError::IssuedInFuture)),
    ];
    for (name, value, want) in cases {
        let mut c = user_claims();
        match name {
            "nbf" if value.is_null() => c["nbf"] = json!(NOW + LEEWAY_SECS),
            "nbf" | "iat" => c[name] = value,
            _ => c["exp"] = value,
        }
        let got = verify(&f, &idp_token(&f, c)).map(|_| ());
        assert_eq!(got, want, "{name}");
    }
    let mut c = user_claims();
    c.as_object_mut().unwrap().remove("iat");
    assert_eq!(
        verify(&f, &idp_token(&f, c)),
        Err(TokenError::MissingClaim("iat".into()))
    );
}

#[test]
fn crit_header_is_rejected() {
    let f = fixture();
    let mut header = idp_header(&f);
    header["crit"] = json!(["exp"]);
    header["exp"] = json!(NOW);
    assert_eq!(
        verify(&f, &forge(&f.idp_key, header, user_claims())),
        Err(TokenError::Crit)
    );
}

#[test]
fn key_carrying_headers_are_rejected() {
    let f = fixture();
    for (name, value) in [
        ("jku", json!("https://evil.example/jwks")),
        ("x5u", json!("https://evil.example/cert")),
        ("jwk", f.idp_key.public_jwk()),
        ("x5c", json!(["MIIB"])),
    ] {
        let mut header = idp_header(&f);
        header[name] = value;
        assert_eq!(
            verify(&f, &forge(&f.idp_key, header, user_claims())),
            Err(TokenError::KeyInHeader(name)),
            "{name}"
        );
    }
}

#[test]
fn bad_signatures_are_rejected() {
    let f = fixture();
    let good = idp_token(&f, user_claims());
    // Payload swapped, signature kept.
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    let mut c = user_claims();
    c["scope"] = json!("read write admin");
    parts[1] = b64(&c);
    assert_eq!(verify(&f, &parts.join(".")), Err(TokenError::BadSignature));
    // Signed by a different key with the trusted kid.
    let (other, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    assert_eq!(
        verify(&f, &forge(&other, idp_header(&f), user_claims())),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn garbage_is_malformed() {
    let f = fixture();
    let good = idp_token(&f, user_claims());
    let two: Vec<&str> = good.split('.').take(2).collect();
    let cases = [
        String::new(),
        "garbage".into(),
        two.join("."),
        format!("{good}.extra"),
        "a.b.c".into(),
        format!("{}.!!!.sig", b64(&idp_header(&f))),
        format!("{}.{}.", b64(&idp_header(&f)), b64(&user_claims())),
        format!("{}.{}.sig", b64(&json!([1, 2])), b64(&user_claims())),
        format!("{}.{}.sig", b64(&idp_header(&f)), b64(&json!("str"))),
        "x".repeat(MAX_TOKEN_BYTES + 1),
    ];
    for t in cases {
        assert!(
            matches!(verify(&f, &t), Err(TokenError::Malformed(_))),
            "{:?} gave {:?}",
            t.get(..40),
            verify(&f, &t)
        );
    }
}

fn caller() -> CallerIdentity {
    CallerIdentity {
        spiffe_id: SpiffeId::parse(ORCH).unwrap(),
        thumbprint: "thumb".into(),
        not_after: i64::MAX,
    }
}

fn own_token(f: &Fixture, subject: Option<&SubjectToken>, aud: &str) -> String {
    let m = Minter::new(
        Arc::clone(&f.gw_keys),
        GW.into(),
        false,
        Arc::new(Metrics::default()),
    );
    let c = caller();
    let granted = vec!["read".to_string()];
    let req = MintRequest {
        caller: &c,
        subject,
        audience: aud,
        granted_scopes: &granted,
        ttl_secs: 300,
        max_chain_depth: 4,
        allow_reentry: false,
    };
    m.token_for(&req, NOW).unwrap().token.to_string()
}

#[test]
fn own_token_round_trip_carries_act() {
    let f = fixture();
    let user = verify(&f, &idp_token(&f, user_claims())).unwrap();
    let token = own_token(&f, Some(&user), AGENT_B);
    let t = f.verifier.verify(&token, Some(AGENT_B), NOW + 1).unwrap();
    assert!(t.own);
    assert_eq!(&*t.issuer, GW);
    assert_eq!(&*t.sub, "alice@example.com");
    assert_eq!(&*t.aud, AGENT_B);
    assert_eq!(t.scopes.as_deref(), Some(&["read".to_string()][..]));
    assert_eq!(t.act.as_ref().map(|a| a.sub.as_str()), Some(ORCH));
    assert_eq!(t.exp, NOW + 300);
}

#[test]
fn own_token_signed_by_previous_key_verifies() {
    let f = fixture();
    let claims = json!({
        "iss": GW, "sub": ORCH, "aud": AGENT_B, "client_id": ORCH,
        "iat": NOW, "exp": NOW + 60, "jti": "j"
    });
    let token = sign_jwt(&f.gw_keys.previous[0], "at+jwt", &claims).unwrap();
    assert!(f.verifier.verify(&token, Some(AGENT_B), NOW).is_ok());
    let token = sign_jwt(&f.gw_keys.previous[0], "AT+JWT", &claims).unwrap();
    assert!(f.verifier.verify(&token, Some(AGENT_B), NOW).is_ok());
    let token = sign_jwt(&f.gw_keys.previous[0], "application/at+jwt", &claims).unwrap();
    assert!(f.verifier.verify(&token, Some(AGENT_B), NOW).is_ok());
}

#[test]
fn own_token_replayed_by_non_audience_is_rejected() {
    let f = fixture();
    let token = own_token(&f, None, AGENT_B);
    assert_eq!(
        f.verifier.verify(&token, Some(AGENT_C), NOW),
        Err(TokenError::NotAudience)
    );
    assert_eq!(
        f.verifier.verify(&token, None, NOW),
        Err(TokenError::NotAudience)
    );
    assert!(f.verifier.verify(&token, Some(AGENT_B), NOW).is_ok());
}

/// A token from a person's grant never passes as a subject token, even
/// presented by its audience: only its own rule (`user_token`, which
/// checks the grant is live) admits it, so a revocation cannot be
/// sidestepped by presenting it where the presenter rule applies.
#[test]
fn a_grant_token_is_not_a_subject_token_even_at_its_audience() {
    let f = fixture();
    let claims = json!({
        "iss": GW, "sub": "alice@example.com", "aud": AGENT_B, "client_id": ORCH,
        "iat": NOW, "exp": NOW + 60, "jti": "j", "act": {"sub": ORCH},
        "grant": "gr-00000000000000000000000000000000",
        "sub_id": {"format": "iss_sub", "iss": "https://idp.example.com", "sub": "alice@example.com"}
    });
    let token = sign_jwt(&f.gw_keys.current, "at+jwt", &claims).unwrap();
    assert_eq!(
        f.verifier.verify(&token, Some(AGENT_B), NOW),
        Err(TokenError::NotAudience)
    );
    // Twice: the cached verification keeps the refusal.
    assert_eq!(
        f.verifier.verify(&token, Some(AGENT_B), NOW),
        Err(TokenError::NotAudience)
    );
    let mut bad = claims.clone();
    bad["sub_id"] = json!("alice");
    let token = sign_jwt(&f.gw_keys.current, "at+jwt", &bad).unwrap();
    assert!(matches!(
        f.verifier.verify(&token, Some(AGENT_B), NOW),
        Err(TokenError::Malformed(_))
    ));
}

#[test]
fn own_token_needs_at_jwt_typ() {
    let f = fixture();
    let claims = json!({
        "iss": GW, "sub": ORCH, "aud": AGENT_B, "client_id": ORCH,
        "iat": NOW, "exp": NOW + 60, "jti": "j"
    });
    // Card signatures (typ "agent-card+jws", formerly "JOSE") are never tokens,
    // even when signed by a token key.
    for typ in [
        "JWT",
        "id_token+jwt",
        "JOSE",
        crate::cards::sign::CARD_JWS_TYP,
    ] {
        let token = sign_jwt(&f.gw_keys.current, typ, &claims).unwrap();
        assert_eq!(
            f.verifier.verify(&token, Some(AGENT_B), NOW),
            Err(TokenError::WrongType),
            "{typ}"
        );
    }
    let header = json!({"alg": "ES256", "kid": f.gw_keys.current.kid()});
    assert_eq!(
        f.verifier.verify(
            &forge(&f.gw_keys.current, header, claims),
            Some(AGENT_B),
            NOW
        ),
        Err(TokenError::WrongType)
    );
}

#[test]
fn jwks_errors_name_the_key() {
    let (ec, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let good = ec.public_jwk();
    let cases: [(Value, &str); 6] = [
        (json!({"kty": "oct", "k": "c2VjcmV0"}), "key #1: symmetric"),
        (
            json!({"kty": "EC", "crv": "P-521", "x": "a", "y": "b"}),
            "key #1: unsupported",
        ),
        (
            {
                let mut k = good.clone();
                k["alg"] = json!("HS256");
                k["kid"] = json!("other");
                k
            },
            "key #1: \"alg\" \"HS256\" does not match",
        ),
        (good.clone(), "key #1: duplicate kid"),
        (
            {
                let mut k = good.clone();
                k["kid"] = json!("enc");
                k["use"] = json!("enc");
                k
            },
            "key #1: \"use\"",
        ),
        (
            json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xffu8; 128]), "e": "AQAB"}),
            "key #1: RSA key is 1024 bits",
        ),
    ];
    for (bad, want) in cases {
        let jwks = json!({"keys": [good, bad]}).to_string();
        let err = TrustedIssuer::from_jwks_json(IDP, GW, &jwks).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(want), "{msg:?} should contain {want:?}");
        assert!(msg.starts_with(&format!("trusted issuer {IDP}:")), "{msg}");
    }
    for bad in ["not json", "{}", r#"{"keys": []}"#] {
        assert!(matches!(
            TrustedIssuer::from_jwks_json(IDP, GW, bad),
            Err(TokenError::Jwks { .. })
        ));
    }
}

#[test]
fn trusted_issuer_cannot_shadow_the_gateway() {
    let (k, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let jwks = json!({"keys": [k.public_jwk()]}).to_string();
    let keys = KeySet {
        current: k,
        previous: vec![],
    };
    let t = TrustedIssuer::from_jwks_json(GW, GW, &jwks).unwrap();
    assert!(matches!(
        SubjectTokenVerifier::new(GW.into(), &keys, vec![t]),
        Err(TokenError::DuplicateIssuer(_))
    ));
}

#[test]
fn certificate_binding_is_read_and_enforced() {
    let f = fixture();
    let mut c = user_claims();
    c["cnf"] = json!({"x5t#S256": "abc"});
    let t = verify(&f, &idp_token(&f, c)).unwrap();
    assert_eq!(t.cnf.as_ref().map(|c| c.x5t_s256.as_str()), Some("abc"));
    assert_eq!(t.check_binding("abc"), Ok(()));
    assert_eq!(t.check_binding("xyz"), Err(TokenError::CertificateMismatch));
    // Unbound tokens pass any connection.
    let t = verify(&f, &idp_token(&f, user_claims())).unwrap();
    assert_eq!(t.check_binding("xyz"), Ok(()));
    // Confirmation methods we cannot check are refused, not ignored.
    for cnf in [
        json!({"jkt": "abc"}),
        json!({"x5t#S256": "abc", "jkt": "abc"}),
        json!({"x5t#S256": 1}),
        json!({"x5t#S256": ""}),
        json!("abc"),
    ] {
        let mut c = user_claims();
        c["cnf"] = cnf.clone();
        assert_eq!(
            verify(&f, &idp_token(&f, c)),
            Err(TokenError::UnsupportedConfirmation),
            "{cnf}"
        );
    }
}

#[path = "verify_cache_tests.rs"]
mod cache;
