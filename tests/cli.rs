//! The `actgate` binary as a user runs it.

mod common;

use std::path::Path;
use std::process::Command;

use common::cli::{actgate, text};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A directory laid out like a fresh clone: example config, cards, and a PKI
/// made by `actgate certs init`.
fn project_copy() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root.join("actgate.example.toml"),
        dir.path().join("actgate.example.toml"),
    )
    .unwrap();
    copy_dir(&root.join("agent-cards"), &dir.path().join("agent-cards"));
    let o = actgate(
        dir.path(),
        &[
            "certs",
            "init",
            "--trust-domain",
            "example.org",
            "--out",
            "certs",
        ],
    );
    assert!(o.status.success(), "certs init: {}", text(&o.stderr));
    dir
}

#[test]
fn example_config_checks_clean() {
    let dir = project_copy();
    let o = actgate(
        dir.path(),
        &["config", "check", "--config", "actgate.example.toml"],
    );
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(
        text(&o.stdout).contains("ok (1 trust domain(s), 2 agent(s), 5 rule(s))"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn config_check_reports_every_problem_with_its_location() {
    let dir = project_copy();
    let good = std::fs::read_to_string(dir.path().join("actgate.example.toml")).unwrap();
    let bad = good
        .replace("certs/gateway.key", "certs/missing.key")
        .replace("name = \"example.org\"", "name = \"Example.org\"")
        .replace(
            "upstream = \"http://127.0.0.1:9002\"",
            "upstream = \"ftp://x\"",
        )
        .replace("agent = \"notifier\"", "agent = \"nobody\"")
        .replace("ttl = \"5m\"", "ttl = \"5 minutes\"");
    std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
    let o = actgate(dir.path(), &["config", "check", "--config", "bad.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    for needle in [
        "bad.toml: gateway.server_key",
        "missing.key",
        "bad.toml: trust_domain[0].name",
        "bad.toml: tokens.ttl",
        "agent[1] (notifier).upstream",
        "bad.toml: rule[1].agent: no [[agent]] is named \"nobody\"",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }

    // A typo in a key is caught by the parser, with the line.
    std::fs::write(
        dir.path().join("typo.toml"),
        good.replace("issuer = \"https://gateway", "isuer = \"https://gateway"),
    )
    .unwrap();
    let o = actgate(dir.path(), &["config", "check", "--config", "typo.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("typo.toml:"),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).contains("isuer"), "{}", text(&o.stderr));
}

#[test]
fn token_sign_makes_a_token_the_jwks_verifies_and_fills_iat_exp() {
    let dir = project_copy();
    let o = actgate(
        dir.path(),
        &[
            "token",
            "sign",
            "--key",
            "certs/idp.key",
            "--claims",
            r#"{"iss":"https://idp.example.com","sub":"alice"}"#,
            "--expires-in",
            "10m",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let tok = text(&o.stdout).trim().to_string();
    let o = actgate(
        dir.path(),
        &["token", "decode", &tok, "--jwks", "certs/idp-jwks.json"],
    );
    let out = text(&o.stdout);
    assert!(out.contains("signature: valid"), "{out}");
    assert!(out.contains("\"sub\": \"alice\""), "{out}");
    // exp = iat + 600 s: "expires in" 599 or 600 depending on the second.
    assert!(
        out.contains("expires in 600 s") || out.contains("expires in 599 s"),
        "{out}"
    );

    for (claims, want) in [
        ("[1]", "--claims must be a JSON object"),
        ("{", "--claims is not JSON"),
    ] {
        let o = actgate(
            dir.path(),
            &[
                "token",
                "sign",
                "--key",
                "certs/idp.key",
                "--claims",
                claims,
            ],
        );
        assert_eq!(o.status.code(), Some(1));
        assert!(text(&o.stderr).contains(want), "{}", text(&o.stderr));
    }
    // A missing key file is named.
    let o = actgate(
        dir.path(),
        &["token", "sign", "--key", "certs/nope.key", "--claims", "{}"],
    );
    assert!(
        text(&o.stderr).contains("certs/nope.key"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn token_decode_prints_claims_and_verifies_with_a_jwks_file() {
    let dir = project_copy();
    let certs = dir.path().join("certs");
    let key = actgate::token::SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(certs.join("idp.key")).unwrap(),
        actgate::token::SigningAlgorithm::Es256,
    )
    .unwrap();
    let tok = actgate::token::mint::sign_jwt(
        &key,
        "JWT",
        &serde_json::json!({"sub": "alice", "exp": actgate::unix_now() + 60}),
    )
    .unwrap();
    let o = actgate(
        dir.path(),
        &["token", "decode", &tok, "--jwks", "certs/idp-jwks.json"],
    );
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("\"sub\": \"alice\""), "{out}");
    assert!(out.contains("signature: valid"), "{out}");

    // Tampered payload: signature invalid, exit 1.
    let mut parts: Vec<&str> = tok.split('.').collect();
    let forged = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory"}"#)
    };
    parts[1] = &forged;
    let o = actgate(
        dir.path(),
        &[
            "token",
            "decode",
            &parts.join("."),
            "--jwks",
            "certs/idp-jwks.json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("signature: INVALID"));

    let o = actgate(dir.path(), &["token", "decode", "nonsense"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("expected 3 dot-separated parts"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn demo_once_runs_the_whole_flow() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // An empty directory, as after `cargo install`: the cards come from the
    // binary.
    let dir = tempfile::tempdir().unwrap();
    // Without RUST_LOG, as a user first runs it: the narrative on stdout is
    // not interleaved with a log line per request.
    let o = Command::new(env!("CARGO_BIN_EXE_actgate"))
        .current_dir(dir.path())
        .args(["demo", "--once", "--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let out = text(&o.stdout);
    let err = text(&o.stderr);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("demo: all steps succeeded"), "{out}");
    assert!(!out.contains('✗'), "a check failed:\n{out}");
    assert!(
        !err.contains("INFO") && !err.contains("forwarded"),
        "the demo logs at warn by default:\n{err}"
    );
    // Every step ran and each of its checks passed.
    for n in 1..=8 {
        assert!(
            out.contains(&format!("[{n}/8] ")),
            "step {n} missing:\n{out}"
        );
    }
    let section = |from: &str, to: &str| -> String {
        let start = out.find(from).unwrap_or_else(|| panic!("{from}:\n{out}"));
        let end = out[start..].find(to).map_or(out.len(), |e| start + e);
        out[start..end].to_string()
    };
    let passed = |s: &str| {
        s.lines()
            .filter(|l| l.trim_start().starts_with('✓'))
            .count()
    };

    // 1. Step-up, then the delegated call.
    let s1 = section("[1/8]", "[2/8]");
    assert!(
        s1.contains("WWW-Authenticate  Bearer error=\"insufficient_scope\", scope=\"calendar:write notify:send\""),
        "{s1}"
    );
    assert!(
        s1.contains("refused (HTTP 403)") && s1.contains("allowed (HTTP 200)"),
        "{s1}"
    );
    assert!(s1.contains("\"sub\": \"alice@example.com\""), "{s1}");
    assert_eq!(passed(&s1), 2, "{s1}");

    // 2. The chain: the orchestrator nested inside the scheduler's act.
    let s2 = section("[2/8]", "[3/8]");
    assert!(s2.contains("allowed (HTTP 200)"), "{s2}");
    assert!(
        s2.contains("\"sub\": \"spiffe://example.org/agent/scheduler\"")
            && s2.contains("\"sub\": \"spiffe://example.org/agent/orchestrator\""),
        "{s2}"
    );
    assert_eq!(passed(&s2), 1, "{s2}");

    // 3. Deny by default.
    let s3 = section("[3/8]", "[4/8]");
    assert!(
        s3.contains("refused (HTTP 403)") && s3.contains("forbidden"),
        "{s3}"
    );
    assert_eq!(passed(&s3), 1, "{s3}");

    // 4. Token exchange: bound to the orchestrator's certificate (computed
    //    here from its file), refused from the scheduler's.
    let s4 = section("[4/8]", "[5/8]");
    let pem = std::fs::read_to_string(dir.path().join("certs/agents/orchestrator.pem")).unwrap();
    let thumbprint = common::exchange::thumbprint_of_pem(&pem);
    assert!(
        s4.contains(&format!("cnf.x5t#S256      {thumbprint}")),
        "{thumbprint}:\n{s4}"
    );
    assert!(s4.contains("scope             calendar:read"), "{s4}");
    assert!(
        s4.contains("act               {\"sub\":\"spiffe://example.org/agent/orchestrator\"}"),
        "{s4}"
    );
    assert!(
        s4.contains("refused (HTTP 401)") && s4.contains("invalid_token"),
        "{s4}"
    );
    assert_eq!(passed(&s4), 2, "{s4}");

    // 5. Human approval: held, approved, let through once, replay refused.
    let s5 = section("[5/8]", "[6/8]");
    assert!(s5.contains("approval_required"), "{s5}");
    assert!(s5.contains("actgate approvals approve ap-"), "{s5}");
    assert!(s5.contains("HTTP 200: approved by local-operator"), "{s5}");
    assert!(s5.contains("allowed (HTTP 200)"), "{s5}");
    assert!(s5.contains("error             approval_used"), "{s5}");
    assert_eq!(passed(&s5), 4, "{s5}");

    // 6. MCP: a filtered list, a minted token for the tool, a refused tool,
    //    a destructive tool held, approved, passed once for alice.
    let m = section("[6/8]", "[7/8]");
    assert!(m.contains("tools             read_file\n"), "{m}");
    assert!(m.contains("\"scope\": \"files:read\""), "{m}");
    assert!(m.contains("write_file → 403 (-31403"), "{m}");
    assert!(m.contains("delete_file → 403 (approval ap-"), "{m}");
    assert!(
        m.contains("retry             200 sub=alice@example.com act=spiffe://example.org/agent/orchestrator scope=files:delete"),
        "{m}"
    );
    assert_eq!(passed(&m), 6, "{m}");

    // 7. A person's grant: the consent page names the agent and the card's
    //    scope descriptions; the token from the code names alice and the
    //    orchestrator; revoked on the grants page, its refresh is refused.
    let g = section("[7/8]", "[8/8]");
    assert!(g.contains("asked by          Planner (demo app)"), "{g}");
    assert!(
        g.contains("agent             spiffe://example.org/agent/orchestrator"),
        "{g}"
    );
    assert!(
        g.contains("right             calendar:write  Book meetings"),
        "{g}"
    );
    assert!(g.contains("\"grant\": \"gr-"), "{g}");
    assert_eq!(passed(&g), 4, "{g}");

    // 8. Audit: verified in-process, and who acted for alice.
    let s6 = section("[8/8]", "Repeat the delegated call");
    assert!(
        s6.contains("chain intact") && s6.contains("head              seq "),
        "{s6}"
    );
    assert!(
        s6.contains("alice@example.com → orchestrator → scheduler → notifier"),
        "{s6}"
    );
    assert!(s6.contains("token exchange"), "{s6}");
    assert_eq!(passed(&s6), 2, "{s6}");

    assert!(
        out.contains("example Agent Cards written to agent-cards/"),
        "{out}"
    );
    for card in ["scheduler.json", "notifier.json"] {
        assert_eq!(
            std::fs::read(dir.path().join("agent-cards").join(card)).unwrap(),
            std::fs::read(root.join("agent-cards").join(card)).unwrap(),
            "{card}"
        );
    }
    assert!(out.contains("curl --cacert"), "{out}");
    assert!(dir.path().join("certs/example.org/ca.key").exists());
    // The same log, checked by the CLI a user would run: chained, and
    // holding each kind of decision the demo made.
    assert!(out.contains("actgate audit verify audit"), "{out}");
    let v = actgate(dir.path(), &["audit", "verify", "audit"]);
    assert!(v.status.success(), "{}", text(&v.stdout));
    let q = actgate(
        dir.path(),
        &["audit", "query", "audit", "--subject", "alice@example.com"],
    );
    let q = text(&q.stdout);
    assert!(
        q.contains(" → scheduler") && q.contains(" → notifier"),
        "{q}"
    );
    for decision in ["step_up", "deny", "approval_required"] {
        let q = actgate(
            dir.path(),
            &["audit", "query", "audit", "--decision", decision, "--json"],
        );
        assert!(
            text(&q.stdout).contains(&format!("\"decision\":\"{decision}\"")),
            "{decision}: {}",
            text(&q.stdout)
        );
    }
    let q = actgate(dir.path(), &["audit", "query", "audit", "--json"]);
    assert!(
        text(&q.stdout).contains("\"kind\":\"token_exchange\""),
        "{}",
        text(&q.stdout)
    );
}

#[test]
fn serve_reloads_on_sighup_and_exports_expiry() {
    let dir = project_copy();
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = std::fs::read_to_string(dir.path().join("actgate.example.toml"))
        .unwrap()
        .replace(
            "listen = \"127.0.0.1:8443\"",
            &format!("listen = \"{listen}\""),
        )
        .replace(
            "admin_listen = \"127.0.0.1:9901\"",
            &format!("admin_listen = \"{admin}\""),
        )
        .replace("watch_files = true", "watch_files = false");
    std::fs::write(dir.path().join("gw.toml"), &cfg).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_actgate"))
        .current_dir(dir.path())
        .args(["serve", "--config", "gw.toml"])
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let metrics = || -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(admin).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let wait_for = |needle: &str| {
        for _ in 0..100 {
            if metrics().is_some_and(|m| m.contains(needle)) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    };
    let started = wait_for("actgate_reloads_total 0");
    let m = metrics().unwrap_or_default();
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let reloaded = wait_for("actgate_reloads_total 1");
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "gateway did not start");
    assert!(
        m.contains("actgate_server_cert_expiry_timestamp_seconds "),
        "{m}"
    );
    assert!(hup.success());
    assert!(reloaded, "SIGHUP did not reload");
}

#[test]
fn unknown_operation_names_in_rules_are_config_errors() {
    let dir = project_copy();
    let good = std::fs::read_to_string(dir.path().join("actgate.example.toml")).unwrap();
    let bad = good.replace(
        "scopes = [\"notify:send\"]",
        "scopes = [\"notify:send\"]\noperations = [\"SendMessage\", \"CancleTask\"]",
    );
    std::fs::write(dir.path().join("ops.toml"), bad).unwrap();
    let o = actgate(dir.path(), &["config", "check", "--config", "ops.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("ops.toml: rule[1].operations: \"CancleTask\" is not an A2A operation"),
        "{err}"
    );
}

#[test]
fn an_agent_whose_card_cannot_be_satisfied_is_a_config_error() {
    let dir = project_copy();
    let card = serde_json::json!({
        "name": "Vault", "description": "", "version": "1",
        "supportedInterfaces": [{"url": "http://127.0.0.1:9001/a2a/jsonrpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {}, "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"], "skills": [],
        "securitySchemes": {"vault-key": {"apiKeySecurityScheme": {"location": "header", "name": "X-Api-Key"}}},
        "securityRequirements": [{"schemes": {"vault-key": {"list": []}}}]
    });
    std::fs::write(
        dir.path().join("agent-cards/scheduler.json"),
        card.to_string(),
    )
    .unwrap();
    let o = actgate(
        dir.path(),
        &["config", "check", "--config", "actgate.example.toml"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("agent[0] (scheduler).card"), "{err}");
    assert!(
        err.contains(
            "agent \"scheduler\": the gateway cannot satisfy any securityRequirements alternative"
        ),
        "{err}"
    );
    assert!(err.contains("API key"), "{err}");
}

#[test]
fn policy_check_against_the_example_config() {
    let dir = project_copy();
    let check = |extra: &[&str]| {
        let mut args = vec!["policy", "check", "--config", "actgate.example.toml"];
        args.extend_from_slice(extra);
        let o = actgate(dir.path(), &args);
        (o.status.code(), text(&o.stdout), text(&o.stderr))
    };
    const ORCH: &str = "spiffe://example.org/agent/orchestrator";
    let user = |scopes: &[&'static str]| {
        let mut v = vec!["--subject", "alice@example.com"];
        for s in scopes {
            v.extend_from_slice(&["--scope", s]);
        }
        v
    };
    let cases: Vec<(Vec<&str>, i32, Vec<&str>)> = vec![
        // Allowed: the token carries what the scheduler's card requires.
        (
            [&["--caller", ORCH, "--agent", "scheduler", "--operation", "SendMessage"][..], &user(&["calendar:read", "calendar:write", "notify:send"])].concat(),
            0,
            vec!["decision: allow", "rule:     #0 (actgate.example.toml: rule[0]): allow spiffe://example.org/agent/orchestrator to call scheduler", "scopes:   calendar:write notify:send", "sub:      alice@example.com", "lifetime: 300s"],
        ),
        // The user token lacks a scope the card requires: step-up.
        (
            [&["--caller", ORCH, "--agent", "scheduler", "--operation", "GetTask"][..], &user(&["calendar:read"])].concat(),
            1,
            vec!["decision: step_up", "rule:     #0", "needed:   calendar:write notify:send"],
        ),
        // Cancelling needs a person's approval, with a 1-minute token.
        (
            [&["--caller", ORCH, "--agent", "scheduler", "--operation", "CancelTask"][..], &user(&["calendar:write", "notify:send"])].concat(),
            1,
            vec!["decision: approval_required", "rule:     #2 (actgate.example.toml: rule[2])", "needs human approval", "lifetime: 60s"],
        ),
        // The deny rule for suspended accounts overrides rule 0.
        (
            vec!["--caller", ORCH, "--agent", "scheduler", "--subject", "bob@suspended.example.com", "--scope", "calendar:write"],
            1,
            vec!["decision: deny (a deny rule forbids this call)", "rule:     #3 (actgate.example.toml: rule[3]): deny"],
        ),
        // App-only is not allowed for the orchestrator.
        (
            vec!["--caller", ORCH, "--agent", "scheduler"],
            1,
            vec!["decision: deny (this caller may call this agent only on behalf of a user", "rule:     none"],
        ),
        // Same path, look-alike trust domain: nothing matches.
        (
            vec!["--caller", "spiffe://example.org.evil/agent/orchestrator", "--agent", "scheduler", "--subject", "alice@example.com"],
            1,
            vec!["decision: deny (no rule allows this caller to call this agent)", "rule:     none (deny by default)"],
        ),
        // The scheduler, recognised as a registered agent, calls the notifier.
        (
            [&["--caller", "spiffe://example.org/agent/scheduler", "--agent", "notifier"][..], &user(&["notify:send"])].concat(),
            0,
            vec!["decision: allow", "rule:     #1", "allow agent scheduler (spiffe://example.org/agent/scheduler) to call notifier", "scopes:   notify:send"],
        ),
    ];
    for (args, code, needles) in cases {
        let (got, out, err) = check(&args);
        assert_eq!(got, Some(code), "{args:?}\nstdout: {out}\nstderr: {err}");
        for n in needles {
            assert!(out.contains(n), "{args:?}: {n:?} not in\n{out}");
        }
    }
    // A wrong question is exit 2 with a reason.
    let (got, _, err) = check(&[
        "--caller",
        ORCH,
        "--agent",
        "scheduler",
        "--operation",
        "Teleport",
    ]);
    assert_eq!(got, Some(2));
    assert!(err.contains("not an A2A operation"), "{err}");
    let (got, _, err) = check(&["--caller", ORCH, "--agent", "scheduler", "--scope", "x"]);
    assert_eq!(got, Some(2));
    assert!(err.contains("give --subject too"), "{err}");
}

/// Run a shell command line `script` with `bash -c`; its stdout.
fn bash(script: &str) -> String {
    let o = Command::new("bash").args(["-c", script]).output().unwrap();
    assert!(
        o.status.success(),
        "bash -c {script}\nstderr: {}",
        text(&o.stderr)
    );
    text(&o.stdout)
}

#[test]
fn completion_scripts_load_in_real_shells_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = actgate(dir.path(), &["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", text(&o.stderr));
        assert!(text(&o.stdout).contains("actgate"), "{shell}");
        std::fs::write(dir.path().join(shell), &o.stdout).unwrap();
    }
    let script = dir.path().join("bash");
    let script = script.display();
    bash(&format!("bash -n {script}"));
    // Sourced into bash, the function answers completion requests as bash
    // would make them (words, index of the word being completed).
    let top = bash(&format!(
        "source {script}; COMP_WORDS=(actgate con); COMP_CWORD=1; \
         _actgate actgate con actgate; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    ));
    assert_eq!(top.trim(), "config", "{top}");
    let sub = bash(&format!(
        "source {script}; COMP_WORDS=(actgate config ''); COMP_CWORD=2; \
         _actgate actgate '' config; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    ));
    assert!(
        sub.lines().any(|l| l == "check") && sub.lines().any(|l| l == "schema"),
        "{sub}"
    );
    // zsh (installed by .ci/run) parses its script.
    let zsh = Command::new("zsh")
        .arg("-n")
        .arg(dir.path().join("zsh"))
        .output()
        .expect("zsh is installed (.ci/run)");
    assert!(zsh.status.success(), "zsh -n: {}", text(&zsh.stderr));
}

#[test]
fn man_page_renders_with_man_and_names_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let o = actgate(dir.path(), &["man"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    std::fs::write(dir.path().join("actgate.1"), &o.stdout).unwrap();
    // man-db's `man -l` formats it with groff; --warnings makes groff say
    // what it did not understand.
    let man = Command::new("man")
        .args(["--warnings", "-l", "actgate.1"])
        .current_dir(dir.path())
        .env("MANWIDTH", "100")
        .output()
        .expect("man is installed (.ci/run)");
    let page = text(&man.stdout);
    assert!(man.status.success(), "{}", text(&man.stderr));
    assert!(text(&man.stderr).trim().is_empty(), "{}", text(&man.stderr));
    assert!(
        page.contains("SYNOPSIS") && page.contains("SUBCOMMANDS"),
        "{page}"
    );
    // Every command `--help` lists has its entry.
    let help = text(&actgate(dir.path(), &["--help"]).stdout);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() > 15, "{help}");
    for c in commands {
        assert!(page.contains(&format!("actgate-{c}(1)")), "{c}:\n{page}");
    }
    // --out-dir writes the pages those entries refer to.
    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    let o = actgate(dir.path(), &["man", "--out-dir", "pages"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for p in [
        "actgate.1",
        "actgate-config-schema.1",
        "actgate-completions.1",
    ] {
        assert!(pages.join(p).exists(), "{p}");
    }
}
