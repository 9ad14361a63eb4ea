//! The egress sidecar's own configuration file: `[egress]`, with the
//! optional `[server]` and `[log]`.

use std::net::SocketAddr;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

use super::*;

/// Whether a config file's text is an egress sidecar configuration (it has
/// an `[egress]` table) rather than a gateway's.
pub fn is_egress_config(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("egress"))
}

/// An egress sidecar's configuration file (`actgate egress --config FILE`):
/// `[egress]`, and optionally `[server]` and `[log]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEgressConfig {
    /// The local listener, the remote gateway and the workload certificate.
    pub egress: EgressSection,
    /// Connection limits, timeouts and draining of the listeners.
    #[serde(default)]
    pub server: ServerSection,
    /// Log level and format.
    #[serde(default)]
    pub log: LogSection,
}

/// `[egress]`: a local agent calls peers through this sidecar over plain
/// HTTP on loopback; the sidecar calls the remote gateway over mTLS with the
/// agent's workload certificate.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressSection {
    /// Plain-HTTP listener the local agent calls, e.g. `"127.0.0.1:15001"`.
    /// Must be a loopback address unless `allow_non_loopback`. At least one
    /// of `listen` and `unix_socket`.
    pub listen: Option<SocketAddr>,
    /// Unix socket path to listen on as well (or instead); a stale socket
    /// file is replaced.
    pub unix_socket: Option<PathBuf>,
    /// Permissions of the socket file, octal. Default `"0600"`; `"0660"`
    /// when the agent runs as another user of the same group.
    #[serde(default = "default_socket_mode")]
    pub unix_socket_mode: String,
    /// Accept a non-loopback `listen` address. Default `false`: anyone who
    /// can reach the listener calls with this workload's identity, so it
    /// stays on loopback unless you mean otherwise (a warning is logged).
    #[serde(default)]
    pub allow_non_loopback: bool,
    /// Names (or `name:port`) the local agent may use in `Host` besides the
    /// loopback ones (`localhost`, `127.0.0.1`, `[::1]`), e.g.
    /// `["egress.agent.svc"]`. A name without a port needs the listener's
    /// port. Every other `Host` is refused (403): it is what a web page that
    /// re-pointed its own DNS name at 127.0.0.1 sends. The host of
    /// `local_url` is always allowed. Default none.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Extra request headers the sidecar removes before calling the gateway,
    /// on top of the built-in identity and forwarding headers (the gateway's
    /// own rule, README "Identity headers"). Each a valid header name.
    /// Default none.
    #[serde(default)]
    pub strip_headers: Vec<String>,
    /// Base URL written into the cards served to the local agent. Default
    /// `http://{listen}` (`http://localhost` with only a Unix socket).
    pub local_url: Option<String>,
    /// The remote gateway, e.g. `"https://gateway.example.org:8443"`:
    /// `/agents/NAME/...` on the listener goes to `{gateway_url}/agents/NAME/...`.
    pub gateway_url: String,
    /// The SPIFFE ID the gateway must present. The gateway is authenticated
    /// by this ID (X509-SVID URI SAN), not by the DNS name in `gateway_url`.
    pub gateway_spiffe_id: String,
    /// Roots of the gateway's trust domain: PEM or a SPIFFE bundle (JSON).
    pub gateway_bundle: PathBuf,
    /// The local agent's workload certificate chain (PEM, leaf first), an
    /// X509-SVID; re-read when it changes.
    pub cert: PathBuf,
    /// Its private key (PEM); re-read with `cert`.
    pub key: PathBuf,
    /// How often `cert`, `key` and `gateway_bundle` are checked for changes.
    /// Default `"2s"`.
    #[serde(default = "default_watch_interval")]
    pub watch_interval: String,
    /// Time to connect to the gateway. Default `"5s"`.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: String,
    /// Time for the gateway to answer with response headers (504 after it);
    /// streams may run longer once started. Default `"30s"`.
    #[serde(default = "default_upstream_timeout")]
    pub response_timeout: String,
    /// Largest request body accepted from the agent, in bytes (413 beyond).
    /// Default 1 MiB.
    #[serde(default = "default_max_body")]
    pub max_request_body: u64,
    /// Plain-HTTP listener for `/healthz`, `/readyz` and `/metrics` (kubelet
    /// probes reach it on the pod IP, so it may be non-loopback; it serves
    /// nothing else, and the metrics name no agent or identity: see the
    /// README's Metrics section).
    pub admin_listen: Option<SocketAddr>,
}

fn default_socket_mode() -> String {
    "0600".into()
}

/// An egress config file read from disk.
pub type EgressConfigFile = TomlFile<RawEgressConfig>;

impl ConfigModel for RawEgressConfig {}
