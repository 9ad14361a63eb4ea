//! Cards fetched from the upstream itself: refreshed on an interval, the
//! last good card kept through failures and reloads, upstream signatures
//! verified with the configured keys, and an agent without a usable card
//! unavailable (503) rather than served from an unverified one.

mod common;

use std::time::Duration;

use actgate::cards::sign::{keys_from_jwks, sign_card, verify_card, CardSigner};
use actgate::token::{SigningAlgorithm, SigningKey};
use common::gateway::{Options, TestGateway};
use common::upstream::{self, Behaviour, TestUpstream};
use http::StatusCode;
use serde_json::{json, Value};

const CARD: &str = "/agents/scheduler/.well-known/agent-card.json";

/// The card the upstream publishes, with one skill `skill`.
fn upstream_card(up: &TestUpstream, skill: &str) -> Value {
    json!({
        "name": "scheduler", "description": "books meetings", "version": "2.0.0",
        "supportedInterfaces": [
            {"url": format!("{}/a2a/jsonrpc", up.url()), "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {"streaming": true},
        "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
        "skills": [{"id": skill, "name": skill, "description": "d", "tags": []}]
    })
}

fn skill_ids(card: &Value) -> Vec<String> {
    card["skills"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn signed(card: &Value, key: &SigningKey) -> Value {
    // The agent's own signature; its `jku` is never fetched by the gateway.
    let signer = CardSigner::new(key.clone(), "https://agent.example/jwks.json".into());
    let sig = sign_card(card, &signer).unwrap();
    let mut out = card.clone();
    out["signatures"] = json!([serde_json::to_value(sig).unwrap()]);
    out
}

/// Poll the served card until `pred` holds (refreshes run every 200 ms).
async fn wait_for_card(gw: &TestGateway, what: &str, pred: impl Fn(StatusCode, &Value) -> bool) {
    for _ in 0..100 {
        let (s, card) = gw.get_json("orchestrator", CARD).await;
        if pred(s, &card) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, card) = gw.get_json("orchestrator", CARD).await;
    panic!("the served card never became {what}: {s} {card}");
}

fn metric(gw: &TestGateway, name: &str) -> u64 {
    gw.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}:\n{}", gw.metrics()))
}

#[tokio::test]
async fn fetched_card_is_refreshed_and_the_last_good_one_survives_failures_and_reloads() {
    let up = upstream::start(Behaviour::Echo).await;
    up.set_card(200, upstream_card(&up, "book-v1").to_string());
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .fetched_card("scheduler", "card_refresh = \"200ms\"")
            .allow("orchestrator", "scheduler", &[], true),
    )
    .await;

    // Fetched before the first request: served at once, rewritten to the
    // gateway route and signed by the gateway.
    let (s, card) = gw.get_json("orchestrator", CARD).await;
    assert_eq!(s, StatusCode::OK, "{card}");
    assert_eq!(skill_ids(&card), ["book-v1"]);
    assert_eq!(
        card["supportedInterfaces"][0]["url"],
        format!("{}/agents/scheduler/a2a/jsonrpc", gw.base)
    );
    let (_, jwks) = gw
        .get_json("orchestrator", "/.well-known/agent-card-jwks.json")
        .await;
    verify_card(&card, &keys_from_jwks(&jwks).unwrap()).expect("gateway-signed");
    assert!(gw
        .metrics()
        .contains("actgate_agent_card_available{agent=\"scheduler\"} 1"));

    // The upstream publishes a new card: it replaces the old one.
    up.set_card(200, upstream_card(&up, "book-v2").to_string());
    wait_for_card(&gw, "book-v2", |s, c| {
        s == StatusCode::OK && skill_ids(c) == ["book-v2"]
    })
    .await;

    // Failures keep the last good card and are counted.
    for (status, body) in [
        (500, "oops".to_string()),
        (200, "{not json".to_string()),
        (200, json!({"name": "scheduler"}).to_string()),
    ] {
        let before = metric(&gw, "actgate_card_fetch_failures_total");
        up.set_card(status, body);
        for _ in 0..100 {
            if metric(&gw, "actgate_card_fetch_failures_total") > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(metric(&gw, "actgate_card_fetch_failures_total") > before);
        let (s, card) = gw.get_json("orchestrator", CARD).await;
        assert_eq!(
            (s, skill_ids(&card)),
            (StatusCode::OK, vec!["book-v2".into()])
        );
        let (s, _, _) = gw.send_message("orchestrator", "scheduler", None).await;
        assert_eq!(
            s,
            StatusCode::OK,
            "calls keep flowing on the last good card"
        );
    }

    // A reload starts a new snapshot: it keeps the fetched card too.
    gw.reload().unwrap();
    let (s, card) = gw.get_json("orchestrator", CARD).await;
    assert_eq!(
        (s, skill_ids(&card)),
        (StatusCode::OK, vec!["book-v2".into()])
    );
}

#[tokio::test]
async fn agent_without_a_usable_card_is_unavailable_until_one_arrives() {
    let up = upstream::start(Behaviour::Echo).await;
    // The upstream has no card yet (404): the gateway still starts.
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .fetched_card("scheduler", "card_refresh = \"200ms\"")
            .allow("orchestrator", "scheduler", &[], true),
    )
    .await;
    let (s, body) = gw.get_json("orchestrator", CARD).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "agent_unavailable");
    let (s, _, _) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        up.requests().is_empty(),
        "nothing is forwarded without a card"
    );
    // Callers who may not reach it learn nothing: 403, as for any agent.
    let (s, _) = gw.get_json("intruder", CARD).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The list leaves it out; the metrics say why.
    let (_, list) = gw.get_json("orchestrator", "/agents").await;
    assert_eq!(list["agents"], json!([]));
    assert!(gw
        .metrics()
        .contains("actgate_agent_card_available{agent=\"scheduler\"} 0"));
    assert!(metric(&gw, "actgate_card_fetch_failures_total") >= 1);

    up.set_card(200, upstream_card(&up, "book").to_string());
    wait_for_card(&gw, "available", |s, _| s == StatusCode::OK).await;
    let (s, _, _) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn upstream_card_signatures_are_verified_with_the_configured_keys() {
    let up = upstream::start(Behaviour::Echo).await;
    let (agent_key, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let (other_key, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks_path = dir.path().join("scheduler-card-keys.json");
    std::fs::write(
        &jwks_path,
        json!({"keys": [agent_key.public_jwk()]}).to_string(),
    )
    .unwrap();

    // Signed by a key that is not the agent's: never used, agent 503.
    let card = upstream_card(&up, "book");
    up.set_card(200, signed(&card, &other_key).to_string());
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .fetched_card(
                "scheduler",
                &format!(
                    "card_refresh = \"200ms\"\ncard_signing_keys = \"{}\"",
                    jwks_path.display()
                ),
            )
            .allow("orchestrator", "scheduler", &[], true),
    )
    .await;
    let (s, _) = gw.get_json("orchestrator", CARD).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let (s, _, _) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(metric(&gw, "actgate_card_fetch_failures_total") >= 1);
    // Unsigned is no better than wrongly signed.
    up.set_card(200, card.to_string());
    let before = metric(&gw, "actgate_card_fetch_failures_total");
    for _ in 0..100 {
        if metric(&gw, "actgate_card_fetch_failures_total") > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _) = gw.get_json("orchestrator", CARD).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);

    // Correctly signed: served, re-signed by the gateway (the agent's
    // signature would not survive the rewrite, and callers trust one signer).
    up.set_card(200, signed(&card, &agent_key).to_string());
    wait_for_card(&gw, "available", |s, _| s == StatusCode::OK).await;
    let (_, served) = gw.get_json("orchestrator", CARD).await;
    assert_eq!(skill_ids(&served), ["book"]);
    let (_, jwks) = gw
        .get_json("orchestrator", "/.well-known/agent-card-jwks.json")
        .await;
    verify_card(&served, &keys_from_jwks(&jwks).unwrap()).expect("gateway signature");
    let agent_keys = keys_from_jwks(&json!({"keys": [agent_key.public_jwk()]})).unwrap();
    assert!(verify_card(&served, &agent_keys).is_err());
    assert_eq!(served["signatures"].as_array().map(Vec::len), Some(1));

    // A tampered card later (signature kept, content changed) is refused;
    // the verified one stays in service.
    let mut tampered = signed(&card, &agent_key);
    tampered["skills"][0]["id"] = json!("exfiltrate");
    up.set_card(200, tampered.to_string());
    let before = metric(&gw, "actgate_card_fetch_failures_total");
    for _ in 0..100 {
        if metric(&gw, "actgate_card_fetch_failures_total") > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metric(&gw, "actgate_card_fetch_failures_total") > before);
    let (s, served) = gw.get_json("orchestrator", CARD).await;
    assert_eq!(
        (s, skill_ids(&served)),
        (StatusCode::OK, vec!["book".into()])
    );
}

#[tokio::test]
async fn a_card_file_must_verify_when_card_keys_are_configured() {
    let up = upstream::start(Behaviour::Echo).await;
    let (agent_key, _) = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &[],
        true,
    ))
    .await;
    let jwks_path = gw.dir.path().join("card-keys.json");
    std::fs::write(
        &jwks_path,
        json!({"keys": [agent_key.public_jwk()]}).to_string(),
    )
    .unwrap();
    // The harness's card file is unsigned: adding keys makes it unusable,
    // and the reload is refused with the file and reason.
    let path = gw.config_path();
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "spiffe_id = \"spiffe://example.org/agent/scheduler\"\n",
        &format!(
            "spiffe_id = \"spiffe://example.org/agent/scheduler\"\ncard_signing_keys = \"{}\"\n",
            jwks_path.display()
        ),
    );
    std::fs::write(&path, text).unwrap();
    let err = gw.reload().unwrap_err().to_string();
    assert!(err.contains("agent[0] (scheduler).card"), "{err}");
    assert!(
        err.contains("card signature: the card carries no signatures"),
        "{err}"
    );
    // The old material keeps serving.
    let (s, _) = gw.get_json("orchestrator", CARD).await;
    assert_eq!(s, StatusCode::OK);
}

