//! The spine end to end: real mTLS sockets, per-test PKI, real upstreams.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::gateway::{claims, echoed_token, header, id, Options, TestGateway, IDP, ISSUER};
use common::upstream::{self, Behaviour};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};

fn verify_with_jwks(token: &str, jwks: &Value) -> Value {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let kid = header(token)["kid"].as_str().unwrap().to_string();
    let jwk = set.find(&kid).expect("kid published in JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .unwrap()
        .claims
}

#[tokio::test]
async fn delegated_call_mints_act_token_for_the_user() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &["calendar:write", "billing:charge"],
        false,
    ))
    .await;
    let user = gw.user_token(json!({"scope": "calendar:read calendar:write"}));
    let (status, _, body) = gw
        .send_message("orchestrator", "scheduler", Some(&user))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = echoed_token(&body);
    assert_ne!(token, user, "the user token must never be forwarded as is");

    let h = header(&token);
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(h["alg"], "ES256");
    let c = claims(&token);
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["sub"], "alice@example.com");
    assert_eq!(c["client_id"], id("orchestrator"));
    assert_eq!(c["aud"], format!("{}/agents/scheduler", gw.base));
    assert_eq!(c["act"], json!({"sub": id("orchestrator")}));
    // Granted ∩ user scopes: billing:charge is granted but not the user's,
    // calendar:read is the user's but not granted.
    assert_eq!(c["scope"], "calendar:write");
    let (iat, exp) = (c["iat"].as_i64().unwrap(), c["exp"].as_i64().unwrap());
    assert!(
        exp - iat <= 300 && exp > iat,
        "default lifetime is 5 minutes: {c}"
    );
    assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));

    // The token verifies with the key set the gateway publishes.
    let (s, jwks) = gw.get_json("orchestrator", "/.well-known/jwks.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "no private members in the JWKS"
    );
    assert_eq!(verify_with_jwks(&token, &jwks)["sub"], "alice@example.com");

    // Same caller, subject, audience and scopes: the cached token is reused.
    let (_, _, body2) = gw
        .send_message("orchestrator", "scheduler", Some(&user))
        .await;
    assert_eq!(echoed_token(&body2), token);
    assert!(
        gw.metrics().contains("actgate_token_cache_hits_total 1"),
        "{}",
        gw.metrics()
    );
}

#[tokio::test]
async fn oauth_metadata_names_issuer_and_jwks() {
    let gw = TestGateway::start(Options::new()).await;
    let (s, m) = gw
        .get_json("orchestrator", "/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(m["issuer"], ISSUER);
    assert_eq!(m["jwks_uri"], format!("{}/.well-known/jwks.json", gw.base));
}

#[tokio::test]
async fn app_only_needs_a_rule_that_allows_it() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .agent("notifier", &up.url())
            .allow("orchestrator", "scheduler", &["calendar:read"], false)
            .allow("orchestrator", "notifier", &["notify:send"], true),
    )
    .await;
    let (s, _, _) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, body) = gw.send_message("orchestrator", "notifier", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let c = claims(&echoed_token(&body));
    assert_eq!(c["sub"], id("orchestrator"));
    assert!(c.get("act").is_none(), "app-only tokens carry no act: {c}");
    assert_eq!(c["scope"], "notify:send");
    assert_eq!(
        up.requests().len(),
        1,
        "the refused call never reached the upstream"
    );
}

