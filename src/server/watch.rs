//! Watched files: what the gateway's reload and the sidecar's certificate
//! watch poll to notice a change. Nothing here knows the gateway.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

/// (modification time, length) of each watched file; a missing file counts.
pub fn fingerprints(files: &[PathBuf]) -> HashMap<PathBuf, Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|f| {
            let fp = std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            (f.clone(), fp)
        })
        .collect()
}
