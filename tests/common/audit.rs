//! Reading a test gateway's audit log.

use std::path::Path;

use serde_json::Value;

/// Every line of the audit log in `dir` (oldest file first), parsed,
/// without the `log_start` lines that begin each file.
pub fn records(dir: &Path) -> Vec<Value> {
    actgate::audit::query::log_files(dir)
        .unwrap()
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|v| v["kind"] != "log_start")
        .collect()
}