#[tokio::test]
async fn unknown_and_denied_agents_look_the_same() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &[],
        true,
    ))
    .await;
    let user = gw.user_token(json!({}));
    let denied = gw.send_message("intruder", "scheduler", Some(&user)).await;
    let unknown = gw
        .send_message("intruder", "no-such-agent", Some(&user))
        .await;
    assert_eq!(denied.0, StatusCode::FORBIDDEN);
    assert_eq!(unknown.0, StatusCode::FORBIDDEN);
    assert_eq!(denied.2, unknown.2);
    // Nothing else is looked at first: an invalid token (which would get
    // 401 from an agent the caller may reach) and an oversized body get the
    // same answer as for an agent that does not exist.
    let bad_token = gw
        .send_message("intruder", "scheduler", Some("not-a-token"))
        .await;
    let bad_token_unknown = gw
        .send_message("intruder", "no-such-agent", Some("not-a-token"))
        .await;
    assert_eq!(bad_token.0, StatusCode::FORBIDDEN, "{}", bad_token.2);
    assert_eq!(bad_token.2, bad_token_unknown.2);
    let url = format!("{}/agents/scheduler/a2a/jsonrpc", gw.base);
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    let (s, _, _) = gw
        .client("intruder")
        .fetch(Method::POST, &url, &h, Bytes::from(vec![b' '; 3 << 20]))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Cards are only shown to callers that may reach the agent.
    let card_url = format!("{}/agents/scheduler/.well-known/agent-card.json", gw.base);
    let (s, _, _) = gw
        .client("intruder")
        .fetch(Method::GET, &card_url, &HeaderMap::new(), Bytes::new())
        .await
        .unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, card) = gw
        .client("orchestrator")
        .fetch(Method::GET, &card_url, &HeaderMap::new(), Bytes::new())
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK);
    let card: Value = serde_json::from_slice(&card).unwrap();
    assert_eq!(
        card["supportedInterfaces"][0]["url"],
        format!("{}/agents/scheduler/a2a/jsonrpc", gw.base)
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_upstream() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &["calendar:read"],
        false,
    ))
    .await;
    let user = gw.user_token(json!({}));
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {user}")).unwrap(),
    );
    h.append(
        "X-Forwarded-Client-Cert",
        HeaderValue::from_static("By=x;URI=spiffe://example.org/agent/admin"),
    );
    h.append(
        "x-forwarded-client-cert",
        HeaderValue::from_static("URI=spiffe://example.org/agent/admin"),
    );
    h.append(
        "X-Actgate-Caller",
        HeaderValue::from_static("spiffe://example.org/agent/admin"),
    );
    h.append("l5d-client-id", HeaderValue::from_static("admin.example"));
    h.append("Client-Cert", HeaderValue::from_static(":AAAA:"));
    h.append("X-Forwarded-For", HeaderValue::from_static("10.0.0.1"));
    h.append("Forwarded", HeaderValue::from_static("for=10.0.0.1"));
    h.append(
        "A2A-Extensions",
        HeaderValue::from_static("urn:example:ext"),
    );
    let (s, _, body) = gw.send_message_with("orchestrator", "scheduler", h).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let seen = &up.requests()[0];
    for name in [
        "x-forwarded-client-cert",
        "x-actgate-caller",
        "l5d-client-id",
        "client-cert",
        "x-forwarded-for",
        "forwarded",
    ] {
        assert!(
            seen.headers.get(name).is_none(),
            "{name} reached the upstream"
        );
    }
    let auths: Vec<_> = seen.headers.get_all("authorization").iter().collect();
    assert_eq!(auths.len(), 1);
    assert_eq!(
        claims(&echoed_token(&body))["client_id"],
        id("orchestrator")
    );
    assert_eq!(seen.headers["a2a-version"], "1.0");
    assert_eq!(seen.headers["a2a-extensions"], "urn:example:ext");
}

#[tokio::test]
async fn sse_events_arrive_before_the_stream_ends() {
    let release = Arc::new(tokio::sync::Notify::new());
    let up = upstream::start(Behaviour::GatedStream {
        first: "{\"n\":1}".into(),
        last: "{\"n\":2}".into(),
        release: release.clone(),
    })
    .await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &[],
        true,
    ))
    .await;
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("accept", HeaderValue::from_static("text/event-stream"));
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "SendStreamingMessage", "params": {}});
    let resp = gw
        .client("orchestrator")
        .send(
            Method::POST,
            &format!("{}/agents/scheduler/a2a/jsonrpc", gw.base),
            &h,
            Bytes::from(body.to_string()),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    // The upstream holds the last event until we release it, so a gateway that
    // buffered the stream would make this time out.
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("first SSE event must arrive while the stream is still open")
        .unwrap()
        .unwrap();
    assert_eq!(first.data_ref().unwrap().as_ref(), b"data: {\"n\":1}\n\n");
    release.notify_one();
    let mut rest = Vec::new();
    while let Some(f) = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .unwrap()
    {
        if let Ok(d) = f.unwrap().into_data() {
            rest.extend_from_slice(&d);
        }
    }
    assert_eq!(rest, b"data: {\"n\":2}\n\n");
}

