//! Interop with a real, certified OpenID Provider (node-oidc-provider, see
//! `tests/common/oidc.rs`): a user logs in through an authorization code +
//! PKCE flow, the provider issues a JWT access token for the gateway as
//! resource, and a running gateway that found the provider's keys by
//! discovery accepts it on a delegated call and at the token endpoint. Key
//! rotation at the provider, the provider down at a refresh, a discovery
//! document naming another issuer, and its alg-less RSA key under an
//! allow-list without RSA, each with the outcome a caller and the agent see.

mod common;

use std::time::Duration;

use common::gateway::{claims, header, id, TestGateway, ISSUER};
use common::idp::{call, fetch_failures, gateway_with, readyz, until_ready};
use common::oidc::{OidcProvider, CLIENT_ID, SCOPE};
use common::upstream::TestUpstream;
use http::StatusCode;

/// A gateway trusting `p` as `[[subject_issuer]]` found by discovery at
/// `configured` (the provider's own issuer unless a test says otherwise).
async fn gateway(p: &OidcProvider, configured: &str, extra: &str) -> (TestGateway, TestUpstream) {
    // oidc-provider's RSA keys carry no `alg`: the allow-list names it.
    gateway_allowing(p, configured, p.alg, extra).await
}

/// The same with only `alg` in the issuer's `algorithms`.
async fn gateway_allowing(
    p: &OidcProvider,
    configured: &str,
    alg: &str,
    extra: &str,
) -> (TestGateway, TestUpstream) {
    gateway_with(&format!(
        "[[subject_issuer]]\nissuer = \"{configured}\"\ndiscovery = true\nca = \"{}\"\n\
         audience = \"{ISSUER}\"\nalgorithms = [\"{alg}\"]\nmin_refresh_interval = \"1s\"\n{extra}\n",
        p.ca_path.display(),
    ))
    .await
}

/// The provider's token as the test expects it: signed with `alg` and the
/// provider's current key, for `user`, the gateway and the client.
fn assert_issued(p: &OidcProvider, token: &str, user: &str) {
    let (h, c) = (header(token), claims(token));
    assert_eq!(h["alg"], p.alg, "{h}");
    assert_eq!(h["kid"], p.kid(), "{h}");
    assert_eq!(h["typ"], "at+jwt", "{h}");
    assert_eq!(c["iss"], p.issuer.as_str(), "{c}");
    assert_eq!(c["sub"], user, "{c}");
    assert_eq!(c["aud"], ISSUER, "{c}");
    assert_eq!(c["client_id"], CLIENT_ID, "{c}");
    assert_eq!(c["scope"], SCOPE, "{c}");
}

/// A delegated call with the user's `token` succeeds, and the agent
/// receives the gateway's token for `user` acting through the orchestrator.
async fn assert_delegated(gw: &TestGateway, up: &TestUpstream, token: &str, user: &str) {
    let before = up.requests().len();
    let (s, body) = call(gw, token).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let seen = up.requests();
    assert_eq!(seen.len(), before + 1, "the agent got the call");
    let auth = seen[before].headers["authorization"].to_str().unwrap();
    let forwarded = auth.strip_prefix("Bearer ").unwrap();
    assert_ne!(forwarded, token, "the user's token is not passed through");
    let c = claims(forwarded);
    assert_eq!(c["iss"], ISSUER, "{c}");
    assert_eq!(c["sub"], user, "{c}");
    assert_eq!(
        c["act"],
        serde_json::json!({"sub": id("orchestrator")}),
        "{c}"
    );
    assert_eq!(c["scope"], SCOPE, "{c}");
}

async fn a_user_token_is_accepted_on_a_delegated_call(alg: &'static str) {
    let p = OidcProvider::start(alg).await;
    let (gw, up) = gateway(&p, &p.issuer, "").await;
    assert_eq!(until_ready(&gw).await, "ready\n");
    let token = p.user_token("alice").await;
    assert_issued(&p, &token, "alice");
    assert_delegated(&gw, &up, &token, "alice").await;
    assert_eq!(fetch_failures(&gw, &p.issuer), 0, "{}", gw.metrics());
}

#[tokio::test]
async fn an_rs256_user_token_from_oidc_provider_is_accepted_on_a_delegated_call() {
    a_user_token_is_accepted_on_a_delegated_call("RS256").await;
}

#[tokio::test]
async fn an_es256_user_token_from_oidc_provider_is_accepted_on_a_delegated_call() {
    a_user_token_is_accepted_on_a_delegated_call("ES256").await;
}

