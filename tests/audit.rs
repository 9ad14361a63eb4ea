//! The audit log end to end: records written by a real gateway (real mTLS,
//! real upstream), checked by the `actgate audit` commands, edited to prove
//! every kind of tampering is caught at the right record, and a `kill -9`
//! of the real binary under load.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::cli::{actgate, text};
use common::gateway::{claims, echoed_token, id, Options, TestGateway};
use common::upstream::{self, Behaviour};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

fn audit_dir(gw: &TestGateway) -> PathBuf {
    gw.dir.path().join("audit")
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    actgate::audit::query::log_files(dir).unwrap()
}

/// Every record (not `log_start`) in the log at `dir`, in order.
fn records(dir: &Path) -> Vec<Value> {
    common::audit::records(dir)
}

async fn flush(gw: &TestGateway) {
    gw.running.current().audit.flush().await.unwrap();
}

/// A gateway with a two-hop delegation (orchestrator → scheduler → notifier)
/// and a few refusals in its log. Returns the tokens the upstream received.
async fn gateway_with_traffic(extra: &str) -> (TestGateway, Vec<String>, upstream::TestUpstream) {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .agent("scheduler", &up.url())
            .agent("notifier", &up.url())
            .allow(
                "orchestrator",
                "scheduler",
                &["calendar:write", "notify:send"],
                false,
            )
            .allow("scheduler", "notifier", &["notify:send"], false)
            .raw(extra),
    )
    .await;
    let user = gw.user_token(json!({}));
    let (s, _, b1) = gw
        .send_message("orchestrator", "scheduler", Some(&user))
        .await;
    assert_eq!(s, StatusCode::OK, "{b1}");
    let t1 = echoed_token(&b1);
    let (s, _, b2) = gw.send_message("scheduler", "notifier", Some(&t1)).await;
    assert_eq!(s, StatusCode::OK, "{b2}");
    let t2 = echoed_token(&b2);
    // Refusals: no rule, app-only not allowed, a forged subject token.
    let (s, _, _) = gw.send_message("intruder", "scheduler", Some(&user)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = gw
        .send_message(
            "orchestrator",
            "scheduler",
            Some("eyJhbGciOiJub25lIn0.e30."),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    flush(&gw).await;
    (gw, vec![user, t1, t2], up)
}

#[tokio::test]
async fn a_real_gateway_writes_a_verifiable_log_of_who_acted_for_whom() {
    let (gw, tokens, _up) = gateway_with_traffic("").await;
    let dir = audit_dir(&gw);
    let o = actgate(gw.dir.path(), &["audit", "verify", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stdout).contains("ok: 6 line(s), chain intact"),
        "{}",
        text(&o.stdout)
    );

    let r = records(&dir);
    assert_eq!(r.len(), 5, "{r:#?}");
    // The first hop: the user, the caller, its certificate, the token's jti
    // and scopes, the rule, the statuses.
    let c1 = claims(&tokens[1]);
    assert_eq!(r[0]["decision"], "allow");
    assert_eq!(r[0]["kind"], "proxy");
    assert_eq!(r[0]["caller"], id("orchestrator"));
    assert_eq!(r[0]["subject"], "alice@example.com");
    assert_eq!(r[0]["act"], json!([id("orchestrator")]));
    assert_eq!(r[0]["agent"], "scheduler");
    assert_eq!(r[0]["operation"], "SendMessage");
    assert_eq!(r[0]["rule"], "rule[0]");
    assert_eq!(r[0]["jti"], c1["jti"]);
    assert_eq!(r[0]["scopes"], json!(["calendar:write", "notify:send"]));
    assert_eq!(
        (r[0]["status"].as_u64(), r[0]["upstream_status"].as_u64()),
        (Some(200), Some(200))
    );
    assert!(r[0]["latency_us"].as_u64().is_some());
    assert_eq!(
        r[0]["thumbprint"].as_str().map(str::len),
        Some(43),
        "base64url SHA-256"
    );
    assert!(r[0]["request_id"].as_str().is_some_and(|s| !s.is_empty()));
    // The second hop carries the whole chain, current actor first.
    assert_eq!(r[1]["act"], json!([id("scheduler"), id("orchestrator")]));
    assert_eq!(r[1]["jti"], claims(&tokens[2])["jti"]);
    assert_eq!(r[1]["rule"], "rule[1]");
    // Refusals, with why.
    assert_eq!(
        (r[2]["decision"].as_str(), r[2]["caller"].as_str()),
        (Some("deny"), Some(id("intruder").as_str()))
    );
    assert_eq!(r[2]["status"], 403);
    assert!(r[2].get("jti").is_none(), "nothing minted for a refusal");
    assert_eq!(r[3]["decision"], "deny");
    assert!(
        r[3]["reason"]
            .as_str()
            .unwrap()
            .contains("on behalf of a user"),
        "{}",
        r[3]
    );
    assert_eq!(r[4]["decision"], "unauthenticated");
    assert_eq!(r[4]["status"], 401);
    // Chained: each record names the hash of the line before it.
    let seqs: Vec<u64> = r.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    let m = gw.metrics();
    assert!(
        m.contains("actgate_audit_healthy 1") && m.contains("actgate_audit_records_lost_total 0"),
        "{m}"
    );
}

#[tokio::test]
async fn no_token_or_key_material_ever_reaches_the_log() {
    let (gw, tokens, up) = gateway_with_traffic("").await;
    let log: String = log_files(&audit_dir(&gw))
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    // The tokens as the upstream received them, and the user's.
    let seen: Vec<String> = up
        .requests()
        .iter()
        .filter_map(|r| {
            r.headers
                .get("authorization")?
                .to_str()
                .ok()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(seen.len(), 2);
    for t in seen
        .iter()
        .map(|s| s.trim_start_matches("Bearer "))
        .chain(tokens.iter().map(String::as_str))
    {
        assert!(!log.contains(t), "a token is in the audit log");
        // Not even its signature part alone.
        let sig = t.rsplit('.').next().unwrap();
        assert!(
            sig.len() < 20 || !log.contains(sig),
            "a token signature is in the audit log"
        );
    }
    // Key and certificate material: the base64 bodies of every PEM file.
    let mut pems = Vec::new();
    collect_pems(&gw.certs(), &mut pems);
    assert!(pems.len() >= 6, "{pems:?}");
    for p in &pems {
        let body = std::fs::read_to_string(p).unwrap();
        for line in body
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        {
            assert!(
                !log.contains(line),
                "material of {} is in the audit log",
                p.display()
            );
        }
    }
    assert!(!log.contains("BEGIN"));
}

fn collect_pems(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_pems(&p, out);
        } else if matches!(p.extension().and_then(|x| x.to_str()), Some("pem" | "key")) {
            out.push(p);
        }
    }
}

/// Copy the log at `dir` to a scratch directory to edit.
fn scratch_copy(dir: &Path) -> (tempfile::TempDir, Vec<PathBuf>) {
    let t = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    for f in log_files(dir) {
        let to = t.path().join(f.file_name().unwrap());
        std::fs::copy(&f, &to).unwrap();
        out.push(to);
    }
    (t, out)
}

fn edit_lines(file: &Path, f: impl FnOnce(&mut Vec<String>)) {
    let mut lines: Vec<String> = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    f(&mut lines);
    let mut s = lines.join("\n");
    s.push('\n');
    std::fs::write(file, s).unwrap();
}

fn verify(files: &[PathBuf]) -> (bool, String) {
    let mut args = vec!["audit", "verify"];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let o = actgate(Path::new("."), &args);
    (o.status.success(), text(&o.stdout))
}

#[tokio::test]
async fn every_kind_of_edit_is_caught_at_the_right_record() {
    let (gw, _, _up) = gateway_with_traffic("").await;
    let dir = audit_dir(&gw);
    assert_eq!(log_files(&dir).len(), 1);

    // Changed: line 3 (seq 2, the second hop) now claims another subject.
    let (_t, files) = scratch_copy(&dir);
    edit_lines(&files[0], |l| {
        l[2] = l[2].replace("alice@example.com", "mallory@example.com")
    });
    let (ok, out) = verify(&files);
    assert!(!ok, "{out}");
    assert!(out.contains("line 3 (seq 2): changed"), "{out}");

    // Removed: the intruder's denial (line 4, seq 3).
    let (_t, files) = scratch_copy(&dir);
    edit_lines(&files[0], |l| {
        l.remove(3);
    });
    let (ok, out) = verify(&files);
    assert!(!ok, "{out}");
    assert!(
        out.contains("line 4 (seq 3): removed: record seq 3 is missing"),
        "{out}"
    );

    // Reordered: the two hops swapped.
    let (_t, files) = scratch_copy(&dir);
    edit_lines(&files[0], |l| l.swap(1, 2));
    let (ok, out) = verify(&files);
    assert!(!ok, "{out}");
    assert!(out.contains("line 2 (seq 2): reordered"), "{out}");

    // Truncated mid-record: the torn last record is reported, not a break.
    let (_t, files) = scratch_copy(&dir);
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &bytes[..bytes.len() - 30]).unwrap();
    let (ok, out) = verify(&files);
    assert!(ok, "{out}");
    assert!(out.contains("line 6: truncated tail"), "{out}");
    assert!(out.contains("ok: 5 line(s)"), "{out}");
}

