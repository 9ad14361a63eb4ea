//! node-oidc-provider, a certified OpenID Provider, as the users' IdP of a
//! test: installed with `npm ci` from `tests/interop/oidc/package-lock.json`
//! into the target directory on first use (a failed install fails the test
//! with npm's output; it never skips), run over HTTPS on 127.0.0.1 with a
//! CA made per test, stopped and restarted with a new key set (a rotation),
//! and driven through a real authorization code + PKCE flow with a user
//! login on its development login form.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use actgate::dev::client::MtlsClient;

use super::certs::TestCa;
use super::exchange::form;
use super::gateway::{free_port, ISSUER};
use super::idp::pem;

/// The provider's one client: public, so PKCE is required.
pub const CLIENT_ID: &str = "agent-console";
/// Never visited: the code is read from the redirect's `Location`.
pub const REDIRECT_URI: &str = "https://console.example/callback";
/// The resource server's scope, which the gateway's rule requires.
pub const SCOPE: &str = "calendar:write";

/// The directory holding `node_modules/oidc-provider` and the scripts.
pub fn install() -> PathBuf {
    let dir = super::npm::install(
        "oidc-provider",
        "tests/interop/oidc",
        "node_modules/oidc-provider/package.json",
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/oidc");
    for f in ["provider.mjs", "jwks.mjs"] {
        super::npm::write_if_changed(&dir.join(f), &super::npm::read(&src.join(f)));
    }
    dir
}

/// A running (or stopped) oidc-provider.
pub struct OidcProvider {
    /// The issuer it names in its discovery document and tokens.
    pub issuer: String,
    /// `https://localhost:PORT`: where it listens (the same port after a restart).
    pub url: String,
    /// PEM of the CA its certificate chains to.
    pub ca_path: PathBuf,
    /// `RS256` or `ES256`: its keys and its access tokens.
    pub alg: &'static str,
    kid: String,
    keys_made: u32,
    port: u16,
    install: PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// The confidential client a gateway logs people in as: its ID,
    /// secret and redirect URI (`{public_url}/oauth2/login/callback`).
    login_client: Option<(String, String, String)>,
}

impl OidcProvider {
    /// A provider whose issuer is its own URL.
    pub async fn start(alg: &'static str) -> OidcProvider {
        Self::start_naming(alg, "").await
    }

    /// A provider whose issuer is its URL followed by `issuer_suffix`
    /// (e.g. `/realms/other`); it still serves at the root.
    pub async fn start_naming(alg: &'static str, issuer_suffix: &str) -> OidcProvider {
        Self::start_full(alg, issuer_suffix, None).await
    }

    /// A provider that also knows `login` (client ID, secret, redirect URI),
    /// a confidential client: a gateway's `[authorize.login]`.
    pub async fn start_for_login(
        alg: &'static str,
        login: (String, String, String),
    ) -> OidcProvider {
        Self::start_full(alg, "", Some(login)).await
    }

    async fn start_full(
        alg: &'static str,
        issuer_suffix: &str,
        login_client: Option<(String, String, String)>,
    ) -> OidcProvider {
        let install = install();
        let ca = TestCa::new("oidc.test");
        let leaf = ca.builder().dns("localhost").build();
        let dir = tempfile::tempdir().unwrap();
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, pem("CERTIFICATE", ca.root.as_ref())).unwrap();
        let chain: String = leaf
            .chain
            .iter()
            .map(|c| pem("CERTIFICATE", c.as_ref()))
            .collect();
        std::fs::write(dir.path().join("cert.pem"), chain).unwrap();
        std::fs::write(
            dir.path().join("key.pem"),
            pem("PRIVATE KEY", leaf.key.secret_der()),
        )
        .unwrap();
        let port = free_port();
        let url = format!("https://localhost:{port}");
        let mut p = OidcProvider {
            issuer: format!("{url}{issuer_suffix}"),
            url,
            ca_path,
            alg,
            kid: String::new(),
            keys_made: 0,
            port,
            install,
            child: None,
            dir,
            login_client,
        };
        p.new_key_set();
        p.spawn().await;
        p
    }

    /// The `kid` of the key it signs with (from its next start on, after
    /// [`Self::new_key_set`]).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Replace the key set file with one new key (the old one removed);
    /// the provider uses it from its next start.
    pub fn new_key_set(&mut self) {
        self.keys_made += 1;
        self.kid = format!("{}-{}", self.alg.to_lowercase(), self.keys_made);
        let out = std::process::Command::new("node")
            .arg(self.install.join("jwks.mjs"))
            .args([self.alg, &self.kid])
            .output()
            .unwrap_or_else(|e| panic!("cannot run node: {e}. Install Node.js (.ci/run does)."));
        assert!(
            out.status.success(),
            "jwks.mjs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(self.dir.path().join("jwks.json"), out.stdout).unwrap();
    }

    /// Kill the process: connections refused from now on.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().await.unwrap();
        }
    }

    /// Stop, then start on the same port with the current key set file.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        let d = self.dir.path();
        let log_path = d.join("provider.log");
        let mut child = Command::new("node")
            .arg(self.install.join("provider.mjs"))
            .args(["--issuer", &self.issuer, "--port", &self.port.to_string()])
            .arg("--cert")
            .arg(d.join("cert.pem"))
            .arg("--key")
            .arg(d.join("key.pem"))
            .arg("--jwks")
            .arg(d.join("jwks.json"))
            .args(["--alg", self.alg, "--resource", ISSUER, "--scope", SCOPE])
            .args(["--client-id", CLIENT_ID, "--redirect-uri", REDIRECT_URI])
            .args(self.login_args())
            .current_dir(&self.install)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node: {e}. Install Node.js (.ci/run does)."));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut said = Vec::new();
        loop {
            match lines.next_line().await {
                Ok(Some(l)) if l.starts_with("listening ") => break,
                Ok(Some(l)) => said.push(l),
                end => panic!(
                    "oidc-provider did not start ({end:?}).\nstdout:\n{}\nstderr:\n{}",
                    said.join("\n"),
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                ),
            }
        }
        // Keep reading: a closed pipe would make its next write fail.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
    }

    fn login_args(&self) -> Vec<String> {
        match &self.login_client {
            Some((id, secret, redirect)) => vec![
                "--login-client-id".into(),
                id.clone(),
                "--login-client-secret".into(),
                secret.clone(),
                "--login-redirect-uri".into(),
                redirect.clone(),
            ],
            None => Vec::new(),
        }
    }

    /// The SHA-256 of its certificate's public key, base64: what Chromium's
    /// `--ignore-certificate-errors-spki-list` takes to trust it.
    pub fn spki_sha256(&self) -> String {
        super::cdp::spki_sha256_of_pem(&self.dir.path().join("cert.pem"))
    }

    /// A JWT access token for the gateway (`resource`) issued to `user`
    /// after a real authorization code + PKCE flow: the authorization
    /// request, the login form (any password), the consent form, the code
    /// at the redirect URI, and the token request with the code verifier.
    pub async fn user_token(&self, user: &str) -> String {
        let client = MtlsClient::new(&self.ca_path, None, false).unwrap();
        let mut jar = Jar::default();
        let verifier = random_b64(32);
        let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
        let state = random_b64(16);
        let scope = format!("openid {SCOPE}");
        let query = form(&[
            ("client_id", CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", &scope),
            ("resource", ISSUER),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", &state),
        ]);
        let callback = self
            .authorize(
                &client,
                &mut jar,
                format!("{}/auth?{query}", self.url),
                user,
            )
            .await;
        let params = callback
            .split_once('?')
            .map(|(_, q)| actgate::token::form::parse(q.as_bytes()).unwrap())
            .unwrap_or_default();
        let param = |n: &str| {
            let v = params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
            v.unwrap_or_else(|| panic!("no {n} in {callback}"))
        };
        assert_eq!(param("state"), state, "{callback}");
        assert_eq!(param("iss"), self.issuer, "{callback}");
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", param("code")),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
            ("client_id", CLIENT_ID),
            ("resource", ISSUER),
        ]);
        let url = format!("{}/token", self.url);
        let (s, _, b) = jar.request(&client, Method::POST, &url, &body).await;
        assert_eq!(s, StatusCode::OK, "token request: {b}");
        let t: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(t["token_type"], "Bearer", "{t}");
        t["access_token"].as_str().unwrap().to_owned()
    }

    /// Follow the provider's redirects from `url`, submitting the login
    /// (as `user`) and consent forms it shows, until it redirects to the
    /// client: that URL.
    async fn authorize(
        &self,
        client: &MtlsClient,
        jar: &mut Jar,
        url: String,
        user: &str,
    ) -> String {
        let mut next = url;
        let mut prompts = Vec::new();
        for _ in 0..10 {
            if next.starts_with(REDIRECT_URI) {
                assert_eq!(prompts, ["login", "consent"], "the forms shown");
                return next;
            }
            let (s, h, page) = jar.request(client, Method::GET, &next, "").await;
            if s != StatusCode::OK {
                assert_eq!(s, StatusCode::SEE_OTHER, "GET {next}: {page}");
                next = self.location(&h);
                continue;
            }
            let (action, prompt) = form_of(&page);
            let fields = match prompt.as_str() {
                "login" => form(&[("prompt", "login"), ("login", user), ("password", "any")]),
                "consent" => form(&[("prompt", "consent")]),
                other => panic!("unexpected prompt {other:?}: {page}"),
            };
            prompts.push(prompt);
            let (s, h, b) = jar.request(client, Method::POST, &action, &fields).await;
            assert_eq!(s, StatusCode::SEE_OTHER, "POST {action}: {b}");
            next = self.location(&h);
        }
        panic!("no redirect to the client after 10 steps; forms shown: {prompts:?}, at {next}")
    }

    fn location(&self, h: &HeaderMap) -> String {
        let l = h[header::LOCATION].to_str().unwrap();
        match l.strip_prefix('/') {
            Some(path) => format!("{}/{path}", self.url),
            None => l.to_owned(),
        }
    }
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    SystemRandom::new().fill(&mut b).unwrap();
    URL_SAFE_NO_PAD.encode(b)
}