#[tokio::test]
async fn a_key_rotation_at_the_provider_is_picked_up_without_a_failed_call() {
    let mut p = OidcProvider::start("RS256").await;
    // No periodic refresh during the test: only the new kid makes it fetch.
    let (gw, up) = gateway(&p, &p.issuer, "refresh = \"1h\"").await;
    until_ready(&gw).await;
    let (used, unused) = (p.user_token("alice").await, p.user_token("bob").await);
    assert_delegated(&gw, &up, &used, "alice").await;

    // The provider rotates: restarted with a new key set, the old key gone.
    let old_kid = p.kid().to_owned();
    p.new_key_set();
    p.restart().await;
    let fresh = p.user_token("carol").await;
    assert_issued(&p, &fresh, "carol");
    assert_ne!(header(&fresh)["kid"], old_kid.as_str());
    // Its first token once min_refresh_interval has passed since the
    // gateway's last fetch: fetched while the call waits, and accepted.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_delegated(&gw, &up, &fresh, "carol").await;
    assert_eq!(fetch_failures(&gw, &p.issuer), 0, "{}", gw.metrics());

    // The removed key verifies nothing once the gateway has refreshed: not
    // the token it had accepted (and cached), nor one it never saw.
    for t in [&used, &unused] {
        let (s, body) = call(&gw, t).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    }
    assert_eq!(
        up.requests().len(),
        2,
        "only the two accepted calls arrived"
    );
}

#[tokio::test]
async fn a_provider_down_at_a_refresh_leaves_the_last_good_keys_in_service() {
    let mut p = OidcProvider::start("ES256").await;
    let (gw, up) = gateway(&p, &p.issuer, "refresh = \"1s\"").await;
    until_ready(&gw).await;
    // Never presented before the provider goes down, so no cached
    // verification can accept it: only the keys can.
    let token = p.user_token("alice").await;
    p.stop().await;
    let mut failures = 0;
    for _ in 0..100 {
        failures = fetch_failures(&gw, &p.issuer);
        if failures > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failures > 0, "no failed refresh counted:\n{}", gw.metrics());
    assert_delegated(&gw, &up, &token, "alice").await;
    assert_eq!(readyz(&gw).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused_with_that_message() {
    // The provider says its issuer is a realm under its URL; the gateway is
    // configured with the URL itself and finds the document there.
    let p = OidcProvider::start_naming("RS256", "/realms/other").await;
    let (gw, up) = gateway(&p, &p.url, "startup_timeout = \"1s\"").await;
    let expected = format!(
        "issuer mismatch: document says \"{}\", config says \"{}\"",
        p.issuer, p.url
    );
    // After its startup timeout the gateway is ready, naming the issuer
    // it could not use and why.
    let body = until_ready(&gw).await;
    assert!(
        body.contains(&format!("issuer {} unavailable", p.url)),
        "{body}"
    );
    assert!(body.contains(&expected), "{body}");
    // The provider's tokens (of the issuer its document names) are
    // refused: the document did not make the gateway trust that issuer.
    let token = p.user_token("alice").await;
    assert_eq!(claims(&token)["iss"], p.issuer.as_str());
    let (s, body) = call(&gw, &token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn rsa_keys_without_alg_are_not_used_when_the_allow_list_names_no_rsa_algorithm() {
    // oidc-provider publishes its RSA key without `alg`; an issuer allowed
    // ES256 only must not guess RS256 for it.
    let p = OidcProvider::start("RS256").await;
    let (gw, up) = gateway_allowing(&p, &p.issuer, "ES256", "startup_timeout = \"1s\"").await;
    let body = until_ready(&gw).await;
    assert!(
        body.contains(&format!("issuer {} unavailable", p.issuer)),
        "{body}"
    );
    assert!(body.contains("no usable signing key"), "{body}");
    let (s, body) = call(&gw, &p.user_token("alice").await).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn a_user_token_from_oidc_provider_is_exchanged_at_the_token_endpoint() {
    let p = OidcProvider::start("ES256").await;
    let (gw, _up) = gateway(&p, &p.issuer, "").await;
    until_ready(&gw).await;
    let token = p.user_token("alice").await;
    let pairs = common::exchange::request(&token, "scheduler", &[]);
    let a = gw.exchange("orchestrator", &pairs).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let c = claims(&a.token());
    assert_eq!(c["sub"], "alice", "{c}");
    assert_eq!(
        c["act"],
        serde_json::json!({"sub": id("orchestrator")}),
        "{c}"
    );
    assert_eq!(c["scope"], SCOPE, "{c}");
}
