//! The RFC 7523 JWT authorization grant at the token endpoint (identity
//! chaining across trust domains): a partner authorization server's
//! assertion, presented by an agent over mTLS, becomes a gateway token for a
//! local agent. Real gateway, real mTLS callers, per-test keys; one partner
//! serves its keys over HTTPS ([`common::idp`]).

mod common;

use common::exchange::{form, post_token, request, Answer};
use common::gateway::{claims, header, id, Options, TestGateway, IDP, ISSUER};
use common::idp::{jwks, IdpKey, TestIdp};
use common::upstream::{self, Behaviour, TestUpstream};
use http::HeaderMap;
use serde_json::{json, Value};

use actgate::token::{SigningAlgorithm, SigningKey};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const PARTNER: &str = "https://as.partner.example.net";
const PARTNER_AGENT: &str = "spiffe://partner.example.net/agent/planner";

/// The partner authorization server: its signing key, and its JWKS file.
struct Partner {
    key: SigningKey,
    _dir: tempfile::TempDir,
    jwks: std::path::PathBuf,
    /// The private key, PKCS#8 PEM (for PyJWT).
    pem: std::path::PathBuf,
}

impl Partner {
    fn new() -> Partner {
        let (key, pem) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("partner-jwks.json");
        std::fs::write(&path, json!({"keys": [key.public_jwk()]}).to_string()).unwrap();
        let pem_path = dir.path().join("partner.key");
        std::fs::write(&pem_path, pem).unwrap();
        Partner {
            key,
            _dir: dir,
            jwks: path,
            pem: pem_path,
        }
    }

    /// `[[subject_issuer]]` trusting this partner for assertions.
    fn section(&self, extra: &str) -> String {
        format!(
            "[[subject_issuer]]\nissuer = \"{PARTNER}\"\njwks = \"{}\"\naudience = \"{ISSUER}\"\nassertion_grant = true\n{extra}\n",
            self.jwks.display()
        )
    }

    /// An assertion for bob with a fresh `jti`; `extra` overrides claims
    /// (`null` removes one).
    fn assertion(&self, extra: Value) -> String {
        self.sign("JWT", &assertion_claims(PARTNER, extra))
    }

    fn sign(&self, typ: &str, claims: &Value) -> String {
        actgate::token::mint::sign_jwt(&self.key, typ, claims).unwrap()
    }
}

fn assertion_claims(iss: &str, extra: Value) -> Value {
    let now = actgate::unix_now();
    let mut c = json!({"iss": iss, "sub": "bob@partner.example.net", "aud": ISSUER,
        "iat": now, "exp": now + 120, "jti": random_jti(),
        "scope": "calendar:read calendar:write"});
    for (k, v) in extra.as_object().unwrap() {
        match v {
            Value::Null => c.as_object_mut().unwrap().remove(k),
            v => c.as_object_mut().unwrap().insert(k.clone(), v.clone()),
        };
    }
    c
}

fn random_jti() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The grant's form: `assertion` for `audience`, plus `extra`.
fn grant<'a>(
    assertion: &'a str,
    audience: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("grant_type", GRANT),
        ("assertion", assertion),
        ("audience", audience),
    ];
    v.extend_from_slice(extra);
    v
}

/// POST the grant of `assertion` for `agent` as `caller`, plus `extra`.
async fn bearer(
    gw: &TestGateway,
    caller: &str,
    assertion: &str,
    agent: &str,
    extra: &[(&str, &str)],
) -> Answer {
    gw.exchange(caller, &grant(assertion, agent, extra)).await
}

/// Assert a 400 `error` whose description says `needle`.
fn refused(a: &Answer, error: &str, needle: &str) {
    a.assert_error(400, error);
    assert!(a.description().contains(needle), "{needle}: {}", a.body);
}

/// The orchestrator may obtain tokens for the scheduler for partner users;
/// the notifier only for users of the gateway's usual IdP.
fn options(up: &TestUpstream, partner: &Partner) -> Options {
    Options::new()
        .agent("scheduler", &up.url())
        .agent("tool", &up.url())
        .rule(&format!(
            "caller = \"{}\"\nagent = \"scheduler\"\nscopes = [\"calendar:read\", \"calendar:write\"]\nsubject_issuer = \"{PARTNER}\"\n",
            id("orchestrator")
        ))
        .rule(&format!(
            "caller = \"{}\"\nagent = \"scheduler\"\nscopes = [\"calendar:read\"]\nsubject_issuer = \"{IDP}\"\n",
            id("notifier")
        ))
        .raw(&partner.section(""))
}