#[tokio::test]
async fn rotated_files_verify_together_and_a_cut_file_is_caught() {
    let (gw, _, _up) = gateway_with_traffic("[audit]\nmax_file_size = 4096\n").await;
    // More traffic to fill several files.
    for _ in 0..12 {
        let (s, _, _) = gw.send_message("intruder", "notifier", None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    flush(&gw).await;
    let dir = audit_dir(&gw);
    let files = log_files(&dir);
    assert!(files.len() >= 3, "{files:?}");
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= 4096);
    }
    let (ok, out) = verify(&files);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("ok: {} line(s)", 17 + files.len())),
        "{out}"
    );
    // A file given alone is checked from its own start.
    let (ok, out) = verify(&files[1..]);
    assert!(ok && out.contains("the log starts at seq"), "{out}");

    // The last line of a rotated file is protected by the next file.
    let (_t, copy) = scratch_copy(&dir);
    let n = std::fs::read_to_string(&copy[0]).unwrap().lines().count();
    edit_lines(&copy[0], |l| {
        l.pop();
    });
    let (ok, out) = verify(&copy);
    assert!(!ok, "{out}");
    let name = copy[1].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        out.contains(&format!("{name}: line 1 (seq {}): truncated", n - 1)),
        "{out}"
    );

    // A missing middle file is caught the same way.
    let (_t, copy) = scratch_copy(&dir);
    let without: Vec<PathBuf> = copy
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, p)| p.clone())
        .collect();
    let (ok, out) = verify(&without);
    assert!(!ok && out.contains("truncated"), "{out}");
}

