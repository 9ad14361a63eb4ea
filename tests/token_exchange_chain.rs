//! Delegation chains through the token endpoint and the proxy, and the
//! attacks on them, each its own test. Real sockets, per-test PKI.

mod common;

use std::time::Duration;

use actgate::identity::SpiffeId;
use actgate::pki::DevCa;
use actgate::token::SigningKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::exchange::{request, thumbprint_of_pem, JwtAuthority, GRANT, JWT};
use common::gateway::{claims, echoed_token, header, id, Options, TestGateway, IDP, ISSUER, TD};
use common::upstream::{self, Behaviour, TestUpstream};
use http::StatusCode;
use serde_json::{json, Value};

/// orchestrator → scheduler → tool (the calendar tool) → notifier, every
/// agent registered (so each may present tokens minted for it), plus
/// scheduler → orchestrator for the cycle test.
fn options(up: &TestUpstream) -> Options {
    Options::new()
        .agent("orchestrator", &up.url())
        .agent("scheduler", &up.url())
        .agent("tool", &up.url())
        .agent("notifier", &up.url())
        .allow(
            "orchestrator",
            "scheduler",
            &["calendar:read", "calendar:write", "tool:use"],
            false,
        )
        .allow("scheduler", "tool", &["calendar:read", "tool:use"], false)
        .allow("scheduler", "orchestrator", &["calendar:read"], false)
        .allow("tool", "notifier", &["calendar:read"], false)
}

async fn start_with(o: impl FnOnce(Options) -> Options) -> (TestUpstream, TestGateway) {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(o(options(&up))).await;
    (up, gw)
}

async fn start() -> (TestUpstream, TestGateway) {
    start_with(|o| o).await
}

