//! Each replica's audit chain shipped to PostgreSQL (`audit_records`):
//! two real `actgate serve` replicas behind a real HAProxy, a real
//! PostgreSQL stopped and started under them, and the real `actgate audit
//! verify|query --state` binaries reading the table.

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};

use common::cli::{actgate, text};
use common::haproxy::{port_of, Server, TestHaproxy};
use common::postgres::TestPostgres;
use common::replicas::{cluster, listening, spawn, Replica};

fn server(name: &str, r: &Replica) -> Server {
    Server {
        name: name.to_string(),
        port: port_of(&r.base),
        health_port: port_of(&r.admin),
    }
}

/// Lines in replica `name`'s file log (all files), and whether its chain
/// there is intact.
fn file_lines(dir: &Path, name: &str) -> u64 {
    let files = actgate::audit::query::log_files(&dir.join(format!("audit-{name}"))).unwrap();
    let r = actgate::audit::verify::verify_files(&files).unwrap();
    assert!(
        r.complete(),
        "the file log of {name} verifies: {:?}",
        r.broken
    );
    r.lines as u64
}

/// `(rows, distinct seqs, max seq + 1)` of `replica` in the table.
async fn table_counts(pg: &TestPostgres, replica: &str) -> (i64, i64, i64) {
    let c = pg.client().await;
    let row = c
        .query_one(
            "SELECT count(*), count(DISTINCT seq), coalesce(max(seq) + 1, 0)
             FROM audit_records WHERE replica = $1",
            &[&replica],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// Wait (bounded) until every line of `name`'s file log is in the table.
async fn shipped(pg: &TestPostgres, dir: &Path, name: &str) {
    let mut last = (0, 0, 0);
    for _ in 0..300 {
        let want = file_lines(dir, name) as i64;
        last = table_counts(pg, name).await;
        if last.0 == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "replica {name}: the table never caught up with the file log ({} lines; table {last:?})",
        file_lines(dir, name)
    );
}

fn verify_state(dir: &Path, pg: &TestPostgres) -> Output {
    let url = pg.url_file.display().to_string();
    actgate(dir, &["audit", "verify", "--state", &url])
}

/// A metric's value on a replica.
async fn gauge(r: &Replica, name: &str) -> Option<f64> {
    let m = r.metrics().await;
    let prefix = format!("{name} ");
    m.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_chains_ship_and_verify_a_tampered_row_is_named_and_query_spans_replicas() {
    let (pg, _up, dir, a, b) = cluster("").await;
    let lb = TestHaproxy::start(&[server("a", &a), server("b", &b)]).await;
    let base = lb.base();
    for i in 0..10 {
        let (s, _, body) = a
            .send_at(&base, "orchestrator", "scheduler", &format!("hi {i}"), None)
            .await
            .unwrap();
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    // And six calls for one user, spread over both replicas by HAProxy.
    let alice = common::replicas::user_token(dir.path(), "alice@example.com");
    for i in 0..6 {
        let (s, _, body) = a
            .send_for(
                &base,
                "notifier",
                "scheduler",
                &format!("for alice {i}"),
                None,
                Some(&alice),
            )
            .await
            .unwrap();
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    // Allowed calls' records reach the file within `flush_interval`: wait
    // for all sixteen (and each log_start) before comparing file and table.
    for _ in 0..200 {
        if file_lines(dir.path(), "a") + file_lines(dir.path(), "b") >= 18 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shipped(&pg, dir.path(), "a").await;
    shipped(&pg, dir.path(), "b").await;
    for name in ["a", "b"] {
        let (rows, distinct, next) = table_counts(&pg, name).await;
        assert_eq!(
            (rows, distinct),
            (next, next),
            "{name}: seq 0..{next}, each once"
        );
    }

    // Each file's log_start names the replica whose chain it is.
    for name in ["a", "b"] {
        let files =
            actgate::audit::query::log_files(&dir.path().join(format!("audit-{name}"))).unwrap();
        let first = std::fs::read_to_string(&files[0]).unwrap();
        let start: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
        assert_eq!(start["kind"], "log_start", "{start}");
        assert_eq!(start["replica"], name, "{start}");
    }

    let out = verify_state(dir.path(), &pg);
    let so = text(&out.stdout);
    assert!(out.status.success(), "{so}{}", text(&out.stderr));
    assert!(so.contains("ok: replica a chain"), "{so}");
    assert!(so.contains("ok: replica b chain"), "{so}");

    // The orchestrator's calls, found across both replicas.
    let url = pg.url_file.display().to_string();
    let caller = "spiffe://example.org/agent/orchestrator";
    let out = actgate(
        dir.path(),
        &[
            "audit",
            "query",
            "--state",
            &url,
            "--caller",
            caller,
            "--agent",
            "scheduler",
        ],
    );
    let so = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        so.lines().count(),
        10,
        "{so}\nstderr: {}",
        text(&out.stderr)
    );
    assert!(
        so.contains("[a seq ") && so.contains("[b seq "),
        "both replicas: {so}"
    );
    assert!(text(&out.stderr).contains("10 record(s)"));

    // One user's calls across the cluster: `audit query --state --subject`.
    let out = actgate(
        dir.path(),
        &[
            "audit",
            "query",
            "--state",
            &url,
            "--subject",
            "alice@example.com",
        ],
    );
    let so = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(so.lines().count(), 6, "{so}");
    assert!(
        so.contains("[a seq ") && so.contains("[b seq "),
        "alice's calls on both replicas: {so}"
    );

    // Either replica's console lists the cluster's decisions, from the table.
    let (s, _, v) = b.admin(Method::GET, "/api/recent", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["source"], "cluster", "{v}");
    let decisions = v["decisions"].as_array().unwrap();
    let by = |name: &str| {
        decisions
            .iter()
            .filter(|d| {
                d["replica"] == name && d["agent"] == "scheduler" && d["decision"] == "allow"
            })
            .count()
    };
    assert_eq!(by("a") + by("b"), 16, "{v}");
    assert!(by("a") > 0 && by("b") > 0, "both replicas' calls: {v}");

    // One shipped line edited in the table: verify names replica and seq.
    let c = pg.client().await;
    let row = c
        .query_one(
            "SELECT min(seq) FROM audit_records WHERE replica = 'a' AND line LIKE '%\"agent\":\"scheduler\"%'",
            &[],
        )
        .await
        .unwrap();
    let seq: i64 = row.get(0);
    let n = c
        .execute(
            "UPDATE audit_records SET line = replace(line, '\"decision\":\"allow\"', '\"decision\":\"deny\"')
             WHERE replica = 'a' AND seq = $1",
            &[&seq],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let out = verify_state(dir.path(), &pg);
    let so = text(&out.stdout);
    assert!(!out.status.success(), "tampering is detected: {so}");
    assert!(
        so.lines()
            .any(|l| l.starts_with("BROKEN: replica a chain ")
                && l.contains(&format!(": seq {seq}: "))),
        "names replica a and seq {seq}: {so}"
    );
    assert!(so.contains("ok: replica b chain"), "{so}");

    // Two rows of B removed from the table: a gap, reported with its range.
    let n = c
        .execute(
            "DELETE FROM audit_records WHERE replica = 'b' AND seq IN (1, 2)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 2, "B shipped at least seq 0..=2");
    let out = verify_state(dir.path(), &pg);
    let so = text(&out.stdout);
    assert!(!out.status.success(), "{so}");
    assert!(
        so.lines().any(
            |l| l.starts_with("GAP: replica b chain ") && l.contains(": seq 1..=2 are missing")
        ),
        "{so}"
    );
}

/// Counts of a load run.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    ok: AtomicU64,
    failed: AtomicU64,
}

async fn until_ok(load: &Load, n: u64) {
    for _ in 0..6000 {
        if load.ok.load(Ordering::Relaxed) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the load never reached {n} successful calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_under_load_the_backlog_drains_with_no_gap_and_no_duplicate() {
    let (pg, _up, dir, a, b) = cluster("").await;
    let lb = TestHaproxy::start(&[server("a", &a), server("b", &b)]).await;
    let base = lb.base();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let load = Arc::new(Load::default());
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..3 {
        let (a, base, load) = (a.clone(), base.clone(), load.clone());
        tasks.spawn(async move {
            let mut i = 0;
            while !load.stop.load(Ordering::Relaxed) {
                i += 1;
                let text = format!("w{w} call {i}");
                match a
                    .send_at(&base, "orchestrator", "scheduler", &text, None)
                    .await
                {
                    Ok((StatusCode::OK, _, _)) => load.ok.fetch_add(1, Ordering::Relaxed),
                    _ => load.failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
    }
    until_ok(&load, 20).await;

    let pg = Arc::new(pg);
    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.stop()).await.unwrap();
    let at_stop = load.ok.load(Ordering::Relaxed);
    // Non-approval calls keep succeeding; an approval call gets 503.
    until_ok(&load, at_stop + 60).await;
    let (s, h, body) = a
        .send_at(&base, "orchestrator", "bank", "pay 1", None)
        .await
        .unwrap();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(h.contains_key("retry-after"));
    // The backlog shows on both replicas' gauge once their shipper tried.
    for r in [&a, &b] {
        let mut seen = 0.0;
        for _ in 0..100 {
            seen = gauge(r, "actgate_audit_unshipped_records")
                .await
                .unwrap_or(0.0);
            if seen > 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            seen > 0.0,
            "the gauge shows a backlog while PostgreSQL is down"
        );
    }

    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.resume())
        .await
        .unwrap();
    until_ok(&load, load.ok.load(Ordering::Relaxed) + 20).await;
    load.stop.store(true, Ordering::Relaxed);
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    println!(
        "PostgreSQL stopped under load: {} calls succeeded, {} failed",
        load.ok.load(Ordering::Relaxed),
        load.failed.load(Ordering::Relaxed)
    );
    shipped(&pg, dir.path(), "a").await;
    shipped(&pg, dir.path(), "b").await;
    for (name, r) in [("a", &a), ("b", &b)] {
        let (rows, distinct, next) = table_counts(&pg, name).await;
        assert_eq!(
            (rows, distinct),
            (next, next),
            "{name}: no gap, no duplicate"
        );
        assert_eq!(
            rows as u64,
            file_lines(dir.path(), name),
            "{name}: every line shipped"
        );
        let mut g = None;
        for _ in 0..50 {
            g = gauge(r, "actgate_audit_unshipped_records").await;
            if g == Some(0.0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(g, Some(0.0), "{name}: the backlog drained");
    }
    let out = verify_state(dir.path(), &pg);
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_with_sigkill_ships_its_remaining_records_after_restart() {
    let (pg, _up, dir, mut a, _b) = cluster("").await;
    shipped(&pg, dir.path(), "a").await;
    // Records written while PostgreSQL is down stay unshipped ...
    pg.stop();
    for i in 0..5 {
        // Refused calls are written before their answer: certainly in the
        // file when the process dies.
        let (s, _, body) = a
            .send("scheduler", "scheduler", &format!("no {i}"), None)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    }
    let before_kill = file_lines(dir.path(), "a");
    // ... then the replica dies without a chance to ship them.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    pg.resume();
    let (rows, _, _) = table_counts(&pg, "a").await;
    assert!(
        (rows as u64) < before_kill,
        "the refusals were not shipped before the kill"
    );

    let config = dir.path().join("a.toml").display().to_string();
    let _a = listening(dir.path(), spawn(dir.path(), &config)).await;
    shipped(&pg, dir.path(), "a").await;
    let (rows, distinct, next) = table_counts(&pg, "a").await;
    assert_eq!((rows, distinct), (next, next), "no gap, no duplicate");
    assert!(
        rows as u64 > before_kill,
        "the refusals and the restart's log_start shipped"
    );
    let out = verify_state(dir.path(), &pg);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let c = pg.client().await;
    let row = c
        .query_one(
            "SELECT count(*) FROM audit_records WHERE replica = 'a' AND line LIKE '%\"decision\":\"deny\"%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, i64>(0),
        5,
        "every refusal is in the table once"
    );
}
