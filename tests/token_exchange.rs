//! The token endpoint (RFC 8693 over RFC 8705 mTLS client authentication):
//! every parameter rule and error, the issued token's profile, actor tokens,
//! discovery documents, RFC 8693 Appendix A.2. Real sockets, per-test PKI.

mod common;

use common::exchange::{
    form, post_token, request, JwtAuthority, ACCESS_TOKEN, GRANT, ID_TOKEN, JWT,
};
use common::gateway::{claims, header, id, Options, TestGateway, ISSUER};
use common::upstream::{self, Behaviour, TestUpstream};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

/// scheduler, tool and notifier behind one echo upstream; the orchestrator
/// may obtain tokens for the scheduler, the scheduler for the tool; nobody
/// for the notifier.
fn options(up: &TestUpstream) -> Options {
    Options::new()
        .agent("scheduler", &up.url())
        .agent("tool", &up.url())
        .agent("notifier", &up.url())
        .allow(
            "orchestrator",
            "scheduler",
            &["calendar:read", "calendar:write"],
            false,
        )
        .allow("scheduler", "tool", &["calendar:read", "tool:use"], false)
}

async fn start() -> (TestUpstream, TestGateway) {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(options(&up)).await;
    (up, gw)
}

fn resource(gw: &TestGateway, agent: &str) -> String {
    format!("{}/agents/{agent}", gw.base)
}

#[tokio::test]
async fn exchange_issues_a_narrower_certificate_bound_token() {
    let (_up, gw) = start().await;
    let user = gw.user_token(json!({}));
    let user_exp = claims(&user)["exp"].as_i64().unwrap();
    let a = gw
        .exchange(
            "orchestrator",
            &request(&user, "scheduler", &[("scope", "calendar:read")]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.assert_no_store();
    assert_eq!(a.headers["content-type"], "application/json");
    let body = a.body.as_object().unwrap();
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(body["token_type"], "Bearer");
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!(expires_in > 0 && expires_in <= 300, "{}", a.body);
    // The scope is what was asked for, so it is not repeated (RFC 6749 §5.1);
    // no refresh token, ever.
    assert!(!body.contains_key("scope"), "{}", a.body);
    assert!(!body.contains_key("refresh_token"), "{}", a.body);

    let token = a.token();
    let h = header(&token);
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(h["alg"], "ES256");
    let c = gw.verify(&token, &resource(&gw, "scheduler")).await;
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["sub"], "alice@example.com");
    assert_eq!(c["aud"], resource(&gw, "scheduler"));
    assert_eq!(c["client_id"], id("orchestrator"));
    assert_eq!(c["scope"], "calendar:read");
    assert_eq!(c["act"], json!({"sub": id("orchestrator")}));
    assert_eq!(
        c["cnf"],
        json!({"x5t#S256": gw.thumbprint("orchestrator")}),
        "bound to the caller's certificate"
    );
    assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 16));
    let (iat, exp) = (c["iat"].as_i64().unwrap(), c["exp"].as_i64().unwrap());
    assert!(exp > iat && exp - iat <= 300 && exp <= user_exp, "{c}");

    // Each exchange is a new token (no cache at the token endpoint).
    let again = gw
        .exchange(
            "orchestrator",
            &request(&user, "scheduler", &[("scope", "calendar:read")]),
        )
        .await
        .token();
    assert_ne!(claims(&again)["jti"], c["jti"]);
}

#[tokio::test]
async fn without_scope_the_token_gets_grant_and_subject_scopes_and_says_so() {
    let (_up, gw) = start().await;
    // The user holds calendar:read and notify:send; policy grants
    // calendar:read and calendar:write: the intersection is issued.
    let user = gw.user_token(json!({"scope": "calendar:read notify:send"}));
    let a = gw
        .exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["scope"], "calendar:read");
    assert_eq!(claims(&a.token())["scope"], "calendar:read");
}

#[tokio::test]
async fn lifetime_is_capped_by_the_subject_token() {
    let (_up, gw) = start().await;
    let now = actgate::unix_now();
    let user = gw.user_token(json!({"exp": now + 40}));
    let a = gw
        .exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await;
    let c = claims(&a.token());
    assert_eq!(c["exp"], now + 40);
    assert!(a.body["expires_in"].as_i64().unwrap() <= 40, "{}", a.body);
}

