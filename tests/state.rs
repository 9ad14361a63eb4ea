//! The PostgreSQL state backend with real parts: a private PostgreSQL
//! cluster, two real `actgate serve` replicas sharing it, a real upstream.
//! Migrations once when both start together; an approval requested through
//! A, approved through B's admin API, used exactly once by concurrent
//! retries spread over both; `max_pending` cluster-wide; PostgreSQL stopped
//! and restarted.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;

use common::gateway::{config_text, make_pki, Options};
use common::postgres::TestPostgres;
use common::replicas::{
    approval_id, cluster, listening, parts, passed_once_used, postgres_state, replica_config, spawn,
};
use common::upstream::{self, Behaviour};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_approvals_and_each_is_used_once() {
    let (pg, up, _dir, a, b) = cluster("").await;

    // Migrations ran once although both replicas started together.
    let db = pg.client().await;
    let rows = db
        .query(
            "SELECT version, applied_by FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let migrations = actgate::state::migrate::MIGRATIONS.len();
    assert_eq!(rows.len(), migrations, "one row per migration");
    assert_eq!(rows[0].get::<_, i32>(0), 1);
    let by: String = rows[0].get(1);
    assert!(by == "a" || by == "b", "{by}");

    // Requested through A; B sees it.
    let (s, _, body) = a.send("orchestrator", "bank", "pay 10", None).await;
    let ap = approval_id(s, &body);
    let (s, _, list) = b
        .admin(Method::GET, "/api/approvals?status=pending", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let ids: Vec<&str> = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["id"].as_str())
        .collect();
    assert_eq!(ids, vec![ap.as_str()], "{list}");
    // The same request again through B: the same approval, not a second.
    let (s, _, body) = b.send("orchestrator", "bank", "pay 10", None).await;
    assert_eq!(approval_id(s, &body), ap);

    // Not yet approved: refused on either replica.
    let (s, _, body) = b.send("orchestrator", "bank", "pay 10", Some(&ap)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["data"]["error"], "approval_pending", "{body}");

    // Approved through B's admin API.
    let (s, v) = b.approve(&ap).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "approved");
    let (_, _, v) = a
        .admin(Method::GET, &format!("/api/approvals/{ap}"), None)
        .await;
    assert_eq!(v["status"], "approved", "A sees B's decision: {v}");
    // A second decision, through A, is refused: it is no longer pending.
    let (s, _, v) = a
        .admin(
            Method::POST,
            &format!("/api/approvals/{ap}/deny"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    // 10 concurrent retries, alternating replicas: exactly one gets through.
    let before = up.requests().len();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let r = if i % 2 == 0 { a.clone() } else { b.clone() };
        let ap = ap.clone();
        tasks.spawn(async move { r.send("orchestrator", "bank", "pay 10", Some(&ap)).await });
    }
    let ok = passed_once_used(tasks).await;
    assert_eq!(ok, 1, "exactly one retry is let through");
    assert_eq!(
        up.requests().len() - before,
        1,
        "exactly one reached the upstream"
    );
    let (_, _, v) = b
        .admin(Method::GET, &format!("/api/approvals/{ap}"), None)
        .await;
    assert_eq!(v["status"], "used", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_pending_holds_across_replicas() {
    let (_pg, _up, _dir, a, b) = cluster("max_pending = 3\nmax_pending_per_caller = 2").await;
    // Per caller: two pending for orchestrator, one through each replica;
    // the third (through either) is refused.
    let (s, _, body) = a.send("orchestrator", "bank", "one", None).await;
    approval_id(s, &body);
    let (s, _, body) = b.send("orchestrator", "bank", "two", None).await;
    approval_id(s, &body);
    for r in [&a, &b] {
        let (s, h, body) = r.send("orchestrator", "bank", "three", None).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("this caller has too many approvals pending (2)"),
            "{body}"
        );
        assert!(h.get("retry-after").is_some());
    }
    // Global: a third caller slot is left, then none.
    let (s, _, body) = a.send("scheduler", "bank", "four", None).await;
    approval_id(s, &body);
    let (s, _, body) = b.send("scheduler", "bank", "five", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("too many approvals are pending (3)"), "{body}");
    let (_, _, list) = a
        .admin(Method::GET, "/api/approvals?status=pending", None)
        .await;
    assert_eq!(list["approvals"].as_array().unwrap().len(), 3, "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_down_fails_approvals_closed_and_serves_the_rest() {
    let (pg, _up, _dir, a, _b) = cluster("").await;
    let (s, _, body) = a.send("orchestrator", "bank", "before", None).await;
    let ap = approval_id(s, &body);
    assert!(a.metrics().await.contains("actgate_state_backend_up 1"));

    let pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();

    // A call needing an approval: 503 with Retry-After (new or retried).
    for approval in [None, Some(ap.as_str())] {
        let (s, h, body) = a.send("orchestrator", "bank", "during", approval).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(
            body["error"]["data"]["error"], "approval_store_unavailable",
            "{body}"
        );
        assert_eq!(h.get("retry-after").unwrap(), "5");
    }
    // A decision: 503.
    let (s, h, v) = a
        .admin(
            Method::POST,
            &format!("/api/approvals/{ap}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(h.get("retry-after").is_some());
    // Every other call is served, and the gateway stays ready.
    let (s, _, body) = a.send("orchestrator", "scheduler", "hello", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, _) = a.admin(Method::GET, "/readyz", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        a.metrics().await.contains("actgate_state_backend_up 0"),
        "the gauge says the backend is down"
    );

    // Back: works again (the approval requested before is still there).
    let _pg = tokio::task::spawn_blocking(move || {
        pg.resume();
        pg
    })
    .await
    .unwrap();
    let (s, _, v) = a
        .admin(
            Method::POST,
            &format!("/api/approvals/{ap}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _, body) = a.send("orchestrator", "bank", "before", Some(&ap)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // The database's password (in the URL) was never logged, down or up.
    let url = _pg.url();
    let password = url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('@').next())
        .unwrap();
    assert_eq!(password.len(), 32);
    let logs = std::fs::read_to_string(&a.log).unwrap();
    assert!(logs.contains("approval"), "the log was captured");
    assert!(!logs.contains(password), "the password is in the log");
}

/// `actgate ARGS` in `dir`: (exit code, stdout + stderr).
fn run_actgate(dir: &Path, args: &[&str]) -> (i32, String) {
    let o = common::cli::actgate(dir, args);
    let text = format!(
        "{}{}",
        common::cli::text(&o.stdout),
        common::cli::text(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), text)
}

/// A config in `dir` named `name` with `[state]` lines `state` (no approvals).
fn state_only_config(dir: &Path, name: &str, state: &str) -> String {
    let o = Options::new().raw(&format!("[state]\n{state}\n"));
    std::fs::write(dir.join(name), config_text(dir, &o)).unwrap();
    name.to_string()
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_check_and_migrate_over_tls_verified_against_the_ca() {
    let ca = common::certs::TestCa::new("postgres.test");
    let leaf = ca.builder().dns("localhost").build();
    let (cert, key) = (
        pem("CERTIFICATE", &leaf.cert),
        pem("PRIVATE KEY", leaf.key.secret_der()),
    );
    let extra = [
        "ssl=on",
        "ssl_cert_file=server.crt",
        "ssl_key_file=server.key",
    ];
    let pg = tokio::task::spawn_blocking(move || {
        TestPostgres::start_with(extra.iter().map(|s| s.to_string()).collect(), |data| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(data.join("server.crt"), cert).unwrap();
            let key_path = data.join("server.key");
            std::fs::write(&key_path, key).unwrap();
            std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
            // TLS only: a plain connection is refused, so a check that
            // succeeds proves the connection was TLS.
            let hba = data.join("pg_hba.conf");
            let text = std::fs::read_to_string(&hba).unwrap();
            let text: Vec<String> = text
                .lines()
                .map(|l| match l.strip_prefix("host ") {
                    Some(rest) => format!("hostssl {rest}"),
                    None => l.to_string(),
                })
                .collect();
            std::fs::write(&hba, text.join("\n")).unwrap();
        })
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    // The certificate names localhost.
    let url = pg.url().replace("@127.0.0.1:", "@localhost:");
    std::fs::write(dir.path().join("url"), &url).unwrap();
    std::fs::write(dir.path().join("ca.pem"), pem("CERTIFICATE", &ca.root)).unwrap();
    let other = common::certs::TestCa::new("other.test");
    std::fs::write(
        dir.path().join("other.pem"),
        pem("CERTIFICATE", &other.root),
    )
    .unwrap();
    let good = state_only_config(
        dir.path(),
        "good.toml",
        "backend = \"postgres\"\nurl_file = \"url\"\nca = \"ca.pem\"",
    );
    let wrong = state_only_config(
        dir.path(),
        "wrong.toml",
        "backend = \"postgres\"\nurl_file = \"url\"\nca = \"other.pem\"",
    );
    let plain = state_only_config(
        dir.path(),
        "plain.toml",
        "backend = \"postgres\"\nurl_file = \"url\"",
    );
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        [
            run_actgate(&d, &["state", "check", "--config", &good]),
            run_actgate(&d, &["state", "migrate", "--config", &good]),
            run_actgate(&d, &["state", "check", "--config", &good]),
            run_actgate(&d, &["state", "check", "--config", &wrong]),
            run_actgate(&d, &["state", "check", "--config", &plain]),
        ]
    })
    .await
    .unwrap();
    let [before, migrated, after, wrong, plain] = out;
    assert_eq!(before.0, 1, "{}", before.1);
    assert!(
        before.1.contains("reachable: yes (PostgreSQL 1"),
        "{}",
        before.1
    );
    assert!(
        before
            .1
            .contains("transport: TLS, server certificate and host name verified"),
        "{}",
        before.1
    );
    assert!(before.1.contains("schema:    version 0"), "{}", before.1);
    assert!(
        before.1.contains("run `actgate state migrate`"),
        "{}",
        before.1
    );
    assert_eq!(migrated.0, 0, "{}", migrated.1);
    assert!(
        migrated.1.contains(&format!(
            "{} migration(s) applied",
            actgate::state::migrate::MIGRATIONS.len()
        )),
        "{}",
        migrated.1
    );
    assert_eq!(after.0, 0, "{}", after.1);
    assert!(
        after.1.contains(&format!(
            "schema:    version {v} (this gateway needs {v})",
            v = actgate::state::migrate::latest()
        )),
        "{}",
        after.1
    );
    // A server certificate from another CA: refused, and said plainly.
    assert_eq!(wrong.0, 1, "{}", wrong.1);
    assert!(wrong.1.contains("reachable: no"), "{}", wrong.1);
    assert!(wrong.1.contains("invalid peer certificate"), "{}", wrong.1);
    // Without `ca` the gateway does not use TLS; this server requires it.
    assert_eq!(plain.0, 1, "{}", plain.1);
    assert!(plain.1.contains("reachable: no"), "{}", plain.1);
    let password = url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('@').next())
        .unwrap();
    for o in [&before.1, &after.1, &wrong.1, &plain.1] {
        assert!(!o.contains(password), "the password is shown: {o}");
    }
}

#[test]
fn state_config_problems_name_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    std::fs::write(
        dir.path().join("remote-url"),
        "postgresql://gw:S3CRETPW@db.example.com/actgate\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("require-url"),
        "postgresql://gw:S3CRETPW@127.0.0.1/actgate?sslmode=require\n",
    )
    .unwrap();
    let cases = [
        ("backend = \"postgres\"\nurl = \"postgresql://gw:S3CRETPW@127.0.0.1/x\"", "state.url: not accepted: the URL holds the database password"),
        ("backend = \"postgres\"", "state.url_file: backend = \"postgres\" needs url_file (or url_env)"),
        ("backend = \"postgres\"\nurl_file = \"remote-url\"\nurl_env = \"X\"", "state.url_file: give either url_file or url_env, not both"),
        ("backend = \"postgres\"\nurl_file = \"remote-url\"", "state.url_file: plain TCP to PostgreSQL is allowed only to a loopback address"),
        ("backend = \"postgres\"\nurl_file = \"require-url\"", "state.url_file: the URL asks for sslmode=require: set [state] ca"),
        ("backend = \"postgres\"\nurl_env = \"ACTGATE_TEST_UNSET_URL\"", "state.url_env: the environment variable ACTGATE_TEST_UNSET_URL is not set"),
        ("backend = \"postgres\"\nurl_file = \"missing-url\"", "state.url_file: cannot read"),
        ("backend = \"postgres\"\nurl_file = \"remote-url\"\nca = \"nope.pem\"\nreplica = \"a b\"", "state.replica: \"a b\" is not a replica name"),
        ("url_file = \"remote-url\"", "state.url_file: only used with backend = \"postgres\""),
        ("backend = \"postgres\"\nurl_file = \"remote-url\"\nca = \"nope.pem\"\n[approvals]\ndir = \"approvals\"", "approvals.dir: not used with [state] backend = \"postgres\""),
    ];
    for (i, (state, want)) in cases.iter().enumerate() {
        let name = state_only_config(dir.path(), &format!("c{i}.toml"), state);
        let (code, out) = run_actgate(dir.path(), &["config", "check", "--config", &name]);
        assert_eq!(code, 1, "{state}: {out}");
        assert!(
            out.contains(&format!("c{i}.toml: {want}")),
            "{state}:\n{out}"
        );
        assert!(!out.contains("S3CRETPW"), "the password is shown: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_starting_while_postgres_is_down_serves_and_migrates_once_it_is_back() {
    let pg = tokio::task::spawn_blocking(|| {
        let pg = TestPostgres::start();
        pg.stop();
        pg
    })
    .await
    .unwrap();
    let up = upstream::start(Behaviour::Echo).await;
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let config = replica_config(dir.path(), "a", &up.url(), &postgres_state(&pg), "");
    let a = listening(dir.path(), spawn(dir.path(), &config)).await;
    // Up without its database: other calls served, approvals refused.
    let (s, _, body) = a.send("orchestrator", "scheduler", "hello", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, h, body) = a.send("orchestrator", "bank", "pay", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(h.get("retry-after").is_some());
    assert!(a.metrics().await.contains("actgate_state_backend_up 0"));
    let (s, _, _) = a.admin(Method::GET, "/readyz", None).await;
    assert_eq!(s, StatusCode::OK);
    // Back: the schema is created on the next call that needs it.
    let pg = tokio::task::spawn_blocking(move || {
        pg.resume();
        pg
    })
    .await
    .unwrap();
    let (s, _, body) = a.send("orchestrator", "bank", "pay", None).await;
    approval_id(s, &body);
    let db = pg.client().await;
    let n: i64 = db
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, actgate::state::migrate::MIGRATIONS.len() as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_migrate_false_an_old_schema_stops_the_start_until_state_migrate_runs() {
    let (pg, up, dir) = parts().await;
    let state = format!("{}\nmigrate = false", postgres_state(&pg));
    let config = replica_config(dir.path(), "a", &up.url(), &state, "");

    // The schema is not there: the gateway refuses to start, and says why.
    let (mut child, log) = spawn(dir.path(), &config);
    let mut status = None;
    for _ in 0..1200 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("the gateway started on a schema it may not migrate");
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "the database schema is at version 0, this gateway needs {}: run `actgate state migrate`",
            actgate::state::migrate::latest()
        )),
        "{text}"
    );
    assert!(!text.contains("gateway listening"), "{text}");
    // It changed nothing.
    let db = pg.client().await;
    let missing: bool = db
        .query_one("SELECT to_regclass('schema_migrations') IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(missing, "the gateway created the schema");

    // The operator migrates (the same config); then it starts and serves.
    let d = dir.path().to_path_buf();
    let c = config.clone();
    let (code, out) =
        tokio::task::spawn_blocking(move || run_actgate(&d, &["state", "migrate", "--config", &c]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{out}");
    let applied = format!(
        "{} migration(s) applied",
        actgate::state::migrate::MIGRATIONS.len()
    );
    assert!(out.contains(&applied), "{out}");
    let a = listening(dir.path(), spawn(dir.path(), &config)).await;
    let (s, _, body) = a.send("orchestrator", "bank", "pay", None).await;
    approval_id(s, &body);
}