fn scopes(c: &Value) -> Vec<String> {
    c["scope"]
        .as_str()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn assert_subset(narrow: &Value, wide: &Value) {
    let wide = scopes(wide);
    let narrow = scopes(narrow);
    assert!(!narrow.is_empty());
    for s in &narrow {
        assert!(wide.contains(s), "{s} of {narrow:?} is not in {wide:?}");
    }
}

/// The scheduler's token for the tool, via the orchestrator's token for the
/// scheduler: both exchanges.
async fn two_exchanges(gw: &TestGateway) -> (String, String, String) {
    let user = gw.user_token(json!({}));
    let t1 = gw
        .exchange(
            "orchestrator",
            &request(&user, "scheduler", &[("scope", "calendar:read tool:use")]),
        )
        .await
        .token();
    let t2 = gw
        .exchange(
            "scheduler",
            &request(&t1, "tool", &[("scope", "calendar:read")]),
        )
        .await
        .token();
    (user, t1, t2)
}

#[tokio::test]
async fn three_hop_chain_through_the_token_endpoint() {
    let (_up, gw) = start().await;
    let (user, t1, t2) = two_exchanges(&gw).await;
    let (u, c1, c2) = (claims(&user), claims(&t1), claims(&t2));

    // Hop 1: the scheduler, as resource server, checks that the token it
    // receives from the orchestrator is bound to the orchestrator's certificate.
    assert_eq!(c1["aud"], format!("{}/agents/scheduler", gw.base));
    assert_eq!(c1["cnf"]["x5t#S256"], gw.thumbprint("orchestrator"));
    assert_eq!(c1["act"], json!({"sub": id("orchestrator")}));
    // Hop 2: the tool's token lists the hops in order, most recent outermost.
    assert_eq!(c2["aud"], format!("{}/agents/tool", gw.base));
    assert_eq!(c2["sub"], "alice@example.com");
    assert_eq!(c2["client_id"], id("scheduler"));
    assert_eq!(c2["cnf"]["x5t#S256"], gw.thumbprint("scheduler"));
    assert_eq!(
        c2["act"],
        json!({"sub": id("scheduler"), "act": {"sub": id("orchestrator")}})
    );
    // Each hop narrower than the one before.
    assert_subset(&c1, &u);
    assert_subset(&c2, &c1);
    assert_eq!(scopes(&c2), ["calendar:read"]);
    assert!(c2["exp"].as_i64() <= c1["exp"].as_i64());
}

#[tokio::test]
async fn three_hop_chain_through_the_proxy_then_the_token_endpoint() {
    let (_up, gw) = start().await;
    let user = gw.user_token(json!({"scope": "calendar:read calendar:write tool:use notify:send"}));
    // Hop 1 through the proxy: the scheduler receives P1.
    let (s, _, body) = gw
        .send_message("orchestrator", "scheduler", Some(&user))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let p1 = echoed_token(&body);
    // Hop 2 through the proxy: the tool receives P2.
    let (s, _, body) = gw.send_message("scheduler", "tool", Some(&p1)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let p2 = echoed_token(&body);
    let chain = json!({"sub": id("scheduler"), "act": {"sub": id("orchestrator")}});
    let (u, c1, c2) = (claims(&user), claims(&p1), claims(&p2));
    assert_eq!(c2["act"], chain);
    assert_subset(&c1, &u);
    assert_subset(&c2, &c1);

    // Hop 2 by exchange instead: the same chain, now bound to the scheduler.
    let a = gw
        .exchange("scheduler", &request(&p1, "tool", &[("scope", "tool:use")]))
        .await;
    let x2 = claims(&a.token());
    assert_eq!(x2["act"], chain);
    assert_eq!(x2["cnf"]["x5t#S256"], gw.thumbprint("scheduler"));
    assert_eq!(scopes(&x2), ["tool:use"]);
    assert_subset(&x2, &c1);
}

/// TE-05: re-exchanging a token that carries `act` never yields one without
/// it, whatever the request asks, and only the token's audience may try.
#[tokio::test]
async fn act_stripping_by_re_exchange_is_impossible() {
    let (_up, gw) = start().await;
    let user = gw.user_token(json!({}));
    let t1 = gw
        .exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await
        .token();
    for extra in [
        vec![],
        vec![("requested_token_type", JWT)],
        vec![("scope", "calendar:read")],
    ] {
        let t2 = gw
            .exchange("scheduler", &request(&t1, "tool", &extra))
            .await
            .token();
        let act = &claims(&t2)["act"];
        assert_eq!(act["act"], json!({"sub": id("orchestrator")}), "{extra:?}");
    }
    // The orchestrator, holder of t1 but not its audience, cannot exchange it
    // (for a token without its own act, or any token).
    let a = gw
        .exchange("orchestrator", &request(&t1, "scheduler", &[]))
        .await;
    a.assert_error(400, "invalid_request");
    assert!(a.description().contains("another audience"), "{}", a.body);
}

#[tokio::test]
async fn swapping_subject_and_actor_tokens_is_refused() {
    let authority = JwtAuthority::new();
    let line = authority.config_line();
    let (_up, gw) = start_with(|o| o.trust_domain(&line)).await;
    let user = gw.user_token(json!({}));
    let svid = authority.svid(&id("orchestrator"), ISSUER);
    // Sanity: the right way round works.
    let ok = gw
        .exchange(
            "orchestrator",
            &request(
                &user,
                "scheduler",
                &[("actor_token", &svid), ("actor_token_type", JWT)],
            ),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    // Swapped: the JWT-SVID is no subject token (no trusted issuer), and the
    // user token identifies a user, not the client workload.
    let swapped = [
        ("grant_type", GRANT),
        ("audience", "scheduler"),
        ("subject_token", svid.as_str()),
        ("subject_token_type", JWT),
        ("actor_token", user.as_str()),
        ("actor_token_type", JWT),
    ];
    let a = gw.exchange("orchestrator", &swapped).await;
    a.assert_error(400, "invalid_request");
    assert!(a.description().starts_with("subject_token"), "{}", a.body);
    // Even with a valid subject, a user token as actor is refused.
    let a = gw
        .exchange(
            "orchestrator",
            &request(
                &user,
                "scheduler",
                &[("actor_token", &user), ("actor_token_type", JWT)],
            ),
        )
        .await;
    a.assert_error(400, "invalid_request");
}

/// A token exchanged for the scheduler is useless to anyone else: not the
/// orchestrator that obtained it, not another agent, at neither endpoint.
#[tokio::test]
async fn a_token_for_an_audience_the_caller_is_not_is_refused() {
    let (_up, gw) = start().await;
    let user = gw.user_token(json!({}));
    let t1 = gw
        .exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await
        .token();
    for caller in ["orchestrator", "tool", "intruder"] {
        let a = gw.exchange(caller, &request(&t1, "tool", &[])).await;
        a.assert_error(400, "invalid_request");
        assert!(
            a.description().contains("another audience"),
            "{caller}: {}",
            a.body
        );
    }
    let (s, h, _) = gw.send_message("tool", "notifier", Some(&t1)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
}

/// RFC 8705 §3 on the proxy route: a certificate-bound token is honoured only
/// over a connection with that certificate.
#[tokio::test]
async fn a_certificate_bound_token_from_another_certificate_is_refused() {
    let (up, gw) = start().await;
    // A gateway token bound to the orchestrator, presented by its audience
    // (the scheduler) on the proxy route: the proxy would mint an unbound
    // token from it, so it is refused (the token endpoint re-binds instead).
    let user = gw.user_token(json!({}));
    let t1 = gw
        .exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await
        .token();
    let (s, h, body) = gw.send_message("scheduler", "tool", Some(&t1)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_token");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("bound to another certificate"),
        "{body}"
    );
    assert!(h["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    // A user token the IdP bound to the orchestrator's certificate: good from
    // that certificate, refused from a second certificate of the very same
    // SPIFFE ID, at the proxy and at the token endpoint, and from others.
    let bound = gw.user_token(json!({"cnf": {"x5t#S256": gw.thumbprint("orchestrator")}}));
    let (s, _, body) = gw
        .send_message("orchestrator", "scheduler", Some(&bound))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        gw.exchange("orchestrator", &request(&bound, "scheduler", &[]))
            .await
            .status,
        StatusCode::OK
    );

    let ca = DevCa::from_pem(
        &std::fs::read_to_string(gw.certs().join(TD).join("ca.pem")).unwrap(),
        &std::fs::read_to_string(gw.certs().join(TD).join("ca.key")).unwrap(),
    )
    .unwrap();
    let second = ca
        .issue_svid(
            &SpiffeId::parse(&id("orchestrator")).unwrap(),
            Duration::from_secs(3600),
            &[],
            &[],
        )
        .unwrap();
    assert_ne!(
        thumbprint_of_pem(&second.cert_pem),
        gw.thumbprint("orchestrator")
    );
    let (_keep, other_cert) = gw.client_from_pem(&second.cert_pem, &second.key_pem);
    let before = up.requests().len();
    let mut h = http::HeaderMap::new();
    h.insert("authorization", format!("Bearer {bound}").parse().unwrap());
    h.insert("content-type", "application/json".parse().unwrap());
    let (s, _, b) = other_cert
        .fetch(
            http::Method::POST,
            &format!("{}/agents/scheduler/a2a/jsonrpc", gw.base),
            &h,
            bytes::Bytes::from(r#"{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{}}"#),
        )
        .await
        .unwrap();
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert_eq!(up.requests().len(), before, "nothing reached the agent");
    let a = common::exchange::post_token(
        &other_cert,
        &gw.base,
        common::exchange::form(&request(&bound, "scheduler", &[])),
        http::HeaderMap::new(),
    )
    .await;
    a.assert_error(400, "invalid_request");
    assert!(
        a.description().contains("bound to another certificate"),
        "{}",
        a.body
    );
    // Anyone else (policy would let the scheduler reach the orchestrator).
    gw.exchange("scheduler", &request(&bound, "orchestrator", &[]))
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn circular_delegation_is_refused() {
    let (_up, gw) = start().await;
    let user = gw.user_token(json!({}));
    let t1 = gw
        .exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await
        .token();
    // The scheduler may delegate back to the orchestrator...
    let t2 = gw
        .exchange("scheduler", &request(&t1, "orchestrator", &[]))
        .await
        .token();
    assert_eq!(
        claims(&t2)["act"],
        json!({"sub": id("scheduler"), "act": {"sub": id("orchestrator")}})
    );
    // ...but the orchestrator may not act in the chain a second time.
    let a = gw
        .exchange("orchestrator", &request(&t2, "scheduler", &[]))
        .await;
    a.assert_error(400, "invalid_request");
    assert!(a.description().contains("cycle"), "{}", a.body);
}

/// Policy may allow one caller to act again in a chain it is in
/// (`allow_reentry`, e.g. an orchestrator called back by its sub-agent):
/// the chain then records both of its hops; the depth limit still holds.
#[tokio::test]
async fn reentry_is_allowed_only_where_a_rule_says_so() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("orchestrator", &up.url())
            .agent("scheduler", &up.url())
            .raw(&format!(
                "[[rule]]\ncaller = \"{}\"\nagent = \"scheduler\"\nscopes = [\"calendar:read\"]\nallow_reentry = true\n",
                id("orchestrator")
            ))
            .allow("scheduler", "orchestrator", &["calendar:read"], false)
            .tokens("max_chain_depth = 4"),
    )
    .await;
    let user = gw.user_token(json!({"scope": "calendar:read"}));
    let t1 = gw
        .exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await
        .token();
    let t2 = gw
        .exchange("scheduler", &request(&t1, "orchestrator", &[]))
        .await
        .token();
    let t3 = gw
        .exchange("orchestrator", &request(&t2, "scheduler", &[]))
        .await
        .token();
    assert_eq!(
        claims(&t3)["act"],
        json!({"sub": id("orchestrator"), "act": {"sub": id("scheduler"), "act": {"sub": id("orchestrator")}}})
    );
    // The scheduler's rule has no allow_reentry: its second turn is a cycle.
    let a = gw
        .exchange("scheduler", &request(&t3, "orchestrator", &[]))
        .await;
    a.assert_error(400, "invalid_request");
    assert!(a.description().contains("cycle"), "{}", a.body);
}

#[tokio::test]
async fn chain_depth_overflow_is_refused() {
    let (_up, gw) = start_with(|o| o.tokens("max_chain_depth = 2")).await;
    let (_, _, t2) = two_exchanges(&gw).await;
    assert_eq!(
        claims(&t2)["act"],
        json!({"sub": id("scheduler"), "act": {"sub": id("orchestrator")}})
    );
    // A third actor would exceed the limit of 2.
    let a = gw.exchange("tool", &request(&t2, "notifier", &[])).await;
    a.assert_error(400, "invalid_request");
    assert!(a.description().contains("too deep"), "{}", a.body);
}

/// Sign `claims` with `key` under an arbitrary header (the attacker's choice).
fn forge(key: &SigningKey, header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[tokio::test]
async fn an_untrusted_issuer_with_a_matching_kid_is_refused() {
    let (_up, gw) = start().await;
    let (attacker, _) = SigningKey::generate(actgate::token::SigningAlgorithm::Es256).unwrap();
    let idp_jwks: Value =
        serde_json::from_slice(&std::fs::read(gw.certs().join("idp-jwks.json")).unwrap()).unwrap();
    let idp_kid = idp_jwks["keys"][0]["kid"].as_str().unwrap().to_string();
    let user = gw.user_token(json!({}));
    let gw_kid = {
        let t = gw
            .exchange("orchestrator", &request(&user, "scheduler", &[]))
            .await
            .token();
        header(&t)["kid"].as_str().unwrap().to_string()
    };
    let now = actgate::unix_now();
    let base = json!({"sub": "alice@example.com", "aud": ISSUER, "iat": now, "exp": now + 300,
        "scope": "calendar:read calendar:write"});
    let with = |iss: &str| {
        let mut c = base.clone();
        c["iss"] = iss.into();
        c
    };
    let cases = [
        // Unknown issuer, kid of the trusted IdP's key.
        (
            json!({"alg": "ES256", "typ": "JWT", "kid": idp_kid}),
            with("https://evil.example"),
            "not trusted",
        ),
        // The trusted issuer's name and kid, the attacker's key.
        (
            json!({"alg": "ES256", "typ": "JWT", "kid": idp_kid}),
            with(IDP),
            "signature",
        ),
        // The gateway's own issuer and kid, the attacker's key.
        (
            json!({"alg": "ES256", "typ": "at+jwt", "kid": gw_kid}),
            with(ISSUER),
            "signature",
        ),
    ];
    for (h, c, why) in cases {
        let forged = forge(&attacker, h, c);
        let a = gw
            .exchange("orchestrator", &request(&forged, "scheduler", &[]))
            .await;
        a.assert_error(400, "invalid_request");
        assert!(a.description().contains(why), "{why}: {}", a.body);
        let (s, _, _) = gw
            .send_message("orchestrator", "scheduler", Some(&forged))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{why}");
    }
}

#[tokio::test]
async fn an_expired_subject_token_is_refused() {
    let (_up, gw) = start().await;
    let now = actgate::unix_now();
    // Past exp plus the 30 s leeway.
    let expired = gw.user_token(json!({"iat": now - 600, "exp": now - 60}));
    let a = gw
        .exchange("orchestrator", &request(&expired, "scheduler", &[]))
        .await;
    a.assert_error(400, "invalid_request");
    assert!(a.description().contains("expired"), "{}", a.body);
}
