//! One key, one purpose, and no token outliving what it was issued on: the
//! served card is signed with its own key (never a token), token exchange
//! refuses targets whose calls need approval, minted tokens end no later
//! than the caller's certificate. Real sockets, per-test PKI, real PyJWT.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use actgate::identity::SpiffeId;
use actgate::pki::DevCa;
use common::exchange::{post_token, request};
use common::gateway::{claims, echoed_token, header, id, Options, TestGateway, ISSUER, TD};
use common::upstream::{self, Behaviour};
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

const CARD_JWKS: &str = "/.well-known/agent-card-jwks.json";

fn python() -> PathBuf {
    common::python::venv("interop-venv", "tests/interop/requirements.txt")
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// The kid of the (single) signature of a served card.
fn card_kid(card: &Value) -> String {
    let protected = card["signatures"][0]["protected"].as_str().unwrap();
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, protected)
            .unwrap();
    let h: Value = serde_json::from_slice(&bytes).unwrap();
    h["kid"].as_str().unwrap().to_owned()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_card_carrying_token_claims_is_never_a_token_and_verifies_with_the_card_jwks() {
    let up = upstream::start(Behaviour::Echo).await;
    let now = actgate::unix_now();
    // What an upstream would put in its card to get a forged access token:
    // every claim a resource server checks.
    let port_free_aud = "https://localhost/agents/scheduler";
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .card(
                "scheduler",
                json!({"iss": ISSUER, "sub": id("orchestrator"), "aud": port_free_aud,
                       "scope": "calendar:write", "exp": now + 3600, "iat": now}),
            )
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
    let (s, token_jwks) = gw.get_json("orchestrator", "/.well-known/jwks.json").await;
    assert_eq!(s, StatusCode::OK);
    let (s, card_jwks) = gw.get_json("orchestrator", CARD_JWKS).await;
    assert_eq!(s, StatusCode::OK, "the card JWKS is published");

    // The two sets share no key.
    let (tk, ck) = (kids(&token_jwks), kids(&card_jwks));
    assert!(!ck.is_empty());
    assert!(tk.iter().all(|k| !ck.contains(k)), "{tk:?} vs {ck:?}");

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, v: &Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    let out = Command::new(python())
        .arg(script("verify_card_jws.py"))
        .arg(write("card.json", &card))
        .arg(write("token-jwks.json", &token_jwks))
        .arg(write("card-jwks.json", &card_jwks))
        .arg(ISSUER)
        .arg(port_free_aud)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        r["token_jwks_accepts"],
        json!([]),
        "PyJWT accepted the card signature as an access token: {r}"
    );
    assert_eq!(r["card_jwks_verifies"], true, "{r}");
    // Explicitly typed (RFC 8725 §3.11) and pointing at its own key set.
    assert_eq!(r["header"]["typ"], "agent-card+jws", "{r}");
    assert_eq!(r["header"]["jku"], format!("{}{CARD_JWKS}", gw.base), "{r}");
    assert_eq!(r["header"]["kid"], ck[0].as_str());

    // The gateway's own subject-token path refuses it too.
    let compact = r["compact"].as_str().unwrap();
    let (s, _, body) = gw
        .send_message("orchestrator", "scheduler", Some(compact))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn an_old_card_key_stays_published_after_rotation() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &["calendar:write"],
        false,
    ))
    .await;
    let path = "/agents/scheduler/.well-known/agent-card.json";
    let (_, before) = gw.get_json("orchestrator", path).await;
    let old = card_kid(&before);
    let (_, jwks) = gw.get_json("orchestrator", CARD_JWKS).await;
    assert_eq!(kids(&jwks), vec![old.clone()]);

    let (_, pem) =
        actgate::token::SigningKey::generate(actgate::token::SigningAlgorithm::Es256).unwrap();
    std::fs::write(gw.certs().join("card-signing.key"), pem).unwrap();
    gw.reload().unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;

    let (_, after) = gw.get_json("orchestrator", path).await;
    let new = card_kid(&after);
    assert_ne!(new, old, "the served card is re-signed with the new key");
    let (_, jwks) = gw.get_json("orchestrator", CARD_JWKS).await;
    assert_eq!(
        kids(&jwks),
        vec![new, old],
        "current first, the old one kept"
    );
    let keys = actgate::cards::sign::keys_from_jwks(&jwks).unwrap();
    actgate::cards::sign::verify_card(&before, &keys).expect("a cached old card still verifies");
    actgate::cards::sign::verify_card(&after, &keys).expect("the new card verifies");
    // Never in the token JWKS.
    let (_, token_jwks) = gw.get_json("orchestrator", "/.well-known/jwks.json").await;
    assert!(kids(&token_jwks).iter().all(|k| !kids(&jwks).contains(k)));
}

