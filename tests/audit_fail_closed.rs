//! The record comes with the decision: a caller that hangs up, an upstream
//! that never answers, and an audit log that cannot be written (a real full
//! tmpfs) — each over real mTLS against a real gateway and upstream.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::exchange::request;
use common::gateway::{Options, TestGateway};
use common::upstream::{self, Behaviour};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// The records about `path` (an agent route) in the gateway's log.
async fn records_for(gw: &TestGateway, path: &str) -> Vec<Value> {
    gw.running.current().audit.flush().await.unwrap();
    common::audit::records(&gw.dir.path().join("audit"))
        .into_iter()
        .filter(|r| r["path"] == path)
        .collect()
}

/// Wait (up to 10 s) until `f` holds.
async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Open an mTLS connection as `agent`, send one HTTP/1.1 request, and hang
/// up after `after` without reading the answer (curl `--max-time`).
async fn send_and_hang_up(gw: &TestGateway, agent: &str, path: &str, body: &str, after: Duration) {
    let a = gw.certs().join("agents");
    let mut roots = rustls::RootCertStore::empty();
    for c in actgate::tls::load_certs(&gw.ca()).unwrap() {
        roots.add(c).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(actgate::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            actgate::tls::load_certs(&a.join(format!("{agent}.pem"))).unwrap(),
            actgate::tls::load_key(&a.join(format!("{agent}.key"))).unwrap(),
        )
        .unwrap();
    let port = gw.running.addr.port();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\ncontent-type: application/json\r\na2a-version: 1.0\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(after).await;
    // Gone: close_notify and FIN, the answer never read.
    let _ = tls.shutdown().await;
    drop(tls);
}

fn send_message_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
        "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}}})
    .to_string()
}

#[tokio::test]
async fn a_caller_that_hangs_up_before_the_upstream_answers_leaves_exactly_one_record() {
    let up = upstream::start(Behaviour::Delayed(Duration::from_secs(3))).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &["calendar:write"],
        true,
    ))
    .await;
    let path = "/agents/scheduler/a2a/jsonrpc";
    send_and_hang_up(
        &gw,
        "orchestrator",
        path,
        &send_message_body(),
        Duration::from_secs(1),
    )
    .await;
    // The upstream executed the call: it must be in the log.
    assert_eq!(up.requests().len(), 1, "the upstream received the call");
    eventually("the record of the abandoned call", async || {
        !records_for(&gw, path).await.is_empty()
    })
    .await;
    // Past the upstream's answer: still one record, never a second.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recs = records_for(&gw, path).await;
    assert_eq!(recs.len(), 1, "exactly one record: {recs:?}");
    let r = &recs[0];
    assert_eq!(r["status"], 499, "{r}");
    assert_eq!(
        r["decision"], "allow",
        "the call was allowed and forwarded: {r}"
    );
    assert_eq!(r["operation"], "SendMessage", "{r}");
    assert!(r["jti"].is_string(), "the minted token's jti: {r}");
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("client_closed_request")),
        "{r}"
    );
}

#[tokio::test]
async fn an_upstream_that_never_answers_leaves_exactly_one_record() {
    let up = upstream::start(Behaviour::Hang).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .allow("orchestrator", "scheduler", &["calendar:write"], true)
            .gateway("upstream_timeout = \"1s\""),
    )
    .await;
    let (s, _, b) = gw
        .send_message_with("orchestrator", "scheduler", HeaderMap::new())
        .await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{b}");
    let recs = records_for(&gw, "/agents/scheduler/a2a/jsonrpc").await;
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["status"], 504);
    assert_eq!(recs[0]["decision"], "error");
    assert_eq!(recs[0]["reason"], "upstream timed out");
}

