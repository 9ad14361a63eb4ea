//! `[state]`: where the state replicas share lives (approvals today).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

/// Which engine keeps the shared state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// Files on this node: `[approvals] dir`. One gateway per directory.
    #[default]
    Files,
    /// A PostgreSQL database every replica connects to.
    Postgres,
}

/// `[state]`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateSection {
    /// `"files"` (default: approvals in `[approvals] dir`, one gateway per
    /// directory, today's behaviour) or `"postgres"`: approvals in a
    /// PostgreSQL database shared by every replica, so an approval granted
    /// through one replica lets the retry through on any other, once.
    #[serde(default)]
    pub backend: StateBackend,
    /// File holding the PostgreSQL URL
    /// (`postgresql://USER:PASSWORD@HOST:PORT/DATABASE`), e.g. a mounted
    /// Secret. The URL carries the password, so it is never written in the
    /// config itself. Exactly one of `url_file` and `url_env` with
    /// `backend = "postgres"`.
    pub url_file: Option<PathBuf>,
    /// Environment variable holding the PostgreSQL URL (instead of `url_file`).
    pub url_env: Option<String>,
    /// PEM CA certificate(s) the PostgreSQL server's certificate is verified
    /// against, with its host name (libpq's `sslmode=verify-full`). Without
    /// it the connection is plain TCP, which is allowed only to a loopback
    /// address (or a Unix socket).
    pub ca: Option<PathBuf>,
    /// This replica's name in shared records. Default `"auto"`: the host
    /// name (a Kubernetes pod's name).
    #[serde(default = "default_replica")]
    pub replica: String,
    /// `true` (default): the gateway creates and migrates the schema at
    /// start (under a lock: replicas starting together migrate once).
    /// `false`: it never changes the schema, for operators who run
    /// `actgate state migrate` themselves (a Job before a rollout, with a
    /// more privileged database user); a gateway that finds an older
    /// schema at start refuses to start, pointing at that command.
    #[serde(default = "default_migrate")]
    pub migrate: bool,
    /// Not accepted: the URL holds the password. Use `url_file` or `url_env`.
    // `default`: what serde does for an `Option` anyway, said so that the
    // schema (which cannot see the `Option` through `schema_with`) does not
    // make the key required.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::refused")]
    pub url: Option<toml::Value>,
}

fn default_migrate() -> bool {
    true
}

fn default_replica() -> String {
    "auto".into()
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            backend: StateBackend::Files,
            url_file: None,
            url_env: None,
            ca: None,
            replica: default_replica(),
            migrate: default_migrate(),
            url: None,
        }
    }
}
