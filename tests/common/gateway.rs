//! Start a real gateway for a test: a fresh development PKI in a temp dir,
//! a config written from the options, listeners on 127.0.0.1:0.

use std::path::PathBuf;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use actgate::config::ConfigFile;
use actgate::dev::client::MtlsClient;
use actgate::identity::{SpiffeId, TrustDomain};
use actgate::server::RunningGateway;
use actgate::token::{SigningAlgorithm, SigningKey};

pub const TD: &str = "example.org";
pub const IDP: &str = "https://idp.example.com";
pub const ISSUER: &str = "https://gateway.example.org";
/// Workloads every test PKI has.
pub const WORKLOADS: &[&str] = &["orchestrator", "scheduler", "notifier", "tool", "intruder"];

pub fn id(name: &str) -> String {
    format!("spiffe://{TD}/agent/{name}")
}

/// What to put in the test config.
pub struct Options {
    /// (agent name, upstream URL)
    pub agents: Vec<(String, String)>,
    /// Raw `[[rule]]` TOML blocks.
    pub rules: Vec<String>,
    /// Extra lines for `[gateway]`.
    pub gateway_extra: String,
    /// Extra lines for `[tokens]`.
    pub tokens_extra: String,
    /// Extra lines for the `[[trust_domain]]` of example.org.
    pub td_extra: String,
    /// Raw TOML appended at the end (more trust domains, ...).
    pub raw: String,
    /// Members merged into an agent's generated card (by agent name).
    pub card_extra: Vec<(String, Value)>,
    /// Extra lines for an agent's `[[agent]]` block (by agent name).
    pub agent_extra: Vec<(String, String)>,
    /// Agents configured without a card file (`fetch_card` only).
    pub no_card_file: Vec<String>,
}

impl Options {
    pub fn new() -> Self {
        Options {
            agents: Vec::new(),
            rules: Vec::new(),
            gateway_extra: String::new(),
            tokens_extra: String::new(),
            td_extra: String::new(),
            raw: String::new(),
            card_extra: Vec::new(),
            agent_extra: Vec::new(),
            no_card_file: Vec::new(),
        }
    }
    pub fn agent(mut self, name: &str, upstream: &str) -> Self {
        self.agents.push((name.into(), upstream.into()));
        self
    }
    /// Allow `caller` (agent name) to call `agent` with `scopes`.
    pub fn allow(mut self, caller: &str, agent: &str, scopes: &[&str], app_only: bool) -> Self {
        self.rules.push(format!(
            "[[rule]]\ncaller = \"{}\"\nagent = \"{agent}\"\nscopes = {:?}\napp_only = {app_only}\n",
            id(caller),
            scopes
        ));
        self
    }
    pub fn gateway(mut self, extra: &str) -> Self {
        self.gateway_extra.push_str(extra);
        self.gateway_extra.push('\n');
        self
    }
    /// Merge `extra`'s members into `agent`'s card (e.g. security schemes).
    pub fn card(mut self, agent: &str, extra: Value) -> Self {
        self.card_extra.push((agent.into(), extra));
        self
    }
    /// Append `lines` to `agent`'s `[[agent]]` block.
    pub fn agent_config(mut self, agent: &str, lines: &str) -> Self {
        self.agent_extra.push((agent.into(), lines.into()));
        self
    }
    /// Configure `agent` with `fetch_card = true` and no card file, plus `lines`.
    pub fn fetched_card(mut self, agent: &str, lines: &str) -> Self {
        self.no_card_file.push(agent.into());
        self.agent_config(agent, &format!("fetch_card = true\n{lines}"))
    }
    pub fn trust_domain(mut self, extra: &str) -> Self {
        self.td_extra.push_str(extra);
        self.td_extra.push('\n');
        self
    }
    pub fn raw(mut self, extra: &str) -> Self {
        self.raw.push_str(extra);
        self.raw.push('\n');
        self
    }
    /// A raw `[[rule]]` block (for fields the helpers do not cover).
    pub fn rule(mut self, block: &str) -> Self {
        self.rules.push(format!("[[rule]]\n{block}\n"));
        self
    }
    pub fn tokens(mut self, extra: &str) -> Self {
        self.tokens_extra.push_str(extra);
        self.tokens_extra.push('\n');
        self
    }
}

pub struct TestGateway {
    pub dir: tempfile::TempDir,
    pub running: RunningGateway,
    pub base: String,
    idp_key: SigningKey,
}

/// Write a fresh PKI under `dir/certs` and a card per agent under `dir/cards`.
pub fn make_pki(dir: &std::path::Path) {
    let td = TrustDomain::parse(TD).unwrap();
    let workloads: Vec<(&str, SpiffeId)> = WORKLOADS
        .iter()
        .map(|w| (*w, SpiffeId::parse(&id(w)).unwrap()))
        .collect();
    actgate::pki::init_dev_pki(&dir.join("certs"), &td, &workloads).unwrap();
}