/// The extended card as the upstream writes it: its own URL
/// (`http://UPSTREAM`, filled in by the test upstream) and one more skill
/// than the public card.
fn upstream_extended_card() -> Value {
    let mut card = json!({
        "name": "scheduler", "description": "books meetings", "version": "2.0.0",
        "supportedInterfaces": [
            {"url": "http://UPSTREAM/a2a/jsonrpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {"streaming": true, "extendedAgentCard": true},
        "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "book", "name": "book", "description": "d", "tags": []}]
    });
    card["skills"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "admin-report", "name": "r", "description": "d", "tags": []}));
    card
}

#[tokio::test]
async fn extended_card_is_forwarded_only_to_allowed_callers_and_comes_back_rewritten_and_signed() {
    let up = upstream::start(Behaviour::ExtendedCard(upstream_extended_card())).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .card("scheduler", json!({"capabilities": {"extendedAgentCard": true}}))
            .allow("orchestrator", "scheduler", &[], true)
            .raw(&format!(
                "[[rule]]\ncaller = \"{}\"\nagent = \"scheduler\"\napp_only = true\noperations = [\"SendMessage\"]\n",
                common::gateway::id("notifier")
            )),
    )
    .await;
    let (_, jwks) = gw
        .get_json("orchestrator", "/.well-known/agent-card-jwks.json")
        .await;
    let keys = keys_from_jwks(&jwks).unwrap();
    let check = |card: &Value| {
        verify_card(card, &keys).expect("signed by the gateway");
        assert_eq!(skill_ids(card), ["book", "admin-report"]);
        let text = card.to_string();
        assert!(
            !text.contains(&up.addr.to_string()),
            "the upstream's address never reaches the caller: {text}"
        );
        assert!(
            card["securitySchemes"]["gateway-mtls"].is_object(),
            "{card}"
        );
    };

    // REST v1.0.
    let (s, card) = gw
        .get_json("orchestrator", "/agents/scheduler/extendedAgentCard")
        .await;
    assert_eq!(s, StatusCode::OK, "{card}");
    check(&card);
    assert_eq!(
        card["supportedInterfaces"][0]["url"],
        format!("{}/agents/scheduler/a2a/jsonrpc", gw.base)
    );

    // JSON-RPC v1.0: the card is the result, the id is kept.
    let (s, body) = gw
        .post_json(
            "orchestrator",
            "/agents/scheduler/a2a/jsonrpc",
            json!({"jsonrpc": "2.0", "id": 41, "method": "GetExtendedAgentCard", "params": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["id"], 41);
    check(&body["result"]);

    // JSON-RPC v0.3: answered in the v0.3 form.
    let (s, body) = gw
        .post_json(
            "orchestrator",
            "/agents/scheduler/a2a/jsonrpc",
            json!({"jsonrpc": "2.0", "id": "x", "method": "agent/getAuthenticatedExtendedCard"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body["result"]["url"],
        format!("{}/agents/scheduler/a2a/jsonrpc", gw.base)
    );
    assert!(body["result"].get("supportedInterfaces").is_none());

    // Callers not allowed this operation, or the agent at all: 403, and the
    // upstream never sees the request.
    let before = up.requests().len();
    let (s, _) = gw
        .get_json("notifier", "/agents/scheduler/extendedAgentCard")
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = gw
        .get_json("intruder", "/agents/scheduler/extendedAgentCard")
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(up.requests().len(), before);
}

#[tokio::test]
async fn an_extended_card_that_fails_verification_is_not_served() {
    // The public card is signed by the agent's key; the extended card is
    // not, while card keys are configured: refused with 502.
    let (agent_key, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let up = upstream::start(Behaviour::ExtendedCard(upstream_extended_card())).await;
    up.set_card(
        200,
        signed(&upstream_card(&up, "book"), &agent_key).to_string(),
    );
    let dir = tempfile::tempdir().unwrap();
    let jwks_path = dir.path().join("keys.json");
    std::fs::write(
        &jwks_path,
        json!({"keys": [agent_key.public_jwk()]}).to_string(),
    )
    .unwrap();
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .fetched_card(
                "scheduler",
                &format!("card_signing_keys = \"{}\"", jwks_path.display()),
            )
            .allow("orchestrator", "scheduler", &[], true),
    )
    .await;
    let (s, body) = gw
        .get_json("orchestrator", "/agents/scheduler/extendedAgentCard")
        .await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"], "bad_extended_card");
    assert!(!body.to_string().contains("admin-report"));
}