async fn start_with(o: impl FnOnce(Options) -> Options) -> (TestUpstream, Partner, TestGateway) {
    let up = upstream::start(Behaviour::Echo).await;
    let partner = Partner::new();
    let gw = TestGateway::start(o(options(&up, &partner))).await;
    (up, partner, gw)
}

async fn start() -> (TestUpstream, Partner, TestGateway) {
    start_with(|o| o).await
}

#[tokio::test]
async fn an_assertion_becomes_a_certificate_bound_token_for_a_local_agent() {
    let (_up, partner, gw) = start().await;
    // Issued to this client (ID-JAG's client_id): fine.
    let assertion = partner.assertion(json!({"client_id": id("orchestrator")}));
    let a = bearer(
        &gw,
        "orchestrator",
        &assertion,
        "scheduler",
        &[("scope", "calendar:read")],
    )
    .await;
    a.assert_no_store();
    let token = a.token();
    let body = a.body.as_object().unwrap();
    assert_eq!(body["token_type"], "Bearer");
    // RFC 6749 §5.1 response: no RFC 8693 member, no refresh token, and the
    // scope is the one asked for.
    for absent in ["issued_token_type", "refresh_token", "scope"] {
        assert!(!body.contains_key(absent), "{absent}: {}", a.body);
    }
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!(expires_in > 0 && expires_in <= 120, "{}", a.body);

    assert_eq!(header(&token)["typ"], "at+jwt");
    let aud = format!("{}/agents/scheduler", gw.base);
    let c = gw.verify(&token, &aud).await;
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["sub"], "bob@partner.example.net");
    assert_eq!(c["aud"], aud);
    assert_eq!(c["client_id"], id("orchestrator"));
    assert_eq!(c["scope"], "calendar:read");
    assert_eq!(c["act"], json!({"sub": id("orchestrator")}));
    assert_eq!(c["cnf"], json!({"x5t#S256": gw.thumbprint("orchestrator")}));
    // Never longer than the assertion it came from.
    assert!(
        c["exp"].as_i64() <= claims(&assertion)["exp"].as_i64(),
        "{c}"
    );

    // The gateway advertises the grant, since an issuer is trusted for it.
    let (_, m) = gw
        .get_json("orchestrator", "/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(
        m["grant_types_supported"],
        json!(["urn:ietf:params:oauth:grant-type:token-exchange", GRANT])
    );
}

#[tokio::test]
async fn the_scope_is_what_policy_grants_the_assertion_carries_and_the_caller_asks() {
    let (_up, partner, gw) = start().await;
    // Policy grants read and write, the assertion carries read only.
    let narrow = json!({"scope": "calendar:read notify:send"});
    let a = bearer(
        &gw,
        "orchestrator",
        &partner.assertion(narrow.clone()),
        "scheduler",
        &[],
    )
    .await;
    assert_eq!(a.body["scope"], "calendar:read", "{}", a.body);
    assert_eq!(claims(&a.token())["scope"], "calendar:read");
    let asked = [("scope", "calendar:write")];
    let a = bearer(
        &gw,
        "orchestrator",
        &partner.assertion(narrow),
        "scheduler",
        &asked,
    )
    .await;
    refused(&a, "invalid_scope", "not in the assertion's scope");
    // An assertion without scopes: a token without scopes, and none to ask for.
    let bare = partner.assertion(json!({"scope": null}));
    let c = claims(
        &bearer(&gw, "orchestrator", &bare, "scheduler", &[])
            .await
            .token(),
    );
    assert!(c.get("scope").is_none(), "{c}");
    let bare = partner.assertion(json!({"scope": null}));
    let a = bearer(&gw, "orchestrator", &bare, "scheduler", &asked).await;
    a.assert_error(400, "invalid_scope");
}