#[tokio::test]
async fn every_target_form_names_the_one_agent() {
    let (_up, gw) = start().await;
    let user = gw.user_token(json!({}));
    let sched = resource(&gw, "scheduler");
    let forms: Vec<Vec<(&str, &str)>> = vec![
        vec![("audience", "scheduler")],
        vec![("audience", sched.as_str())],
        vec![("resource", sched.as_str())],
        vec![("resource", sched.as_str()), ("audience", "scheduler")],
    ];
    for target in forms {
        let mut pairs = vec![
            ("grant_type", GRANT),
            ("subject_token", user.as_str()),
            ("subject_token_type", ACCESS_TOKEN),
        ];
        pairs.extend(target.iter().copied());
        let a = gw.exchange("orchestrator", &pairs).await;
        assert_eq!(a.status, StatusCode::OK, "{target:?}: {}", a.body);
        assert_eq!(claims(&a.token())["aud"], sched, "{target:?}");
    }
}

#[tokio::test]
async fn token_types() {
    let (_up, gw) = start().await;
    let user = gw.user_token(json!({}));
    // A JWT asked for: the same access token, labelled jwt.
    let a = gw
        .exchange(
            "orchestrator",
            &request(&user, "scheduler", &[("requested_token_type", JWT)]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["issued_token_type"], JWT);
    assert_eq!(a.body["token_type"], "Bearer");
    // The user token may be declared as a JWT or an ID token as well.
    for ty in [JWT, ID_TOKEN] {
        let mut pairs = request(&user, "scheduler", &[]);
        pairs[2] = ("subject_token_type", ty);
        let a = gw.exchange("orchestrator", &pairs).await;
        assert_eq!(a.status, StatusCode::OK, "{ty}: {}", a.body);
    }
    // A gateway token is an access token, never an ID token.
    let t1 = gw
        .exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await
        .token();
    let mut pairs = request(&t1, "tool", &[]);
    pairs[2] = ("subject_token_type", ID_TOKEN);
    gw.exchange("scheduler", &pairs)
        .await
        .assert_error(400, "invalid_request");
}

/// What is wrong, the form, the expected status and `error`.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);

/// Every parameter rule, each with its exact error and status.
#[tokio::test]
async fn parameter_errors_are_standard() {
    let (_up, gw) = start().await;
    let user = gw.user_token(json!({}));
    let u = user.as_str();
    let sched = resource(&gw, "scheduler");
    let tool = resource(&gw, "tool");
    let orch = id("orchestrator");
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("no grant_type", vec![("subject_token", u), ("subject_token_type", ACCESS_TOKEN), ("audience", "scheduler")], 400, "invalid_request"),
        ("other grant", vec![("grant_type", "client_credentials"), ("subject_token", u), ("subject_token_type", ACCESS_TOKEN), ("audience", "scheduler")], 400, "unsupported_grant_type"),
        ("refresh grant", vec![("grant_type", "refresh_token"), ("refresh_token", "x")], 400, "unsupported_grant_type"),
        ("no subject_token", vec![("grant_type", GRANT), ("subject_token_type", ACCESS_TOKEN), ("audience", "scheduler")], 400, "invalid_request"),
        ("no subject_token_type", vec![("grant_type", GRANT), ("subject_token", u), ("audience", "scheduler")], 400, "invalid_request"),
        ("refresh_token type", request(u, "scheduler", &[]).into_iter().map(|(k, v)| if k == "subject_token_type" { (k, "urn:ietf:params:oauth:token-type:refresh_token") } else { (k, v) }).collect(), 400, "invalid_request"),
        ("saml2 type", request(u, "scheduler", &[]).into_iter().map(|(k, v)| if k == "subject_token_type" { (k, "urn:ietf:params:oauth:token-type:saml2") } else { (k, v) }).collect(), 400, "invalid_request"),
        ("repeated subject_token", request(u, "scheduler", &[("subject_token", u)]), 400, "invalid_request"),
        ("repeated grant_type", request(u, "scheduler", &[("grant_type", GRANT)]), 400, "invalid_request"),
        ("actor_token without type", request(u, "scheduler", &[("actor_token", u)]), 400, "invalid_request"),
        ("actor_token_type without token", request(u, "scheduler", &[("actor_token_type", JWT)]), 400, "invalid_request"),
        ("actor_token_type not jwt", request(u, "scheduler", &[("actor_token", u), ("actor_token_type", ACCESS_TOKEN)]), 400, "invalid_request"),
        ("requested refresh_token", request(u, "scheduler", &[("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")]), 400, "invalid_request"),
        ("requested id_token", request(u, "scheduler", &[("requested_token_type", ID_TOKEN)]), 400, "invalid_request"),
        ("invalid subject_token", request("not.a.token", "scheduler", &[]), 400, "invalid_request"),
        ("garbage subject_token", request("garbage", "scheduler", &[]), 400, "invalid_request"),
        ("no target", vec![("grant_type", GRANT), ("subject_token", u), ("subject_token_type", ACCESS_TOKEN)], 400, "invalid_target"),
        ("two audiences", request(u, "scheduler", &[("audience", "tool")]), 400, "invalid_target"),
        ("two resources", request(u, "scheduler", &[("resource", &sched), ("resource", &tool)]), 400, "invalid_target"),
        ("resource and audience disagree", request(u, "scheduler", &[("resource", &tool)]), 400, "invalid_target"),
        ("same resource twice", vec![("grant_type", GRANT), ("subject_token", u), ("subject_token_type", ACCESS_TOKEN), ("resource", &sched), ("resource", &sched)], 400, "invalid_target"),
        ("relative resource", vec![("grant_type", GRANT), ("subject_token", u), ("subject_token_type", ACCESS_TOKEN), ("resource", "/agents/scheduler")], 400, "invalid_target"),
        ("resource with fragment", vec![("grant_type", GRANT), ("subject_token", u), ("subject_token_type", ACCESS_TOKEN), ("resource", "https://x.example/agents/scheduler#f")], 400, "invalid_target"),
        ("unknown resource", vec![("grant_type", GRANT), ("subject_token", u), ("subject_token_type", ACCESS_TOKEN), ("resource", "https://elsewhere.example/api")], 400, "invalid_target"),
        ("unknown audience", request(u, "billing", &[]), 400, "invalid_target"),
        ("audience policy does not allow", request(u, "notifier", &[]), 400, "invalid_target"),
        ("audience allowed to another caller only", request(u, "tool", &[]), 400, "invalid_target"),
        ("scope beyond the grant", request(u, "scheduler", &[("scope", "calendar:read tool:use")]), 400, "invalid_scope"),
        ("scope unknown", request(u, "scheduler", &[("scope", "admin")]), 400, "invalid_scope"),
        ("malformed scope", request(u, "scheduler", &[("scope", "calendar:read \"x\"")]), 400, "invalid_scope"),
        ("blank scope", request(u, "scheduler", &[("scope", "   ")]), 400, "invalid_scope"),
        ("client_id of another client", request(u, "scheduler", &[("client_id", "spiffe://example.org/agent/scheduler")]), 400, "invalid_client"),
        ("client_secret", request(u, "scheduler", &[("client_id", &orch), ("client_secret", "s3cret")]), 400, "invalid_client"),
        ("client_assertion", request(u, "scheduler", &[("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", "x.y.z")]), 400, "invalid_client"),
    ];
    for (what, pairs, status, error) in &cases {
        let a = gw.exchange("orchestrator", pairs).await;
        assert_eq!(a.status.as_u16(), *status, "{what}: {}", a.body);
        assert_eq!(a.body["error"], *error, "{what}: {}", a.body);
        a.assert_error(*status, error);
    }

    // Scope beyond what the subject token holds (though granted).
    let narrow = gw.user_token(json!({"scope": "calendar:read"}));
    let a = gw
        .exchange(
            "orchestrator",
            &request(&narrow, "scheduler", &[("scope", "calendar:write")]),
        )
        .await;
    a.assert_error(400, "invalid_scope");
    assert!(a.description().contains("subject token"), "{}", a.body);

    // client_id equal to the certificate's identity is fine, and empty
    // parameters count as absent (RFC 6749 §3.2).
    let a = gw
        .exchange(
            "orchestrator",
            &request(
                u,
                "scheduler",
                &[
                    ("client_id", &orch),
                    ("actor_token_type", ""),
                    ("scope", ""),
                ],
            ),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn http_level_errors_are_standard_too() {
    let (_up, gw) = start().await;
    let user = gw.user_token(json!({}));
    let client = gw.client("orchestrator");
    let body = form(&request(&user, "scheduler", &[]));

    // Another client authentication method in the header: 401 with a challenge.
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_static("Basic b3JjaDpzZWNyZXQ="),
    );
    let a = post_token(&client, &gw.base, body.clone(), h).await;
    a.assert_error(401, "invalid_client");
    assert_eq!(
        a.headers["www-authenticate"],
        "Basic error=\"invalid_client\""
    );

    // Not a form.
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    post_token(&client, &gw.base, "{}".into(), h)
        .await
        .assert_error(400, "invalid_request");

    // Form with a charset parameter is still a form.
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
    );
    assert_eq!(
        post_token(&client, &gw.base, body.clone(), h).await.status,
        StatusCode::OK
    );

    // Broken percent-encoding.
    post_token(&client, &gw.base, format!("{body}&x=%zz"), HeaderMap::new())
        .await
        .assert_error(400, "invalid_request");

    // GET: 405, still no-store.
    let (s, h, b) = client
        .fetch(
            Method::GET,
            &format!("{}/oauth2/token", gw.base),
            &HeaderMap::new(),
            bytes::Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h["allow"], "POST");
    assert_eq!(h["cache-control"], "no-store");
    let b: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(b["error"], "invalid_request");
}

