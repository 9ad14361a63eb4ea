//! Interoperability with the official Python MCP SDK (`mcp` 2.x, pinned in
//! `tests/interop/mcp_requirements.txt`): its `MCPServer` over Streamable
//! HTTP as the upstream (`mcp_upstream.py`, which records what reaches it)
//! and its `Client` over `streamable_http_client` with an `httpx2` client
//! as the caller (`mcp_client.py`, unmodified SDK code), once in the SDK's
//! default mode (which speaks 2026-07-28 to a modern server) and once forced
//! to the `initialize`/session protocol. PyJWT checks what the server saw
//! against the gateway's JWKS.
//!
//! The pinned packages are installed into a venv under the target directory
//! on first run. If that fails the test fails, with the pip output; it never
//! skips.
//!
//! The harness is proven first with the two SDK halves talking directly
//! (plain HTTP and mTLS), then driven through the gateway's MCP route
//! (issue 16), directly over mTLS and through the egress sidecar.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use http::StatusCode;
use serde_json::{json, Value};

use common::gateway::{echoed_token, id, Options, TestGateway, ISSUER};
use common::python::{script, Reaper};
use common::upstream::{self, Behaviour};

/// The SDK's two generations, by the client's `mode`.
const MODES: [&str; 2] = ["auto", "legacy"];

/// The venv's python, creating and filling the venv when its requirements changed.
fn python() -> PathBuf {
    common::python::venv("mcp-venv", "tests/interop/mcp_requirements.txt")
}

async fn venv_python() -> PathBuf {
    tokio::task::spawn_blocking(python).await.unwrap()
}

/// The SDK's `MCPServer` on 127.0.0.1, recording into `log`.
struct McpUpstream {
    _child: Reaper,
    port: u16,
    log: PathBuf,
}

/// TLS for the upstream: its certificate and key, and the CA its clients'
/// certificates must chain to.
struct UpstreamTls<'a> {
    cert: &'a Path,
    key: &'a Path,
    client_ca: &'a Path,
}

impl McpUpstream {
    async fn start(py: &Path, dir: &Path, tls: Option<UpstreamTls<'_>>) -> McpUpstream {
        let log = dir.join(format!("mcp-upstream-{}.jsonl", rand_suffix()));
        let mut cmd = Command::new(py);
        cmd.arg(script("mcp_upstream.py")).arg("serve").arg(&log);
        if let Some(t) = &tls {
            cmd.arg("--tls").arg(t.cert).arg(t.key).arg(t.client_ca);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the MCP SDK upstream");
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await
        .unwrap()
        .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("MCP upstream did not report its port: {line:?}"));
        let up = McpUpstream {
            _child: Reaper(child),
            port,
            log,
        };
        up.wait_listening().await;
        up
    }

    async fn wait_listening(&self) {
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the MCP upstream never started listening on {}", self.port);
    }

    fn url(&self, scheme: &str, host: &str) -> String {
        format!("{scheme}://{host}:{}/mcp", self.port)
    }