#[tokio::test]
async fn the_assertions_act_is_nested_under_the_caller_and_the_depth_limit_holds() {
    let (_up, partner, gw) = start_with(|o| o.tokens("max_chain_depth = 2")).await;
    let one = json!({"act": {"sub": PARTNER_AGENT}});
    let a = bearer(
        &gw,
        "orchestrator",
        &partner.assertion(one),
        "scheduler",
        &[],
    )
    .await;
    assert_eq!(
        claims(&a.token())["act"],
        json!({"sub": id("orchestrator"), "act": {"sub": PARTNER_AGENT}})
    );
    // Two actors in the assertion plus the caller: three, over the limit.
    let two = json!({"act": {"sub": PARTNER_AGENT, "act": {"sub": "spiffe://partner.example.net/agent/ui"}}});
    let a = bearer(
        &gw,
        "orchestrator",
        &partner.assertion(two),
        "scheduler",
        &[],
    )
    .await;
    refused(&a, "invalid_grant", "delegation chain too deep");
}

/// The token endpoint URL may be the assertion's audience too, when the
/// config names it (RFC 7523 allowed it; the MCP profiles still send it).
#[tokio::test]
async fn the_token_endpoint_as_audience_once_configured() {
    let (_up, partner, gw) = start().await;
    let endpoint = format!("{}/oauth2/token", gw.base);
    let at_endpoint = json!({"aud": endpoint});
    let a = bearer(
        &gw,
        "orchestrator",
        &partner.assertion(at_endpoint.clone()),
        "scheduler",
        &[],
    )
    .await;
    refused(&a, "invalid_grant", "audience");
    let text = std::fs::read_to_string(gw.config_path()).unwrap();
    let both = format!("audience = [\"{ISSUER}\", \"{endpoint}\"]\nassertion_grant = true");
    let text = text.replacen(
        &format!("audience = \"{ISSUER}\"\nassertion_grant = true"),
        &both,
        1,
    );
    std::fs::write(gw.config_path(), text).unwrap();
    gw.reload().unwrap();
    let c = claims(
        &bearer(
            &gw,
            "orchestrator",
            &partner.assertion(at_endpoint),
            "scheduler",
            &[],
        )
        .await
        .token(),
    );
    assert_eq!(c["sub"], "bob@partner.example.net");
    // Still exactly these names: the listener's origin alone is not one.
    let at_origin = partner.assertion(json!({"aud": gw.base}));
    let a = bearer(&gw, "orchestrator", &at_origin, "scheduler", &[]).await;
    refused(&a, "invalid_grant", "audience");
}

#[tokio::test]
async fn a_used_assertion_is_refused_the_second_time() {
    let (_up, partner, gw) = start().await;
    let assertion = partner.assertion(json!({}));
    let pairs = grant(&assertion, "scheduler", &[]);
    gw.exchange("orchestrator", &pairs).await.token();
    let again = gw.exchange("orchestrator", &pairs).await;
    refused(&again, "invalid_grant", "already used");
    // By another caller, too, and after a reload.
    gw.reload().unwrap();
    let other = gw.exchange("notifier", &pairs).await;
    refused(&other, "invalid_grant", "already used");
    // A new assertion (new jti) for the same user is fine.
    bearer(
        &gw,
        "orchestrator",
        &partner.assertion(json!({})),
        "scheduler",
        &[],
    )
    .await
    .token();
}

