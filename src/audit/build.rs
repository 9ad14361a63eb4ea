//! The `[audit]` part of building a snapshot: checked with the rest of the
//! config, each problem reported under its field.

use std::time::Duration;

use super::AuditSettings;
use crate::config::{ConfigFile, Problems};

/// `[audit]`, checked; the directory resolved against the config file.
pub(crate) fn settings(p: &mut Problems, cfg: &ConfigFile) -> AuditSettings {
    let a = &cfg.raw.audit;
    let flush_interval = p.duration("audit.flush_interval", &a.flush_interval);
    if flush_interval > Duration::from_secs(10) {
        p.add(
            "audit.flush_interval",
            "at most \"10s\": a crash loses up to this much of the log",
        );
    }
    if a.max_file_size < 4096 {
        p.add("audit.max_file_size", "must be at least 4096 bytes");
    }
    if a.directory.as_os_str().is_empty() {
        p.add("audit.directory", "must not be empty");
    }
    AuditSettings {
        enabled: a.enabled,
        directory: cfg.resolve(&a.directory),
        max_file_size: a.max_file_size,
        flush_interval,
        replica: None,
    }
}
