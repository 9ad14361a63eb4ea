//! Replicas of `actgate serve` sharing a PostgreSQL state backend: their
//! configs, processes and calls, for `tests/state.rs` and `tests/cluster.rs`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use super::gateway::{config_text, id, make_pki, Options};
use super::postgres::TestPostgres;
use super::upstream::{self, Behaviour, TestUpstream};
use actgate::dev::client::{ClientError, MtlsClient};

/// One `actgate serve` process.
pub struct Replica {
    pub child: Child,
    pub certs: std::path::PathBuf,
    pub base: String,
    pub admin: String,
    /// Its log file.
    pub log: std::path::PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The config of replica `name` in `dir` (the PKI is shared): orchestrator
/// → bank needs a person's approval, orchestrator → scheduler does not.
pub fn replica_config(dir: &Path, name: &str, up: &str, state: &str, approvals: &str) -> String {
    let o = Options::new()
        .agent("bank", up)
        .agent("scheduler", up)
        .rule(&format!(
            "caller = \"{}\"\nagent = \"bank\"\nscopes = []\napp_only = true\napproval = \"human\"\n",
            id("orchestrator")
        ))
        .rule(&format!(
            "caller = \"{}\"\nagent = \"bank\"\nscopes = []\napp_only = true\napproval = \"human\"\n",
            id("scheduler")
        ))
        .allow("orchestrator", "scheduler", &[], true)
        // The notifier calls the scheduler on behalf of users.
        .allow("notifier", "scheduler", &[], false)
        .raw(&format!(
            "[approvals]\n{approvals}\n[state]\n{state}\nreplica = \"{name}\"\n[audit]\ndirectory = \"audit-{name}\"\n[log]\nlevel = \"info\"\n"
        ));
    let text = config_text(dir, &o);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, &text).unwrap();
    path.display().to_string()
}

pub fn postgres_state(pg: &TestPostgres) -> String {
    format!(
        "backend = \"postgres\"\nurl_file = \"{}\"",
        pg.url_file.display()
    )
}

/// Spawn `actgate serve --config CONFIG` (not yet waited for), its log
/// (JSON lines: not a terminal) in `CONFIG.log`.
pub fn spawn(dir: &Path, config: &str) -> (Child, std::path::PathBuf) {
    let log = dir.join(format!("{config}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_actgate"))
        .current_dir(dir)
        .args(["serve", "--config", config])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (child, log)
}

/// Wait (bounded) for the "gateway listening" line of a spawned replica.
pub async fn listening(dir: &Path, (mut child, log): (Child, std::path::PathBuf)) -> Replica {
    for _ in 0..1200 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("gateway listening")) {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let addr = v["fields"]["addr"].as_str().unwrap().to_string();
            let admin = v["fields"]["admin"].as_str().unwrap().to_string();
            let port = addr.rsplit(':').next().unwrap();
            return Replica {
                child,
                certs: dir.join("certs"),
                base: format!("https://localhost:{port}"),
                admin: format!("http://{admin}"),
                log,
            };
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the gateway exited ({status}):\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway never logged that it listens");
}

impl Replica {
    pub fn client(&self, agent: &str) -> MtlsClient {
        let c = &self.certs;
        MtlsClient::new(
            &c.join("example.org/bundle.pem"),
            Some((
                &c.join(format!("agents/{agent}.pem")),
                &c.join(format!("agents/{agent}.key")),
            )),
            false,
        )
        .unwrap()
    }

    /// JSON-RPC SendMessage with `text` to `agent`, optionally carrying an
    /// approval to use.
    pub async fn send(
        &self,
        caller: &str,
        agent: &str,
        text: &str,
        approval: Option<&str>,
    ) -> (StatusCode, HeaderMap, Value) {
        self.send_at(&self.base, caller, agent, text, approval)
            .await
            .unwrap()
    }

    /// [`Replica::send`] to `base` (this replica, or a load balancer in
    /// front of it); `Err` when the connection fails.
    pub async fn send_at(
        &self,
        base: &str,
        caller: &str,
        agent: &str,
        text: &str,
        approval: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, Value), ClientError> {
        self.send_for(base, caller, agent, text, approval, None)
            .await
    }