pub fn config_text(dir: &std::path::Path, o: &Options) -> String {
    let certs = dir.join("certs");
    let cards = dir.join("cards");
    std::fs::create_dir_all(&cards).unwrap();
    let mut agents = String::new();
    for (name, upstream) in &o.agents {
        let mut card = json!({
            "name": name, "description": "test agent", "version": "1.0.0",
            "supportedInterfaces": [
                {"url": format!("{upstream}/a2a/jsonrpc"), "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
                {"url": format!("{upstream}/a2a/rest"), "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"}],
            "capabilities": {"streaming": true},
            "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"], "skills": []
        });
        for (agent, extra) in &o.card_extra {
            if agent == name {
                if let (Some(c), Some(e)) = (card.as_object_mut(), extra.as_object()) {
                    for (k, v) in e {
                        c.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let card_line = if o.no_card_file.contains(name) {
            String::new()
        } else {
            let card_path = cards.join(format!("{name}.json"));
            std::fs::write(&card_path, card.to_string()).unwrap();
            format!("card = \"{}\"\n", card_path.display())
        };
        let extra: String = o
            .agent_extra
            .iter()
            .filter(|(a, _)| a == name)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        agents.push_str(&format!(
            "[[agent]]\nname = \"{name}\"\n{card_line}upstream = \"{upstream}\"\nspiffe_id = \"{}\"\n{extra}\n",
            id(name)
        ));
    }
    format!(
        r#"
[gateway]
listen = "127.0.0.1:{port}"
issuer = "{ISSUER}"
public_url = "https://localhost:{port}"
server_cert = "{c}/gateway.pem"
server_key = "{c}/gateway.key"
admin_listen = "127.0.0.1:0"
{gx}

[[trust_domain]]
name = "{TD}"
bundle = "{c}/{TD}/bundle.pem"
{tdx}

[tokens]
signing_key = "{c}/token-signing.key"
{tx}

[cards]
signing_key = "{c}/card-signing.key"

[[subject_issuer]]
issuer = "{IDP}"
jwks = "{c}/idp-jwks.json"
audience = "{ISSUER}"

{agents}
{rules}
{raw}
"#,
        c = certs.display(),
        port = free_port(),
        gx = o.gateway_extra,
        tx = o.tokens_extra,
        rules = o.rules.join("\n"),
        tdx = o.td_extra,
        raw = o.raw,
    )
}

/// A port that was free a moment ago. The listener address must be known
/// before start because `public_url` (and so every card URL and `aud`) names it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestGateway {
    pub async fn start(o: Options) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        make_pki(dir.path());
        Self::start_with(dir, o).await
    }

    /// Start another gateway on the PKI already in `existing` (kept alive by
    /// its owner); the new one gets its own temp dir for config and cards.
    pub async fn start_in(existing: &std::path::Path, o: Options) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("certs")).unwrap();
        copy_tree(&existing.join("certs"), &dir.path().join("certs"));
        Self::start_with(dir, o).await
    }

    async fn start_with(dir: tempfile::TempDir, o: Options) -> TestGateway {
        let text = config_text(dir.path(), &o);
        let path = dir.path().join("actgate.toml");
        std::fs::write(&path, &text).unwrap();
        let cfg = ConfigFile::parse(&path, &text).unwrap();
        let running = actgate::server::start(&cfg)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let base = format!("https://localhost:{}", running.addr.port());
        let idp_key = SigningKey::from_pkcs8_pem(
            &std::fs::read_to_string(dir.path().join("certs/idp.key")).unwrap(),
            SigningAlgorithm::Es256,
        )
        .unwrap();
        TestGateway {
            dir,
            running,
            base,
            idp_key,
        }
    }

    pub fn certs(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    pub fn ca(&self) -> PathBuf {
        self.certs().join(TD).join("bundle.pem")
    }

    /// An mTLS client presenting `agent`'s workload certificate.
    pub fn client(&self, agent: &str) -> MtlsClient {
        self.client_speaking(agent, false)
    }

    /// The same over HTTP/2 (ALPN h2).
    pub fn client_h2(&self, agent: &str) -> MtlsClient {
        self.client_speaking(agent, true)
    }

    fn client_speaking(&self, agent: &str, http2: bool) -> MtlsClient {
        let a = self.certs().join("agents");
        MtlsClient::new(
            &self.ca(),
            Some((
                &a.join(format!("{agent}.pem")),
                &a.join(format!("{agent}.key")),
            )),
            http2,
        )
        .unwrap()
    }

    /// GET `path` on the gateway as `caller`; the status and the JSON body.
    pub async fn get_json(&self, caller: &str, path: &str) -> (StatusCode, Value) {
        let (s, _, body) = self
            .client(caller)
            .fetch(
                Method::GET,
                &format!("{}{path}", self.base),
                &HeaderMap::new(),
                Bytes::new(),
            )
            .await
            .unwrap();
        (s, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// POST `body` as JSON to `path` as `caller`; the answer parsed as JSON.
    pub async fn post_json(&self, caller: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let (s, _, b) = self
            .client(caller)
            .fetch(
                Method::POST,
                &format!("{}{path}", self.base),
                &h,
                Bytes::from(body.to_string()),
            )
            .await
            .unwrap();
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// A client presenting a certificate and key given as PEM text.
    pub fn client_from_pem(
        &self,
        cert_pem: &str,
        key_pem: &str,
    ) -> (tempfile::TempDir, MtlsClient) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("c.pem"), cert_pem).unwrap();
        std::fs::write(d.path().join("c.key"), key_pem).unwrap();
        let c = MtlsClient::new(
            &self.ca(),
            Some((&d.path().join("c.pem"), &d.path().join("c.key"))),
            false,
        )
        .unwrap();
        (d, c)
    }

    /// A user token from the test IdP; `extra` overrides/extends the claims.
    pub fn user_token(&self, extra: Value) -> String {
        let now = actgate::unix_now();
        let mut claims = json!({"iss": IDP, "sub": "alice@example.com", "aud": ISSUER,
            "iat": now, "exp": now + 600, "jti": "u1", "scope": "calendar:read calendar:write notify:send tool:use"});
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if v.is_null() {
                    c.remove(k);
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        actgate::token::mint::sign_jwt(&self.idp_key, "JWT", &claims).unwrap()
    }

    /// JSON-RPC SendMessage from `caller` to `agent`.
    pub async fn send_message(
        &self,
        caller: &str,
        agent: &str,
        token: Option<&str>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut h = HeaderMap::new();
        if let Some(t) = token {
            h.insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
            );
        }
        self.send_message_with(caller, agent, h).await
    }

    /// App-only JSON-RPC SendMessage to `agent` over an existing client.
    pub async fn send_message_via(
        &self,
        client: &MtlsClient,
        agent: &str,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {}});
        match client
            .fetch(
                Method::POST,
                &format!("{}/agents/{agent}/a2a/jsonrpc", self.base),
                &h,
                Bytes::from(body.to_string()),
            )
            .await
        {
            Ok((s, h, b)) => (s, h, serde_json::from_slice(&b).unwrap_or(Value::Null)),
            Err(_) => (
                StatusCode::from_u16(599).unwrap(),
                HeaderMap::new(),
                Value::Null,
            ),
        }
    }

    pub async fn send_message_with(
        &self,
        caller: &str,
        agent: &str,
        mut h: HeaderMap,
    ) -> (StatusCode, HeaderMap, Value) {
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("a2a-version", HeaderValue::from_static("1.0"));
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
            "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}}});
        let url = format!("{}/agents/{agent}/a2a/jsonrpc", self.base);
        post_json_with(&self.client(caller), &url, &h, &body).await
    }

    /// Stop this gateway and start a new one from the same config file and
    /// directory (same listener port, same data directories).
    pub async fn restart(self) -> TestGateway {
        let TestGateway {
            dir,
            running,
            base,
            idp_key,
        } = self;
        running.shutdown().await;
        let cfg = ConfigFile::load(&dir.path().join("actgate.toml")).unwrap();
        let running = actgate::server::start(&cfg)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        TestGateway {
            dir,
            running,
            base,
            idp_key,
        }
    }

    /// `http://127.0.0.1:PORT` of the (plain) admin listener.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.running.admin_addr.unwrap())
    }

    /// A request to the plain admin listener; status and JSON body.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let cfg = rustls::ClientConfig::builder_with_provider(actgate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let client = MtlsClient::from_config(cfg, false);
        let mut h = HeaderMap::new();
        let bytes = match body {
            Some(b) => {
                h.insert("content-type", HeaderValue::from_static("application/json"));
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let (s, _, b) = client
            .fetch(method, &format!("{}{path}", self.admin_url()), &h, bytes)
            .await
            .unwrap();
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// A call by `caller` to `agent` for a user whose token carries
    /// `user_scopes` is refused with the step-up challenge naming `needed`.
    pub async fn expect_step_up(&self, caller: &str, agent: &str, user_scopes: &str, needed: &str) {
        let user = self.user_token(json!({ "scope": user_scopes }));
        let (s, h, body) = self.send_message(caller, agent, Some(&user)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(
            h["www-authenticate"],
            format!("Bearer error=\"insufficient_scope\", scope=\"{needed}\"").as_str()
        );
        assert_eq!(body["error"], "insufficient_scope");
    }

    /// A call by `caller` to `agent` for a user whose token carries
    /// `user_scopes` is forwarded; the `scope` of the token the agent got.
    pub async fn forwarded_scope(&self, caller: &str, agent: &str, user_scopes: &str) -> Value {
        let user = self.user_token(json!({ "scope": user_scopes }));
        let (s, _, body) = self.send_message(caller, agent, Some(&user)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        claims(&echoed_token(&body))["scope"].clone()
    }

    /// Path of the config file this gateway was started from.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("actgate.toml")
    }

    /// Rewrite the config (same options) and reload now.
    pub fn reload(&self) -> Result<(), actgate::config::ConfigErrors> {
        self.running.reload(&self.config_path())
    }

    /// Wait (up to 1 s) until the metrics contain `needle`; panic with the
    /// metrics otherwise. The server records a handshake rejection after the
    /// client has already seen its error, hence the wait.
    pub async fn expect_metric(&self, needle: &str) {
        for _ in 0..50 {
            if self.metrics().contains(needle) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("metrics never showed {needle:?}:\n{}", self.metrics());
    }

    pub fn metrics(&self) -> String {
        actgate::server::render_metrics(&self.running.current())
    }
}

/// Decode a JWT's claims without verifying (tests verify separately).
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

pub fn header(token: &str) -> Value {
    use base64::Engine;
    let p = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

/// The bearer token an echo upstream reported.
pub fn echoed_token(body: &Value) -> String {
    body["authorization"]
        .as_str()
        .and_then(|s| s.strip_prefix("Bearer "))
        .unwrap_or_else(|| panic!("upstream saw no bearer token: {body}"))
        .to_string()
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A leaf certificate with its `notAfter` (seconds since the epoch).
pub struct ShortLived {
    pub cert: actgate::pki::IssuedCert,
    pub not_after: i64,
}

impl TestGateway {
    /// The test PKI's CA for the trust domain (the gateway's own copy).
    pub fn dev_ca(&self) -> actgate::pki::DevCa {
        let td = self.certs().join(TD);
        actgate::pki::DevCa::from_pem(
            &std::fs::read_to_string(td.join("ca.pem")).unwrap(),
            &std::fs::read_to_string(td.join("ca.key")).unwrap(),
        )
        .unwrap()
    }

    /// An X509-SVID for the harness's `agent` name that lives `ttl`.
    pub fn short_lived_svid(&self, agent: &str, ttl: std::time::Duration) -> ShortLived {
        let spiffe = SpiffeId::parse(&id(agent)).unwrap();
        let cert = self.dev_ca().issue_svid(&spiffe, ttl, &[], &[]).unwrap();
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        let not_after = x.validity().not_after.timestamp();
        ShortLived { cert, not_after }
    }

    /// Sleep until `not_after` has passed (notAfter is inclusive).
    pub async fn wait_past(not_after: i64) {
        while actgate::unix_now() <= not_after {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Write the trust domain's CRL at `certs/example.org.crl.pem` (the path
    /// a test names in `crls`) revoking the harness agents in `revoked`.
    pub fn write_crl(&self, revoked: &[&str]) {
        use rustls_pki_types::pem::PemObject;
        let serials: Vec<Vec<u8>> = revoked
            .iter()
            .map(|agent| {
                let der = rustls_pki_types::CertificateDer::pem_file_iter(
                    self.certs().join(format!("agents/{agent}.pem")),
                )
                .unwrap()
                .next()
                .unwrap()
                .unwrap();
                x509_parser::parse_x509_certificate(der.as_ref())
                    .unwrap()
                    .1
                    .raw_serial()
                    .to_vec()
            })
            .collect();
        let refs: Vec<&[u8]> = serials.iter().map(Vec::as_slice).collect();
        let crl = self
            .dev_ca()
            .issue_crl(&refs, std::time::Duration::from_secs(3600))
            .unwrap();
        std::fs::write(self.certs().join("example.org.crl.pem"), crl).unwrap();
    }
}

/// POST `body` (JSON) to `url` with headers `h`: status, headers, JSON answer
/// (`null` when the answer is not JSON).
pub async fn post_json_with(
    client: &MtlsClient,
    url: &str,
    h: &HeaderMap,
    body: &Value,
) -> (StatusCode, HeaderMap, Value) {
    let (s, h, b) = client
        .fetch(Method::POST, url, h, Bytes::from(body.to_string()))
        .await
        .unwrap();
    (s, h, serde_json::from_slice(&b).unwrap_or(Value::Null))
}