#[tokio::test]
async fn three_hop_chain_nests_act_and_depth_is_capped() {
    let up = upstream::start(Behaviour::Echo).await;
    let opts = |depth: usize| {
        Options::new()
            .agent("scheduler", &up.url())
            .agent("notifier", &up.url())
            .agent("tool", &up.url())
            .allow(
                "orchestrator",
                "scheduler",
                &["calendar:write", "notify:send", "tool:use"],
                false,
            )
            .allow("scheduler", "notifier", &["notify:send", "tool:use"], false)
            .allow("notifier", "tool", &["tool:use"], false)
            .tokens(&format!("max_chain_depth = {depth}"))
    };
    let gw = TestGateway::start(opts(5)).await;
    let user = gw.user_token(json!({}));
    let (s, _, b1) = gw
        .send_message("orchestrator", "scheduler", Some(&user))
        .await;
    assert_eq!(s, StatusCode::OK, "{b1}");
    let t1 = echoed_token(&b1);
    let (s, _, b2) = gw.send_message("scheduler", "notifier", Some(&t1)).await;
    assert_eq!(s, StatusCode::OK, "{b2}");
    let t2 = echoed_token(&b2);
    let (s, _, b3) = gw.send_message("notifier", "tool", Some(&t2)).await;
    assert_eq!(s, StatusCode::OK, "{b3}");
    let c3 = claims(&echoed_token(&b3));
    assert_eq!(c3["sub"], "alice@example.com");
    assert_eq!(
        c3["act"],
        json!({"sub": id("notifier"), "act": {"sub": id("scheduler"), "act": {"sub": id("orchestrator")}}})
    );
    assert_eq!(c3["client_id"], id("notifier"));
    assert_eq!(c3["scope"], "tool:use");
    assert!(c3["exp"].as_i64() <= claims(&t2)["exp"].as_i64());

    // A token minted for the scheduler is useless to anyone else: a caller
    // with no rule for the agent gets the plain 403 (its token is not even
    // looked at), one that may reach it gets 401 for the token.
    let (s, _, _) = gw.send_message("intruder", "notifier", Some(&t1)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = gw.send_message("notifier", "tool", Some(&t1)).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "replay by a non-audience agent"
    );

    // With a depth limit of 2 the third hop is refused.
    let gw2 = TestGateway::start(opts(2)).await;
    let user = gw2.user_token(json!({}));
    let (_, _, b1) = gw2
        .send_message("orchestrator", "scheduler", Some(&user))
        .await;
    let (_, _, b2) = gw2
        .send_message("scheduler", "notifier", Some(&echoed_token(&b1)))
        .await;
    let (s, _, b3) = gw2
        .send_message("notifier", "tool", Some(&echoed_token(&b2)))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b3}");
}