#[tokio::test]
async fn a_rule_limited_to_some_operations_gives_no_exchange() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new().agent("scheduler", &up.url()).raw(&format!(
            "[[rule]]\ncaller = \"{}\"\nagent = \"scheduler\"\nscopes = [\"calendar:read\"]\noperations = [\"GetTask\"]\n",
            id("orchestrator")
        )),
    )
    .await;
    let user = gw.user_token(json!({}));
    // The proxy route lets GetTask through, but a token for direct use could
    // do anything at the agent, so the exchange is refused.
    gw.exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await
        .assert_error(400, "invalid_target");
}

#[tokio::test]
async fn may_act_must_name_the_caller() {
    let (_up, gw) = start().await;
    let other = gw.user_token(json!({"may_act": {"sub": id("notifier")}}));
    let a = gw
        .exchange("orchestrator", &request(&other, "scheduler", &[]))
        .await;
    a.assert_error(400, "invalid_request");
    assert!(a.description().contains("may_act"), "{}", a.body);
    let foreign_iss = gw.user_token(
        json!({"may_act": {"sub": id("orchestrator"), "iss": "https://other.example"}}),
    );
    gw.exchange("orchestrator", &request(&foreign_iss, "scheduler", &[]))
        .await
        .assert_error(400, "invalid_request");
    let ok = gw.user_token(json!({"may_act": {"sub": id("orchestrator")}}));
    let c = claims(
        &gw.exchange("orchestrator", &request(&ok, "scheduler", &[]))
            .await
            .token(),
    );
    assert_eq!(c["act"], json!({"sub": id("orchestrator")}));
    assert!(
        c.get("may_act").is_none(),
        "may_act is not carried over: {c}"
    );
}

