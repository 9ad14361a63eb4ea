//! Interoperability with independent implementations: the Python `a2a-sdk`
//! (a real A2A client and a real A2A upstream) and PyJWT (verifies the minted
//! tokens against the gateway's JWKS).
//!
//! The pinned packages are installed into a venv under the target directory
//! on first run. If that fails the test fails, with the pip output; it never
//! skips.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::exchange::request;
use common::gateway::{id, Options, TestGateway, ISSUER};
use common::python::{script, Reaper};
use common::upstream::{self, Behaviour};
use serde_json::{json, Value};

/// The venv's python, creating and filling the venv when its requirements changed.
fn python() -> PathBuf {
    common::python::venv("interop-venv", "tests/interop/requirements.txt")
}

/// Start the a2a-sdk upstream agent and return its port.
fn start_python_agent(py: &Path, dir: &Path) -> (Reaper, u16) {
    let card = json!({
        "name": "pyagent", "description": "a2a-sdk echo agent", "version": "1.0.0",
        "supportedInterfaces": [
            {"url": "http://127.0.0.1:1/a2a/jsonrpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": "http://127.0.0.1:1/a2a/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"}],
        "capabilities": {"streaming": true},
        "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "echo", "name": "Echo", "description": "Echoes", "tags": ["test"]}]
    });
    let card_path = dir.join("pyagent-card.json");
    std::fs::write(&card_path, card.to_string()).unwrap();
    let mut child = Command::new(py)
        .arg(script("upstream_agent.py"))
        .arg(&card_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the a2a-sdk upstream agent");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("upstream agent did not report its port: {line:?}"));
    (Reaper(child), port)
}

async fn wait_listening(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the a2a-sdk upstream never started listening on {port}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a2a_sdk_client_and_upstream_through_the_gateway_and_pyjwt_verifies() {
    let py = tokio::task::spawn_blocking(python).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (_agent, port) = start_python_agent(&py, tmp.path());
    wait_listening(port).await;

    let gw = TestGateway::start(
        Options::new()
            .agent("pyagent", &format!("http://127.0.0.1:{port}"))
            .allow("orchestrator", "pyagent", &["calendar:read"], false),
    )
    .await;
    let user = gw.user_token(json!({"scope": "calendar:read calendar:write"}));
    let agents = gw.certs().join("agents");
    let out = tokio::process::Command::new(&py)
        .arg(script("client.py"))
        .arg(&gw.base)
        .arg("pyagent")
        .arg(gw.ca())
        .arg(agents.join("orchestrator.pem"))
        .arg(agents.join("orchestrator.key"))
        .arg(&user)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "a2a-sdk client failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    // The card the SDK resolved points at the gateway.
    assert_eq!(
        report["card_urls"],
        json!([
            format!("{}/agents/pyagent/a2a/jsonrpc", gw.base),
            format!("{}/agents/pyagent/a2a/rest", gw.base)
        ])
    );
    // Four calls: JSON-RPC and REST, unary and streaming; each reached the
    // upstream with a gateway token.
    let calls = report["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 4, "{report}");
    for c in calls {
        assert!(c["events"].as_u64().unwrap() >= 1, "{c}");
        assert!(
            !c["tokens"].as_array().unwrap().is_empty(),
            "upstream saw no token: {c}"
        );
        if c["streaming"] == true {
            assert!(
                c["events"].as_u64().unwrap() >= 2,
                "streaming delivered several events: {c}"
            );
        }
    }
    // The served card's signature verifies under an independent RFC 8785
    // canonicaliser with the gateway's card JWKS, never with the token
    // JWKS; without its mTLS requirement it does not.
    assert_eq!(report["card_signature_valid"], true, "{report}");
    assert_eq!(
        report["card_signature_valid_with_token_keys"], false,
        "{report}"
    );
    assert_eq!(report["tampered_card_signature_valid"], false, "{report}");
    // PyJWT verified every token (signature, iss, aud, exp, required claims).
    let verified = report["verified_claims"].as_array().unwrap();
    assert!(verified.len() >= 4, "{report}");
    for c in verified {
        assert_eq!(c["sub"], "alice@example.com");
        assert_eq!(c["act"], json!({"sub": id("orchestrator")}));
        assert_eq!(c["client_id"], id("orchestrator"));
        assert_eq!(c["scope"], "calendar:read");
    }
}

/// PyJWT verifies a token from the token endpoint (signature with the
/// published JWKS, iss, aud, required claims), and its `cnf` matches the
/// caller's certificate thumbprint as `cryptography` computes it, and not
/// another agent's.
#[tokio::test(flavor = "multi_thread")]
async fn pyjwt_verifies_an_exchanged_token_and_its_certificate_binding() {
    let py = tokio::task::spawn_blocking(python).await.unwrap();
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &["calendar:read", "calendar:write"],
        false,
    ))
    .await;
    let user = gw.user_token(json!({}));
    let token = gw
        .exchange(
            "orchestrator",
            &request(&user, "scheduler", &[("scope", "calendar:read")]),
        )
        .await
        .token();
    let (_, jwks) = gw.get_json("orchestrator", "/.well-known/jwks.json").await;
    let tmp = tempfile::tempdir().unwrap();
    let jwks_file = tmp.path().join("jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let agents = gw.certs().join("agents");
    let audience = format!("{}/agents/scheduler", gw.base);
    let out = tokio::process::Command::new(&py)
        .arg(script("verify_bound_token.py"))
        .arg(&token)
        .arg(&jwks_file)
        .arg(ISSUER)
        .arg(&audience)
        .arg(agents.join("orchestrator.pem"))
        .arg(agents.join("scheduler.pem"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "PyJWT verification failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["typ"], "at+jwt", "{report}");
    assert_eq!(report["cnf_matches_caller"], true, "{report}");
    assert_eq!(report["cnf_matches_other"], false, "{report}");
    assert_eq!(report["tampered_valid"], false, "{report}");
    assert_eq!(report["caller_thumbprint"], gw.thumbprint("orchestrator"));
    let c = &report["claims"];
    assert_eq!(c["sub"], "alice@example.com");
    assert_eq!(c["aud"], audience);
    assert_eq!(c["client_id"], id("orchestrator"));
    assert_eq!(c["act"], json!({"sub": id("orchestrator")}));
    assert_eq!(c["scope"], "calendar:read");
}

/// Egress mode: an a2a-sdk client with no TLS code calls the a2a-sdk
/// upstream through its sidecar (plain HTTP) and the gateway (mTLS). The
/// client is the scheduler, presenting the token it received when the
/// orchestrator called it on alice's behalf; the upstream sees the whole
/// chain: sub alice, act scheduler, inside it orchestrator.
#[tokio::test(flavor = "multi_thread")]
async fn a2a_sdk_client_without_tls_through_the_egress_sidecar() {
    use common::egress::{claims, TestEgress};
    use common::upstream::{self, Behaviour};

    let py = tokio::task::spawn_blocking(python).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (_agent, port) = start_python_agent(&py, tmp.path());
    wait_listening(port).await;
    let scheduler = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &scheduler.url())
            .agent("pyagent", &format!("http://127.0.0.1:{port}"))
            .allow("orchestrator", "scheduler", &["calendar:read"], false)
            .allow("scheduler", "pyagent", &["calendar:read"], false),
    )
    .await;

    // Hop 1: the orchestrator calls the scheduler on alice's behalf; the
    // scheduler receives a gateway token.
    let user = gw.user_token(json!({"scope": "calendar:read"}));
    let (s, _, _) = gw
        .send_message("orchestrator", "scheduler", Some(&user))
        .await;
    assert_eq!(s, http::StatusCode::OK);
    let inbound = scheduler.requests()[0].headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_string();

    // Hop 2: the scheduler, through its sidecar, with no TLS code.
    let eg = TestEgress::start(&gw, "scheduler", "").await;
    let out = tokio::process::Command::new(&py)
        .arg(script("egress_client.py"))
        .arg(&eg.base)
        .arg("pyagent")
        .arg(&inbound)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "a2a-sdk client failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["card_urls"],
        json!([
            format!("{}/agents/pyagent/a2a/jsonrpc", eg.base),
            format!("{}/agents/pyagent/a2a/rest", eg.base)
        ]),
        "{report}"
    );
    assert_eq!(report["card_schemes"], json!(["gateway-token"]), "{report}");
    let calls = report["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 4, "{report}");
    for c in calls {
        let min_events = if c["streaming"] == true { 2 } else { 1 };
        assert!(c["events"].as_u64().unwrap() >= min_events, "{c}");
        let tokens = c["tokens"].as_array().unwrap();
        assert!(!tokens.is_empty(), "upstream saw no token: {c}");
        for t in tokens {
            let cl = claims(t.as_str().unwrap());
            assert_eq!(cl["sub"], "alice@example.com", "{cl}");
            assert_eq!(cl["client_id"], id("scheduler"), "{cl}");
            assert_eq!(
                cl["act"],
                json!({"sub": id("scheduler"), "act": {"sub": id("orchestrator")}}),
                "{cl}"
            );
            assert_eq!(cl["aud"], format!("{}/agents/pyagent", gw.base));
        }
    }
}