#[tokio::test]
async fn query_answers_who_acted_for_whom() {
    let (gw, _, _up) = gateway_with_traffic("").await;
    let dir = audit_dir(&gw);
    let d = dir.to_str().unwrap();
    let q = |args: &[&str]| {
        let mut all = vec!["audit", "query", d];
        all.extend_from_slice(args);
        let o = actgate(gw.dir.path(), &all);
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    // Who acted for alice: both hops, drawn user → agent → agent.
    let out = q(&["--subject", "alice@example.com", "--decision", "allow"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let chain = format!(
        "alice@example.com → {} → {} → notifier",
        id("orchestrator"),
        id("scheduler")
    );
    assert!(out.contains(&chain), "{out}");
    // What did the orchestrator do, directly or through the scheduler.
    let out = q(&["--actor", &id("orchestrator"), "--json"]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines.iter().any(|v| v["caller"] == id("scheduler")));
    // Direct calls only, to one agent, in a time window.
    let out = q(&[
        "--caller",
        &id("intruder"),
        "--agent",
        "scheduler",
        "--since",
        "1h",
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(" deny "), "{out}");
    assert_eq!(
        q(&["--agent", "notifier", "--until", "2000-01-01T00:00:00Z"]),
        ""
    );

    let o = actgate(
        gw.dir.path(),
        &["audit", "query", d, "--since", "yesterday"],
    );
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("--since"), "{}", text(&o.stderr));
    let o = actgate(gw.dir.path(), &["audit", "query", d, "--decision", "maybe"]);
    assert!(!o.status.success() && text(&o.stderr).contains("--decision"));
}

/// `kill -9` of the real binary while it serves: nothing that was answered
/// as a refusal is missing, allowed calls older than the flush window are
/// all there, and the chain verifies (a torn line, if any, is a tail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_at_most_the_flush_window() {
    let up = upstream::start(Behaviour::Echo).await;
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let opts = Options::new()
        .agent("scheduler", &up.url())
        .allow("orchestrator", "scheduler", &["calendar:write"], true)
        .raw("[audit]\nflush_interval = \"100ms\"\n");
    let cfg = common::gateway::config_text(dir.path(), &opts);
    let port: u16 = cfg
        .split("listen = \"127.0.0.1:")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    std::fs::write(dir.path().join("gw.toml"), &cfg).unwrap();
    let serve = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_actgate"))
            .current_dir(dir.path())
            .args(["serve", "--config", "gw.toml"])
            .env("RUST_LOG", "error")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = serve();
    wait_listening(port).await;

    let base = format!("https://localhost:{port}/agents/scheduler/a2a/jsonrpc");
    let client = |name: &str| {
        let a = dir.path().join("certs/agents");
        actgate::dev::client::MtlsClient::new(
            &dir.path().join("certs/example.org/bundle.pem"),
            Some((
                &a.join(format!("{name}.pem")),
                &a.join(format!("{name}.key")),
            )),
            false,
        )
        .unwrap()
    };
    // Four callers in a loop: two allowed, two refused. Each notes when its
    // answers arrived.
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let mut tasks = Vec::new();
    for name in ["orchestrator", "intruder", "orchestrator", "intruder"] {
        let c = client(name);
        let url = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut answered: Vec<(StatusCode, Instant)> = Vec::new();
            let mut h = HeaderMap::new();
            h.insert("content-type", HeaderValue::from_static("application/json"));
            let body = Bytes::from(
                json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {}})
                    .to_string(),
            );
            while Instant::now() < stop_at + Duration::from_secs(2) {
                match c.fetch(Method::POST, &url, &h, body.clone()).await {
                    Ok((s, _, _)) => answered.push((s, Instant::now())),
                    Err(_) => break, // the gateway is gone
                }
            }
            answered
        }));
    }
    tokio::time::sleep_until(stop_at.into()).await;
    // Child::kill sends SIGKILL: no shutdown code runs.
    child.kill().unwrap();
    let killed_at = Instant::now();
    child.wait().unwrap();
    let mut answered = Vec::new();
    for t in tasks {
        answered.extend(t.await.unwrap());
    }
    let denied = answered
        .iter()
        .filter(|(s, _)| *s == StatusCode::FORBIDDEN)
        .count();
    // Allowed answers sent well before the kill (window + scheduling slack).
    let settled = killed_at - Duration::from_millis(100 + 400);
    let allowed_settled = answered
        .iter()
        .filter(|(s, t)| *s == StatusCode::OK && *t < settled)
        .count();
    assert!(
        denied > 10 && allowed_settled > 10,
        "too little load: {denied} denied, {allowed_settled} allowed"
    );

    let audit = dir.path().join("audit");
    let (ok, out) = verify(&log_files(&audit));
    assert!(ok, "{out}");
    assert!(!out.contains("BROKEN"), "{out}");
    let recs = records(&audit);
    let deny_records = recs.iter().filter(|r| r["decision"] == "deny").count();
    let allow_records = recs.iter().filter(|r| r["decision"] == "allow").count();
    assert!(
        deny_records >= denied,
        "{deny_records} deny records for {denied} refusals answered"
    );
    assert!(
        allow_records >= allowed_settled,
        "{allow_records} allow records, {allowed_settled} answered before the window"
    );
    let allowed = answered
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .count();
    eprintln!("kill -9: answered {denied} denied / {allowed} allowed; log has {deny_records} deny / {allow_records} allow records\n{out}");

    // A restart continues the chain in a new file; the whole log verifies.
    let mut child = serve();
    wait_listening(port).await;
    let (s, _, _) = client("intruder")
        .fetch(
            Method::POST,
            &base,
            &HeaderMap::new(),
            Bytes::from_static(b"{}"),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN);
    child.kill().unwrap();
    child.wait().unwrap();
    let files = log_files(&audit);
    assert_eq!(files.len(), 2);
    let (ok, out) = verify(&files);
    assert!(ok, "{out}");
    assert!(std::fs::read_to_string(&files[1])
        .unwrap()
        .contains("\"reason\":\"start\""));
}

