use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use super::*;

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn rsa_jwk(size: KeySize) -> Value {
    let k = RsaKeyPair::generate(size).unwrap();
    let pk = k.public_key();
    json!({"kty": "RSA", "kid": "r",
        "n": b64(pk.modulus().big_endian_without_leading_zero()),
        "e": b64(pk.exponent().big_endian_without_leading_zero())})
}

fn ec_jwk(alg: &'static aws_lc_rs::signature::EcdsaSigningAlgorithm, crv: &str) -> Value {
    let doc = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).unwrap();
    let k = EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).unwrap();
    let point = k.public_key().as_ref();
    let n = (point.len() - 1) / 2;
    json!({"kty": "EC", "crv": crv, "kid": "e",
        "x": b64(&point[1..=n]), "y": b64(&point[n + 1..])})
}

fn ed_jwk() -> Value {
    let doc = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let k = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    json!({"kty": "OKP", "crv": "Ed25519", "kid": "d", "x": b64(k.public_key().as_ref())})
}

fn with(mut jwk: Value, member: &str, v: &str) -> Value {
    jwk[member] = v.into();
    jwk
}

fn accept() -> Acceptance {
    Acceptance {
        audiences: vec!["a".into()],
        require_sub: true,
    }
}

fn alg_of(jwk: &Value, allowed: Option<&[Algorithm]>) -> Result<Algorithm, JwkError> {
    parse_jwk_allowing(jwk, allowed, None).map(|(_, a, _)| a)
}

