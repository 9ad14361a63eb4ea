//! A real Prometheus (Debian's `prometheus` package) on a loopback port,
//! scraping the given targets every second, its data in a temp dir; and
//! `promtool` from the same package. Killed when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use super::egress::plain_client;
use super::exchange::form;
use super::gateway::free_port;

pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const PROMTOOL: &str = "/usr/bin/promtool";

pub struct TestPrometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for TestPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestPrometheus {
    /// Scrape each `(job, address)` at `/metrics` every second.
    pub async fn start(jobs: &[(&str, SocketAddr)]) -> TestPrometheus {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg =
            String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
        for (job, addr) in jobs {
            cfg.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: ['{addr}']\n"
            ));
        }
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, cfg).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{PROMETHEUS} (Debian package prometheus): {e}"));
        let p = TestPrometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        for _ in 0..300 {
            if p.get("/-/ready").await.is_some_and(|(s, _)| s == 200) {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("prometheus not ready:\n{}", p.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    async fn get(&self, path_and_query: &str) -> Option<(u16, Bytes)> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("{}{path_and_query}", self.base))
            .body(Full::new(Bytes::new()))
            .ok()?;
        let resp = plain_client().request(req).await.ok()?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        Some((status, body))
    }

    /// The instant vector `/api/v1/query` answers for `promql`.
    pub async fn query(&self, promql: &str) -> Vec<Value> {
        let v = self.answer(promql).await;
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// `/api/v1/query`'s whole answer (`status`, then `data` or `error`).
    pub async fn answer(&self, promql: &str) -> Value {
        let q = form(&[("query", promql)]);
        match self.get(&format!("/api/v1/query?{q}")).await {
            Some((_, body)) => serde_json::from_slice(&body).unwrap_or(Value::Null),
            None => Value::Null,
        }
    }

    /// Wait (up to 30 s) until `promql` answers at least one series whose
    /// value passes `ok`; the series found.
    pub async fn wait_for(&self, promql: &str, ok: impl Fn(f64) -> bool) -> Vec<Value> {
        let mut last = Vec::new();
        for _ in 0..300 {
            last = self.query(promql).await;
            if last.iter().any(|s| value(s).is_some_and(&ok)) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let targets = self
            .get("/api/v1/targets")
            .await
            .map(|(_, b)| b)
            .unwrap_or_default();
        panic!(
            "prometheus never answered {promql} as expected; last {last:?}\ntargets: {}\nlog:\n{}",
            String::from_utf8_lossy(&targets),
            self.log()
        );
    }
}

/// A series' sample value.
pub fn value(series: &Value) -> Option<f64> {
    series["value"][1].as_str()?.parse().ok()
}

/// `promtool check metrics` over `text` (on stdin): its exit status and
/// what it printed.
pub fn check_metrics(text: &str) -> (bool, String) {
    promtool(&["check", "metrics"], Some(text))
}

/// `promtool check rules FILE`.
pub fn check_rules(file: &Path) -> (bool, String) {
    promtool(&["check", "rules", &file.display().to_string()], None)
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write as _;
    let mut child = Command::new(PROMTOOL)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{PROMTOOL} (Debian package prometheus): {e}"));
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}