#[tokio::test]
async fn exchange_refuses_a_target_with_an_approval_rule_for_any_operation() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("notifier", &up.url())
            .agent("scheduler", &up.url())
            .rule(&format!(
                "caller = \"{}\"\nagent = \"notifier\"\noperations = [\"CancelTask\"]\nscopes = [\"notify:send\"]\napproval = \"human\"",
                id("orchestrator")
            ))
            .allow("orchestrator", "notifier", &["notify:send"], false)
            .allow("orchestrator", "scheduler", &["calendar:write"], false)
            .raw("[approvals]\ndir = \"approvals\"\n"),
    )
    .await;
    let user = gw.user_token(json!({}));
    // A token used directly at the notifier would skip the gate for
    // CancelTask: none is issued.
    let a = gw
        .exchange("orchestrator", &request(&user, "notifier", &[]))
        .await;
    a.assert_error(400, "invalid_target");
    assert!(a.description().contains("approval"), "{}", a.description());
    // A target without approval or deny rules still gets its token.
    let a = gw
        .exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await;
    let t = a.token();
    assert_eq!(
        claims(&t)["aud"],
        format!("{}/agents/scheduler", gw.base).as_str()
    );
    assert_eq!(header(&t)["typ"], "at+jwt");
}

#[tokio::test]
async fn tokens_never_outlive_the_callers_certificate() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .allow("orchestrator", "scheduler", &["calendar:write"], false)
            .tokens("ttl = \"10m\""),
    )
    .await;
    let certs = gw.certs();
    let ca = DevCa::from_pem(
        &std::fs::read_to_string(certs.join(TD).join("ca.pem")).unwrap(),
        &std::fs::read_to_string(certs.join(TD).join("ca.key")).unwrap(),
    )
    .unwrap();
    let short = ca
        .issue_svid(
            &SpiffeId::parse(&id("orchestrator")).unwrap(),
            Duration::from_secs(120),
            &[],
            &[],
        )
        .unwrap();
    let (_, x) = x509_parser::pem::parse_x509_pem(short.cert_pem.as_bytes()).unwrap();
    let not_after = x.parse_x509().unwrap().validity().not_after.timestamp();
    let (_tmp, client) = gw.client_from_pem(&short.cert_pem, &short.key_pem);
    let user = gw.user_token(json!({}));

    // Proxy: the token the upstream receives, twice (the second from the
    // cache) — neither outlives the certificate.
    for _ in 0..2 {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h.insert("a2a-version", "1.0".parse().unwrap());
        h.insert("authorization", format!("Bearer {user}").parse().unwrap());
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
            "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}}});
        let (s, _, b) = client
            .fetch(
                http::Method::POST,
                &format!("{}/agents/scheduler/a2a/jsonrpc", gw.base),
                &h,
                bytes::Bytes::from(body.to_string()),
            )
            .await
            .unwrap();
        assert_eq!(s, StatusCode::OK);
        let body: Value = serde_json::from_slice(&b).unwrap();
        let exp = claims(&echoed_token(&body))["exp"].as_i64().unwrap();
        assert!(exp <= not_after, "minted exp {exp} > notAfter {not_after}");
    }

    // Token endpoint: exp and expires_in agree, and end by notAfter.
    let before = actgate::unix_now();
    let a = post_token(
        &client,
        &gw.base,
        common::exchange::form(&request(&user, "scheduler", &[])),
        HeaderMap::new(),
    )
    .await;
    let exp = claims(&a.token())["exp"].as_i64().unwrap();
    assert!(
        exp <= not_after,
        "exchanged exp {exp} > notAfter {not_after}"
    );
    let expires_in = a.body["expires_in"].as_i64().unwrap();
    let after = actgate::unix_now();
    assert!(
        (exp - after..=exp - before).contains(&expires_in),
        "expires_in {expires_in} vs exp {exp}"
    );
}

/// `Snapshot::build` of `text` (written to `dir/actgate.toml`): the error text.
fn build_error(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("actgate.toml");
    std::fs::write(&path, text).unwrap();
    let cfg = actgate::config::ConfigFile::parse(&path, text).unwrap();
    let metrics = std::sync::Arc::new(actgate::metrics::Metrics::default());
    match actgate::snapshot::Snapshot::build(&cfg, metrics) {
        Ok(_) => panic!("built without a usable card key:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_config_without_its_own_card_key_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let text = common::gateway::config_text(dir.path(), &Options::new());
    let section = format!(
        "[cards]\nsigning_key = \"{}/card-signing.key\"\n",
        dir.path().join("certs").display()
    );
    assert!(text.contains(&section));
    // No [cards]: never a key made up on the spot, never the token key.
    let err = build_error(dir.path(), &text.replace(&section, ""));
    assert!(
        err.contains("cards.signing_key") && err.contains("actgate certs init"),
        "{err}"
    );
    // The token key as card key: refused, naming the field.
    let err = build_error(
        dir.path(),
        &text.replace("card-signing.key", "token-signing.key"),
    );
    assert!(
        err.contains("cards.signing_key") && err.contains("also signs tokens"),
        "{err}"
    );
    // A token key listed among the card's previous keys: the same.
    let err = build_error(
        dir.path(),
        &text.replace(
            &section,
            &format!(
                "{section}previous_keys = [\"{}/token-signing.key\"]\n",
                dir.path().join("certs").display()
            ),
        ),
    );
    assert!(err.contains("also signs tokens"), "{err}");
}
