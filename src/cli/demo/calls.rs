//! How the demo's agents talk: A2A `SendMessage` through the gateway, RFC 8693
//! token exchange, the admin API's approve, each over real sockets with the
//! agent's own workload certificate. Also the printing helpers the steps
//! share.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use actgate::dev::client::MtlsClient;

use super::TD;

/// The running demo as the steps see it: where the gateway is, and the
/// material each workload presents.
pub struct Demo {
    /// `https://localhost:PORT` of the mTLS listener.
    pub base: String,
    /// The admin listener (plain HTTP on loopback).
    pub admin: Option<SocketAddr>,
    pub certs: PathBuf,
}

/// One answer of the gateway, with what the demo prints about it.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The token the upstream agent received (the example agent echoes it).
    pub received_token: Option<String>,
    pub claims: Option<Value>,
}

impl Answer {
    /// The gateway's error code: `error` of a plain JSON error, or
    /// `error.data.error` of a JSON-RPC error.
    pub fn error_code(&self) -> Option<&str> {
        self.body
            .pointer("/error/data/error")
            .or_else(|| self.body.get("error"))
            .and_then(Value::as_str)
    }

    /// The human-readable reason, in either error form.
    pub fn error_description(&self) -> Option<&str> {
        self.body
            .get("error_description")
            .or_else(|| self.body.pointer("/error/message"))
            .and_then(Value::as_str)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The echoed text of the example agent.
    pub fn agent_said(&self) -> Option<&str> {
        self.body
            .pointer("/result/task/artifacts/0/parts/0/text")
            .and_then(Value::as_str)
    }
}

impl Demo {
    /// The mTLS client of workload `agent` (its certificate from the dev PKI).
    pub fn client(&self, agent: &str) -> anyhow::Result<MtlsClient> {
        let dir = self.certs.join("agents");
        MtlsClient::new(
            &self.bundle(),
            Some((
                &dir.join(format!("{agent}.pem")),
                &dir.join(format!("{agent}.key")),
            )),
            false,
        )
        .with_context(|| format!("loading the workload certificate of {agent}"))
    }

    pub fn bundle(&self) -> PathBuf {
        self.certs.join(TD).join("bundle.pem")
    }

    /// RFC 8705 `x5t#S256` of `agent`'s workload certificate, computed here
    /// from the file, to compare with the `cnf` the gateway put in a token.
    pub fn thumbprint(&self, agent: &str) -> anyhow::Result<String> {
        let path = self.certs.join("agents").join(format!("{agent}.pem"));
        let certs = actgate::tls::load_certs(&path).map_err(|e| anyhow!("{e}"))?;
        let leaf = certs
            .first()
            .ok_or_else(|| anyhow!("{}: no certificate", path.display()))?;
        Ok(actgate::identity::thumbprint(leaf.as_ref()))
    }

    /// `caller` sends an A2A `SendMessage` (JSON-RPC) to `agent` through the
    /// gateway, with `token` as the subject token and, for a retry after an
    /// approval, the `Actgate-Approval` header.
    pub async fn send_message(
        &self,
        caller: &str,
        agent: &str,
        token: Option<&str>,
        text: &str,
        approval: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("a2a-version", HeaderValue::from_static("1.0"));
        if let Some(t) = token {
            h.insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {t}"))?,
            );
        }
        if let Some(id) = approval {
            h.insert("actgate-approval", HeaderValue::from_str(id)?);
        }
        let url = format!("{}/agents/{agent}/a2a/jsonrpc", self.base);
        let (status, headers, body) = self
            .client(caller)?
            .fetch(Method::POST, &url, &h, Bytes::from(send_message_body(text)))
            .await
            .with_context(|| format!("POST {url}"))?;
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let received_token = body
            .pointer("/result/task/metadata/receivedAuthorization")
            .and_then(Value::as_str)
            .and_then(|s| s.strip_prefix("Bearer "))
            .map(str::to_string);
        let claims = received_token
            .as_deref()
            .and_then(|t| decode_claims(t).ok());
        Ok(Answer {
            status,
            headers,
            body,
            received_token,
            claims,
        })
    }