    /// [`Replica::send_at`] with `user_token` as the subject token.
    pub async fn send_for(
        &self,
        base: &str,
        caller: &str,
        agent: &str,
        text: &str,
        approval: Option<&str>,
        user_token: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, Value), ClientError> {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        if let Some(a) = approval {
            h.insert("actgate-approval", HeaderValue::from_str(a).unwrap());
        }
        if let Some(t) = user_token {
            h.insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
            );
        }
        let body = json!({"jsonrpc": "2.0", "id": "req-1", "method": "SendMessage",
            "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": text}]}}});
        let url = format!("{base}/agents/{agent}/a2a/jsonrpc");
        let (s, h, b) = self
            .client(caller)
            .fetch(Method::POST, &url, &h, Bytes::from(body.to_string()))
            .await?;
        Ok((s, h, serde_json::from_slice(&b).unwrap_or(Value::Null)))
    }

    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let c = super::egress::plain_client();
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.admin));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(http_body_util::Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .unwrap();
        let r = c.request(req).await.unwrap();
        let (parts, b) = r.into_parts();
        let b = http_body_util::BodyExt::collect(b)
            .await
            .unwrap()
            .to_bytes();
        let v = serde_json::from_slice(&b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).into()));
        (parts.status, parts.headers, v)
    }

    /// Approve `ap` through this replica's admin API.
    pub async fn approve(&self, ap: &str) -> (StatusCode, Value) {
        let path = format!("/api/approvals/{ap}/approve");
        let (s, _, v) = self
            .admin(Method::POST, &path, Some(json!({"reason": "ok"})))
            .await;
        (s, v)
    }

    pub async fn metrics(&self) -> String {
        let (_, _, v) = self.admin(Method::GET, "/metrics", None).await;
        v.as_str().unwrap_or_default().to_string()
    }
}

/// A fresh PostgreSQL, an echo upstream and a directory with the PKI.
pub async fn parts() -> (TestPostgres, TestUpstream, tempfile::TempDir) {
    let pg = tokio::task::spawn_blocking(TestPostgres::start)
        .await
        .unwrap();
    let up = upstream::start(Behaviour::Echo).await;
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    (pg, up, dir)
}

/// PostgreSQL, an upstream, and two replicas started at the same time.
pub async fn cluster(
    approvals: &str,
) -> (
    TestPostgres,
    TestUpstream,
    tempfile::TempDir,
    Replica,
    Replica,
) {
    let (pg, up, dir) = parts().await;
    let state = postgres_state(&pg);
    let a = replica_config(dir.path(), "a", &up.url(), &state, approvals);
    let b = replica_config(dir.path(), "b", &up.url(), &state, approvals);
    // Both spawned before either is waited for: they migrate together.
    let (sa, sb) = (spawn(dir.path(), &a), spawn(dir.path(), &b));
    let a = listening(dir.path(), sa).await;
    let b = listening(dir.path(), sb).await;
    (pg, up, dir, a, b)
}

pub fn approval_id(status: StatusCode, body: &Value) -> String {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["error"]["data"]["error"], "approval_required",
        "{body}"
    );
    body["error"]["data"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Concurrent retries of one approved call: each either passed or was
/// refused as `approval_used`; the number that passed.
pub async fn passed_once_used(
    mut tasks: tokio::task::JoinSet<(StatusCode, HeaderMap, Value)>,
) -> usize {
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        let (s, _, body) = r.unwrap();
        if s.is_success() {
            ok += 1;
        } else {
            assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
            assert_eq!(body["error"]["data"]["error"], "approval_used", "{body}");
        }
    }
    ok
}

/// A user token for `sub` from the test IdP whose key is in `dir/certs`.
pub fn user_token(dir: &Path, sub: &str) -> String {
    let key = actgate::token::SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(dir.join("certs/idp.key")).unwrap(),
        actgate::token::SigningAlgorithm::Es256,
    )
    .unwrap();
    let now = actgate::unix_now();
    let claims = json!({"iss": super::gateway::IDP, "sub": sub, "aud": super::gateway::ISSUER,
        "iat": now, "exp": now + 600, "jti": format!("{sub}-{now}")});
    actgate::token::mint::sign_jwt(&key, "JWT", &claims).unwrap()
}
