//! `[[subject_issuer]]` keys fetched by URL, end to end: a real HTTPS IdP on
//! 127.0.0.1 (discovery and JWKS, a CA per test) and a real gateway doing
//! delegated calls. Key rotation, an IdP that is down, a discovery document
//! naming another issuer, readiness before the first fetch, and garbage
//! tokens that must never make the gateway fetch.

mod common;

use std::time::Duration;

use common::gateway::{claims, echoed_token, id, Options, TestGateway, ISSUER};
use common::idp::{call, fetch_failures, gateway_with, jwks, readyz, until_ready, IdpKey, TestIdp};
use common::upstream::TestUpstream;
use http::StatusCode;

/// The IdP as a `[[subject_issuer]]`, found by discovery; `extra` lines added.
fn issuer_block(idp: &TestIdp, extra: &str) -> String {
    format!(
        "[[subject_issuer]]\nissuer = \"{}\"\ndiscovery = true\nca = \"{}\"\naudience = \"{ISSUER}\"\nalgorithms = [\"RS256\", \"ES256\"]\nmin_refresh_interval = \"1s\"\n{extra}\n",
        idp.url,
        idp.ca_path.display()
    )
}

async fn gateway(idp: &TestIdp, extra: &str) -> (TestGateway, TestUpstream) {
    gateway_with(&issuer_block(idp, extra)).await
}

