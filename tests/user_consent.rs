//! A person grants an agent the right to act for them, end to end, in a
//! real browser against a real IdP: headless Chromium opens the
//! authorization URL of the `[authorize]` listener, logs in at
//! node-oidc-provider (the gateway is its confidential relying party),
//! lands on the consent page naming the agent, unticks a scope and allows;
//! the agent redeems the code over mTLS, PyJWT verifies the token, the
//! agent calls the resource with it; the person revokes the grant on the
//! grants page and the refresh fails. The refusals a client or an attacker
//! meets are checked on the same gateway.

mod common;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::cdp::{spki_sha256_of_pem, Browser, Cdp};
use common::exchange::Answer;
use common::gateway::{claims, echoed_token, free_port, id, Options, TestGateway, ISSUER};
use common::oidc::OidcProvider;
use common::python::script;
use common::upstream::{self, Behaviour, TestUpstream};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const CLIENT: &str = "planner";
const LOGIN_CLIENT: &str = "actgate-login";
const LOGIN_SECRET: &str = "s3cret-for/the+gateway";
const VERIFIER: &str = "a-verifier-of-the-planner-app-that-is-long-enough-0123456789";

/// The client's redirect URI: a real loopback listener (RFC 8252 §7.3)
/// that answers every request with a short page and reports the query of
/// those to `/cb`.
struct ClientCallback {
    uri: String,
    seen: mpsc::UnboundedReceiver<String>,
}

impl ClientCallback {
    async fn start() -> ClientCallback {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://127.0.0.1:{}/cb", l.local_addr().unwrap().port());
        let (tx, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let target = head.split(' ').nth(1).unwrap_or("").to_owned();
                    if let Some(q) = target.strip_prefix("/cb") {
                        let _ = tx.send(q.trim_start_matches('?').to_owned());
                    }
                    let page = "<!DOCTYPE html><title>planner</title><p id=\"back\">back at the client</p>";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                        page.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                });
            }
        });
        ClientCallback { uri, seen }
    }

    /// The next redirect's query parameters.
    async fn next(&mut self) -> Vec<(String, String)> {
        let q = tokio::time::timeout(Duration::from_secs(30), self.seen.recv())
            .await
            .expect("the browser never came back to the client")
            .unwrap();
        actgate::token::form::parse(q.as_bytes()).unwrap()
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

struct Setup {
    _up: TestUpstream,
    _secret: tempfile::TempDir,
    idp: OidcProvider,
    gw: TestGateway,
    callback: ClientCallback,
    /// `https://localhost:PORT` of the `[authorize]` listener.
    authorize: String,
}

async fn start() -> Setup {
    let port = free_port();
    let authorize = format!("https://localhost:{port}");
    let idp = OidcProvider::start_for_login(
        "ES256",
        (
            LOGIN_CLIENT.into(),
            LOGIN_SECRET.into(),
            format!("{authorize}/oauth2/login/callback"),
        ),
    )
    .await;
    let secret = tempfile::tempdir().unwrap();
    let secret_file = secret.path().join("login-secret");
    std::fs::write(&secret_file, format!("{LOGIN_SECRET}\n")).unwrap();
    let callback = ClientCallback::start().await;
    let up = upstream::start(Behaviour::Echo).await;
    let scheme = json!({"securitySchemes": {"gateway-oauth": {"oauth2SecurityScheme": {
        "flows": {"authorizationCode": {
            "authorizationUrl": format!("{authorize}/oauth2/authorize"),
            "tokenUrl": "https://gateway.example.org/oauth2/token",
            "scopes": {"calendar:read": "See your calendar", "calendar:write": "Add and change your meetings"}}}}}}});
    let raw = format!(
        r#"
[authorize]
listen = "127.0.0.1:{port}"
public_url = "{authorize}"

[authorize.login]
issuer = "{iss}"
client_id = "{LOGIN_CLIENT}"
client_secret_file = "{secret}"
ca = "{ca}"

[[oauth_client]]
client_id = "{CLIENT}"
name = "Planner App"
redirect_uris = ["{cb}"]
actors = ["{orch}"]
scopes = ["calendar:read", "calendar:write"]
"#,
        iss = idp.issuer,
        secret = secret_file.display(),
        ca = idp.ca_path.display(),
        cb = callback.uri,
        orch = id("orchestrator"),
    );
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .agent("orchestrator", &up.url())
            .card("scheduler", scheme)
            .card(
                "orchestrator",
                json!({"name": "Week Planner", "description": "Books meetings for you",
                       "provider": {"organization": "Example Corp", "url": "https://example.org"}}),
            )
            .allow(
                "orchestrator",
                "scheduler",
                &["calendar:read", "calendar:write"],
                false,
            )
            .allow("notifier", "scheduler", &["calendar:read"], false)
            .raw(&raw),
    )
    .await;
    Setup {
        _up: up,
        _secret: secret,
        idp,
        gw,
        callback,
        authorize,
    }
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

fn enc(s: &str) -> String {
    actgate::user_auth::authorize::encode(s)
}

impl Setup {
    fn resource(&self) -> String {
        format!("{}/agents/scheduler", self.gw.base)
    }

    /// An authorization URL of the planner app, with `overrides` replacing
    /// (or, with an empty value, removing) parameters.
    fn authorization_url(&self, overrides: &[(&str, &str)]) -> String {
        let orch = id("orchestrator");
        let resource = self.resource();
        let challenge = challenge(VERIFIER);
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", CLIENT),
            ("redirect_uri", &self.callback.uri),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "st-1"),
            ("scope", "calendar:read calendar:write"),
            ("resource", &resource),
            ("requested_actor", &orch),
        ];
        for (k, v) in overrides {
            params.retain(|(n, _)| n != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        let q: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect();
        format!("{}/oauth2/authorize?{}", self.authorize, q.join("&"))
    }

    /// Chromium trusting the gateway's and the IdP's test certificates.
    fn browser(&self, url: &str) -> Browser {
        let gw_cert = spki_sha256_of_pem(&self.gw.certs().join("gateway.pem"));
        Browser::launch_trusting(url, &[gw_cert, self.idp.spki_sha256()])
    }

    /// GET `url` without a session (a plain HTTPS client): status and
    /// `Location`.
    async fn get_plain(&self, url: &str) -> (StatusCode, Option<String>, String) {
        let client = actgate::dev::client::MtlsClient::new(&self.gw.ca(), None, false).unwrap();
        let (s, h, b) = client
            .fetch(Method::GET, url, &HeaderMap::new(), Default::default())
            .await
            .unwrap();
        let loc = h.get("location").map(|l| l.to_str().unwrap().to_owned());
        (s, loc, String::from_utf8_lossy(&b).into_owned())
    }

    async fn redeem_as(&self, agent: &str, code: &str, verifier: &str) -> Answer {
        let cb = self.callback.uri.clone();
        self.gw
            .exchange(
                agent,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("code_verifier", verifier),
                    ("redirect_uri", &cb),
                    ("client_id", CLIENT),
                ],
            )
            .await
    }
}