#[tokio::test]
async fn forged_and_misissued_subject_tokens_get_401() {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &["calendar:read"],
        true,
    ))
    .await;
    let good = gw.user_token(json!({}));
    let good_claims = claims(&good);
    let kid = header(&good)["kid"].clone();

    // alg none
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&good_claims)
    );
    // HS256 "signed" with the IdP's public key material as the HMAC secret.
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(gw.certs().join("idp-jwks.json")).unwrap())
            .unwrap();
    let secret = jwks["keys"][0].to_string();
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: kid.as_str().map(str::to_string),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &good_claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    // Unknown kid: valid signature structure but a kid the issuer never had.
    let unknown_kid = {
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        parts[0] = b64(&json!({"alg": "ES256", "typ": "JWT", "kid": "not-a-key"}));
        parts.join(".")
    };
    let cases = [
        ("alg none", none),
        ("HS256 with public key", hs),
        ("unknown kid", unknown_kid),
        (
            "wrong iss",
            gw.user_token(json!({"iss": "https://evil.example"})),
        ),
        (
            "wrong aud",
            gw.user_token(json!({"aud": "https://other.example"})),
        ),
        (
            "expired",
            gw.user_token(
                json!({"exp": actgate::unix_now() - 3600, "iat": actgate::unix_now() - 7200}),
            ),
        ),
        ("no sub", gw.user_token(json!({"sub": null}))),
        ("garbage", "not.a.jwt".to_string()),
        (
            "issuer is the gateway, signed by the IdP",
            gw.user_token(json!({"iss": ISSUER})),
        ),
    ];
    for (what, tok) in cases {
        let (s, h, body) = gw
            .send_message("orchestrator", "scheduler", Some(&tok))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {body}");
        let challenge = h
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        assert!(
            challenge
                .as_deref()
                .is_some_and(|c| c.starts_with("Bearer error=\"invalid_token\"")),
            "{what}: {challenge:?}"
        );
        assert!(
            !body.to_string().contains(&tok),
            "{what}: the token must not be echoed"
        );
    }
    assert!(
        up.requests().is_empty(),
        "no forged call reached the upstream"
    );
    // The genuine token still works (and app-only is allowed here, so the
    // 401s above were not a policy accident).
    let (s, _, _) = gw
        .send_message("orchestrator", "scheduler", Some(&good))
        .await;
    assert_eq!(s, StatusCode::OK);
    let _ = IDP;
}

#[tokio::test]
async fn may_act_in_the_subject_token_restricts_who_may_act() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .allow("orchestrator", "scheduler", &[], false)
            .allow("intruder", "scheduler", &[], false),
    )
    .await;
    let user = gw.user_token(json!({"may_act": {"sub": id("orchestrator")}}));
    let (s, _, body) = gw
        .send_message("orchestrator", "scheduler", Some(&user))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, h, _) = gw.send_message("intruder", "scheduler", Some(&user)).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "policy allows the intruder, may_act does not"
    );
    assert!(h.contains_key("www-authenticate"));
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test]
async fn scope_is_never_wider_than_the_subject_token() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .agent("notifier", &up.url())
            .allow("orchestrator", "scheduler", &["calendar:read"], false)
            .allow(
                "scheduler",
                "notifier",
                &["calendar:read", "calendar:admin"],
                false,
            ),
    )
    .await;
    let user = gw.user_token(json!({"scope": "calendar:read calendar:admin"}));
    let (_, _, b1) = gw
        .send_message("orchestrator", "scheduler", Some(&user))
        .await;
    let t1 = echoed_token(&b1);
    assert_eq!(claims(&t1)["scope"], "calendar:read");
    // The scheduler's rule grants calendar:admin, and the user had it, but the
    // token the scheduler holds does not: the next hop cannot widen.
    let (_, _, b2) = gw.send_message("scheduler", "notifier", Some(&t1)).await;
    assert_eq!(claims(&echoed_token(&b2))["scope"], "calendar:read");
}

#[tokio::test]
async fn upstream_failures_are_bounded_json_errors() {
    // A port with nothing listening.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let hang = upstream::start(Behaviour::Hang).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &format!("http://{dead}"))
            .agent("notifier", &hang.url())
            .allow("orchestrator", "scheduler", &[], true)
            .allow("orchestrator", "notifier", &[], true)
            .gateway("upstream_timeout = \"300ms\""),
    )
    .await;
    let (s, _, body) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"], "upstream_unreachable");
    let started = std::time::Instant::now();
    let (s, _, body) = gw.send_message("orchestrator", "notifier", None).await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["error"], "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Still serving.
    let (s, _, _) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .allow("orchestrator", "scheduler", &[], true)
            .gateway("max_request_body = 1024"),
    )
    .await;
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    let big = Bytes::from(vec![b' '; 4096]);
    let (s, _, _) = gw
        .client("orchestrator")
        .fetch(
            Method::POST,
            &format!("{}/agents/scheduler/a2a/jsonrpc", gw.base),
            &h,
            big,
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn head_of_the_card_works_over_http2() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &[],
        true,
    ))
    .await;
    let h2 = gw.client_h2("orchestrator");
    let (s, h, b) = h2
        .fetch(
            Method::HEAD,
            &format!("{}/agents/scheduler/.well-known/agent-card.json", gw.base),
            &HeaderMap::new(),
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK);
    assert!(b.is_empty());
    assert!(h["content-type"].to_str().unwrap().contains("json"));
}