#[tokio::test]
async fn rs256_and_es256_user_tokens_from_a_discovered_key_set_are_accepted() {
    let (rsa, ec) = (IdpKey::rsa("rsa-1"), IdpKey::ec());
    let idp = TestIdp::start(jwks(&[&rsa, &ec])).await;
    let (gw, _up) = gateway(&idp, "").await;
    assert_eq!(until_ready(&gw).await, "ready\n");
    assert_eq!(
        idp.requests(),
        ["/.well-known/openid-configuration", "/jwks"],
        "discovery, then the key set"
    );
    for (key, user) in [(&rsa, "alice@example.com"), (&ec, "bob@example.com")] {
        let (s, body) = call(&gw, &idp.user_token(key, user)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let c = claims(&echoed_token(&body));
        assert_eq!(c["sub"], user);
        assert_eq!(c["act"], serde_json::json!({"sub": id("orchestrator")}));
    }
    let m = gw.metrics();
    assert!(
        m.contains(&format!("actgate_issuer_keys{{issuer=\"{}\"}} 2", idp.url)),
        "{m}"
    );
    assert_eq!(fetch_failures(&gw, &idp.url), 0, "{m}");

    // Tokens that fail the cheap checks never make the gateway fetch.
    let before = idp.requests().len();
    let other_issuer = {
        let now = actgate::unix_now();
        rsa.sign(
            &serde_json::json!({"iss": "https://elsewhere.example", "sub": "x",
            "aud": ISSUER, "iat": now, "exp": now + 600}),
        )
    };
    for garbage in ["not-a-jwt", "a.b.c", other_issuer.as_str()] {
        let (s, body) = call(&gw, garbage).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    }
    assert_eq!(idp.requests().len(), before, "{:?}", idp.requests());
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_on_its_first_token_and_the_removed_key_is_refused() {
    let (old, new) = (IdpKey::rsa("2026-01"), IdpKey::rsa("2026-02"));
    let idp = TestIdp::start(jwks(&[&old])).await;
    let (gw, _up) = gateway(&idp, "refresh = \"1h\"").await;
    until_ready(&gw).await;
    let old_token = idp.user_token(&old, "alice@example.com");
    assert_eq!(call(&gw, &old_token).await.0, StatusCode::OK);

    // The IdP rotates: the new key in, the old one out.
    idp.set_keys(&[&new]);
    // The first token with the new kid once min_refresh_interval has
    // passed: the gateway fetches while the call waits, and it succeeds.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fetches = idp.jwks_fetches();
    let (s, body) = call(&gw, &idp.user_token(&new, "alice@example.com")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(idp.jwks_fetches(), fetches + 1);

    // The removed key no longer verifies, not even the token the gateway
    // had verified (and cached) before the rotation.
    for t in [old_token, idp.user_token(&old, "alice@example.com")] {
        let (s, body) = call(&gw, &t).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    }
}

#[tokio::test]
async fn an_unknown_kid_fetches_at_most_once_per_min_refresh_interval() {
    let key = IdpKey::ec();
    let idp = TestIdp::start(jwks(&[&key])).await;
    let (gw, _up) = gateway(&idp, "refresh = \"1h\"").await;
    until_ready(&gw).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fetches = idp.jwks_fetches();
    // Well-formed tokens of the configured issuer with kids it never had.
    let stranger = IdpKey::ec();
    for _ in 0..5 {
        let (s, _) = call(&gw, &idp.user_token(&stranger, "mallory")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(idp.jwks_fetches(), fetches + 1, "{:?}", idp.requests());
}

#[tokio::test]
async fn an_idp_down_at_refresh_leaves_the_last_good_keys_in_service() {
    let key = IdpKey::ec();
    let idp = TestIdp::start(jwks(&[&key])).await;
    let (gw, _up) = gateway(&idp, "refresh = \"1s\"").await;
    until_ready(&gw).await;
    idp.set_down(true);
    let mut counted = false;
    for _ in 0..100 {
        if fetch_failures(&gw, &idp.url) > 0 {
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(counted, "{}", gw.metrics());
    let (s, body) = call(&gw, &idp.user_token(&key, "alice@example.com")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(readyz(&gw).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused_with_that_message() {
    let key = IdpKey::ec();
    let idp = TestIdp::start(jwks(&[&key])).await;
    idp.state.lock().unwrap().document_issuer = Some("https://impostor.example".into());
    let (gw, _up) = gateway(&idp, "startup_timeout = \"1s\"").await;
    let expected = format!(
        "issuer mismatch: document says \"https://impostor.example\", config says \"{}\"",
        idp.url
    );
    // After its startup timeout the gateway is ready, naming the issuer.
    let body = until_ready(&gw).await;
    assert!(
        body.contains(&format!("issuer {} unavailable", idp.url)),
        "{body}"
    );
    assert!(body.contains(&expected), "{body}");
    assert!(!idp.requests().contains(&"/jwks".to_string()));
    // Its tokens get 401 with a fixed reason: the fetch error (URLs,
    // addresses, what the IdP's document says) is for /readyz and the log.
    let (s, body) = call(&gw, &idp.user_token(&key, "alice@example.com")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body.to_string().contains("issuer keys unavailable"),
        "{body}"
    );
    for detail in ["issuer mismatch", "impostor", "localhost"] {
        assert!(!body.to_string().contains(detail), "{detail}: {body}");
    }
}

#[tokio::test]
async fn readiness_waits_for_the_first_fetch_of_each_issuer() {
    let key = IdpKey::ec();
    let idp = TestIdp::start(jwks(&[&key])).await;
    idp.set_down(true);
    let (gw, _up) = gateway(&idp, "startup_timeout = \"1h\"").await;
    let (s, body) = readyz(&gw).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        format!(
            "not ready: waiting for the first fetch of the keys of issuer {}\n",
            idp.url
        )
    );
    idp.set_down(false);
    // Retried after min_refresh_interval: then ready, and tokens verify.
    assert_eq!(until_ready(&gw).await, "ready\n");
    let (s, body) = call(&gw, &idp.user_token(&key, "alice@example.com")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_reload_keeps_the_keys_of_an_unchanged_issuer() {
    let key = IdpKey::ec();
    let idp = TestIdp::start(jwks(&[&key])).await;
    let (gw, _up) = gateway(&idp, "refresh = \"1h\"").await;
    until_ready(&gw).await;
    let before = idp.requests().len();
    gw.reload().unwrap();
    assert_eq!(readyz(&gw).await.0, StatusCode::OK);
    let (s, body) = call(&gw, &idp.user_token(&key, "alice@example.com")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(idp.requests().len(), before, "no refetch on reload");
}

#[test]
fn config_check_refuses_plain_http_keys_and_ambiguous_sources() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let o = Options::new().raw(
        "[[subject_issuer]]\nissuer = \"https://idp2.example.com\"\njwks_uri = \"http://idp2.example.com/jwks\"\naudience = \"x\"\n\n\
         [[subject_issuer]]\nissuer = \"https://idp3.example.com\"\njwks_uri = \"https://idp3.example.com/jwks\"\ndiscovery = true\naudience = \"x\"\n\n\
         [[subject_issuer]]\nissuer = \"http://idp4.example.com\"\ndiscovery = true\naudience = \"x\"\nalgorithms = [\"HS256\"]\n",
    );
    let text = common::gateway::config_text(dir.path(), &o);
    std::fs::write(dir.path().join("gw.toml"), text).unwrap();
    let out = common::cli::actgate(dir.path(), &["config", "check", "--config", "gw.toml"]);
    assert!(!out.status.success());
    let err = common::cli::text(&out.stderr);
    for expected in [
        "subject_issuer[1].jwks_uri: \"http://idp2.example.com/jwks\" is plain http to a non-loopback address",
        "subject_issuer[2]: exactly one of `jwks` (a file), `jwks_uri` and `discovery = true`",
        "subject_issuer[3].algorithms: \"HS256\" is not one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA",
        "subject_issuer[3].issuer: with discovery = true: \"http://idp4.example.com\" is plain http",
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
}

#[test]
fn config_check_refuses_a_min_refresh_interval_under_a_second() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let o = Options::new().raw(
        "[[subject_issuer]]\nissuer = \"https://idp5.example.com\"\ndiscovery = true\naudience = \"x\"\nmin_refresh_interval = \"100ms\"\n",
    );
    let text = common::gateway::config_text(dir.path(), &o);
    std::fs::write(dir.path().join("gw.toml"), text).unwrap();
    let out = common::cli::actgate(dir.path(), &["config", "check", "--config", "gw.toml"]);
    assert!(!out.status.success());
    let err = common::cli::text(&out.stderr);
    assert!(
        err.contains("subject_issuer[1].min_refresh_interval: must be at least \"1s\""),
        "{err}"
    );
}

/// A token exchange of `token` for a token to the scheduler.
async fn exchange(gw: &TestGateway, token: &str) -> common::exchange::Answer {
    let pairs = common::exchange::request(token, "scheduler", &[]);
    gw.exchange("orchestrator", &pairs).await
}

#[tokio::test]
async fn the_token_endpoint_also_waits_for_a_rotated_key() {
    let (old, new) = (IdpKey::rsa("k1"), IdpKey::ec());
    let idp = TestIdp::start(jwks(&[&old])).await;
    let (gw, _up) = gateway(&idp, "refresh = \"1h\"").await;
    until_ready(&gw).await;
    let a = exchange(&gw, &idp.user_token(&old, "alice@example.com")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    idp.set_keys(&[&new]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let a = exchange(&gw, &idp.user_token(&new, "alice@example.com")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(claims(&a.token())["sub"], "alice@example.com");
    let a = exchange(&gw, &idp.user_token(&old, "alice@example.com")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
}

#[tokio::test]
async fn claims_are_mapped_as_the_issuer_config_says() {
    let key = IdpKey::rsa("entra-1");
    let idp = TestIdp::start(jwks(&[&key])).await;
    // Entra-like: the user is `oid`, scopes in `scp`, tenant `tid` required,
    // two accepted audiences; keys from a jwks_uri.
    let (gw, _up) = gateway_with(&format!(
        "[[subject_issuer]]\nissuer = \"{u}\"\njwks_uri = \"{u}/jwks\"\nca = \"{ca}\"\n\
         audience = [\"api://gateway\", \"{ISSUER}\"]\nalgorithms = [\"RS256\"]\n\
         scope_claim = \"scp\"\nsubject_claim = \"oid\"\nrequired_claims = [\"tid\"]\n",
        u = idp.url,
        ca = idp.ca_path.display()
    ))
    .await;
    until_ready(&gw).await;
    let token = |extra: serde_json::Value| {
        let now = actgate::unix_now();
        let mut c = serde_json::json!({"iss": idp.url, "sub": "pairwise-x", "oid": "obj-1",
            "tid": "tenant-1", "aud": "api://gateway", "iat": now, "exp": now + 600,
            "scp": "calendar:write calendar:read"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        key.sign(&c)
    };
    // A space-separated `scp` and an array (Okta) alike.
    for scp in [
        serde_json::json!("calendar:write calendar:read"),
        serde_json::json!(["calendar:write"]),
    ] {
        let (s, body) = call(&gw, &token(serde_json::json!({ "scp": scp }))).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let c = claims(&echoed_token(&body));
        assert_eq!(c["sub"], "obj-1");
        assert_eq!(c["scope"], "calendar:write");
    }
    // The other configured audience is accepted too.
    let (s, body) = call(&gw, &token(serde_json::json!({ "aud": ISSUER }))).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    for (extra, why) in [
        (serde_json::json!({"tid": null}), "tid"),
        (serde_json::json!({"oid": null}), "oid"),
        (serde_json::json!({"scp": 7}), "scp"),
        (serde_json::json!({"aud": "api://other"}), "audience"),
    ] {
        let (s, body) = call(&gw, &token(extra.clone())).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{extra}: {body}");
        assert!(body.to_string().contains(why), "{extra}: {body}");
    }
}

/// One hand-made token of each shape real IdPs send
/// (`../shared/reference/identity-providers.md` §4), each accepted by an
/// issuer configured as its README example says.
#[tokio::test]
async fn the_token_shapes_of_keycloak_entra_okta_and_auth0_are_accepted() {
    let key = IdpKey::rsa("shared");
    let dir = tempfile::tempdir().unwrap();
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, jwks(&[&key]).to_string()).unwrap();
    let tid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let shapes: Vec<(&str, String, serde_json::Value)> = vec![
        // Keycloak: typ JWT, no client_id, azp.
        (
            "",
            "https://kc.example/realms/acme".into(),
            serde_json::json!({"sub": "u-kc", "azp": "web", "aud": ISSUER, "scope": "calendar:write", "jti": "k1"}),
        ),
        // Entra v1: the sts issuer with a trailing slash, oid/tid/scp, no jti.
        (
            "scope_claim = \"scp\"\nsubject_claim = \"oid\"\nrequired_claims = [\"tid\"]\n",
            format!("https://sts.windows.net/{tid}/"),
            serde_json::json!({"sub": "p", "oid": "u-e1", "tid": tid, "aud": ISSUER, "ver": "1.0", "scp": "calendar:write"}),
        ),
        // Entra v2: the v2.0 issuer, azp, no jti.
        (
            "scope_claim = \"scp\"\nsubject_claim = \"oid\"\nrequired_claims = [\"tid\"]\n",
            format!("https://login.microsoftonline.com/{tid}/v2.0"),
            serde_json::json!({"sub": "p", "oid": "u-e2", "tid": tid, "aud": ISSUER, "ver": "2.0", "azp": "c", "scp": "calendar:write"}),
        ),
        // Okta: scp as an array, cid.
        (
            "scope_claim = \"scp\"\n",
            "https://acme.okta.com/oauth2/default".into(),
            serde_json::json!({"sub": "u-ok", "cid": "c", "aud": ISSUER, "jti": "AT.1", "scp": ["calendar:write"]}),
        ),
        // Auth0: issuer ends in '/', aud an array with /userinfo.
        (
            "",
            "https://acme.auth0.com/".into(),
            serde_json::json!({"sub": "auth0|u-a0", "azp": "c", "aud": [ISSUER, "https://acme.auth0.com/userinfo"], "scope": "openid calendar:write"}),
        ),
    ];
    let blocks: String = shapes
        .iter()
        .map(|(extra, iss, _)| {
            format!(
                "[[subject_issuer]]\nissuer = \"{iss}\"\njwks = \"{}\"\naudience = \"{ISSUER}\"\nalgorithms = [\"RS256\"]\n{extra}\n",
                jwks_file.display()
            )
        })
        .collect();
    let (gw, _up) = gateway_with(&blocks).await;
    for (_, iss, claims_of) in &shapes {
        let now = actgate::unix_now();
        let mut c = claims_of.clone();
        c["iss"] = iss.as_str().into();
        c["iat"] = now.into();
        c["exp"] = (now + 600).into();
        let (s, body) = call(&gw, &key.sign(&c)).await;
        assert_eq!(s, StatusCode::OK, "{iss}: {body}");
        let minted = claims(&echoed_token(&body));
        let user = c.get("oid").unwrap_or(&c["sub"]);
        assert_eq!(&minted["sub"], user, "{iss}");
        assert_eq!(minted["scope"], "calendar:write", "{iss}");
    }
}

#[tokio::test]
async fn a_refetch_reuses_the_discovered_key_set_url() {
    let (old, new) = (IdpKey::rsa("r1"), IdpKey::rsa("r2"));
    let idp = TestIdp::start(jwks(&[&old])).await;
    let (gw, _up) = gateway(&idp, "refresh = \"1h\"").await;
    until_ready(&gw).await;
    idp.set_keys(&[&new]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, body) = call(&gw, &idp.user_token(&new, "alice@example.com")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // The rotation cost one document, the key set: discovery is not
    // fetched again within `refresh`.
    assert_eq!(
        idp.requests(),
        ["/.well-known/openid-configuration", "/jwks", "/jwks"]
    );
    // A key set fetch that fails makes the next fetch discover again.
    idp.set_down(true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, _) = call(&gw, &idp.user_token(&IdpKey::ec(), "mallory")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    idp.set_down(false);
    // The refresher retries a failed fetch after min_refresh_interval.
    for _ in 0..100 {
        if idp.requests().len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        idp.requests(),
        [
            "/.well-known/openid-configuration",
            "/jwks",
            "/jwks",
            "/.well-known/openid-configuration",
            "/jwks"
        ]
    );
}