#[tokio::test]
async fn bad_assertions_are_invalid_grant() {
    let (_up, partner, gw) = start().await;
    let now = actgate::unix_now();
    let valid = partner.assertion(json!({}));
    // Same signature over another payload (the subject changed).
    let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let mut c = claims(&valid);
    c["sub"] = "mallory@partner.example.net".into();
    parts[1] = base64_url(&c.to_string());
    let tampered = parts.join(".");
    let stranger = SigningKey::generate(SigningAlgorithm::Es256).unwrap().0;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            partner.assertion(json!({"iat": now - 400, "exp": now - 200})),
            "expired",
        ),
        ("no exp", partner.assertion(json!({"exp": null})), "exp"),
        ("no iat", partner.assertion(json!({"iat": null})), "iat"),
        (
            "not yet valid",
            partner.assertion(json!({"nbf": now + 100, "exp": now + 200, "iat": now})),
            "not yet valid",
        ),
        (
            "too long-lived",
            partner.assertion(json!({"exp": now + 301})),
            "max_assertion_lifetime",
        ),
        ("no sub", partner.assertion(json!({"sub": null})), "sub"),
        ("no jti", partner.assertion(json!({"jti": null})), "jti"),
        (
            "aud an agent",
            partner.assertion(json!({"aud": format!("{}/agents/scheduler", gw.base)})),
            "audience",
        ),
        (
            "aud two values",
            partner.assertion(json!({"aud": [ISSUER, "https://other.example"]})),
            "single",
        ),
        ("bad signature", tampered, "signature"),
        (
            "unknown key",
            actgate::token::mint::sign_jwt(&stranger, "JWT", &assertion_claims(PARTNER, json!({})))
                .unwrap(),
            "kid",
        ),
        (
            "an access token",
            partner.sign("at+jwt", &assertion_claims(PARTNER, json!({}))),
            "at+jwt",
        ),
        (
            "issued to another client",
            partner.assertion(json!({"client_id": id("notifier")})),
            "client_id names another client",
        ),
        (
            "bound to another certificate",
            partner.assertion(json!({"cnf": {"x5t#S256": gw.thumbprint("notifier")}})),
            "another certificate",
        ),
        ("not a JWT", "abc".into(), "malformed"),
    ];
    for (name, assertion, needle) in cases {
        let a = bearer(&gw, "orchestrator", &assertion, "scheduler", &[]).await;
        assert_eq!(a.body["error"], "invalid_grant", "{name}: {}", a.body);
        refused(&a, "invalid_grant", needle);
    }
    // The valid one still works: none of the above used it up.
    bearer(&gw, "orchestrator", &valid, "scheduler", &[])
        .await
        .token();
}

fn base64_url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn only_issuers_marked_for_assertions_are_trusted_and_only_for_that() {
    let (_up, partner, gw) = start().await;
    // The usual IdP's user token, addressed to the gateway with a jti: a
    // well-formed assertion in every respect but trust.
    let user = gw.user_token(json!({"jti": random_jti()}));
    let a = bearer(&gw, "notifier", &user, "scheduler", &[]).await;
    refused(
        &a,
        "invalid_grant",
        "not trusted for JWT authorization grants",
    );
    // The gateway's own token is no assertion either.
    let own = gw
        .exchange(
            "notifier",
            &request(&gw.user_token(json!({})), "scheduler", &[]),
        )
        .await
        .token();
    let a = bearer(&gw, "scheduler", &own, "scheduler", &[]).await;
    a.assert_error(400, "invalid_grant");
    // And the partner's assertion is no subject token: not in the exchange,
    // not on the proxy route.
    let assertion = partner.assertion(json!({}));
    let a = gw
        .exchange("orchestrator", &request(&assertion, "scheduler", &[]))
        .await;
    refused(&a, "invalid_request", "JWT authorization grants only");
    let (status, _, _) = gw
        .send_message("orchestrator", "scheduler", Some(&assertion))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn policy_decides_with_the_assertions_issuer_and_the_caller() {
    let (_up, partner, gw) = start().await;
    let may_act = json!({"may_act": {"sub": id("notifier")}});
    for (why, caller, extra, agent, error) in [
        // Only for the usual IdP's users.
        (
            "subject_issuer rule",
            "notifier",
            json!({}),
            "scheduler",
            "invalid_target",
        ),
        (
            "no rule at all",
            "orchestrator",
            json!({}),
            "tool",
            "invalid_target",
        ),
        // may_act in the assertion names who may use it.
        (
            "may_act",
            "orchestrator",
            may_act,
            "scheduler",
            "unauthorized_client",
        ),
    ] {
        let a = bearer(&gw, caller, &partner.assertion(extra), agent, &[]).await;
        assert_eq!(a.body["error"], error, "{why}: {}", a.body);
        a.assert_error(400, error);
    }
}

#[tokio::test]
async fn parameters_and_client_authentication() {
    let (_up, partner, gw) = start().await;
    let assertion = partner.assertion(json!({}));
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "no assertion",
            vec![("grant_type", GRANT), ("audience", "scheduler")],
            "invalid_request",
        ),
        (
            "no target",
            vec![("grant_type", GRANT), ("assertion", &assertion)],
            "invalid_target",
        ),
        (
            "two targets",
            grant(&assertion, "scheduler", &[("audience", "tool")]),
            "invalid_target",
        ),
        (
            "client assertion",
            grant(&assertion, "scheduler", &[("client_assertion", "x.y.z")]),
            "invalid_client",
        ),
        (
            "another client_id",
            grant(
                &assertion,
                "scheduler",
                &[("client_id", "spiffe://example.org/agent/tool")],
            ),
            "invalid_client",
        ),
        (
            "repeated assertion",
            grant(&assertion, "scheduler", &[("assertion", &assertion)]),
            "invalid_request",
        ),
        (
            "bad scope",
            grant(&assertion, "scheduler", &[("scope", "a\"b")]),
            "invalid_scope",
        ),
    ];
    for (name, pairs, error) in cases {
        let a = post_token(
            &gw.client("orchestrator"),
            &gw.base,
            form(&pairs),
            HeaderMap::new(),
        )
        .await;
        assert_eq!(a.body["error"], error, "{name}: {}", a.body);
        a.assert_error(400, error);
    }
    // None of these got as far as using the assertion.
    bearer(&gw, "orchestrator", &assertion, "scheduler", &[])
        .await
        .token();
}

