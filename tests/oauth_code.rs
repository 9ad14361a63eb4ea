//! The authorization code grant (PKCE S256) and the refresh grant of a
//! person's delegation at `POST /oauth2/token`, and the tokens they issue
//! used on the proxy route. Real sockets, per-test PKI, a real echo
//! upstream; PyJWT verifies the issued token.
//!
//! The code comes from `GrantStore::issue_code` on the gateway's own store
//! (the one in the running snapshot's `grants` slot), standing in for the
//! consent page of the authorization endpoint.

mod common;

use std::sync::Arc;

use actgate::grants::{CodeBinding, Consent, GrantStore, User};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::exchange::{form, post_token, Answer, JwtAuthority, JWT};
use common::gateway::{claims, echoed_token, id, Options, TestGateway, ISSUER};
use common::python::script;
use common::upstream::{self, Behaviour, TestUpstream};
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

const CLIENT: &str = "demo-client";
const REDIRECT: &str = "https://client.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-and-some-more";
const LOGIN_IDP: &str = "https://login.example.org";

struct Setup {
    _up: TestUpstream,
    _login: tempfile::TempDir,
    gw: TestGateway,
    store: Arc<GrantStore>,
    alice: User,
}

/// The scheduler behind an echo upstream; the orchestrator may call it for
/// users with calendar:read and calendar:write, the notifier too (so a
/// token shown by the notifier reaches the token check).
/// `[authorize]` registering the demo client for the orchestrator (the
/// login IdP is never reached: these tests make codes in the store).
fn authorize_section(login: &std::path::Path) -> String {
    let secret = login.join("secret");
    std::fs::write(&secret, "s").unwrap();
    let ca = login.join("ca.pem");
    let root = common::certs::TestCa::new("login.test").root;
    std::fs::write(&ca, common::idp::pem("CERTIFICATE", root.as_ref())).unwrap();
    format!(
        "\n[authorize]\nlisten = \"127.0.0.1:0\"\npublic_url = \"https://login.gw.example\"\n\
         [authorize.login]\nissuer = \"{LOGIN_IDP}\"\nclient_id = \"gw\"\n\
         client_secret_file = \"{}\"\nca = \"{}\"\n\
         [[oauth_client]]\nclient_id = \"{CLIENT}\"\nredirect_uris = [\"{REDIRECT}\"]\n\
         actors = [\"{}\"]\nscopes = [\"calendar:read\", \"mail:send\"]\n",
        secret.display(),
        ca.display(),
        id("orchestrator")
    )
}

async fn start(extra_td: &str) -> Setup {
    let up = upstream::start(Behaviour::Echo).await;
    let login = tempfile::tempdir().unwrap();
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .allow(
                "orchestrator",
                "scheduler",
                &["calendar:read", "calendar:write"],
                false,
            )
            .allow("notifier", "scheduler", &["calendar:read"], false)
            .agent("notifier", &up.url())
            .allow("scheduler", "notifier", &["calendar:read"], false)
            .trust_domain(extra_td)
            .raw(&authorize_section(login.path())),
    )
    .await;
    // The store the gateway opened at start from `[authorize] grants_file`.
    let store = gw
        .running
        .current()
        .grants
        .load_full()
        .expect("opened at start");
    let alice = User {
        issuer: LOGIN_IDP.into(),
        sub: "alice".into(),
    };
    Setup {
        _up: up,
        _login: login,
        gw,
        store,
        alice,
    }
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

impl Setup {
    fn resource(&self) -> String {
        format!("{}/agents/scheduler", self.gw.base)
    }

    /// What the consent page would do: alice allowed the orchestrator
    /// calendar:read and mail:send (the latter no rule grants) at the
    /// scheduler, for the demo client.
    fn code(&self) -> String {
        let consent = Consent::new(
            CLIENT,
            &id("orchestrator"),
            &self.resource(),
            &["calendar:read".into(), "mail:send".into()],
        );
        let binding = CodeBinding {
            redirect_uri: REDIRECT.into(),
            code_challenge: challenge(VERIFIER),
        };
        self.store
            .issue_code(&self.alice, &consent, binding, actgate::unix_now())
            .unwrap()
    }

    async fn redeem_as(&self, agent: &str, code: &str, extra: &[(&str, &str)]) -> Answer {
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
        ];
        for (k, v) in extra {
            match pairs.iter_mut().find(|(n, _)| n == k) {
                Some(p) => p.1 = v,
                None => pairs.push((k, v)),
            }
        }
        self.gw.exchange(agent, &pairs).await
    }

    async fn refresh(&self, agent: &str, token: &str) -> Answer {
        self.gw
            .exchange(
                agent,
                &[("grant_type", "refresh_token"), ("refresh_token", token)],
            )
            .await
    }
}