#[tokio::test]
async fn rest_path_and_query_are_forwarded_over_http2() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &[],
        true,
    ))
    .await;
    let h2 = gw.client_h2("orchestrator");
    let resp = h2
        .send(
            Method::GET,
            &format!(
                "{}/agents/scheduler/a2a/rest/tasks/t-1?historyLength=2",
                gw.base
            ),
            &HeaderMap::new(),
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["path"], "/a2a/rest/tasks/t-1");
    assert_eq!(body["query"], "historyLength=2");
}

#[tokio::test]
async fn connection_without_client_certificate_is_refused_and_counted() {
    let gw = TestGateway::start(Options::new()).await;
    let anon = actgate::dev::client::MtlsClient::new(&gw.ca(), None, false).unwrap();
    let r = anon
        .fetch(
            Method::GET,
            &format!("{}/.well-known/jwks.json", gw.base),
            &HeaderMap::new(),
            Bytes::new(),
        )
        .await;
    assert!(
        r.is_err(),
        "a connection without a client certificate must fail"
    );
    gw.expect_metric("reason=\"no_certificate\"} 1").await;
}

#[tokio::test]
async fn rules_allow_operations_per_caller_across_bindings() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .raw(&format!(
                "[[rule]]\ncaller = \"{}\"\nagent = \"scheduler\"\napp_only = true\noperations = [\"GetTask\", \"SendMessage\"]\n",
                id("orchestrator")
            )),
    )
    .await;
    let client = gw.client("orchestrator");
    let rpc = |method: &str| {
        Bytes::from(
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {"id": "t-1"}})
                .to_string(),
        )
    };
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    let url = |p: &str| format!("{}/agents/scheduler{p}", gw.base);
    let cases: [(Method, &str, Bytes, StatusCode); 8] = [
        (Method::POST, "/a2a/jsonrpc", rpc("GetTask"), StatusCode::OK),
        (
            Method::POST,
            "/a2a/jsonrpc",
            rpc("CancelTask"),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            "/a2a/jsonrpc",
            rpc("tasks/get"),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/a2a/jsonrpc",
            rpc("tasks/cancel"),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            "/a2a/jsonrpc",
            rpc("SendStreamingMessage"),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            "/a2a/rest/tasks/t-1",
            Bytes::new(),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/a2a/rest/tasks/t-1:cancel",
            Bytes::new(),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            "/a2a/rest/message:stream",
            Bytes::new(),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (m, path, body, want) in cases {
        let (s, _, b) = client.fetch(m.clone(), &url(path), &h, body).await.unwrap();
        assert_eq!(s, want, "{m} {path}: {}", String::from_utf8_lossy(&b));
    }
    // Only the three allowed calls reached the upstream.
    assert_eq!(up.requests().len(), 3);
}

#[tokio::test]
async fn agent_list_shows_only_reachable_agents() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .agent("notifier", &up.url())
            .agent("tool", &up.url())
            .allow("orchestrator", "scheduler", &[], false)
            .allow("orchestrator", "tool", &[], true)
            .allow("intruder", "notifier", &[], true),
    )
    .await;
    let (s, v) = gw.get_json("orchestrator", "/agents").await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["scheduler", "tool"]);
    assert_eq!(
        v["agents"][0]["card"]["supportedInterfaces"][0]["url"],
        format!("{}/agents/scheduler/a2a/jsonrpc", gw.base)
    );
    let (_, v) = gw.get_json("notifier", "/agents").await;
    assert_eq!(v, json!({"agents": []}));
}