#[tokio::test]
async fn grants_are_audited_once_with_the_chain() {
    let (_up, partner, gw) = start().await;
    let assertion = partner.assertion(json!({"act": {"sub": PARTNER_AGENT}}));
    let jti = claims(
        &bearer(&gw, "orchestrator", &assertion, "scheduler", &[])
            .await
            .token(),
    )["jti"]
        .clone();
    let replay = bearer(&gw, "orchestrator", &assertion, "scheduler", &[]).await;
    replay.assert_error(400, "invalid_grant");
    gw.running.current().audit.flush().await.unwrap();
    let records = common::audit::records(&gw.dir.path().join("audit"));
    let grants: Vec<&Value> = records
        .iter()
        .filter(|r| r["operation"] == "JwtBearer")
        .collect();
    assert_eq!(grants.len(), 2, "{grants:?}");
    let (ok, refused) = (grants[0], grants[1]);
    assert_eq!(ok["kind"], "token_exchange");
    assert_eq!(ok["decision"], "allow");
    assert_eq!(ok["jti"], jti);
    assert_eq!(ok["subject"], "bob@partner.example.net");
    assert_eq!(ok["subject_issuer"], PARTNER);
    assert_eq!(ok["act"], json!([id("orchestrator"), PARTNER_AGENT]));
    assert_eq!(refused["decision"], "invalid");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid_grant: assertion: assertion was already used"),
        "{refused}"
    );
    // The records never hold the assertion.
    assert!(!records.iter().any(|r| r.to_string().contains(&assertion)));
}

#[tokio::test]
async fn a_partner_whose_keys_are_fetched_by_url() {
    let key = IdpKey::rsa("partner-2026");
    let idp = TestIdp::start(jwks(&[&key])).await;
    let up = upstream::start(Behaviour::Echo).await;
    let o = Options::new().agent("scheduler", &up.url()).raw(&format!(
        "[[subject_issuer]]\nissuer = \"{u}\"\njwks_uri = \"{u}/jwks\"\nca = \"{ca}\"\naudience = \"{ISSUER}\"\nalgorithms = [\"RS256\"]\nassertion_grant = true\nmax_assertion_lifetime = \"2m\"\nsubject_claim = \"preferred_username\"\n\n\
         [[rule]]\ncaller = \"{c}\"\nagent = \"scheduler\"\nscopes = [\"calendar:read\"]\nsubject_issuer = \"{u}\"\n",
        u = idp.url,
        ca = idp.ca_path.display(),
        c = id("orchestrator"),
    ));
    let gw = TestGateway::start(o).await;
    // The issuer's claim mapping applies: the user is `preferred_username`.
    let bob = json!({"preferred_username": "bob", "sub": "f3a9-pairwise"});
    let assertion = key.sign(&assertion_claims(&idp.url, bob));
    let token = bearer(&gw, "orchestrator", &assertion, "scheduler", &[])
        .await
        .token();
    let c = claims(&token);
    assert_eq!(c["sub"], "bob");
    assert_eq!(c["scope"], "calendar:read");
    assert!(idp.jwks_fetches() >= 1);
    // This issuer's own lifetime bound: 2 minutes.
    let now = actgate::unix_now();
    let long = key.sign(&assertion_claims(&idp.url, json!({"exp": now + 121})));
    let a = bearer(&gw, "orchestrator", &long, "scheduler", &[]).await;
    a.assert_error(400, "invalid_grant");
}