async fn wait_listening(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the gateway never listened on {port}");
}

#[test]
fn bad_audit_settings_are_config_errors_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let opts = Options::new().raw("[audit]\nflush_interval = \"1m\"\nmax_file_size = 100\n");
    let cfg = common::gateway::config_text(dir.path(), &opts);
    std::fs::write(dir.path().join("gw.toml"), cfg).unwrap();
    let o = actgate(dir.path(), &["config", "check", "--config", "gw.toml"]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("gw.toml: audit.flush_interval: at most \"10s\""),
        "{err}"
    );
    assert!(
        err.contains("gw.toml: audit.max_file_size: must be at least 4096 bytes"),
        "{err}"
    );
    // `config check` creates nothing.
    assert!(!dir.path().join("audit").exists());

    // An audit directory that cannot be created stops `serve` with a clear message.
    std::fs::write(dir.path().join("blocker"), "a file, not a directory").unwrap();
    let opts = Options::new().raw("[audit]\ndirectory = \"blocker/audit\"\n");
    let cfg = common::gateway::config_text(dir.path(), &opts);
    std::fs::write(dir.path().join("gw.toml"), cfg).unwrap();
    let o = actgate(dir.path(), &["serve", "--config", "gw.toml"]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("cannot open the audit log: audit directory") && err.contains("blocker/audit"),
        "{err}"
    );
}