fn refresh_token(a: &Answer) -> String {
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body["refresh_token"].as_str().unwrap().to_string()
}

/// A 401 `invalid_token` from the proxy saying `why`.
fn assert_refused(body: &Value, why: &str) {
    assert_eq!(body["error"], "invalid_token", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or("")
            .contains(why),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn code_redeemed_over_mtls_gives_a_bound_user_token_pyjwt_verifies_and_the_proxy_takes() {
    let py = tokio::task::spawn_blocking(|| {
        common::python::venv("interop-venv", "tests/interop/requirements.txt")
    })
    .await
    .unwrap();
    let s = start("").await;
    let a = s.redeem_as("orchestrator", &s.code(), &[]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.assert_no_store();
    assert_eq!(a.body["token_type"], "Bearer");
    // Consented ∩ policy: mail:send is consented but granted by no rule.
    assert_eq!(a.body["scope"], "calendar:read", "{}", a.body);
    let refresh = refresh_token(&a);
    assert_eq!(refresh.len(), 43);
    let token = a.token();

    // PyJWT, against the published JWKS.
    let (_, jwks) =
        s.gw.get_json("orchestrator", "/.well-known/jwks.json")
            .await;
    let tmp = tempfile::tempdir().unwrap();
    let jwks_file = tmp.path().join("jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let agents = s.gw.certs().join("agents");
    let out = tokio::process::Command::new(&py)
        .arg(script("verify_bound_token.py"))
        .arg(&token)
        .arg(&jwks_file)
        .arg(ISSUER)
        .arg(s.resource())
        .arg(agents.join("orchestrator.pem"))
        .arg(agents.join("notifier.pem"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "PyJWT: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["typ"], "at+jwt");
    assert_eq!(report["cnf_matches_caller"], true, "{report}");
    assert_eq!(report["cnf_matches_other"], false, "{report}");
    assert_eq!(report["tampered_valid"], false, "{report}");
    let c = &report["claims"];
    assert_eq!(c["sub"], "alice");
    assert_eq!(
        c["sub_id"],
        json!({"format": "iss_sub", "iss": LOGIN_IDP, "sub": "alice"})
    );
    assert_eq!(c["act"], json!({"sub": id("orchestrator")}));
    assert_eq!(c["aud"], s.resource());
    assert_eq!(c["scope"], "calendar:read");
    let grant = c["grant"].as_str().unwrap();
    assert!(grant.starts_with("gr-"), "{c}");

    // The actor calls the resource with it: the upstream's token names
    // alice as sub and the orchestrator once in act.
    let (st, _, body) =
        s.gw.send_message("orchestrator", "scheduler", Some(&token))
            .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let up = claims(&echoed_token(&body));
    assert_eq!(up["sub"], "alice");
    assert_eq!(up["act"], json!({"sub": id("orchestrator")}));
    assert_eq!(up["scope"], "calendar:read");
    assert!(up.get("grant").is_none(), "{up}");

    // Another agent presenting it (a rule lets it reach the scheduler).
    let (st, _, body) =
        s.gw.send_message("notifier", "scheduler", Some(&token))
            .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert_refused(&body, "issued to another agent");
    // The orchestrator's identity on another certificate: cnf mismatch.
    let other =
        s.gw.short_lived_svid("orchestrator", std::time::Duration::from_secs(600));
    let (_d, client) =
        s.gw.client_from_pem(&other.cert.cert_pem, &other.cert.key_pem);
    let mut h = HeaderMap::new();
    h.insert("authorization", format!("Bearer {token}").parse().unwrap());
    h.insert("content-type", "application/json".parse().unwrap());
    h.insert("a2a-version", "1.0".parse().unwrap());
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
        "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}}});
    let url = format!("{}/agents/scheduler/a2a/jsonrpc", s.gw.base);
    let (st, _, body) = common::gateway::post_json_with(&client, &url, &h, &msg).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert_refused(&body, "bound to another certificate");

    // The person revokes the grant: its access token stops at once, and
    // its refresh token fails.
    s.store
        .revoke(&s.alice, grant, actgate::unix_now())
        .unwrap();
    let (st, _, body) =
        s.gw.send_message("orchestrator", "scheduler", Some(&token))
            .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert_refused(&body, "revoked");
    s.refresh("orchestrator", &refresh)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_one_revokes_the_grant() {
    let s = start("").await;
    let first = s.redeem_as("orchestrator", &s.code(), &[]).await;
    let r1 = refresh_token(&first);
    // Over another agent's certificate: refused, and not spent.
    s.refresh("notifier", &r1)
        .await
        .assert_error(400, "invalid_grant");
    let second = s.refresh("orchestrator", &r1).await;
    let r2 = refresh_token(&second);
    assert_ne!(r1, r2);
    let token = second.token();
    let c = claims(&token);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["act"], json!({"sub": id("orchestrator")}));
    assert_eq!(c["scope"], "calendar:read");
    // Narrowing on refresh is refused before the token is spent.
    s.gw.exchange(
        "orchestrator",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r2),
            ("scope", "calendar:read"),
        ],
    )
    .await
    .assert_error(400, "invalid_scope");
    // The spent r1 presented again.
    s.refresh("orchestrator", &r1)
        .await
        .assert_error(400, "invalid_grant");
    // The whole grant is revoked: the newest refresh token fails too, and
    // the access token is refused at the proxy.
    let a = s.refresh("orchestrator", &r2).await;
    a.assert_error(400, "invalid_grant");
    let (st, _, body) =
        s.gw.send_message("orchestrator", "scheduler", Some(&token))
            .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert_refused(&body, "revoked");
    assert!(s.store.grants_of(&s.alice).iter().all(|g| !g.is_live()));
}

#[tokio::test]
async fn refusals_of_a_code() {
    let authority = JwtAuthority::new();
    let s = start(&authority.config_line()).await;
    // Wrong verifier (well-formed).
    let wrong = "x".repeat(43);
    s.redeem_as("orchestrator", &s.code(), &[("code_verifier", &wrong)])
        .await
        .assert_error(400, "invalid_grant");
    // Malformed verifier: the request is malformed.
    s.redeem_as("orchestrator", &s.code(), &[("code_verifier", "short")])
        .await
        .assert_error(400, "invalid_request");
    // Another agent's certificate.
    let a = s.redeem_as("notifier", &s.code(), &[]).await;
    a.assert_error(400, "invalid_grant");
    assert!(a.description().contains("another agent"), "{}", a.body);
    // redirect_uri and client_id other than the code's.
    s.redeem_as(
        "orchestrator",
        &s.code(),
        &[("redirect_uri", "https://evil.example/cb")],
    )
    .await
    .assert_error(400, "invalid_grant");
    s.redeem_as("orchestrator", &s.code(), &[("client_id", "other-client")])
        .await
        .assert_error(400, "invalid_grant");
    // An actor token of another agent.
    let svid = authority.svid(&id("notifier"), ISSUER);
    s.redeem_as(
        "orchestrator",
        &s.code(),
        &[("actor_token", &svid), ("actor_token_type", JWT)],
    )
    .await
    .assert_error(400, "invalid_grant");
    // The actor's own actor token is accepted.
    let svid = authority.svid(&id("orchestrator"), ISSUER);
    let ok = s
        .redeem_as(
            "orchestrator",
            &s.code(),
            &[("actor_token", &svid), ("actor_token_type", JWT)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    // Replay: the second redemption fails and revokes the grant, so the
    // refresh token of the first fails too.
    let code = s.code();
    let first = s.redeem_as("orchestrator", &code, &[]).await;
    let r = refresh_token(&first);
    s.redeem_as("orchestrator", &code, &[])
        .await
        .assert_error(400, "invalid_grant");
    s.refresh("orchestrator", &r)
        .await
        .assert_error(400, "invalid_grant");
    // A secret is another client authentication method.
    s.redeem_as("orchestrator", &s.code(), &[("client_secret", "s")])
        .await
        .assert_error(400, "invalid_client");
    // One audit record per redemption, each naming its decision; the
    // issued ones name alice and the actor.
    let log: Vec<Value> = common::audit::records(&s.gw.dir.path().join("audit"))
        .into_iter()
        .filter(|r| r["operation"] == "AuthorizationCode")
        .collect();
    assert_eq!(log.len(), 10, "{log:?}");
    let allowed: Vec<&Value> = log.iter().filter(|r| r["decision"] == "allow").collect();
    assert_eq!(allowed.len(), 2, "{log:?}");
    for r in allowed {
        assert_eq!(r["subject"], "alice", "{r}");
        assert_eq!(r["caller"], id("orchestrator"), "{r}");
    }
}

/// Only tokens from a person's grant pass on the route of their `aud`: an
/// exchanged token for the scheduler (same `aud`, `act` and `cnf` shape,
/// no `grant`) is still refused to its holder there.
#[tokio::test]
async fn a_gateway_token_without_a_grant_is_not_a_delegation() {
    let s = start("").await;
    let user = s.gw.user_token(json!({}));
    let exchanged =
        s.gw.exchange(
            "orchestrator",
            &common::exchange::request(&user, "scheduler", &[("scope", "calendar:read")]),
        )
        .await
        .token();
    assert_eq!(
        claims(&exchanged)["act"],
        json!({"sub": id("orchestrator")})
    );
    let (st, _, body) =
        s.gw.send_message("orchestrator", "scheduler", Some(&exchanged))
            .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert_refused(&body, "another audience");
}

#[tokio::test]
async fn without_a_grant_store_the_grants_are_unsupported() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url())).await;
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", "c"),
        ("code_verifier", VERIFIER),
        ("redirect_uri", REDIRECT),
        ("client_id", CLIENT),
    ]);
    post_token(&gw.client("orchestrator"), &gw.base, body, HeaderMap::new())
        .await
        .assert_error(400, "unsupported_grant_type");
    gw.exchange(
        "orchestrator",
        &[("grant_type", "refresh_token"), ("refresh_token", "r")],
    )
    .await
    .assert_error(400, "unsupported_grant_type");
}

/// Fail closed on reload: a config without `[authorize]` leaves no grant
/// store, so a live code and the grants stop at once instead of being
/// served from the store the previous config had.
#[tokio::test]
async fn a_reload_without_authorize_drops_the_grant_store() {
    let s = start("").await;
    let code = s.code();
    let cfg = std::fs::read_to_string(s.gw.config_path()).unwrap();
    let without = &cfg[..cfg.find("\n[authorize]").unwrap()];
    std::fs::write(s.gw.config_path(), without).unwrap();
    s.gw.reload().unwrap();
    assert!(s.gw.running.current().grants.load().is_none());
    s.redeem_as("orchestrator", &code, &[])
        .await
        .assert_error(400, "unsupported_grant_type");
}

/// The operator narrows the client (here: it may no longer name the
/// orchestrator): the grants it no longer covers stop, codes and refresh
/// tokens alike, without waiting for them to expire.
#[tokio::test]
async fn a_client_narrowed_on_reload_stops_its_grants() {
    let s = start("").await;
    let first = s.redeem_as("orchestrator", &s.code(), &[]).await;
    let refresh = refresh_token(&first);
    let code = s.code();
    let cfg = std::fs::read_to_string(s.gw.config_path()).unwrap();
    let narrowed = cfg.replacen(
        &format!("actors = [\"{}\"]", id("orchestrator")),
        &format!("actors = [\"{}\"]", id("notifier")),
        1,
    );
    assert_ne!(cfg, narrowed);
    std::fs::write(s.gw.config_path(), narrowed).unwrap();
    s.gw.reload().unwrap();
    let a = s.refresh("orchestrator", &refresh).await;
    a.assert_error(400, "invalid_grant");
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap()
            .contains("no longer registered"),
        "{}",
        a.body
    );
    s.redeem_as("orchestrator", &code, &[])
        .await
        .assert_error(400, "invalid_grant");
}