#[test]
fn config_check_requires_the_gateway_as_the_assertion_audience() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let jwks_path = dir.path().join("p.json");
    std::fs::write(
        &jwks_path,
        json!({"keys": [SigningKey::generate(SigningAlgorithm::Es256).unwrap().0.public_jwk()]})
            .to_string(),
    )
    .unwrap();
    let o = Options::new().raw(&format!(
        "[[subject_issuer]]\nissuer = \"{PARTNER}\"\njwks = \"{j}\"\naudience = [\"{ISSUER}\", \"https://agents.example\"]\nassertion_grant = true\nmax_assertion_lifetime = \"2h\"\n\n\
         [[subject_issuer]]\nissuer = \"https://idp6.example.com\"\njwks = \"{j}\"\naudience = \"x\"\nmax_assertion_lifetime = \"1m\"\n",
        j = jwks_path.display()
    ));
    let path = dir.path().join("actgate.toml");
    let cfg =
        actgate::config::ConfigFile::parse(&path, &common::gateway::config_text(dir.path(), &o));
    let Err(err) = cfg.and_then(|c| actgate::snapshot::Snapshot::build(&c, Default::default()))
    else {
        panic!("the config must be refused");
    };
    let err = err.to_string();
    for expected in [
        "subject_issuer[1].audience: \"https://agents.example\": with assertion_grant = true, the audience must name this gateway: gateway.issuer (\"https://gateway.example.org\") or its token endpoint",
        "subject_issuer[1].max_assertion_lifetime: must be more than \"0s\" and at most \"1h\"",
        "subject_issuer[2].max_assertion_lifetime: applies only with assertion_grant = true",
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
}

/// Interop with PyJWT both ways: the partner's assertion is signed by PyJWT,
/// and PyJWT verifies the issued token (signature with the published JWKS,
/// `iss`, `aud`, required claims) and its binding to the caller's
/// certificate, computed by `cryptography`.
#[tokio::test(flavor = "multi_thread")]
async fn pyjwt_signs_the_assertion_and_verifies_the_issued_token() {
    let py = tokio::task::spawn_blocking(|| {
        common::python::venv("interop-venv", "tests/interop/requirements.txt")
    })
    .await
    .unwrap();
    let script = |name: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/interop")
            .join(name)
    };
    let run = |args: Vec<std::ffi::OsString>| {
        let out = std::process::Command::new(&py).args(args).output().unwrap();
        let (stdout, stderr) = (
            common::cli::text(&out.stdout),
            common::cli::text(&out.stderr),
        );
        assert!(out.status.success(), "PyJWT failed:\n{stdout}\n{stderr}");
        stdout
    };
    let (_up, partner, gw) = start().await;
    let claims_json = assertion_claims(PARTNER, json!({"act": {"sub": PARTNER_AGENT}})).to_string();
    let assertion = run(vec![
        script("sign_assertion.py").into(),
        partner.pem.clone().into(),
        partner.key.kid().into(),
        claims_json.into(),
    ]);
    let a = bearer(
        &gw,
        "orchestrator",
        assertion.trim(),
        "scheduler",
        &[("scope", "calendar:read")],
    )
    .await;
    let token = a.token();

    // The gateway's published keys, as PyJWT reads them: from a file.
    let jwks_file = partner.jwks.with_file_name("gateway-jwks.json");
    let published = gw
        .get_json("orchestrator", "/.well-known/jwks.json")
        .await
        .1;
    std::fs::write(&jwks_file, published.to_string()).unwrap();
    let audience = format!("{}/agents/scheduler", gw.base);
    let cert = |agent: &str| gw.certs().join(format!("agents/{agent}.pem")).into();
    let report = run(vec![
        script("verify_bound_token.py").into(),
        token.into(),
        jwks_file.into(),
        ISSUER.into(),
        audience.clone().into(),
        cert("orchestrator"),
        cert("scheduler"),
    ]);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["cnf_matches_caller"], true, "{report}");
    assert_eq!(report["cnf_matches_other"], false, "{report}");
    assert_eq!(report["tampered_valid"], false, "{report}");
    let c = &report["claims"];
    assert_eq!(c["sub"], "bob@partner.example.net");
    assert_eq!(c["aud"], audience);
    assert_eq!(c["scope"], "calendar:read");
    assert_eq!(
        c["act"],
        json!({"sub": id("orchestrator"), "act": {"sub": PARTNER_AGENT}})
    );
}