/// Token exchanges are audited like proxy calls: who exchanged what for
/// whom, the chain the issued token carries, its `jti` and scopes (never the
/// token), and refusals with the standard error code.
#[tokio::test]
async fn token_exchanges_are_audited_with_chain_and_jti_but_never_the_token() {
    use common::exchange::request;
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(Options::new().agent("scheduler", &up.url()).allow(
        "orchestrator",
        "scheduler",
        &["calendar:write"],
        false,
    ))
    .await;
    let user = gw.user_token(json!({"scope": "calendar:write"}));
    let token = gw
        .exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await
        .token();
    let refused = gw
        .exchange(
            "orchestrator",
            &request(&user, "scheduler", &[("scope", "calendar:admin")]),
        )
        .await;
    refused.assert_error(400, "invalid_scope");
    flush(&gw).await;

    let recs: Vec<Value> = records(&audit_dir(&gw))
        .into_iter()
        .filter(|r| r["kind"] == "token_exchange")
        .collect();
    assert_eq!(recs.len(), 2, "{recs:?}");
    let ok = &recs[0];
    assert_eq!(ok["decision"], "allow");
    assert_eq!(ok["operation"], "TokenExchange");
    assert_eq!(ok["caller"], id("orchestrator"));
    assert_eq!(ok["agent"], "scheduler");
    assert_eq!(ok["subject"], claims(&user)["sub"]);
    assert_eq!(ok["act"], json!([id("orchestrator")]));
    assert_eq!(ok["jti"], claims(&token)["jti"]);
    assert_eq!(ok["scopes"], json!(["calendar:write"]));
    assert_eq!(ok["status"], 200);
    let no = &recs[1];
    assert_eq!(no["decision"], "deny");
    assert!(
        no["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid_scope: "),
        "{no}"
    );
    let text: String = log_files(&audit_dir(&gw))
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let signature = token.rsplit('.').next().unwrap();
    assert!(
        !text.contains(signature),
        "the issued token is never logged"
    );
    assert!(!text.contains(user.rsplit('.').next().unwrap()));
}