/// Down a person's delegation the next hop's token carries the grant
/// (`grant_ref`): when the person revokes, the agent one hop further stops
/// too, at its next presentation, on the proxy route and at the token
/// endpoint, not when its token expires.
#[tokio::test]
async fn a_revoked_grant_stops_the_next_hop_too() {
    let s = start("").await;
    let a = s.redeem_as("orchestrator", &s.code(), &[]).await;
    let token = a.token();
    let grant = claims(&token)["grant"].as_str().unwrap().to_owned();
    let (st, _, body) =
        s.gw.send_message("orchestrator", "scheduler", Some(&token))
            .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let hop = echoed_token(&body);
    assert_eq!(claims(&hop)["grant_ref"], grant.as_str());
    assert!(claims(&hop).get("grant").is_none());
    // The scheduler acts onward for alice with it; the grant goes along.
    let (st, _, body) = s.gw.send_message("scheduler", "notifier", Some(&hop)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(claims(&echoed_token(&body))["grant_ref"], grant.as_str());

    s.store
        .revoke(&s.alice, &grant, actgate::unix_now())
        .unwrap();
    let (st, _, body) = s.gw.send_message("scheduler", "notifier", Some(&hop)).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert_refused(&body, "revoked");
    let a =
        s.gw.exchange(
            "scheduler",
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", &hop),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("audience", "notifier"),
            ],
        )
        .await;
    a.assert_error(400, "invalid_request");
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{}",
        a.body
    );
}