    /// Every line the upstream recorded so far.
    fn entries(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The HTTP requests that reached the server.
    fn requests(&self) -> Vec<Value> {
        self.entries()
            .into_iter()
            .filter_map(|e| e.get("request").cloned())
            .collect()
    }

    /// The tools the server ran, in order.
    fn executed(&self) -> Vec<String> {
        self.entries()
            .iter()
            .filter_map(|e| e["executed"].as_str().map(String::from))
            .collect()
    }

    /// PyJWT's verdict on every bearer token the server saw.
    async fn verify_tokens(&self, py: &Path, jwks: &Value, audience: &str) -> Value {
        let jwks_file = self.log.with_extension("jwks.json");
        std::fs::write(&jwks_file, jwks.to_string()).unwrap();
        let out = tokio::process::Command::new(py)
            .arg(script("mcp_upstream.py"))
            .arg("verify")
            .arg(&self.log)
            .arg(&jwks_file)
            .arg(ISSUER)
            .arg(audience)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "token verification failed to run:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// A file-name suffix unique within this test binary's run.
fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// How the SDK client connects and what it sends besides MCP.
#[derive(Default, Clone)]
struct Caller {
    /// The CA it trusts (none: plain HTTP).
    ca: Option<PathBuf>,
    /// The certificate and key it presents.
    cert: Option<(PathBuf, PathBuf)>,
    /// The user's bearer token, on every request.
    bearer: Option<String>,
    /// More headers on every request.
    headers: Vec<(String, String)>,
}

impl Caller {
    /// Trust `ca`, present `agent`'s certificate from the test PKI in `certs`.
    fn agent(certs: &Path, ca: &Path, agent: &str) -> Caller {
        let a = certs.join("agents");
        Caller {
            ca: Some(ca.to_path_buf()),
            cert: Some((
                a.join(format!("{agent}.pem")),
                a.join(format!("{agent}.key")),
            )),
            ..Caller::default()
        }
    }

    fn bearer(mut self, token: &str) -> Caller {
        self.bearer = Some(token.to_string());
        self
    }

    fn header(mut self, name: &str, value: &str) -> Caller {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Run the SDK client against `url` in `mode` with `steps`; its report.
async fn run_client(py: &Path, url: &str, mode: &str, caller: &Caller, steps: Value) -> Value {
    let mut cmd = tokio::process::Command::new(py);
    cmd.arg(script("mcp_client.py"))
        .arg(url)
        .arg(steps.to_string())
        .arg("--mode")
        .arg(mode);
    if let Some(ca) = &caller.ca {
        cmd.arg("--ca").arg(ca);
    }
    if let Some((cert, key)) = &caller.cert {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    if let Some(b) = &caller.bearer {
        cmd.arg("--bearer").arg(b);
    }
    for (name, value) in &caller.headers {
        cmd.arg("--header").arg(format!("{name}:{value}"));
    }
    let out = cmd.output().await.unwrap();
    assert!(
        out.status.success(),
        "MCP SDK client failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "MCP SDK client printed no report ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The report's steps, asserting it connected.
fn steps(report: &Value) -> &Vec<Value> {
    assert!(report.get("connect_error").is_none(), "{report}");
    report["steps"].as_array().unwrap()
}

fn list_then_call() -> Value {
    json!([
        {"op": "list_tools"},
        {"op": "call_tool", "name": "echo", "arguments": {"text": "hi"}},
        {"op": "call_tool", "name": "whoami"}
    ])
}

/// The protocol each mode ends up speaking with the SDK server.
fn protocol_of(mode: &str) -> &'static str {
    if mode == "legacy" {
        "2025-11-25"
    } else {
        "2026-07-28"
    }
}

/// What a client saw of a direct, successful session: all tools, the echo,
/// and its own bearer token handed back by `whoami`.
fn assert_direct_session(report: &Value, mode: &str, bearer: &str) {
    assert_eq!(report["protocol_version"], protocol_of(mode), "{report}");
    let s = steps(report);
    assert_eq!(
        s[0]["tools"],
        json!(["echo", "list_dir", "delete_file", "whoami"]),
        "{report}"
    );
    assert_eq!(s[1]["text"], json!(["hi"]), "{report}");
    assert_eq!(
        s[2]["text"],
        json!([format!("Bearer {bearer}")]),
        "{report}"
    );
    let sessions: Vec<&Value> = report["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["mcp_session_id"].as_str().map(|_| h))
        .collect();
    // Sessions exist in the initialize generation only.
    assert_eq!(mode == "legacy", !sessions.is_empty(), "{report}");
}

/// The harness itself: the SDK client and server talk directly, over plain
/// HTTP and over mTLS, in both generations; the server records the bearer
/// token it got, and PyJWT tells a gateway-minted token from garbage.
#[tokio::test(flavor = "multi_thread")]
async fn sdk_client_talks_to_sdk_server_directly() {
    let py = venv_python().await;
    let tmp = tempfile::tempdir().unwrap();
    // A real gateway-minted token (an A2A hop) to hand the server, so the
    // verifier is shown to accept what it must and refuse what it must not.
    let echo = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &echo.url()).allow(
        "orchestrator",
        "scheduler",
        &["calendar:read"],
        false,
    ))
    .await;
    let user = gw.user_token(json!({"scope": "calendar:read"}));
    let (s, _, body) = gw
        .send_message("orchestrator", "scheduler", Some(&user))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let minted = echoed_token(&body);
    let (_, jwks) = gw.get_json("orchestrator", "/.well-known/jwks.json").await;

    let plain = McpUpstream::start(&py, tmp.path(), None).await;
    let certs = gw.certs();
    let tls = UpstreamTls {
        cert: &certs.join("gateway.pem"),
        key: &certs.join("gateway.key"),
        client_ca: &gw.ca(),
    };
    let secure = McpUpstream::start(&py, tmp.path(), Some(tls)).await;
    let plain_caller = Caller::default().bearer(&minted);
    let agent = Caller::agent(&certs, &gw.ca(), "orchestrator");
    let no_cert = Caller {
        ca: Some(gw.ca()),
        ..Caller::default()
    };
    let (plain_url, secure_url) = (
        plain.url("http", "127.0.0.1"),
        secure.url("https", "localhost"),
    );
    let (agent_minted, agent_garbage) = (agent.clone().bearer(&minted), agent.bearer("not-a-jwt"));
    let (p_auto, p_legacy, s_auto, s_legacy, refused) = tokio::join!(
        run_client(&py, &plain_url, "auto", &plain_caller, list_then_call()),
        run_client(&py, &plain_url, "legacy", &plain_caller, list_then_call()),
        run_client(&py, &secure_url, "auto", &agent_minted, list_then_call()),
        run_client(&py, &secure_url, "legacy", &agent_garbage, list_then_call()),
        run_client(&py, &secure_url, "auto", &no_cert, list_then_call()),
    );
    assert_direct_session(&p_auto, "auto", &minted);
    assert_direct_session(&p_legacy, "legacy", &minted);
    assert_direct_session(&s_auto, "auto", &minted);
    assert_direct_session(&s_legacy, "legacy", "not-a-jwt");
    // The TLS upstream really requires a client certificate.
    assert!(refused.get("connect_error").is_some(), "{refused}");

    // Both generations reached the plain server (modern: Mcp-Method headers
    // and no session; legacy: initialize, then a session id), and every
    // request carried the caller's bearer token.
    let reqs = plain.requests();
    assert!(
        reqs.iter()
            .any(|r| r["jsonrpc"] == "server/discover" && r["mcp_method"] == "server/discover"),
        "{reqs:?}"
    );
    assert!(
        reqs.iter().any(|r| r["jsonrpc"] == "initialize"),
        "{reqs:?}"
    );
    assert!(
        reqs.iter().any(|r| r["mcp_session_id"].is_string()),
        "{reqs:?}"
    );
    let bearer = format!("Bearer {minted}");
    assert!(
        reqs.iter().all(|r| r["authorization"] == bearer.as_str()),
        "{reqs:?}"
    );
    let mut ran = plain.executed();
    ran.sort();
    assert_eq!(ran, ["echo", "echo", "whoami", "whoami"]);

    // PyJWT: the minted token verifies (signature, iss, aud, exp, required
    // claims) with the gateway's JWKS; for another audience it does not;
    // garbage does not.
    let agent_aud = format!("{}/agents/scheduler", gw.base);
    let v = plain.verify_tokens(&py, &jwks, &agent_aud).await;
    assert_eq!(v["failed"], json!([]), "{v}");
    assert_eq!(v["verified"][0]["sub"], "alice@example.com", "{v}");
    assert_eq!(
        v["verified"][0]["act"],
        json!({"sub": id("orchestrator")}),
        "{v}"
    );
    let v = plain
        .verify_tokens(&py, &jwks, "https://elsewhere.example")
        .await;
    assert_eq!(v["verified"], json!([]), "{v}");
    assert!(
        v["failed"][0]
            .as_str()
            .unwrap()
            .starts_with("InvalidAudienceError"),
        "{v}"
    );
    let v = secure.verify_tokens(&py, &jwks, &agent_aud).await;
    assert_eq!(v["verified"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        v["failed"].as_array().unwrap().len(),
        1,
        "garbage refused: {v}"
    );
}

// ---------------------------------------------------------------------------
// Through the gateway (issue 16). The config is the issue's shape:
// `[[mcp_server]] name, upstream, [[mcp_server.tool]] name scopes`; rules
// `mcp_server = "files"`, `tools = [...]`, `approval = "human"`.

/// The `[[mcp_server]]` block for the SDK upstream: `delete_file` needs
/// `files:delete`, `whoami` needs `files:read`, the others nothing. The
/// resource is the default, `{public_url}/mcp/files`.
fn files_server(up: &McpUpstream) -> String {
    format!(
        r#"
[[mcp_server]]
name = "files"
upstream = "{}"

[[mcp_server.tool]]
name = "delete_file"
scopes = ["files:delete"]

[[mcp_server.tool]]
name = "whoami"
scopes = ["files:read"]
"#,
        up.url("http", "127.0.0.1")
    )
}

/// The orchestrator may use the read tools on behalf of a user.
fn read_rule() -> String {
    format!(
        "caller = \"{}\"\nmcp_server = \"files\"\ntools = [\"echo\", \"list_dir\", \"whoami\"]\nscopes = [\"files:read\"]",
        id("orchestrator")
    )
}

/// The orchestrator may delete on behalf of a user (`extra`: more lines).
fn delete_rule(extra: &str) -> String {
    format!(
        "caller = \"{}\"\nmcp_server = \"files\"\ntools = [\"delete_file\"]\nscopes = [\"files:delete\"]\n{extra}",
        id("orchestrator")
    )
}

/// The SDK upstream behind a gateway configured with `rules` (and `raw`
/// TOML after them).
struct Behind {
    py: PathBuf,
    up: McpUpstream,
    gw: TestGateway,
    _tmp: tempfile::TempDir,
}

async fn behind(rules: &[String], raw: &str) -> Behind {
    let py = venv_python().await;
    let tmp = tempfile::tempdir().unwrap();
    let up = McpUpstream::start(&py, tmp.path(), None).await;
    let mut o = Options::new().raw(&files_server(&up)).raw(raw);
    for r in rules {
        o = o.rule(r);
    }
    let gw = TestGateway::start(o).await;
    Behind {
        py,
        up,
        gw,
        _tmp: tmp,
    }
}

/// The orchestrator calling the gateway over mTLS.
fn orchestrator(gw: &TestGateway) -> Caller {
    Caller::agent(&gw.certs(), &gw.ca(), "orchestrator")
}

fn resource(gw: &TestGateway) -> String {
    format!("{}/mcp/files", gw.base)
}

/// The bearer token `whoami` handed back in a step's record.
fn whoami_token(step: &Value) -> String {
    step["text"][0]
        .as_str()
        .and_then(|t| t.strip_prefix("Bearer "))
        .unwrap_or_else(|| panic!("the server saw no bearer token: {step}"))
        .to_string()
}

/// Steps [`list_then_call`] listed every tool but `delete_file` and `echo`
/// answered; the steps.
fn assert_lists_without_delete<'a>(mode: &str, report: &'a Value) -> &'a Vec<Value> {
    let s = steps(report);
    assert_eq!(
        s[0]["tools"],
        json!(["echo", "list_dir", "whoami"]),
        "{mode}: {report}"
    );
    assert_eq!(s[1]["text"], json!(["hi"]), "{mode}: {report}");
    s
}

/// A session through the gateway under [`read_rule`] (steps
/// [`list_then_call`] first): the list shows the read tools only, `echo`
/// answers, and the token `whoami` saw is the gateway's for `resource`, on
/// the user's behalf by the orchestrator, never the user's own; its claims.
fn assert_read_session(mode: &str, report: &Value, resource: &str, user: &str) -> Value {
    let s = assert_lists_without_delete(mode, report);
    let token = whoami_token(&s[2]);
    assert_ne!(token, user, "{mode}: the caller's token was passed through");
    let c = common::gateway::claims(&token);
    assert_eq!(c["aud"], resource, "{mode}: {c}");
    assert_eq!(c["sub"], "alice@example.com", "{mode}: {c}");
    assert_eq!(c["act"], json!({"sub": id("orchestrator")}), "{mode}: {c}");
    c
}

/// The HTTP answers of a report with this status.
fn answers_with(report: &Value, status: u16) -> Vec<Value> {
    report["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == status)
        .cloned()
        .collect()
}

/// Lists show only the allowed tools; an allowed call reaches the server,
/// which sees only gateway-minted tokens (PyJWT: `aud` the server's
/// resource, `sub` the user, `act.sub` the caller, `scope` exactly the
/// tool's scopes); a forbidden call is refused before the server. Both
/// generations.
#[tokio::test(flavor = "multi_thread")]
async fn lists_show_only_allowed_tools_and_the_server_sees_only_minted_tokens() {
    let Behind { py, up, gw, _tmp } = behind(&[read_rule()], "").await;
    let user = gw.user_token(json!({"scope": "files:read"}));
    let caller = orchestrator(&gw).bearer(&user);
    let url = resource(&gw);
    for mode in MODES {
        let report = run_client(
            &py,
            &url,
            mode,
            &caller,
            json!([
                {"op": "list_tools"},
                {"op": "call_tool", "name": "echo", "arguments": {"text": "hi"}},
                {"op": "call_tool", "name": "whoami"},
                {"op": "call_tool", "name": "delete_file", "arguments": {"path": "/srv/a.txt"}},
                {"op": "call_tool", "name": "list_dir", "arguments": {"path": "/srv"}}
            ]),
        )
        .await;
        assert_eq!(report["protocol_version"], protocol_of(mode), "{report}");
        let c = assert_read_session(mode, &report, &url, &user);
        let s = steps(&report);
        assert_eq!(c["scope"], "files:read", "{mode}: {c}");
        assert_eq!(
            s[3]["ok"], false,
            "{mode}: delete_file was not refused: {report}"
        );
        assert_eq!(s[3]["error"]["type"], "MCPError", "{mode}: {report}");
        // The route's refusal code: −31000 − the HTTP status.
        assert_eq!(s[3]["error"]["code"], -31403, "{mode}: {report}");
        assert_eq!(s[4]["ok"], true, "{mode}: {report}");
    }
    assert!(
        !up.executed().contains(&"delete_file".to_string()),
        "{:?}",
        up.executed()
    );

    // Every request that reached the server carried a gateway token for it.
    let bearer = format!("Bearer {user}");
    assert!(up.requests().iter().all(|r| r["authorization"]
        .as_str()
        .is_some_and(|a| a.starts_with("Bearer ") && a != bearer.as_str())));
    let (_, jwks) = gw.get_json("orchestrator", "/.well-known/jwks.json").await;
    let v = up.verify_tokens(&py, &jwks, &url).await;
    assert_eq!(v["failed"], json!([]), "{v}");
    let verified = v["verified"].as_array().unwrap();
    assert!(!verified.is_empty(), "{v}");
    for c in verified {
        assert_eq!(c["sub"], "alice@example.com", "{c}");
        assert_eq!(c["act"]["sub"], id("orchestrator"), "{c}");
        let scope = c["scope"].as_str().unwrap_or("");
        assert!(!scope.contains("files:delete"), "{c}");
    }
    assert!(
        verified.iter().any(|c| c["scope"] == "files:read"),
        "whoami's token carries its scope: {v}"
    );
}

/// A tool whose scopes the user token lacks: 403 `insufficient_scope`
/// naming the tool's scope (step-up), nothing run; with the scope, the call
/// passes and the server's token carries exactly it.
#[tokio::test(flavor = "multi_thread")]
async fn an_under_scoped_user_token_gets_insufficient_scope_naming_the_tools_scope() {
    let Behind { py, up, gw, _tmp } = behind(&[read_rule(), delete_rule("")], "").await;
    let agent = orchestrator(&gw);
    let url = resource(&gw);
    let delete = json!([
        {"op": "call_tool", "name": "delete_file", "arguments": {"path": "/srv/a.txt"}},
        {"op": "call_tool", "name": "whoami"}
    ]);
    let deletions = |up: &McpUpstream| up.executed().iter().filter(|t| *t == "delete_file").count();
    for mode in MODES {
        let before = deletions(&up);
        let weak = agent
            .clone()
            .bearer(&gw.user_token(json!({"scope": "files:read"})));
        let report = run_client(&py, &url, mode, &weak, delete.clone()).await;
        let s = steps(&report);
        assert_eq!(s[0]["ok"], false, "{mode}: {report}");
        assert_eq!(s[0]["error"]["code"], -31403, "{mode}: {report}");
        let challenges = answers_with(&report, 403);
        assert_eq!(challenges.len(), 1, "{mode}: {report}");
        let h = challenges[0]["www_authenticate"].as_str().unwrap_or("");
        assert!(h.contains("error=\"insufficient_scope\""), "{mode}: {h}");
        assert!(h.contains("scope=\"files:delete\""), "{mode}: {h}");
        assert_eq!(
            challenges[0]["content_type"], "application/json",
            "{mode}: {report}"
        );
        assert_eq!(deletions(&up), before, "{mode}: delete_file ran unscoped");

        let strong = agent
            .clone()
            .bearer(&gw.user_token(json!({"scope": "files:read files:delete"})));
        let report = run_client(&py, &url, mode, &strong, delete.clone()).await;
        let s = steps(&report);
        assert_eq!(
            s[0]["text"],
            json!(["deleted /srv/a.txt"]),
            "{mode}: {report}"
        );
        // Each call's token has that tool's scopes, not the union.
        let c = common::gateway::claims(&whoami_token(&s[1]));
        assert_eq!(c["scope"], "files:read", "{mode}: {c}");
    }
    assert_eq!(deletions(&up), 2);
}

/// A delegated rule and no user token: 401 with `resource_metadata`
/// pointing at the server's RFC 9728 document, which names the resource the
/// caller dialled and the subject issuer.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_user_token_a_delegated_rule_answers_401_with_resource_metadata() {
    let Behind { py, up, gw, _tmp } = behind(&[read_rule()], "").await;
    let agent = orchestrator(&gw);
    let url = resource(&gw);
    let metadata = format!("{}/.well-known/oauth-protected-resource/mcp/files", gw.base);
    for mode in MODES {
        let report = run_client(
            &py,
            &url,
            mode,
            &agent,
            json!([{"op": "call_tool", "name": "echo", "arguments": {"text": "hi"}}]),
        )
        .await;
        // The very first request (discover / initialize) is refused: the
        // client surfaces the JSON-RPC error, −31000 − 401.
        assert_eq!(report["connect_error"]["code"], -31401, "{mode}: {report}");
        let challenges = answers_with(&report, 401);
        assert!(!challenges.is_empty(), "{mode}: {report}");
        for c in &challenges {
            let h = c["www_authenticate"].as_str().unwrap_or("");
            assert!(h.starts_with("Bearer "), "{mode}: {h}");
            assert!(
                h.contains(&format!("resource_metadata=\"{metadata}\"")),
                "{mode}: {h}"
            );
        }
    }
    assert!(!up.executed().contains(&"echo".to_string()));
    let (s, prm) = gw
        .get_json(
            "orchestrator",
            "/.well-known/oauth-protected-resource/mcp/files",
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{prm}");
    assert_eq!(prm["resource"], url.as_str(), "{prm}");
    assert_eq!(
        prm["authorization_servers"],
        json!([common::gateway::IDP]),
        "{prm}"
    );
    assert_eq!(prm["bearer_methods_supported"], json!(["header"]), "{prm}");
}

/// The approval id a held call's refusal names: the route puts it in the
/// JSON-RPC error's `data.approval_id`, the only part of the answer an SDK
/// client without an OAuth provider surfaces.
fn approval_id(report: &Value, step: &Value) -> String {
    step["error"]["data"]["approval_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no approval id in the JSON-RPC error: {report}"))
        .to_string()
}

/// `approval = "human"`: `delete_file` is held with an approval id; once a
/// person approved it, the identical retry with `Actgate-Approval` runs
/// once, and a replay is refused.
#[tokio::test(flavor = "multi_thread")]
async fn an_approval_rule_holds_the_tool_call_until_a_person_approves() {
    let Behind { py, up, gw, _tmp } = behind(
        &[read_rule(), delete_rule("approval = \"human\"")],
        "[approvals]\ndir = \"approvals\"",
    )
    .await;
    let user = gw.user_token(json!({"scope": "files:read files:delete"}));
    let agent = orchestrator(&gw).bearer(&user);
    let url = resource(&gw);
    let delete =
        json!([{"op": "call_tool", "name": "delete_file", "arguments": {"path": "/srv/a.txt"}}]);
    for (n, mode) in MODES.iter().enumerate() {
        let report = run_client(&py, &url, mode, &agent, delete.clone()).await;
        let step = &steps(&report)[0];
        assert_eq!(step["ok"], false, "{mode}: {report}");
        let approval = approval_id(&report, step);
        assert_eq!(
            up.executed().len(),
            n,
            "{mode}: nothing runs before approval"
        );
        let (s, b) = gw
            .admin(
                http::Method::POST,
                &format!("/api/approvals/{approval}/approve"),
                Some(json!({"reason": "ok"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");

        let approved = agent.clone().header("Actgate-Approval", &approval);
        let report = run_client(&py, &url, mode, &approved, delete.clone()).await;
        assert_eq!(
            steps(&report)[0]["text"],
            json!(["deleted /srv/a.txt"]),
            "{mode}: {report}"
        );
        let report = run_client(&py, &url, mode, &approved, delete.clone()).await;
        assert_eq!(
            steps(&report)[0]["ok"],
            false,
            "{mode}: a replay ran: {report}"
        );
        assert_eq!(up.executed(), vec!["delete_file".to_string(); n + 1]);
    }
    assert!(up.requests().iter().all(|r| r["authorization"]
        .as_str()
        .is_some_and(|a| !a.contains(&user))));
}

/// Through the egress sidecar: the SDK client with no TLS code at all
/// dials `http://127.0.0.1:PORT/mcp/files`; lists are filtered and the
/// server sees the gateway's token for the orchestrator, as over mTLS.
#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_client_without_tls_through_the_egress_sidecar() {
    use common::egress::TestEgress;
    let Behind {
        py,
        up: _up,
        gw,
        _tmp,
    } = behind(&[read_rule()], "").await;
    let eg = TestEgress::start(&gw, "orchestrator", "").await;
    let user = gw.user_token(json!({"scope": "files:read"}));
    let plain = Caller::default().bearer(&user);
    for mode in MODES {
        let report = run_client(
            &py,
            &format!("{}/mcp/files", eg.base),
            mode,
            &plain,
            list_then_call(),
        )
        .await;
        assert_read_session(mode, &report, &resource(&gw), &user);
    }
}

/// A plain HTTP proxy in front of the SDK server that runs the gateway's
/// list filter (`actgate::mcp::list_filter`) on `tools/list` answers,
/// hiding `delete_file`: the JSON answers of the 2026-07-28 leg and the SSE
/// answers of the session leg; the session's GET stream passes the guard
/// that lets no response through. What it passed on for lists is kept.
mod filtering_proxy {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use actgate::mcp::list_filter::form::AnswerForm;
    use actgate::mcp::list_filter::sse::{FilteredSseBody, SseListFilter};
    use actgate::mcp::list_filter::{filter_json_response, ItemKind, ListMethod};
    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::{combinators::BoxBody, BodyExt, Full};
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use serde_json::Value;

    type Body = BoxBody<Bytes, hyper::Error>;
    type Upstream = Client<HttpConnector, Full<Bytes>>;

    pub fn policy(kind: ItemKind, name: &str) -> bool {
        kind == ItemKind::Tool && name != "delete_file"
    }

    pub struct Proxy {
        pub port: u16,
        /// The JSON list answers: the upstream's, and what was passed on.
        pub lists: Arc<Mutex<Vec<(Value, Value)>>>,
    }

    pub async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let lists = Arc::new(Mutex::new(Vec::new()));
        let client: Upstream = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let seen = lists.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (client, upstream, seen) = (client.clone(), upstream.clone(), seen.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        forward(req, client.clone(), upstream.clone(), seen.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Proxy { port, lists }
    }

    fn full(b: Bytes) -> Body {
        Full::new(b)
            .map_err(|never: Infallible| match never {})
            .boxed()
    }

    async fn forward(
        req: Request<Incoming>,
        client: Upstream,
        upstream: String,
        lists: Arc<Mutex<Vec<(Value, Value)>>>,
    ) -> Result<Response<Body>, hyper::Error> {
        let (mut parts, body) = req.into_parts();
        let get = parts.method == http::Method::GET;
        let body = body.collect().await?.to_bytes();
        let list = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            let m = ListMethod::from_method(v["method"].as_str()?)?;
            Some((m, v["id"].clone()))
        });
        parts.uri = format!("{upstream}{}", parts.uri.path()).parse().unwrap();
        parts.headers.remove("host");
        let resp = client
            .request(Request::from_parts(parts, Full::new(body)))
            .await
            .unwrap();
        let (mut parts, body) = resp.into_parts();
        let Some((method, id)) = list else {
            if get && AnswerForm::of_response(&parts.headers) == Ok(AnswerForm::EventStream) {
                // The session's GET stream: no response may ride on it.
                let guard = SseListFilter::without_responses(1 << 20);
                return Ok(Response::from_parts(
                    parts,
                    FilteredSseBody::new(body, guard).boxed(),
                ));
            }
            return Ok(Response::from_parts(parts, body.boxed()));
        };
        // The SDK server's real headers are filterable (one UTF-8 media
        // type, no content coding).
        let form = AnswerForm::of_response(&parts.headers).unwrap();
        parts.headers.remove("content-length");
        if form == AnswerForm::EventStream {
            let filter = SseListFilter::new(method, id, Box::new(policy), 1 << 20);
            return Ok(Response::from_parts(
                parts,
                FilteredSseBody::new(body, filter).boxed(),
            ));
        }
        let bytes = body.collect().await?.to_bytes();
        let filtered = filter_json_response(method, &id, &bytes, &policy).unwrap();
        lists.lock().unwrap().push((
            serde_json::from_slice(&bytes).unwrap(),
            serde_json::from_slice(&filtered).unwrap(),
        ));
        Ok(Response::from_parts(parts, full(filtered)))
    }
}

/// The list filter between the real SDK halves: the client lists tools
/// through it in both generations (a JSON answer on 2026-07-28, SSE events
/// on the session protocol) and sees every tool but `delete_file`, then
/// calls one; a filtered page is never `cacheScope: "public"`.
#[tokio::test(flavor = "multi_thread")]
async fn the_list_filter_hides_tools_from_the_sdk_client_in_json_and_sse_answers() {
    let py = venv_python().await;
    let tmp = tempfile::tempdir().unwrap();
    let up = McpUpstream::start(&py, tmp.path(), None).await;
    let proxy = filtering_proxy::start(format!("http://127.0.0.1:{}", up.port)).await;
    let url = format!("http://127.0.0.1:{}/mcp", proxy.port);
    let caller = Caller::default();
    let (modern, legacy) = tokio::join!(
        run_client(&py, &url, "auto", &caller, list_then_call()),
        run_client(&py, &url, "legacy", &caller, list_then_call()),
    );
    for (mode, report) in [("auto", &modern), ("legacy", &legacy)] {
        assert_eq!(report["protocol_version"], protocol_of(mode), "{report}");
        assert_lists_without_delete(mode, report);
    }
    // The session leg's list came as SSE; the modern one as JSON.
    let list_answer_types = |r: &Value| -> Vec<String> {
        r["http"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["method"] == "POST" && h["status"] == 200)
            .filter_map(|h| h["content_type"].as_str().map(String::from))
            .collect()
    };
    assert!(
        list_answer_types(&legacy)
            .iter()
            .all(|c| c.starts_with("text/event-stream")),
        "{legacy}"
    );
    assert!(
        legacy["http"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["method"] == "GET"
                && h["status"] == 200
                && h["content_type"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("text/event-stream"))),
        "the session's GET stream went through the guard: {legacy}"
    );
    let lists = proxy.lists.lock().unwrap().clone();
    assert!(!lists.is_empty(), "no JSON list answer passed the proxy");
    for (raw, l) in &lists {
        assert!(raw.to_string().contains("delete_file"), "{raw}");
        assert!(!l.to_string().contains("delete_file"), "{l}");
        // The server said "public"; a filtered page is private.
        assert_eq!(raw["result"]["cacheScope"], "public", "{raw}");
        assert_eq!(l["result"]["cacheScope"], "private", "{l}");
    }
}
