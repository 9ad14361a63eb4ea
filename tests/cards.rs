//! Agent Cards at the gateway: the card is the contract (scopes, step-up),
//! served rewritten and signed, in v1.0 and v0.3 form.

mod common;

use common::gateway::{Options, TestGateway, ISSUER};
use common::upstream::{self, Behaviour};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

/// A card requiring the gateway's OAuth token with `calendar:write`, or
/// (second alternative) `calendar:admin`.
fn oauth_card() -> Value {
    json!({
        "securitySchemes": {
            "corp-oauth": {"oauth2SecurityScheme": {"flows": {"clientCredentials": {
                "tokenUrl": format!("{ISSUER}/oauth2/token"),
                "scopes": {"calendar:write": "write", "calendar:admin": "admin"}}}}}
        },
        "securityRequirements": [
            {"schemes": {"corp-oauth": {"list": ["calendar:write"]}}},
            {"schemes": {"corp-oauth": {"list": ["calendar:admin"]}}}
        ]
    })
}

#[tokio::test]
async fn minted_scopes_are_what_the_card_requires_and_missing_ones_get_a_step_up_challenge() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .card("scheduler", oauth_card())
            .allow(
                "orchestrator",
                "scheduler",
                &["calendar:read", "calendar:write"],
                false,
            ),
    )
    .await;
    // The user token lacks calendar:write: 403 naming what would be needed.
    gw.expect_step_up(
        "orchestrator",
        "scheduler",
        "calendar:read",
        "calendar:write",
    )
    .await;
    assert!(up.requests().is_empty());
    // Stepped up: the token carries exactly the card's scope, not every grant.
    assert_eq!(
        gw.forwarded_scope("orchestrator", "scheduler", "calendar:read calendar:write")
            .await,
        "calendar:write"
    );
}

#[tokio::test]
async fn served_card_is_signed_by_the_gateway_and_tampering_breaks_it() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .card("scheduler", oauth_card())
            .allow("orchestrator", "scheduler", &["calendar:write"], false),
    )
    .await;
    let (s, card) = gw
        .get_json(
            "orchestrator",
            "/agents/scheduler/.well-known/agent-card.json",
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, jwks) = gw
        .get_json("orchestrator", "/.well-known/agent-card-jwks.json")
        .await;
    let keys = actgate::cards::sign::keys_from_jwks(&jwks).unwrap();
    actgate::cards::sign::verify_card(&card, &keys)
        .expect("the served card verifies with the card JWKS");
    // What callers are told: mTLS from the accepted trust domain, and the
    // gateway token for delegated calls; interfaces point at the gateway.
    assert!(
        card["securitySchemes"]["gateway-mtls"]["mtlsSecurityScheme"]["description"]
            .as_str()
            .unwrap()
            .contains("example.org")
    );
    assert_eq!(
        card["supportedInterfaces"][0]["url"],
        format!("{}/agents/scheduler/a2a/jsonrpc", gw.base)
    );
    // Removing the mTLS requirement (or anything else) breaks the signature.
    let mut tampered = card.clone();
    tampered["securityRequirements"] = json!([{"schemes": {"gateway-token": {"list": []}}}]);
    assert!(actgate::cards::sign::verify_card(&tampered, &keys).is_err());
    let mut renamed = card.clone();
    renamed["name"] = json!("Evil");
    assert!(actgate::cards::sign::verify_card(&renamed, &keys).is_err());
}

#[tokio::test]
async fn v03_form_etag_and_not_modified() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &[],
        true,
    ))
    .await;
    let (s, v03) = gw
        .get_json("orchestrator", "/agents/scheduler/.well-known/agent.json")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v03["url"],
        format!("{}/agents/scheduler/a2a/jsonrpc", gw.base)
    );
    assert_eq!(v03["preferredTransport"], "JSONRPC");
    assert!(
        v03["securitySchemes"]["gateway-mtls"]["type"] == "mutualTLS",
        "{v03}"
    );

    let url = format!("{}/agents/scheduler/.well-known/agent-card.json", gw.base);
    let client = gw.client("orchestrator");
    let (s, h, _) = client
        .fetch(Method::GET, &url, &HeaderMap::new(), bytes::Bytes::new())
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["cache-control"], "private, max-age=300");
    let etag = h["etag"].clone();
    let mut cond = HeaderMap::new();
    cond.insert("if-none-match", etag);
    let (s, _, body) = client
        .fetch(Method::GET, &url, &cond, bytes::Bytes::new())
        .await
        .unwrap();
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
}

#[tokio::test]
async fn api_key_schemes_get_the_configured_key_and_never_the_callers() {
    let up = upstream::start(Behaviour::Echo).await;
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    std::fs::write(dir.path().join("vault.key"), "s3cret-key\n").unwrap();
    let card = json!({
        "securitySchemes": {"vault-key": {"apiKeySecurityScheme": {"location": "header", "name": "X-Api-Key"}}},
        "securityRequirements": [{"schemes": {"vault-key": {"list": []}}}]
    });
    let gw = TestGateway::start_in(
        dir.path(),
        Options::new()
            .agent("scheduler", &up.url())
            .card("scheduler", card)
            .allow("orchestrator", "scheduler", &[], true)
            .raw(&format!(
                "[[agent.api_key]]\nscheme = \"vault-key\"\nfile = \"{}\"\n",
                dir.path().join("vault.key").display()
            )),
    )
    .await;
    let mut h = HeaderMap::new();
    h.insert("x-api-key", http::HeaderValue::from_static("callers-guess"));
    let (s, _, body) = gw.send_message_with("orchestrator", "scheduler", h).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let seen = &up.requests()[0];
    let keys: Vec<_> = seen.headers.get_all("x-api-key").iter().collect();
    assert_eq!(keys, vec!["s3cret-key"]);
}
