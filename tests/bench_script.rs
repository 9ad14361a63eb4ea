//! `bench/compare.sh --quick` runs end to end, so the benchmark harness
//! cannot rot. It installs nginx itself when missing (Debian package). No
//! figure is asserted: only that every scenario produced a measurement and
//! every request succeeded (a delegated request with a refused user token
//! would count as an error).

use std::process::Command;

#[test]
fn compare_script_quick_mode_produces_every_figure() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = tempfile::tempdir().unwrap();
    let o = Command::new("bash")
        .arg(format!("{root}/bench/compare.sh"))
        .args(["--quick", "--out"])
        .arg(out.path())
        .env("ACTGATE_BIN", env!("CARGO_BIN_EXE_actgate"))
        .env("ACTGATE_LOAD_BIN", env!("CARGO_BIN_EXE_actgate-load"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "compare.sh failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // Every figure row has a measured actgate value (no "-" cells for actgate).
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| figure"))
        .collect();
    assert_eq!(rows.len(), 14, "{stdout}");
    for row in &rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_ne!(cells[4], "-", "no actgate measurement in: {row}\n{stderr}");
        // Delegated rows also compare with the same call app-only.
        if cells[1].contains("delegated") {
            assert_ne!(cells[6], "-", "no delegated/app-only ratio in: {row}");
        }
    }
    assert!(
        !stdout.contains("measurement(s) failed"),
        "{stdout}\n{stderr}"
    );
    // Every request succeeded (the summary lists errors by proxy and scenario).
    assert!(!stdout.contains("errors: "), "{stdout}\n{stderr}");
    // The raw results are kept as JSON lines, one per run.
    let raw = std::fs::read_to_string(out.path().join("results.jsonl")).unwrap();
    assert!(raw.lines().count() >= 18, "{raw}");
}

/// `bench/cluster.sh --quick`: one replica and two behind HAProxy with
/// PostgreSQL, every scenario measured, no request failed (an approval cycle
/// approved through the other replica's admin API and consumed through the
/// load balancer counts as one success).
#[test]
fn cluster_script_quick_mode_measures_both_topologies() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = tempfile::tempdir().unwrap();
    let o = Command::new("bash")
        .arg(format!("{root}/bench/cluster.sh"))
        .args(["--quick", "--out"])
        .arg(out.path())
        .env("ACTGATE_BIN", env!("CARGO_BIN_EXE_actgate"))
        .env("ACTGATE_LOAD_BIN", env!("CARGO_BIN_EXE_actgate-load"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "cluster.sh failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stdout.contains("FAILED"), "{stdout}\n{stderr}");
    let raw = std::fs::read_to_string(out.path().join("results.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = raw
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 6, "{raw}");
    for r in &rows {
        assert_eq!(r["errors"], 0, "{r}");
        match r["scenario"].as_str() {
            Some("approval") => assert_eq!(r["cycles"], 5, "{r}"),
            _ => assert!(r["requests"].as_u64().unwrap_or(0) > 0, "{r}"),
        }
    }
    for top in ["one", "two"] {
        assert!(
            rows.iter().filter(|r| r["topology"] == top).count() == 3,
            "{raw}"
        );
    }
}