/// A tmpfs of 256 KiB mounted on a fresh directory (unmounted on drop):
/// fill it and every write there fails with ENOSPC, for real.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount() -> TinyDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "this test makes the audit disk really full and needs to mount a tmpfs (run as root, as CI does): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TinyDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Take every free byte.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.filler()).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            if let Err(e) = f.write_all(&chunk).and_then(|()| f.sync_all()) {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
                break;
            }
        }
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_token_exchange_whose_record_cannot_be_written_issues_no_token() {
    let disk = TinyDisk::mount();
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .allow("orchestrator", "scheduler", &["calendar:write"], false)
            .raw(&format!(
                "[audit]\ndirectory = \"{}\"\n",
                disk.path().join("audit").display()
            )),
    )
    .await;
    let user = gw.user_token(json!({"sub": big_subject()}));
    let audience = format!("{}/agents/scheduler", gw.base);
    // The log is healthy when the exchange starts; the disk fills under it.
    disk.fill();
    let a = gw
        .exchange("orchestrator", &request(&user, &audience, &[]))
        .await;
    a.assert_error(503, "temporarily_unavailable");
    assert!(a.body.get("access_token").is_none(), "{}", a.body);
    assert!(
        !a.body.to_string().contains("eyJ"),
        "no token anywhere in the answer: {}",
        a.body
    );
    // Room again: once a write succeeds (the refusals meanwhile are
    // recorded too), exchanges are recorded and only then answered.
    disk.free();
    let mut token = None;
    for _ in 0..5 {
        let a = gw
            .exchange("orchestrator", &request(&user, &audience, &[]))
            .await;
        if a.status == StatusCode::OK {
            token = Some(a.token());
            break;
        }
        a.assert_error(503, "temporarily_unavailable");
    }
    let token = token.expect("exchanges work again once the disk has room");
    let recs: Vec<Value> = common::audit::records(&disk.path().join("audit"))
        .into_iter()
        .filter(|r| r["kind"] == "token_exchange" && r["decision"] == "allow")
        .collect();
    assert_eq!(
        recs.len(),
        1,
        "only the exchange that was answered: {recs:?}"
    );
    assert_eq!(recs[0]["decision"], "allow");
    assert_eq!(
        recs[0]["jti"],
        common::gateway::claims(&token)["jti"],
        "the record names the issued token"
    );
    // The record that could not be written left its mark: `verify` does not
    // call this log complete.
    let dir = disk.path().join("audit");
    let out =
        tokio::task::spawn_blocking(move || common::cli::actgate(&dir, &["audit", "verify", "."]))
            .await
            .unwrap();
    let said = common::cli::text(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("INCOMPLETE") && said.contains("1 record(s) could not be written"),
        "{said}"
    );
}

/// A user whose records are larger than a page: a full tmpfs cannot take
/// them even in the slack of the audit file's last page.
fn big_subject() -> String {
    format!("alice-{}@example.com", "x".repeat(6000))
}

async fn pay(gw: &TestGateway, approval: Option<&str>) -> (StatusCode, Value) {
    let user = gw.user_token(json!({"scope": "pay", "sub": big_subject()}));
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {user}")).unwrap(),
    );
    if let Some(a) = approval {
        h.insert("actgate-approval", HeaderValue::from_str(a).unwrap());
    }
    let (s, _, b) = gw
        .client("orchestrator")
        .fetch(
            Method::POST,
            &format!("{}/agents/bank/a2a/jsonrpc", gw.base),
            &h,
            Bytes::from(send_message_body()),
        )
        .await
        .unwrap();
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_approval_decision_that_cannot_be_recorded_changes_nothing() {
    let disk = TinyDisk::mount();
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("bank", &up.url())
            .rule(&format!(
                "caller = \"{}\"\nagent = \"bank\"\nscopes = [\"pay\"]\napproval = \"human\"",
                common::gateway::id("orchestrator")
            ))
            .raw(&format!(
                "[approvals]\ndir = \"approvals\"\n[audit]\ndirectory = \"{}\"\n",
                disk.path().join("audit").display()
            )),
    )
    .await;
    let (s, b) = pay(&gw, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let id = b["error"]["data"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();

    disk.fill();
    let (s, b) = gw
        .admin(
            Method::POST,
            &format!("/api/approvals/{id}/approve"),
            Some(json!({"reason": "ok"})),
        )
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert_eq!(b["error"], "audit_unavailable", "{b}");
    let (_, a) = gw
        .admin(Method::GET, &format!("/api/approvals/{id}"), None)
        .await;
    assert_eq!(a["status"], "pending", "the approval did not change: {a}");
    // The caller's retry is not let through (held, or refused while the
    // log cannot record it).
    let (s, b) = pay(&gw, Some(&id)).await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::SERVICE_UNAVAILABLE,
        "{s} {b}"
    );
    assert!(up.requests().is_empty());

    // Room again: the decision is recorded, then applied.
    disk.free();
    let (s, b) = gw
        .admin(
            Method::POST,
            &format!("/api/approvals/{id}/approve"),
            Some(json!({"reason": "ok"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let decided: Vec<Value> = common::audit::records(&disk.path().join("audit"))
        .into_iter()
        .filter(|r| r["kind"] == "approval_decision")
        .collect();
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(decided[0]["approval_id"], id.as_str());
    assert_eq!(decided[0]["decision"], "allow");
    let (s, b) = pay(&gw, Some(&id)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(up.requests().len(), 1);
}