/// The `action` URL and the hidden `prompt` of the one form on `page`.
fn form_of(page: &str) -> (String, String) {
    let attr = |after: &str, name: &str| {
        let rest = &page[page.find(after)? + after.len()..];
        let v = &rest[rest.find(name)? + name.len()..];
        Some(v[..v.find('"')?].to_owned())
    };
    let action = attr("<form", "action=\"");
    let prompt = attr("name=\"prompt\"", "value=\"");
    match (action, prompt) {
        (Some(a), Some(p)) => (a, p),
        _ => panic!("no form with a prompt in:\n{page}"),
    }
}

/// Cookies carried by hand: (name, value, path); a cookie is sent to
/// requests under its path, as a browser does.
#[derive(Default)]
struct Jar(Vec<(String, String, String)>);

impl Jar {
    async fn request(
        &mut self,
        client: &MtlsClient,
        method: Method,
        url: &str,
        body: &str,
    ) -> (StatusCode, HeaderMap, String) {
        let path = url.parse::<http::Uri>().unwrap().path().to_owned();
        let mut h = HeaderMap::new();
        let cookies: Vec<String> = self
            .0
            .iter()
            .filter(|(_, _, p)| path.starts_with(p.as_str()))
            .map(|(n, v, _)| format!("{n}={v}"))
            .collect();
        if !cookies.is_empty() {
            h.insert(header::COOKIE, cookies.join("; ").parse().unwrap());
        }
        if method == Method::POST {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        let body = Bytes::from(body.to_owned());
        let (s, h, b) = client.fetch(method, url, &h, body).await.unwrap();
        for v in h.get_all(header::SET_COOKIE) {
            self.store(v.to_str().unwrap());
        }
        (s, h, String::from_utf8_lossy(&b).into_owned())
    }

    fn store(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else {
            return;
        };
        let path = parts
            .filter_map(|a| a.trim().split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("path"))
            .map_or("/", |(_, p)| p);
        self.0.retain(|(n, _, p)| !(n == name && p == path));
        // The provider deletes a cookie by setting it empty (and expired).
        if !value.is_empty() {
            self.0.push((name.into(), value.into(), path.into()));
        }
    }
}