#[test]
fn every_supported_algorithm_parses_from_its_jwk() {
    let rsa = rsa_jwk(KeySize::Rsa2048);
    for name in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        let a = alg_of(&with(rsa.clone(), "alg", name), None).unwrap();
        assert_eq!(jose_name(a), name);
    }
    let p256 = ec_jwk(&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256");
    let p384 = ec_jwk(&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384");
    // Without `alg`, the curve says it; with it, it must agree.
    assert_eq!(alg_of(&p256, None).unwrap(), Algorithm::ES256);
    assert_eq!(alg_of(&p384, None).unwrap(), Algorithm::ES384);
    assert_eq!(alg_of(&ed_jwk(), None).unwrap(), Algorithm::EdDSA);
    assert_eq!(
        alg_of(&with(p384.clone(), "alg", "ES384"), None).unwrap(),
        Algorithm::ES384
    );
    assert!(matches!(
        alg_of(&with(p384, "alg", "ES256"), None),
        Err(JwkError::AlgMismatch { .. })
    ));
    assert!(matches!(
        alg_of(&with(rsa, "alg", "ES256"), None),
        Err(JwkError::RsaAlg(_))
    ));
    let names: Vec<String> = SUPPORTED.iter().map(|a| jose_name(*a)).collect();
    assert_eq!(
        names,
        ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
    );
    assert_eq!(algorithm("PS384"), Some(Algorithm::PS384));
    assert_eq!(algorithm("HS256"), None);
    assert_eq!(algorithm("rs256"), None);
}

#[test]
fn an_rsa_key_without_alg_needs_the_allow_list() {
    let rsa = rsa_jwk(KeySize::Rsa2048);
    // RSA alone does not say PKCS#1 or PSS, nor the hash: no guess.
    assert!(matches!(alg_of(&rsa, None), Err(JwkError::RsaNoAlg)));
    assert!(matches!(
        alg_of(&rsa, Some(&[Algorithm::ES256])),
        Err(JwkError::RsaNoAlg)
    ));
    // The first RSA algorithm of the allow-list.
    assert_eq!(
        alg_of(
            &rsa,
            Some(&[Algorithm::ES256, Algorithm::PS256, Algorithm::RS256])
        )
        .unwrap(),
        Algorithm::PS256
    );
    // JWT-SVID bundles keep their RS256 default.
    assert_eq!(parse_jwk(&rsa).unwrap().1, Algorithm::RS256);
}

#[test]
fn the_allow_list_refuses_other_algorithms() {
    let p256 = ec_jwk(&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256");
    assert!(matches!(
        alg_of(&p256, Some(&[Algorithm::RS256])),
        Err(JwkError::NotAllowed(Algorithm::ES256))
    ));
    let rsa = with(rsa_jwk(KeySize::Rsa2048), "alg", "RS512");
    assert!(matches!(
        alg_of(&rsa, Some(&[Algorithm::RS256])),
        Err(JwkError::NotAllowed(Algorithm::RS512))
    ));
}

#[test]
fn rsa_keys_under_2048_bits_are_refused() {
    // 1024-bit modulus (leading zero bytes do not count).
    let mut n = vec![0u8, 0u8];
    n.extend([0xc3u8; 128]);
    let short = json!({"kty": "RSA", "alg": "RS256", "n": b64(&n), "e": "AQAB"});
    assert!(matches!(
        alg_of(&short, None),
        Err(JwkError::RsaTooShort(1024))
    ));
    assert!(alg_of(&with(rsa_jwk(KeySize::Rsa3072), "alg", "PS512"), None).is_ok());
}

#[test]
fn a_fetched_set_leaves_out_what_it_cannot_use_a_file_does_not() {
    let sig = with(
        ec_jwk(&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"),
        "kid",
        "s",
    );
    let enc = with(
        with(rsa_jwk(KeySize::Rsa2048), "use", "enc"),
        "alg",
        "RSA-OAEP",
    );
    let jwks = json!({"keys": [enc, sig]}).to_string();
    let (keys, skipped) = key_set(
        "https://i",
        &accept(),
        jwks.as_bytes(),
        None,
        Strictness::UsableKeys,
    )
    .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid.as_deref(), Some("s"));
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    let err = key_set(
        "https://i",
        &accept(),
        jwks.as_bytes(),
        None,
        Strictness::EveryKey,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("JWKS key #0"), "{err}");

    // Nothing usable left: refused, saying why.
    let only_enc = json!({"keys": [with(rsa_jwk(KeySize::Rsa2048), "use", "enc")]}).to_string();
    let err = key_set(
        "https://i",
        &accept(),
        only_enc.as_bytes(),
        None,
        Strictness::UsableKeys,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("no usable signing key"), "{err}");

    // Private key material refuses the whole set, fetched or not.
    let private = json!({"keys": [
        ec_jwk(&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"),
        {"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}]})
    .to_string();
    let err = key_set(
        "https://i",
        &accept(),
        private.as_bytes(),
        None,
        Strictness::UsableKeys,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("private key"), "{err}");
}

/// A signature by each algorithm's private key verifies with the key parsed
/// from its public JWK, under the pinned algorithm only.
#[test]
fn each_algorithm_verifies_its_own_signatures() {
    use aws_lc_rs::signature as sig;
    let msg = b"header.payload";
    let rng = SystemRandom::new();
    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let rsa_jwk_of = |alg: &str| {
        let pk = rsa.public_key();
        json!({"kty": "RSA", "alg": alg,
            "n": b64(pk.modulus().big_endian_without_leading_zero()),
            "e": b64(pk.exponent().big_endian_without_leading_zero())})
    };
    let mut cases: Vec<(Value, Vec<u8>)> = Vec::new();
    let rsa_cases: [(&str, &'static dyn sig::RsaEncoding); 6] = [
        ("RS256", &sig::RSA_PKCS1_SHA256),
        ("RS384", &sig::RSA_PKCS1_SHA384),
        ("RS512", &sig::RSA_PKCS1_SHA512),
        ("PS256", &sig::RSA_PSS_SHA256),
        ("PS384", &sig::RSA_PSS_SHA384),
        ("PS512", &sig::RSA_PSS_SHA512),
    ];
    for (name, enc) in rsa_cases {
        let mut s = vec![0u8; rsa.public_modulus_len()];
        rsa.sign(enc, &rng, msg, &mut s).unwrap();
        cases.push((rsa_jwk_of(name), s));
    }
    for (alg, crv) in [
        (&sig::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"),
        (&sig::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384"),
    ] {
        let doc = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let k = EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).unwrap();
        let point = k.public_key().as_ref();
        let n = (point.len() - 1) / 2;
        let jwk =
            json!({"kty": "EC", "crv": crv, "x": b64(&point[1..=n]), "y": b64(&point[n + 1..])});
        cases.push((jwk, k.sign(&rng, msg).unwrap().as_ref().to_vec()));
    }
    let doc = Ed25519KeyPair::generate_pkcs8v1(&rng).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    cases.push((
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key().as_ref())}),
        ed.sign(msg).as_ref().to_vec(),
    ));
    let mut seen = Vec::new();
    for (jwk, signature) in cases {
        let (_, alg, key) = parse_jwk_allowing(&jwk, None, None).unwrap();
        let s = b64(&signature);
        assert!(
            jsonwebtoken::crypto::verify(&s, msg, &key, alg).unwrap(),
            "{alg:?}"
        );
        assert!(
            !jsonwebtoken::crypto::verify(&s, b"other.payload", &key, alg).unwrap(),
            "{alg:?}"
        );
        seen.push(alg);
    }
    assert_eq!(seen, SUPPORTED);
}

#[test]
fn a_key_sets_strings_are_capped_in_the_messages_about_its_keys() {
    // An IdP (or whoever answers for it) could put 256 KiB into one field;
    // these messages are logged and printed.
    let long = "x".repeat(100_000);
    let set = json!({"keys": [
        {"kty": long, "crv": long},
        {"kty": "EC", "crv": "P-256", "use": long},
        {"kty": "RSA", "n": b64(&[1u8; 256]), "e": "AQAB", "alg": long},
    ]});
    let err = key_set(
        "https://idp",
        &accept(),
        set.to_string().as_bytes(),
        None,
        Strictness::UsableKeys,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.len() < 600, "{} bytes: {}", err.len(), &err[..600]);
    for part in ["JWKS key #0", "JWKS key #1", "JWKS key #2"] {
        assert!(err.contains(part), "{err}");
    }
}
