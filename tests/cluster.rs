//! Two `actgate serve` replicas sharing PostgreSQL behind a real HAProxy in
//! TCP mode (TLS passed through: mTLS ends at the gateways). Callers
//! through the load balancer reach both replicas; an approval requested
//! through it is used exactly once by concurrent retries; one replica
//! killed with `-9` under load: callers move to the other, and an approval
//! granted before the kill is still usable.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};

use common::haproxy::{port_of, Server, TestHaproxy};
use common::replicas::{approval_id, cluster, passed_once_used, Replica};

fn server(name: &str, r: &Replica) -> Server {
    Server {
        name: name.to_string(),
        port: port_of(&r.base),
        health_port: port_of(&r.admin),
    }
}

/// Calls a replica forwarded, from its metrics.
async fn forwarded(r: &Replica) -> u64 {
    let m = r.metrics().await;
    m.lines()
        .find_map(|l| l.strip_prefix("actgate_requests_forwarded_total "))
        .unwrap_or_else(|| panic!("no forwarded counter in:\n{m}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_through_haproxy_reach_both_replicas_and_an_approval_is_used_once() {
    let (_pg, up, _dir, a, b) = cluster("").await;
    let lb = TestHaproxy::start(&[server("a", &a), server("b", &b)]).await;
    let base = lb.base();

    // Each call is a new TCP connection: round robin spreads them.
    let (fa, fb) = (forwarded(&a).await, forwarded(&b).await);
    for i in 0..8 {
        let (s, _, body) = a
            .send_at(&base, "orchestrator", "scheduler", &format!("hi {i}"), None)
            .await
            .unwrap();
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let (da, db) = (forwarded(&a).await - fa, forwarded(&b).await - fb);
    assert_eq!(da + db, 8, "a {da}, b {db}");
    assert!(da > 0 && db > 0, "both replicas served: a {da}, b {db}");

    // Requested through the load balancer, approved through B's admin API.
    let (s, _, body) = a
        .send_at(&base, "orchestrator", "bank", "pay 10", None)
        .await
        .unwrap();
    let ap = approval_id(s, &body);
    let (s, v) = b.approve(&ap).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // 10 concurrent retries through the load balancer: exactly one passes.
    let before = up.requests().len();
    let a = Arc::new(a);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (a, base, ap) = (a.clone(), base.clone(), ap.clone());
        tasks.spawn(async move {
            a.send_at(&base, "orchestrator", "bank", "pay 10", Some(&ap))
                .await
                .unwrap()
        });
    }
    let ok = passed_once_used(tasks).await;
    assert_eq!(ok, 1, "exactly one retry is let through");
    assert_eq!(up.requests().len() - before, 1, "one reached the upstream");
    let (_, _, v) = a
        .admin(Method::GET, &format!("/api/approvals/{ap}"), None)
        .await;
    assert_eq!(v["status"], "used", "{v}");
}

/// Counts of a load run.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    ok: AtomicU64,
    failed: AtomicU64,
}

/// Wait (bounded) until `load` has `n` successful calls.
async fn until_ok(load: &Load, n: u64) {
    for _ in 0..6000 {
        if load.ok.load(Ordering::Relaxed) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the load never reached {n} successful calls ({} ok, {} failed)",
        load.ok.load(Ordering::Relaxed),
        load.failed.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_under_load_moves_callers_to_the_other_and_loses_no_approval() {
    let (_pg, up, _dir, mut a, b) = cluster("").await;
    let lb = TestHaproxy::start(&[server("a", &a), server("b", &b)]).await;
    let base = lb.base();

    // Approved through A (the one to die), not yet used.
    let (s, _, body) = b
        .send_at(&base, "orchestrator", "bank", "pay 20", None)
        .await
        .unwrap();
    let ap = approval_id(s, &body);
    let (s, v) = a.approve(&ap).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Four callers in a loop through the load balancer.
    let b = Arc::new(b);
    let load = Arc::new(Load::default());
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (b, base, load) = (b.clone(), base.clone(), load.clone());
        tasks.spawn(async move {
            let mut i = 0;
            while !load.stop.load(Ordering::Relaxed) {
                i += 1;
                let text = format!("w{w} call {i}");
                match b
                    .send_at(&base, "orchestrator", "scheduler", &text, None)
                    .await
                {
                    Ok((StatusCode::OK, _, _)) => load.ok.fetch_add(1, Ordering::Relaxed),
                    _ => load.failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
    }
    until_ok(&load, 40).await;
    let served_by_a = forwarded(&a).await;
    assert!(served_by_a > 0, "A served part of the load before the kill");
    // SIGKILL: no shutdown, no draining.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let at_kill = load.ok.load(Ordering::Relaxed);
    until_ok(&load, at_kill + 80).await;
    load.stop.store(true, Ordering::Relaxed);
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let failed = load.failed.load(Ordering::Relaxed);
    println!(
        "kill -9 under load: {} calls succeeded, {failed} failed during the switch",
        load.ok.load(Ordering::Relaxed)
    );

    // Afterwards every call succeeds, served by B.
    let fb = forwarded(&b).await;
    for i in 0..20 {
        let (s, _, body) = b
            .send_at(
                &base,
                "orchestrator",
                "scheduler",
                &format!("after {i}"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    assert_eq!(forwarded(&b).await - fb, 20, "the survivor served them all");

    // The approval A granted is usable through the survivor, once.
    let before = up.requests().len();
    let (s, _, body) = b
        .send_at(&base, "orchestrator", "bank", "pay 20", Some(&ap))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(up.requests().len() - before, 1);
    let (s, _, body) = b
        .send_at(&base, "orchestrator", "bank", "pay 20", Some(&ap))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["data"]["error"], "approval_used", "{body}");
}
