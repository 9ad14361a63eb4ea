use super::*;
use crate::cards::parse_card;
use crate::token::keys::SigningAlgorithm;
use serde_json::json;

const V1: &str = include_str!("testdata/invoice-v1.json");

fn key(alg: SigningAlgorithm) -> (SigningKey, Vec<VerificationKey>) {
    let (k, _) = SigningKey::generate(alg).unwrap();
    let keys = keys_from_jwks(&json!({"keys": [k.public_jwk()]})).unwrap();
    (k, keys)
}

fn signer(k: &SigningKey) -> CardSigner {
    CardSigner::new(
        k.clone(),
        "https://gw.example/.well-known/agent-card-jwks.json".into(),
    )
}

fn signed(card: &Value, k: &SigningKey) -> Value {
    let sig = sign_card(card, &signer(k)).unwrap();
    let mut out = card.clone();
    out["signatures"] = json!([sig]);
    out
}

fn reference() -> Value {
    serde_json::from_str(V1).unwrap()
}

#[test]
fn round_trip_es256_and_eddsa() {
    for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
        let (k, keys) = key(alg);
        let card = signed(&reference(), &k);
        verify_card(&card, &keys).unwrap();
        let sig: AgentCardSignature =
            serde_json::from_value(card["signatures"][0].clone()).unwrap();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&sig.protected).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"alg": alg.jose_name(), "kid": k.kid(), "typ": CARD_JWS_TYP,
                   "jku": "https://gw.example/.well-known/agent-card-jwks.json"})
        );
        if alg == SigningAlgorithm::Es256 {
            assert_eq!(URL_SAFE_NO_PAD.decode(&sig.signature).unwrap().len(), 64);
        }
    }
}

#[test]
fn signature_survives_parsing_into_the_model() {
    let (k, keys) = key(SigningAlgorithm::Es256);
    let card = signed(&reference(), &k);
    let parsed = parse_card(card.to_string().as_bytes()).unwrap();
    verify_card(&parsed.to_value(), &keys).unwrap();
    // Key order and whitespace do not matter.
    let pretty = serde_json::to_string_pretty(&card).unwrap();
    verify_card(&serde_json::from_str(&pretty).unwrap(), &keys).unwrap();
}

#[test]
fn tampering_fails() {
    let (k, keys) = key(SigningAlgorithm::Es256);
    let card = signed(&reference(), &k);
    type Tamper = Box<dyn Fn(&mut Value)>;
    let tampers: Vec<(&str, Tamper)> = vec![
        (
            "url",
            Box::new(|c| c["supportedInterfaces"][0]["url"] = "https://evil.example/a2a".into()),
        ),
        ("name", Box::new(|c| c["name"] = "Invoice Agent!".into())),
        (
            "mTLS requirement term removed",
            Box::new(|c| {
                c["securityRequirements"][0]["schemes"]
                    .as_object_mut()
                    .unwrap()
                    .remove("workload-mtls");
            }),
        ),
        (
            "scope added",
            Box::new(|c| {
                c["skills"][0]["securityRequirements"][0]["schemes"]["corp-oauth"]["list"] =
                    json!(["invoices.read", "x"])
            }),
        ),
        (
            "optional flag set to its default",
            Box::new(|c| c["capabilities"]["pushNotifications"] = false.into()),
        ),
        (
            "vendor member added",
            Box::new(|c| c["x-extra"] = "1".into()),
        ),
    ];
    for (what, tamper) in tampers {
        let mut c = card.clone();
        tamper(&mut c);
        let e = verify_card(&c, &keys).unwrap_err();
        assert!(
            matches!(e, SignatureError::NoValidSignature(_)),
            "{what}: {e}"
        );
    }
}

#[test]
fn sdk_empty_list_spelling_is_the_same_card() {
    let (k, keys) = key(SigningAlgorithm::Es256);
    let mut card = signed(&reference(), &k);
    card["securityRequirements"][0]["schemes"]["workload-mtls"] = json!({});
    verify_card(&card, &keys).unwrap();
}

#[test]
fn only_configured_keys_count() {
    let (k, _) = key(SigningAlgorithm::Es256);
    let (_, other_keys) = key(SigningAlgorithm::Es256);
    let mut card = signed(&reference(), &k);
    // A jku is never fetched: the signer's key is unknown, so it fails.
    card["signatures"][0]["header"] = json!({"jku": "https://evil.example/jwks.json"});
    let e = verify_card(&card, &other_keys).unwrap_err().to_string();
    assert!(e.contains("is not a configured key"), "{e}");

    assert!(matches!(
        verify_card(&reference(), &other_keys),
        Err(SignatureError::Unsigned)
    ));
}

#[test]
fn one_good_signature_among_several_suffices() {
    let (old, _) = key(SigningAlgorithm::Es256);
    let (new, new_keys) = key(SigningAlgorithm::EdDsa);
    let card = reference();
    let mut both = card.clone();
    both["signatures"] = json!([
        sign_card(&card, &signer(&old)).unwrap(),
        sign_card(&card, &signer(&new)).unwrap()
    ]);
    verify_card(&both, &new_keys).unwrap();
}

#[test]
fn header_alg_must_match_the_configured_key() {
    let (k, keys) = key(SigningAlgorithm::Es256);
    let card = signed(&reference(), &k);
    let mut c = card.clone();
    let header = json!({"alg": "RS256", "kid": k.kid(), "typ": "JOSE"});
    c["signatures"][0]["protected"] = URL_SAFE_NO_PAD.encode(header.to_string()).into();
    let e = verify_card(&c, &keys).unwrap_err().to_string();
    assert!(e.contains("does not match the configured"), "{e}");
}

#[test]
fn canonical_form_keeps_required_empties_and_scopeless_terms() {
    let mut card = reference();
    card["description"] = "".into();
    let bytes = String::from_utf8(crate::cards::canonical::canonicalize(&card).unwrap()).unwrap();
    assert!(bytes.contains(r#""description":"""#), "{bytes}");
    // Scope-less term present as `{}` (see `canonical` module docs).
    assert!(bytes.contains(r#""workload-mtls":{}"#), "{bytes}");
    let (k, keys) = key(SigningAlgorithm::Es256);
    verify_card(&signed(&card, &k), &keys).unwrap();
}

#[test]
fn protected_header_is_typed_as_a_card_and_names_the_card_jwks() {
    let (k, _) = key(SigningAlgorithm::Es256);
    let card = signed(&reference(), &k);
    let protected = card["signatures"][0]["protected"].as_str().unwrap();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(protected).unwrap()).unwrap();
    assert_eq!(
        header,
        json!({"alg": "ES256", "kid": k.kid(), "typ": CARD_JWS_TYP,
               "jku": "https://gw.example/.well-known/agent-card-jwks.json"})
    );
    // Not a token type any RFC 9068 / RFC 7519 verifier accepts.
    let typ = CARD_JWS_TYP.to_ascii_lowercase();
    assert!(typ != "jwt" && typ != "at+jwt" && !typ.ends_with("+jwt") && typ != "jose");
}