#[tokio::test]
async fn actor_tokens_are_refused_when_no_jwt_bundle_is_configured() {
    let (_up, gw) = start().await;
    let user = gw.user_token(json!({}));
    let svid = JwtAuthority::new().svid(&id("orchestrator"), ISSUER);
    let a = gw
        .exchange(
            "orchestrator",
            &request(
                &user,
                "scheduler",
                &[("actor_token", &svid), ("actor_token_type", JWT)],
            ),
        )
        .await;
    a.assert_error(400, "invalid_request");
    assert!(
        a.description().contains("no jwt_bundle is configured"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn actor_token_must_be_a_jwt_svid_of_the_client() {
    let up = upstream::start(Behaviour::Echo).await;
    let authority = JwtAuthority::new();
    let gw = TestGateway::start(options(&up).trust_domain(&authority.config_line())).await;
    let user = gw.user_token(json!({}));
    let (gw, user) = (&gw, &user);
    let with_actor = |actor: String| async move {
        gw.exchange(
            "orchestrator",
            &request(
                user,
                "scheduler",
                &[("actor_token", &actor), ("actor_token_type", JWT)],
            ),
        )
        .await
    };
    // Its own JWT-SVID, for the gateway's issuer or token endpoint.
    for aud in [ISSUER.to_string(), format!("{}/oauth2/token", gw.base)] {
        let a = with_actor(authority.svid(&id("orchestrator"), &aud)).await;
        assert_eq!(a.status, StatusCode::OK, "{aud}: {}", a.body);
        assert_eq!(
            claims(&a.token())["act"],
            json!({"sub": id("orchestrator")})
        );
    }
    // Another workload's JWT-SVID.
    let a = with_actor(authority.svid(&id("scheduler"), ISSUER)).await;
    a.assert_error(400, "invalid_request");
    assert!(
        a.description().contains("does not identify the client"),
        "{}",
        a.body
    );
    // A JWT-SVID for another audience.
    with_actor(authority.svid(&id("orchestrator"), "https://other.example"))
        .await
        .assert_error(400, "invalid_request");
    // Signed by a key the trust domain does not list.
    with_actor(JwtAuthority::new().svid(&id("orchestrator"), ISSUER))
        .await
        .assert_error(400, "invalid_request");
    // A user token in the actor slot.
    with_actor(gw.user_token(json!({})))
        .await
        .assert_error(400, "invalid_request");
}

/// RFC 8693 Appendix A.2 (delegation), with our keys: the subject token
/// carries `may_act` for the actor, the actor proves itself with a token,
/// a JWT is requested for a logical audience. The issued token has A.2's
/// claims, of the same types, with `act` naming only the actor.
#[tokio::test]
async fn rfc8693_appendix_a2_delegation_shape() {
    let up = upstream::start(Behaviour::Echo).await;
    let authority = JwtAuthority::new();
    let card_dir = tempfile::tempdir().unwrap();
    let card = card_dir.path().join("coop.json");
    std::fs::write(
        &card,
        json!({"name": "coop", "description": "d", "version": "1",
            "supportedInterfaces": [{"url": format!("{}/a2a/jsonrpc", up.url()), "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {}, "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"], "skills": []})
        .to_string(),
    )
    .unwrap();
    let gw = TestGateway::start(
        Options::new()
            .trust_domain(&authority.config_line())
            .raw(&format!(
                "[[agent]]\nname = \"coop\"\ncard = \"{}\"\nupstream = \"{}\"\nresource = \"urn:example:cooperation-context\"\n\n\
                 [[rule]]\ncaller = \"{}\"\nagent = \"coop\"\nscopes = [\"status\", \"feed\"]\n",
                card.display(),
                up.url(),
                id("orchestrator")
            )),
    )
    .await;
    // A.2.1: subject token with may_act, actor token, requested jwt.
    let subject = gw.user_token(json!({"sub": "user@example.net", "scope": "status feed",
        "may_act": {"sub": id("orchestrator")}}));
    let actor = authority.svid(&id("orchestrator"), ISSUER);
    let a = gw
        .exchange(
            "orchestrator",
            &[
                ("grant_type", GRANT),
                ("audience", "urn:example:cooperation-context"),
                ("subject_token", &subject),
                ("subject_token_type", JWT),
                ("actor_token", &actor),
                ("actor_token_type", JWT),
                ("requested_token_type", JWT),
            ],
        )
        .await;
    // A.2.2 response: issued_token_type jwt, expires_in. (A.2 says N_A as
    // token_type because its JWT is not an access token; ours is one.)
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["issued_token_type"], JWT);
    assert!(a.body["expires_in"].as_i64().unwrap() > 0);
    let c = claims(&a.token());
    // A.2.2 claims: {"aud","iss","exp","scope","sub","act":{"sub"}}.
    assert_eq!(c["aud"], "urn:example:cooperation-context");
    assert_eq!(c["iss"], ISSUER);
    assert!(c["exp"].is_i64());
    assert_eq!(c["sub"], "user@example.net");
    assert_eq!(c["scope"], "feed status");
    assert_eq!(c["act"], json!({"sub": id("orchestrator")}));
    // Beyond A.2, exactly the RFC 9068 / RFC 8705 profile members.
    let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "act",
            "aud",
            "client_id",
            "cnf",
            "exp",
            "iat",
            "iss",
            "jti",
            "scope",
            "sub"
        ]
    );
    assert!(c.get("may_act").is_none());
}

#[tokio::test]
async fn discovery_documents() {
    let (_up, gw) = start().await;
    let (s, m) = gw
        .get_json("orchestrator", "/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(m["issuer"], ISSUER);
    assert_eq!(m["token_endpoint"], format!("{}/oauth2/token", gw.base));
    assert_eq!(m["jwks_uri"], format!("{}/.well-known/jwks.json", gw.base));
    assert_eq!(m["grant_types_supported"], json!([GRANT]));
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!(["tls_client_auth"])
    );
    assert_eq!(m["tls_client_certificate_bound_access_tokens"], true);
    assert_eq!(
        m["scopes_supported"],
        json!(["calendar:read", "calendar:write", "tool:use"])
    );
    assert_eq!(m["response_types_supported"], json!([]));

    // RFC 9728, at the agent route and at the RFC's own location.
    for path in [
        "/agents/scheduler/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/agents/scheduler",
    ] {
        let (s, r) = gw.get_json("orchestrator", path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(r["resource"], resource(&gw, "scheduler"));
        assert_eq!(r["authorization_servers"], json!([ISSUER]));
        assert_eq!(r["jwks_uri"], format!("{}/.well-known/jwks.json", gw.base));
        assert_eq!(
            r["scopes_supported"],
            json!(["calendar:read", "calendar:write"])
        );
        assert_eq!(r["bearer_methods_supported"], json!(["header"]));
        assert_eq!(r["tls_client_certificate_bound_access_tokens"], true);
    }
    // Only for callers some rule lets reach the agent; unknown agents look the same.
    for path in [
        "/agents/scheduler/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/agents/scheduler",
        "/.well-known/oauth-protected-resource/agents/nobody",
    ] {
        let (s, _) = gw.get_json("intruder", path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
}

#[test]
fn a_bad_jwt_bundle_is_a_config_problem_with_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let bundle = dir.path().join("jwt-bundle.json");
    // Only an X.509 authority: nothing to verify a JWT-SVID with.
    std::fs::write(&bundle, r#"{"keys": [{"use": "x509-svid", "kty": "EC"}]}"#).unwrap();
    let o = Options::new().trust_domain(&format!("jwt_bundle = \"{}\"", bundle.display()));
    let path = dir.path().join("actgate.toml");
    let text = common::gateway::config_text(dir.path(), &o);
    let cfg = actgate::config::ConfigFile::parse(&path, &text).unwrap();
    let err = actgate::snapshot::Snapshot::build(&cfg, Default::default())
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{}: trust_domain[0].jwt_bundle:", path.display())),
        "{msg}"
    );
    assert!(msg.contains("no JWT authority"), "{msg}");
}

/// The target's card decides the default scopes, as on the proxy route:
/// exactly the requirement alternative the grant and the subject token
/// cover; a subject token lacking it gets `invalid_scope` naming the
/// scopes; an agent without a verified card gets no token.
#[tokio::test]
async fn the_targets_card_decides_the_scopes_of_an_exchanged_token() {
    let up = upstream::start(Behaviour::Echo).await;
    let card = json!({
        "securitySchemes": {
            "corp-oauth": {"oauth2SecurityScheme": {"flows": {"clientCredentials": {
                "tokenUrl": format!("{ISSUER}/oauth2/token"),
                "scopes": {"calendar:write": "write"}}}}}
        },
        "securityRequirements": [{"schemes": {"corp-oauth": {"list": ["calendar:write"]}}}]
    });
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .card("scheduler", card)
            .allow(
                "orchestrator",
                "scheduler",
                &["calendar:read", "calendar:write"],
                false,
            )
            .agent("dark", &up.url())
            .fetched_card("dark", "")
            .allow("orchestrator", "dark", &["calendar:read"], false),
    )
    .await;
    // Granted read and write, the user holds both: the card needs write only.
    let user = gw.user_token(json!({"scope": "calendar:read calendar:write"}));
    let t = gw
        .exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await
        .token();
    assert_eq!(claims(&t)["scope"], "calendar:write");
    // The user token lacks write: no token, and the answer names the scope.
    let reader = gw.user_token(json!({"scope": "calendar:read"}));
    let a = gw
        .exchange("orchestrator", &request(&reader, "scheduler", &[]))
        .await;
    a.assert_error(400, "invalid_scope");
    assert!(a.description().contains("calendar:write"), "{}", a.body);
    // No verified card (the upstream publishes none): no token.
    let a = gw
        .exchange("orchestrator", &request(&user, "dark", &[]))
        .await;
    a.assert_error(503, "temporarily_unavailable");
}