    /// `caller` asks `POST /oauth2/token` for a token for `audience` in
    /// exchange for `subject_token` (RFC 8693); the client is authenticated
    /// by its certificate alone (RFC 8705 `tls_client_auth`).
    pub async fn exchange(
        &self,
        caller: &str,
        subject_token: &str,
        audience: &str,
        scope: &str,
    ) -> anyhow::Result<Answer> {
        let form = [
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", subject_token),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("audience", audience),
            ("scope", scope),
        ]
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let url = format!("{}/oauth2/token", self.base);
        let (status, headers, body) = self
            .client(caller)?
            .fetch(Method::POST, &url, &h, Bytes::from(form))
            .await
            .with_context(|| format!("POST {url}"))?;
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let received_token = body
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_string);
        let claims = received_token
            .as_deref()
            .and_then(|t| decode_claims(t).ok());
        Ok(Answer {
            status,
            headers,
            body,
            received_token,
            claims,
        })
    }

    /// What `actgate approvals approve ID --reason R` does: POST to the
    /// admin API. Returns the approval as the API answers it.
    pub async fn approve(&self, id: &str, reason: &str) -> anyhow::Result<(StatusCode, Value)> {
        let admin = self
            .admin
            .ok_or_else(|| anyhow!("the demo gateway has no admin listener"))?;
        // The ID came back in a response and goes into a URL path: accept
        // only an ID's alphabet rather than escape it (as the CLI does).
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            anyhow::bail!("\"{id}\" is not an approval ID");
        }
        // Plain HTTP on loopback: the client needs no roots.
        let cfg = rustls::ClientConfig::builder_with_provider(actgate::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let client = MtlsClient::from_config(cfg, false);
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let url = format!("{}/api/approvals/{id}/approve", admin_url(admin));
        let (status, _, body) = client
            .fetch(
                Method::POST,
                &url,
                &h,
                Bytes::from(json!({ "reason": reason }).to_string()),
            )
            .await
            .with_context(|| format!("POST {url}"))?;
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }
}

/// `http://127.0.0.1:PORT`: the admin API answers only loopback `Host`s.
pub fn admin_url(admin: SocketAddr) -> String {
    format!("http://{admin}")
}

pub fn send_message_body(text: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
        "messageId": "demo-1", "role": "ROLE_USER", "parts": [{"text": text}]}}})
    .to_string()
}

/// `application/x-www-form-urlencoded` value encoding (RFC 3986 unreserved
/// characters kept, everything else percent-encoded).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The claims of a JWT, unverified: for display only (the gateway and the
/// agents verify; the demo shows what they were given).
pub fn decode_claims(token: &str) -> anyhow::Result<Value> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| anyhow!("not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// A step's title.
pub fn heading(n: usize, total: usize, title: &str) {
    println!();
    println!("[{n}/{total}] {title}");
}

/// A line of a step's narrative.
pub fn say(s: &str) {
    println!("  {s}");
}

/// A labelled value.
pub fn field(label: &str, value: &str) {
    println!("    {label:<18}{value}");
}

/// A check the `--once` exit status depends on: printed either way.
pub fn check(ok: bool, what: &str) -> bool {
    println!("  {} {what}", if ok { "✓" } else { "✗" });
    ok
}

/// The decoded claims of a token, indented.
pub fn print_claims(title: &str, claims: &Value) {
    say(title);
    for line in serde_json::to_string_pretty(claims)
        .unwrap_or_default()
        .lines()
    {
        println!("      {line}");
    }
}

/// Status, error code and reason of a refused call; agent's answer of an
/// allowed one.
pub fn print_outcome(a: &Answer) {
    let decision = if a.status.is_success() {
        "allowed"
    } else {
        "refused"
    };
    field(
        "decision",
        &format!("{decision} (HTTP {})", a.status.as_u16()),
    );
    if let Some(code) = a.error_code() {
        field("error", code);
    }
    if let Some(d) = a.error_description() {
        field("reason", d);
    }
    if let Some(w) = a.header("www-authenticate") {
        field("WWW-Authenticate", w);
    }
    if let Some(said) = a.agent_said() {
        field("agent said", said);
    }
}

/// `spiffe://example.org/agent/NAME`.
pub fn spiffe(agent: &str) -> String {
    format!("spiffe://{TD}/agent/{agent}")
}

/// A secret for the person running the demo (mode 0600 from creation),
/// replaced whole on each run.
pub fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use actgate::durable_file::{self, Durability, Secrecy};
    durable_file::replace(path, data, Secrecy::Secret, Durability::Content)
        .with_context(|| format!("writing {}", path.display()))
}