/// Log in at oidc-provider's development forms (login, then its consent
/// to the gateway's login client) in the browser page.
async fn log_in_at_idp(page: &mut Cdp, user: &str) {
    page.wait_for(
        "document.querySelector('input[name=login]')",
        "the IdP's login form",
    )
    .await;
    page.eval(&format!(
        "document.querySelector('input[name=login]').value = {u}; \
         document.querySelector('input[name=password]').value = 'any'; \
         document.querySelector('form').submit(); true",
        u = serde_json::to_string(user).unwrap()
    ))
    .await;
    page.wait_for(
        "document.querySelector('#actor') || (document.querySelector('form') && !document.querySelector('input[name=login]') && document.querySelector('button[type=submit]'))",
        "the IdP's consent form or the gateway's consent page",
    )
    .await;
    let at_gateway = page.eval("Boolean(document.querySelector('#actor'))").await;
    if at_gateway != Value::Bool(true) {
        page.eval("document.querySelector('form').submit(); true")
            .await;
    }
}

async fn text(page: &mut Cdp, selector: &str) -> String {
    let sel = serde_json::to_string(selector).unwrap();
    page.eval(&format!("document.querySelector({sel}).innerText"))
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_allows_an_agent_in_the_browser_and_revokes_it_on_the_grants_page() {
    let py = tokio::task::spawn_blocking(|| {
        common::python::venv("interop-venv", "tests/interop/requirements.txt")
    })
    .await
    .unwrap();
    let mut s = start().await;
    let browser = s.browser(&s.authorization_url(&[]));
    let mut page = browser.page().await;
    log_in_at_idp(&mut page, "alice").await;

    // The consent page names the person, the client, the agent (its
    // SPIFFE ID and its card) and each scope with the card's description.
    page.wait_for("document.querySelector('#actor')", "the consent page")
        .await;
    assert_eq!(text(&mut page, "#user").await, "alice");
    assert_eq!(text(&mut page, "#client").await, "Planner App");
    assert_eq!(text(&mut page, "#actor").await, id("orchestrator"));
    assert_eq!(text(&mut page, "#agent-name").await, "Week Planner");
    assert_eq!(
        text(&mut page, "#agent-description").await,
        "Books meetings for you"
    );
    assert_eq!(text(&mut page, "#agent-provider").await, "Example Corp");
    assert_eq!(text(&mut page, "#resource").await, s.resource());
    let body = text(&mut page, "body").await;
    assert!(body.contains("See your calendar"), "{body}");
    assert!(body.contains("Add and change your meetings"), "{body}");

    // Untick calendar:write with a real click, then Allow.
    page.click("input[value='calendar:write']").await;
    page.click("#allow").await;
    let back = s.callback.next().await;
    assert_eq!(param(&back, "state"), Some("st-1"), "{back:?}");
    assert_eq!(param(&back, "iss"), Some(ISSUER), "{back:?}");
    let code = param(&back, "code").expect("a code").to_owned();

    // Another agent's certificate cannot redeem it (and does not spend it).
    s.redeem_as("notifier", &code, VERIFIER)
        .await
        .assert_error(400, "invalid_grant");
    // The orchestrator, over mTLS, with the verifier.
    let a = s.redeem_as("orchestrator", &code, VERIFIER).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["scope"], "calendar:read", "narrowed: {}", a.body);
    let refresh = a.body["refresh_token"].as_str().unwrap().to_owned();
    let token = a.token();

    // PyJWT verifies it against the published JWKS and the certificates.
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
    assert_eq!(report["cnf_matches_caller"], true, "{report}");
    assert_eq!(report["cnf_matches_other"], false, "{report}");
    let c = &report["claims"];
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["act"], json!({"sub": id("orchestrator")}));
    assert_eq!(c["aud"], s.resource());
    assert_eq!(c["scope"], "calendar:read");
    assert_eq!(c["sub_id"]["iss"], s.idp.issuer.as_str());
    let grant = c["grant"].as_str().unwrap().to_owned();

    // The agent calls the resource: the upstream sees alice, acted for by
    // the orchestrator once.
    let (st, _, body) =
        s.gw.send_message("orchestrator", "scheduler", Some(&token))
            .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let up = claims(&echoed_token(&body));
    assert_eq!(up["sub"], "alice");
    assert_eq!(up["act"], json!({"sub": id("orchestrator")}));

    // A second request for a subset is answered from the remembered
    // consent, without the page.
    let again = s.authorization_url(&[("scope", "calendar:read"), ("state", "st-2")]);
    page.call("Page.navigate", json!({"url": again})).await;
    let back = s.callback.next().await;
    assert_eq!(param(&back, "state"), Some("st-2"), "{back:?}");
    let code2 = param(&back, "code").unwrap().to_owned();
    // A wrong verifier is refused (and spends the code: whoever sent it
    // may hold a stolen one).
    s.redeem_as(
        "orchestrator",
        &code2,
        "another-verifier-that-is-long-enough-0123456789abc",
    )
    .await
    .assert_error(400, "invalid_grant");

    // The grants page lists the grant; the person revokes it.
    let grants = format!("{}/oauth2/grants", s.authorize);
    page.call("Page.navigate", json!({"url": grants})).await;
    page.wait_for(
        "document.querySelector('tr.grant')",
        "the grant on the grants page",
    )
    .await;
    let row = text(&mut page, "tr.grant").await;
    assert!(
        row.contains("scheduler") || row.contains(&s.resource()),
        "{row}"
    );
    assert!(row.contains("calendar:read"), "{row}");
    assert!(
        row.contains("Week Planner") || row.contains("orchestrator"),
        "{row}"
    );
    page.click("button.revoke").await;
    page.wait_for(
        "document.querySelector('tr.grant') && document.querySelector('tr.grant').innerText.includes('revoked')",
        "the grant shown revoked",
    )
    .await;
    // Its refresh token and its access token stop at once.
    s.gw.exchange(
        "orchestrator",
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await
    .assert_error(400, "invalid_grant");
    let (st, _, body) =
        s.gw.send_message("orchestrator", "scheduler", Some(&token))
            .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    // The first code, replayed: refused.
    s.redeem_as("orchestrator", &code, VERIFIER)
        .await
        .assert_error(400, "invalid_grant");

    // Consents and the revocation are in the audit log.
    s.gw.running.current().audit.flush().await.unwrap();
    let log = common::audit::records(&s.gw.dir.path().join("audit"));
    let kinds: Vec<&str> = log.iter().filter_map(|r| r["kind"].as_str()).collect();
    let of = |kind: &str| -> Vec<&Value> { log.iter().filter(|r| r["kind"] == kind).collect() };
    let consents = of("consent");
    assert_eq!(
        consents.len(),
        2,
        "the page's and the remembered one: {kinds:?}"
    );
    assert_eq!(consents[0]["reason"], "consented");
    assert_eq!(consents[1]["reason"], "remembered consent");
    assert_eq!(consents[0]["subject"], "alice");
    assert_eq!(consents[0]["act"], json!([id("orchestrator")]));
    assert_eq!(consents[0]["scopes"], json!(["calendar:read"]));
    assert_eq!(consents[0]["grant"], grant.as_str());
    let issued: Vec<&Value> = of("token_exchange")
        .into_iter()
        .filter(|r| r["decision"] == "allow")
        .collect();
    assert_eq!(issued.len(), 1, "{kinds:?}");
    assert_eq!(issued[0]["grant"], grant.as_str());
    let revoked = of("grant_revocation");
    assert_eq!(revoked.len(), 1, "{kinds:?}");
    assert_eq!(revoked[0]["grant"], grant.as_str());
    for r in &log {
        let line = r.to_string();
        assert!(
            !line.contains(&code) && !line.contains(&refresh),
            "a secret in the log: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_authorization_requests() {
    let s = start().await;
    // A redirect URI not registered: a page, never a redirect.
    let (st, loc, body) = s
        .get_plain(&s.authorization_url(&[("redirect_uri", "http://127.0.0.1:1/evil")]))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(loc, None);
    assert!(body.contains("not a redirect URI registered"), "{body}");
    // `plain` PKCE, an actor the client may not name, a resource nobody
    // registered: redirected back with the error.
    for (overrides, error, says) in [
        (
            vec![("code_challenge_method", "plain")],
            "invalid_request",
            "plain",
        ),
        (
            vec![("requested_actor", id("notifier").leak() as &str)],
            "invalid_request",
            "may not name",
        ),
        (
            vec![("resource", "https://elsewhere.example/x")],
            "invalid_target",
            "not the resource",
        ),
        (
            vec![("scope", "calendar:read admin")],
            "invalid_scope",
            "beyond",
        ),
    ] {
        let (st, loc, body) = s.get_plain(&s.authorization_url(&overrides)).await;
        assert_eq!(st, StatusCode::SEE_OTHER, "{overrides:?}: {body}");
        let loc = loc.unwrap();
        assert!(loc.starts_with(&s.callback.uri), "{loc}");
        let q = actgate::token::form::parse(loc.split_once('?').unwrap().1.as_bytes()).unwrap();
        assert_eq!(param(&q, "error"), Some(error), "{loc}");
        assert!(
            param(&q, "error_description").unwrap().contains(says),
            "{loc}"
        );
        assert_eq!(param(&q, "state"), Some("st-1"));
    }
    // A valid request without a session goes to the IdP, with PKCE and a
    // nonce, and binds the login to this browser with a cookie.
    let (st, loc, _) = s.get_plain(&s.authorization_url(&[])).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let loc = loc.unwrap();
    assert!(loc.starts_with(&s.idp.url), "{loc}");
    for p in [
        "code_challenge_method=S256",
        "nonce=",
        "state=",
        "client_id=actgate-login",
    ] {
        assert!(loc.contains(p), "{p} in {loc}");
    }
    // The IdP's answer arriving in a browser that did not start the login.
    let state = loc
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let (st, _, body) = s
        .get_plain(&format!(
            "{}/oauth2/login/callback?state={state}&code=x",
            s.authorize
        ))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("not started in this browser"), "{body}");
    // Nor with a login cookie the gateway did not seal.
    let client = actgate::dev::client::MtlsClient::new(&s.gw.ca(), None, false).unwrap();
    let mut h = HeaderMap::new();
    let forged = "__Host-actgate-login=eyJzdGF0ZSI6IngifQ.AAAA; __Host-actgate-session=x.y";
    h.insert("cookie", forged.parse().unwrap());
    let (st, _, body) = client
        .fetch(
            Method::GET,
            &format!("{}/oauth2/login/callback?state={state}&code=x", s.authorize),
            &h,
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("not started in this browser"));
    // A consent posted without a session.
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    let (st, _, _) = client
        .fetch(
            Method::POST,
            &format!("{}/oauth2/consent", s.authorize),
            &h,
            "consent=x&csrf=y&decision=allow".into(),
        )
        .await
        .unwrap();
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}
