//! A real Prometheus scrapes the gateway's health listener and an egress
//! sidecar's admin listener after some traffic (allowed, denied, an
//! unknown agent, through the sidecar), and its HTTP API shows the
//! histogram buckets and counters with the labels the README documents;
//! `promtool check metrics` passes on both expositions and `promtool check
//! rules` on the shipped alert rules.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::json;

use common::egress::{plain, plain_client, send_message_body, TestEgress};
use common::gateway::{Options, TestGateway};
use common::prometheus::{check_metrics, check_rules, value, TestPrometheus};
use common::upstream::{self, Behaviour};

async fn scrape(addr: std::net::SocketAddr) -> (StatusCode, HeaderMap, String) {
    let (s, h, b) = plain(
        &plain_client(),
        Method::GET,
        &format!("http://{addr}/metrics"),
        &HeaderMap::new(),
        "",
    )
    .await;
    (s, h, String::from_utf8(b.to_vec()).unwrap())
}

/// Family names of an exposition (from its `# TYPE` lines).
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect()
}

/// Allowed calls (app-only, and with a user token: subject-token
/// verification, then its cache), denied ones (no rule lets `intruder`
/// reach the agent; an unknown agent), and through the sidecar one
/// forwarded call and one refused by the browser rules.
async fn traffic(gw: &TestGateway, eg: &TestEgress) {
    let user = gw.user_token(json!({"scope": "calendar:read"}));
    for token in [None, Some(user.as_str()), Some(user.as_str())] {
        let (s, _, _) = gw.send_message("orchestrator", "target", token).await;
        assert_eq!(s, StatusCode::OK);
    }
    for _ in 0..3 {
        let (s, _, _) = gw.send_message("intruder", "target", None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let (s, _, _) = gw.send_message("orchestrator", "no-such-agent", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let url = format!("{}/agents/target/a2a/jsonrpc", eg.base);
    let mut a2a = HeaderMap::new();
    a2a.insert("a2a-version", HeaderValue::from_static("1.0"));
    let mut cross = a2a.clone();
    cross.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
    for (h, want) in [(a2a, StatusCode::OK), (cross, StatusCode::FORBIDDEN)] {
        let body = send_message_body();
        let (s, _, _) = plain(&plain_client(), Method::POST, &url, &h, &body).await;
        assert_eq!(s, want);
    }
}

#[tokio::test]
async fn prometheus_scrapes_histograms_and_counters_from_gateway_and_sidecar() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .gateway("health_listen = \"127.0.0.1:0\"")
            .agent("target", &up.url())
            .allow("orchestrator", "target", &["calendar:read"], true),
    )
    .await;
    let health = gw.running.health_addr.expect("health listener");
    let eg = TestEgress::start(&gw, "orchestrator", "admin_listen = \"127.0.0.1:0\"").await;
    let eg_admin = eg.running.admin_addr.expect("sidecar admin listener");

    traffic(&gw, &eg).await;

    // Both expositions pass promtool (format and lint: HELP, _total, units).
    let (s, h, gw_text) = scrape(health).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        h["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let (s, _, eg_text) = scrape(eg_admin).await;
    assert_eq!(s, StatusCode::OK);
    for (who, text) in [("gateway", &gw_text), ("sidecar", &eg_text)] {
        let (ok, said) = check_metrics(text);
        assert!(
            ok,
            "promtool check metrics on the {who}'s /metrics: {said}\n{text}"
        );
        assert!(
            said.trim().is_empty(),
            "promtool had remarks on the {who}'s: {said}"
        );
    }
    // The families the sidecar shares with the gateway.
    let (g, e) = (families(&gw_text), families(&eg_text));
    for f in [
        "actgate_build_info",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(g.contains(f) && e.contains(f), "{f} on both listeners");
    }

    let prom = TestPrometheus::start(&[("gateway", health), ("egress", eg_admin)]).await;
    let at_least = |n: f64| move |v: f64| v >= n;
    // A first scrape of both, then more traffic: rate() and the quantiles
    // need the counts to grow between scrapes.
    for job in ["gateway", "egress"] {
        prom.wait_for(&format!(r#"up{{job="{job}"}}"#), |v| v == 1.0)
            .await;
    }
    traffic(&gw, &eg).await;
    // Request duration by agent and decision, as histogram buckets.
    let allow = r#"actgate_request_duration_seconds_bucket{job="gateway",agent="target",decision="allow",le="+Inf"}"#;
    // Twice three direct calls and the one through the sidecar.
    prom.wait_for(allow, at_least(8.0)).await;
    let deny =
        r#"actgate_request_duration_seconds_bucket{job="gateway",agent="target",decision="deny"}"#;
    let buckets = prom.wait_for(deny, at_least(6.0)).await;
    // Every bucket of the layout, le ascending to +Inf.
    let les: BTreeSet<String> = buckets
        .iter()
        .filter_map(|s| s["metric"]["le"].as_str().map(str::to_owned))
        .collect();
    assert!(
        les.len() >= 10 && les.contains("+Inf") && les.contains("0.005"),
        "{les:?}"
    );
    // The unknown agent: one fixed label, never the name asked for.
    assert!(prom.query(r#"{agent="no-such-agent"}"#).await.is_empty());
    // At least this many of each, after two rounds of traffic.
    let gateway = [
        (
            r#"actgate_request_duration_seconds_count{agent="(unknown)",decision="deny"}"#,
            2.0,
        ),
        (
            r#"actgate_decisions_total{agent="target",decision="deny"}"#,
            6.0,
        ),
        (
            r#"actgate_decisions_total{agent="target",decision="allow"}"#,
            8.0,
        ),
        ("actgate_requests_forwarded_total", 8.0),
        (
            r#"actgate_upstream_duration_seconds_count{agent="target"}"#,
            8.0,
        ),
        (
            r#"actgate_tls_handshake_duration_seconds_count{result="accepted"}"#,
            2.0,
        ),
        (
            r#"actgate_token_mint_duration_seconds_count{cache="miss"}"#,
            1.0,
        ),
        (
            r#"actgate_token_mint_duration_seconds_count{cache="hit"}"#,
            1.0,
        ),
        (
            r#"actgate_subject_token_verification_duration_seconds_count{cache="miss"}"#,
            1.0,
        ),
        (
            r#"actgate_subject_token_verification_duration_seconds_count{cache="hit"}"#,
            1.0,
        ),
    ];
    let sidecar = [
        (
            r#"actgate_egress_request_duration_seconds_bucket{route="agents",outcome="2xx",le="+Inf"}"#,
            2.0,
        ),
        (
            r#"actgate_egress_request_duration_seconds_count{route="none",outcome="refused"}"#,
            2.0,
        ),
        (
            r#"actgate_egress_gateway_duration_seconds_count{route="agents"}"#,
            2.0,
        ),
        (
            r#"actgate_egress_requests_refused_total{reason="cross_site"}"#,
            2.0,
        ),
    ];
    let jobs = gateway.iter().map(|q| ("gateway", q));
    for (job, (series, min)) in jobs.chain(sidecar.iter().map(|q| ("egress", q))) {
        // `name{labels}` or `name`: the job label joins the others.
        let q = match series.strip_suffix('}') {
            Some(open) => format!(r#"{open},job="{job}"}}"#),
            None => format!(r#"{series}{{job="{job}"}}"#),
        };
        prom.wait_for(&q, at_least(*min)).await;
    }
    // p99 per agent and decision, as the dashboard asks it: a number of seconds.
    let p99 = prom
        .wait_for(
            r#"histogram_quantile(0.99, sum by (agent, decision, le) (rate(actgate_request_duration_seconds_bucket{job="gateway"}[1m])))"#,
            |v| v > 0.0 && v <= 10.0,
        )
        .await;
    let finite = |s: &serde_json::Value| value(s).is_some_and(f64::is_finite);
    assert!(
        p99.iter()
            .any(|s| s["metric"]["decision"] == "allow" && finite(s)),
        "{p99:?}"
    );
    // Every dashboard query is valid PromQL; the latency and deny-rate
    // panels have data.
    for (title, expr) in dashboard_queries() {
        let a = prom.answer(&expr).await;
        assert_eq!(a["status"], "success", "{title}: {expr}: {a}");
        if title.starts_with("Request duration") || title.starts_with("Deny rate") {
            prom.wait_for(&expr, |v| v.is_finite()).await;
        }
    }
    // Expiry as a unix time in the future; build and process on both.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let expiry = r#"actgate_server_cert_expiry_timestamp_seconds{job="gateway"}"#;
    prom.wait_for(expiry, |v| v > now).await;
    let version = env!("CARGO_PKG_VERSION");
    // Both run in this test's process: the same process_* values.
    let inf = f64::INFINITY;
    for job in ["gateway", "egress"] {
        for (series, lo, hi) in [
            (
                format!(r#"actgate_build_info{{version="{version}""#),
                1.0,
                1.0,
            ),
            ("process_resident_memory_bytes{".to_string(), 1e6, inf),
            ("process_open_fds{".to_string(), 3.0, inf),
            (
                "process_start_time_seconds{".to_string(),
                now - 3600.0,
                now + 1.0,
            ),
            ("process_cpu_seconds_total{".to_string(), 0.01, inf),
        ] {
            let sep = if series.ends_with('{') { "" } else { "," };
            let q = format!(r#"{series}{sep}job="{job}"}}"#);
            prom.wait_for(&q, |v| lo <= v && v <= hi).await;
        }
    }
}

/// The shipped alert rules load, and the dashboard is JSON whose queries
/// name only families the gateway or the sidecar export.
#[tokio::test]
async fn alert_rules_and_dashboard_name_real_metrics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = root.join("deploy/prometheus/actgate-alerts.yaml");
    let (ok, said) = check_rules(&rules);
    assert!(ok, "promtool check rules: {said}");
    let alerts = std::fs::read_to_string(&rules).unwrap();
    for a in [
        "ServerCertificateExpiring",
        "ReloadFailing",
        "AuditUnhealthy",
        "StateBackendDown",
        "DenyRateSpike",
    ] {
        assert!(
            alerts.contains(&format!("alert: Actgate{a}\n")),
            "{a} alert"
        );
    }
    let exprs = dashboard_queries();
    assert!(exprs.len() >= 5, "{exprs:?}");

    // Every family exported, from a gateway with every optional part it
    // can have here (health listener, approvals) and a sidecar.
    let up = upstream::start(Behaviour::Echo).await;
    let gw = TestGateway::start(
        Options::new()
            .gateway("health_listen = \"127.0.0.1:0\"")
            .agent("target", &up.url()),
    )
    .await;
    let eg = TestEgress::start(&gw, "orchestrator", "admin_listen = \"127.0.0.1:0\"").await;
    let (_, _, g) = scrape(gw.running.health_addr.unwrap()).await;
    let (_, _, e) = scrape(eg.running.admin_addr.unwrap()).await;
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut known = families(&g);
    known.extend(families(&e));
    for text in exprs.iter().map(|(_, e)| e).chain([&alerts]) {
        for name in metric_names(text) {
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            // Families that appear only with optional parts (audit log,
            // PostgreSQL, rotate_after) are checked against the README's table.
            assert!(
                known.contains(family) || readme.contains(&format!("| `{family}`")),
                "{family} (in a dashboard query or alert) is neither exported nor in the README's table"
            );
        }
    }
    // Every exported family is in the README's table.
    for f in &known {
        assert!(
            readme.contains(&format!("| `{f}`")),
            "{f} is not in the README's metrics table"
        );
    }
}

/// The dashboard's queries (`(panel title, expr)`), with its variables
/// replaced as Grafana does with "All" and a 1 s scrape interval.
fn dashboard_queries() -> Vec<(String, String)> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/actgate-dashboard.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let mut out = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap_or_default();
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap_or_default();
            let expr = expr
                .replace("$__rate_interval", "1m")
                .replace("$job", ".*")
                .replace("$agent", ".*");
            out.push((title.to_owned(), expr));
        }
    }
    out
}

/// `actgate_*` and `process_*` names in a PromQL text.
fn metric_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let starts = rest.starts_with("actgate_") || rest.starts_with("process_");
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts && boundary {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.push(rest[..len].to_owned());
            i += len;
        } else {
            i += 1;
        }
    }
    out
}
