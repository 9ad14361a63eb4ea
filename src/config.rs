//! The TOML configuration: the file model (every field documented here is the
//! config reference), parsing, and validation that names the file and field of
//! each problem.
//!
//! Loading is two steps. [`RawConfig`] is what the file says, checked only for
//! shape (unknown keys are errors, so a typo never silently disables a rule).
//! [`crate::server::Gateway::build`] then reads every file the config names and
//! turns the whole into live material; both steps report *all* problems they
//! find as [`ConfigProblem`]s rather than stopping at the first.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::policy::Effect;
use crate::token::SigningAlgorithm;

/// One thing wrong with a configuration: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// `FILE: section.field` (or `FILE: [[agent]] #2 (name) .card`).
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every problem found in one configuration.
#[derive(Debug, thiserror::Error)]
#[error("{} configuration problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

/// The configuration file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub gateway: GatewaySection,
    /// One entry per SPIFFE trust domain whose workloads may call through the gateway.
    #[serde(default)]
    pub trust_domain: Vec<TrustDomainSection>,
    pub tokens: TokensSection,
    /// Identity providers whose user tokens the gateway accepts as subject tokens.
    #[serde(default)]
    pub subject_issuer: Vec<SubjectIssuerSection>,
    /// The agents reachable through the gateway.
    #[serde(default)]
    pub agent: Vec<AgentSection>,
    /// Policy rules (or in the file `gateway.policy` names, not both).
    /// Anything no rule allows is denied.
    #[serde(default)]
    pub rule: Vec<RuleSection>,
    /// The human approval store (needed when a rule says `approval = "human"`).
    pub approvals: Option<ApprovalsSection>,
    /// mTLS and admin identities for the admin listener (`gateway.admin_listen`).
    pub admin: Option<AdminSection>,
    /// The audit log. Without the section it is on, in `audit/` next to
    /// the config file.
    #[serde(default)]
    pub audit: AuditSection,
    /// Connection limits, timeouts and draining of every listener.
    #[serde(default)]
    pub server: ServerSection,
    /// Log level and format.
    #[serde(default)]
    pub log: LogSection,
}

/// `[approvals]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsSection {
    /// Directory the approvals are kept in, one JSON file per approval, each
    /// written atomically (temporary file, fsync, rename). Created if missing.
    /// Pending and approved approvals survive a restart; one gateway per
    /// directory.
    pub dir: PathBuf,
    /// How long an approval stays usable after the request that created it,
    /// whether or not it has been approved. Default `"15m"`.
    #[serde(default = "default_approval_ttl")]
    pub ttl: String,
    /// How long finished approvals (used, denied, expired) are kept on disk
    /// for `approvals show` before they are pruned. Default `"24h"`.
    #[serde(default = "default_approval_retention")]
    pub retention: String,
    /// Most approvals that may be pending at once; further requests that need
    /// approval get 503 until some are decided or expire. Default 1000.
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
}

/// `[admin]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Serve the admin listener over mTLS. Callers present an X509-SVID from
    /// one of the `[[trust_domain]]`s; only `allowed_identities` may use
    /// anything but `/healthz` and `/readyz`. Default `false`: plain HTTP,
    /// allowed only on a loopback address (whoever can connect to it is an
    /// operator).
    #[serde(default)]
    pub mtls: bool,
    /// SPIFFE IDs or patterns (`*` one segment, trailing `**` one or more)
    /// of the people/tools allowed to use the admin listener with `mtls`.
    #[serde(default)]
    pub allowed_identities: Vec<String>,
    /// Certificate chain the admin listener presents. Default: `gateway.server_cert`.
    pub server_cert: Option<PathBuf>,
    /// Key of `server_cert`. Default: `gateway.server_key`.
    pub server_key: Option<PathBuf>,
}

/// `[gateway]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Address of the mTLS listener, e.g. `"127.0.0.1:8443"`.
    pub listen: SocketAddr,
    /// `iss` of every minted token; also the subject-token issuer that marks a
    /// token as the gateway's own.
    pub issuer: String,
    /// The URL callers use to reach the gateway; agent routes and the default
    /// token audience are built from it (`{public_url}/agents/NAME`).
    pub public_url: String,
    /// PEM certificate chain the listener presents (leaf first).
    pub server_cert: PathBuf,
    /// PEM (PKCS#8, SEC1 or PKCS#1) private key of `server_cert`.
    pub server_key: PathBuf,
    /// Allow TLS 1.2 as well as 1.3. Default `false`: TLS 1.3 only.
    #[serde(default)]
    pub tls12: bool,
    /// How long a client may take to finish the TLS handshake. Default `"10s"`.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout: String,
    /// Largest request body accepted, in bytes; larger gets 413. Default 1 MiB.
    #[serde(default = "default_max_body")]
    pub max_request_body: u64,
    /// Time allowed to connect to an upstream. Default `"5s"`.
    #[serde(default = "default_connect_timeout")]
    pub upstream_connect_timeout: String,
    /// Time allowed for an upstream to answer with response headers; after it
    /// the caller gets 504. Streams may run longer once started. Default `"30s"`.
    #[serde(default = "default_upstream_timeout")]
    pub upstream_timeout: String,
    /// Workload certificate the gateway presents to `https` upstreams.
    pub upstream_client_cert: Option<PathBuf>,
    /// Key of `upstream_client_cert`.
    pub upstream_client_key: Option<PathBuf>,
    /// Set `X-Forwarded-For` to the caller's address. Default `false`: the
    /// header is removed, whatever the caller sent.
    #[serde(default)]
    pub forward_client_address: bool,
    /// Optional admin listener: `/metrics`, `/healthz`, `/readyz`, the
    /// approvals API and the console. Plain HTTP only on a loopback address;
    /// anywhere else it needs `[admin] mtls = true`.
    pub admin_listen: Option<SocketAddr>,
    /// Optional plain-HTTP listener for `/healthz`, `/readyz` and `/metrics`
    /// only (never the approvals API or the console), on any address: what
    /// kubelet probes and a Prometheus scraper reach from outside the pod
    /// while `admin_listen` stays on loopback. Metrics name agents and
    /// counts, so restrict who reaches it (a NetworkPolicy).
    pub health_listen: Option<SocketAddr>,
    /// Re-read the configuration and every file it names when one of them
    /// changes (checked every `watch_interval`). SIGHUP always reloads.
    /// Default `true`.
    #[serde(default = "default_true")]
    pub watch_files: bool,
    /// How often changed files are looked for. Default `"2s"`.
    #[serde(default = "default_watch_interval")]
    pub watch_interval: String,
    /// A separate TOML file holding the `[[rule]]` entries (relative to this
    /// file). With it, this file must not contain rules itself.
    pub policy: Option<PathBuf>,
}

/// `[[trust_domain]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustDomainSection {
    /// Trust domain name, e.g. `"example.org"`.
    pub name: String,
    /// This trust domain's root certificates: a PEM file, or a SPIFFE bundle
    /// (JWK set with `use: "x509-svid"` keys, as `actgate bundle export`
    /// writes). Callers whose SPIFFE ID names this domain are verified against
    /// these roots and no others.
    pub bundle: PathBuf,
    /// PEM files with CRLs for this trust domain. A revoked client certificate
    /// is refused at the handshake. With `revocation_scope = "chain"` every CA
    /// in the chain needs a CRL (see `unknown_revocation_status`).
    #[serde(default)]
    pub crls: Vec<PathBuf>,
    /// When CRLs are configured but none covers a certificate's issuer:
    /// `"reject"` (default: a missing CRL looks exactly like a withheld one) or
    /// `"allow"`.
    #[serde(default)]
    pub unknown_revocation_status: Disposition,
    /// A CRL past its `nextUpdate`: `"reject"` (default: a stale revocation
    /// view must not silently admit certificates revoked since) or `"allow"`.
    #[serde(default)]
    pub expired_crl: Disposition,
    /// `"chain"` (default: leaf and intermediates) or `"leaf"`.
    #[serde(default)]
    pub revocation_scope: RevocationScope,
    /// Refuse client certificates valid for longer than this
    /// (`notAfter - notBefore`), e.g. `"24h"`. Default: no limit.
    pub max_certificate_lifetime: Option<String>,
    /// JWT-SVID signing keys of this trust domain: a JWK set, or a SPIFFE
    /// bundle (keys with `use: "jwt-svid"`; `x509-svid` keys are skipped).
    /// Enables `actor_token` at the token endpoint for this domain's
    /// workloads: a JWT-SVID whose `sub` is the client certificate's SPIFFE
    /// ID and whose `aud` names the gateway's issuer or token endpoint.
    /// Default: none, and actor tokens from this domain are refused.
    pub jwt_bundle: Option<PathBuf>,
}

/// Reject or allow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    #[default]
    Reject,
    Allow,
}

/// Which certificates of a chain are checked against CRLs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationScope {
    #[default]
    Chain,
    Leaf,
}

/// `[tokens]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensSection {
    /// PKCS#8 PEM private key that signs minted tokens.
    pub signing_key: PathBuf,
    /// `"ES256"` (default) or `"EdDSA"`.
    #[serde(default = "default_algorithm")]
    pub algorithm: SigningAlgorithm,
    /// Older signing keys still published in the JWKS so tokens they signed keep
    /// verifying until they expire. Same algorithm as `algorithm`.
    #[serde(default)]
    pub previous_keys: Vec<PathBuf>,
    /// Lifetime of a minted token. Default `"5m"`; never later than the subject
    /// token's `exp`.
    #[serde(default = "default_token_ttl")]
    pub ttl: String,
    /// Reuse a token for the same caller certificate, subject, audience, scopes
    /// and chain until shortly before it expires. Default `true`. Turn off when
    /// every call must carry its own `jti`.
    #[serde(default = "default_true")]
    pub cache: bool,
    /// Longest `act` chain a minted token may carry (the current caller counts).
    /// Default 5.
    #[serde(default = "default_chain_depth")]
    pub max_chain_depth: usize,
    /// Planned lifetime of a signing key, counted from its file's modification
    /// time, e.g. `"90d"`. Its end is exported as
    /// `actgate_token_signing_key_expiry_seconds` and warned about 7 days
    /// ahead. Default: none.
    pub rotate_after: Option<String>,
}

/// `[[subject_issuer]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectIssuerSection {
    /// Exact `iss` of the identity provider's tokens.
    pub issuer: String,
    /// JWKS file with the provider's public keys. Keys are taken only from here;
    /// a token's `kid`, `jku` or `x5u` never makes the gateway fetch a key.
    pub jwks: PathBuf,
    /// The `aud` the provider's tokens must carry to be accepted here.
    pub audience: String,
}

/// `[[agent]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// Route name: the agent is reached at `{public_url}/agents/NAME/...`.
    /// Letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// The agent's A2A Agent Card (JSON file, v1.0 or v0.3), served to
    /// allowed callers with its interface URLs pointing at the gateway. At
    /// least one of `card` and `fetch_card` is required; with both, the file
    /// is the card until the first successful fetch.
    pub card: Option<PathBuf>,
    /// Fetch the card from the upstream itself (`card_path` on the upstream's
    /// origin) at start and every `card_refresh`, over the same connection
    /// rules as calls (for `https`: the agent's SPIFFE ID is verified). A
    /// fetch that fails, or whose card fails to parse, to verify, or to be
    /// satisfiable, keeps the last good card and is logged and counted
    /// (`actgate_card_fetch_failures_total`); an agent that never had a good
    /// card answers 503.
    #[serde(default)]
    pub fetch_card: bool,
    /// Path of the card on the upstream's origin. Default
    /// `/.well-known/agent-card.json` (A2A v1.0 §8.2).
    pub card_path: Option<String>,
    /// How often a fetched card is refreshed (`30s`, `5m`). Default `5m`.
    pub card_refresh: Option<String>,
    /// JWKS file of the keys the agent signs its card with (A2A v1.0 §8.4).
    /// When set, every card for this agent (file or fetched) must carry a
    /// JWS signature by one of these keys over its canonical form; a card
    /// that does not is never used. Each key needs `kid` and `alg`.
    pub card_signing_keys: Option<PathBuf>,
    /// Base URL of the agent (`http://` or `https://`). For `https` the gateway
    /// presents `upstream_client_cert` and requires the agent to present an
    /// X509-SVID for `spiffe_id` from that ID's trust-domain bundle.
    pub upstream: String,
    /// The agent's own workload identity. Lets the agent also be recognised as a
    /// caller: a gateway token minted for this agent may be presented by it in a
    /// later hop.
    pub spiffe_id: Option<String>,
    /// RFC 8707 resource identifier used as the `aud` of tokens for this agent.
    /// Default: `{public_url}/agents/NAME`.
    pub resource: Option<String>,
    /// Names of OAuth 2 / OpenID Connect security schemes in the agent's card
    /// that accept tokens minted by the gateway (schemes whose token URL or
    /// issuer is the gateway's are recognised without this).
    #[serde(default)]
    pub accept_gateway_token: Vec<String>,
    /// API keys the gateway presents for the card's `apiKeySecurityScheme`s
    /// (`[[agent.api_key]]`). Keys come only from here, never from a card.
    #[serde(default)]
    pub api_key: Vec<ApiKeySection>,
}

/// `[[agent.api_key]]`: the key for one `apiKeySecurityScheme` of the card.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySection {
    /// Name of the scheme in the card's `securitySchemes`.
    pub scheme: String,
    /// File holding the key (trailing newline ignored). Exactly one of `file`
    /// and `env`.
    pub file: Option<PathBuf>,
    /// Environment variable holding the key.
    pub env: Option<String>,
}

/// `[[rule]]`: one policy rule (in the config, or in the file
/// `gateway.policy` names). A matching `deny` rule refuses the call whatever
/// any allow rule says; otherwise the first matching `allow` rule, in file
/// order, decides; no match is a deny.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    /// `"allow"` (default) or `"deny"`. A deny rule takes only `caller*`,
    /// `agent`, `operations`, `subject_issuer` and `subject`.
    #[serde(default)]
    pub effect: Effect,
    /// Who: an exact SPIFFE ID, or a pattern within one trust domain (`*`
    /// matches one path segment, a trailing `**` one or more). Exactly one of
    /// `caller`, `caller_trust_domain` and `caller_agent`.
    pub caller: Option<String>,
    /// Who: every workload of this trust domain (exact name; never a suffix).
    pub caller_trust_domain: Option<String>,
    /// Who: the registered `[[agent]]` of this name (its `spiffe_id`).
    pub caller_agent: Option<String>,
    /// Target agent(s): a name, a list of names, or `"*"` for every agent.
    pub agent: AgentNames,
    /// Scopes granted. The minted token carries those the agent's card (and
    /// the rule's `skills`) require, narrowed to the subject token's scopes;
    /// for a card without requirements, all of them (narrowed likewise).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Whether the caller may call with no subject token (then `sub` is the
    /// caller itself). Default `false`: only on behalf of a user.
    #[serde(default)]
    pub app_only: bool,
    /// Delegated calls only, and only with a subject token from this issuer
    /// (a `[[subject_issuer]]`, or `gateway.issuer` for tokens the gateway
    /// minted in an earlier hop).
    pub subject_issuer: Option<String>,
    /// Delegated calls only, and only for subjects (`sub`) matching this
    /// pattern, where `*` matches any run of characters
    /// (e.g. `"*@example.com"`).
    pub subject: Option<String>,
    /// A2A operations this rule covers, by their v1.0 names (`SendMessage`,
    /// `SendStreamingMessage`, `GetTask`, `ListTasks`, `CancelTask`,
    /// `SubscribeToTask`, the push-config operations, `GetExtendedAgentCard`);
    /// v0.3 method names and REST paths map to these. Default: every
    /// operation. With a list, requests that are not a recognised A2A
    /// operation are not covered.
    pub operations: Option<Vec<String>>,
    /// Skills (ids on the agent's card) the caller may use: the minted token
    /// must also meet each one's skill-level `securityRequirements` (a step-up
    /// challenge otherwise). Default: none, so no skill-level scopes are
    /// added (least privilege). Each must be declared on the card of every
    /// agent the rule names.
    pub skills: Option<Vec<String>>,
    /// Cap on the lifetime of tokens minted under this rule (e.g. `"1m"`);
    /// `tokens.ttl` applies when shorter. Default: `tokens.ttl`.
    pub max_token_lifetime: Option<String>,
    /// `"none"` (default) or `"human"`: an allowed call is forwarded only
    /// after a person approved this exact request (see `[approvals]` and the
    /// README's "Human approval").
    #[serde(default)]
    pub approval: ApprovalSetting,
}

/// `agent = "name"`, `agent = ["a", "b"]` or `agent = "*"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentNames(pub Vec<String>);

impl<'de> Deserialize<'de> for AgentNames {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = AgentNames;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an agent name, a list of agent names, or \"*\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AgentNames, E> {
                Ok(AgentNames(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<AgentNames, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(AgentNames(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A separate policy file (`gateway.policy`): only `[[rule]]` entries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFileRaw {
    #[serde(default)]
    pub rule: Vec<RuleSection>,
}

/// `approval = "none" | "human"` of a `[[rule]]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalSetting {
    #[default]
    None,
    Human,
}

impl From<ApprovalSetting> for crate::policy::Approval {
    fn from(a: ApprovalSetting) -> Self {
        match a {
            ApprovalSetting::None => crate::policy::Approval::None,
            ApprovalSetting::Human => crate::policy::Approval::Human,
        }
    }
}

/// `[audit]`: the tamper-evident audit log (one hash-chained JSON line per
/// request and per token exchange; `actgate audit verify` checks it).
///
/// On by default, so every action is traceable unless an operator decides
/// otherwise. If the directory cannot be created or written at start, the
/// gateway does not start; if writes fail later, agent calls are refused
/// (503) until a write succeeds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// Write the audit log. Default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Directory of the log files (`audit-000001.jsonl`, `audit-000002.jsonl`,
    /// ...), created with mode 0700 if missing; files are created 0600. Every
    /// gateway start begins a new file. Default `"audit"` (relative paths are
    /// resolved against the config file's directory).
    #[serde(default = "default_audit_directory")]
    pub directory: PathBuf,
    /// Start a new file before the current one would grow past this many
    /// bytes; the new file continues the hash chain. At least 4096. Default
    /// 64 MiB.
    #[serde(default = "default_audit_max_file_size")]
    pub max_file_size: u64,
    /// Longest time the record of an allowed call waits in memory before it
    /// is written: a `kill -9` loses at most this window. Refusals (deny,
    /// step-up, approval required, bad credentials) are written before their
    /// response is sent, whatever this says. At most `"10s"`. Default `"100ms"`.
    #[serde(default = "default_audit_flush_interval")]
    pub flush_interval: String,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            enabled: true,
            directory: default_audit_directory(),
            max_file_size: default_audit_max_file_size(),
            flush_interval: default_audit_flush_interval(),
        }
    }
}

fn default_approval_ttl() -> String {
    "15m".into()
}
fn default_approval_retention() -> String {
    "24h".into()
}
fn default_max_pending() -> usize {
    1000
}
fn default_audit_directory() -> PathBuf {
    PathBuf::from("audit")
}
fn default_audit_max_file_size() -> u64 {
    64 * 1024 * 1024
}
fn default_audit_flush_interval() -> String {
    "100ms".into()
}
fn default_handshake_timeout() -> String {
    "10s".into()
}
fn default_watch_interval() -> String {
    "2s".into()
}
fn default_connect_timeout() -> String {
    "5s".into()
}
fn default_upstream_timeout() -> String {
    "30s".into()
}
fn default_token_ttl() -> String {
    "5m".into()
}
fn default_max_body() -> u64 {
    1024 * 1024
}
fn default_algorithm() -> SigningAlgorithm {
    SigningAlgorithm::Es256
}
fn default_true() -> bool {
    true
}
fn default_chain_depth() -> usize {
    5
}

/// A config file read from disk, with the directory its relative paths are
/// resolved against.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub raw: RawConfig,
}

impl ConfigFile {
    /// Read and parse a TOML config file.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigProblem {
                location: path.display().to_string(),
                message: format!("cannot read the config file: {e}"),
            }])
        })?;
        Self::parse(path, &text)
    }

    /// Parse TOML text that came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigErrors> {
        if is_egress_config(text) {
            return Err(ConfigErrors(vec![ConfigProblem {
                location: path.display().to_string(),
                message: "this is an egress sidecar configuration ([egress]); run it with \
                          `actgate egress --config FILE`"
                    .into(),
            }]));
        }
        let raw: RawConfig = parse_toml(path, text).map_err(|p| ConfigErrors(vec![p]))?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            raw,
        })
    }

    /// Resolve a path named in the config against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path
                .parent()
                .map(|d| d.join(p))
                .unwrap_or_else(|| p.to_path_buf())
        }
    }

    /// `FILE: field` location string.
    pub fn at(&self, field: impl std::fmt::Display) -> String {
        format!("{}: {field}", self.path.display())
    }
}

/// Parse TOML text that came from `path`; an error names the file and line.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigProblem> {
    toml::from_str(text).map_err(|e| {
        let location = match e.span() {
            Some(span) => {
                let line = text.get(..span.start).unwrap_or(text).matches('\n').count() + 1;
                format!("{}:{line}", path.display())
            }
            None => path.display().to_string(),
        };
        ConfigProblem {
            location,
            message: e.message().to_string(),
        }
    })
}

/// Whether a config file's text is an egress sidecar configuration (it has
/// an `[egress]` table) rather than a gateway's.
pub fn is_egress_config(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("egress"))
}

/// Parse a duration like `"300ms"`, `"30s"`, `"5m"`, `"1h"` or `"1d"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("\"{s}\" has no unit; write e.g. \"30s\", \"5m\", \"1h\""))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("\"{s}\" does not start with a whole number"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "d" => Duration::from_secs(n.saturating_mul(86400)),
        _ => {
            return Err(format!(
                "\"{s}\": unknown unit \"{unit}\" (use ms, s, m, h or d)"
            ))
        }
    };
    if d.is_zero() {
        return Err(format!("\"{s}\" is zero"));
    }
    Ok(d)
}

/// `[server]`: how every listener (the gateway's mTLS listener, the admin
/// listener, the egress listeners) accepts, limits and drains connections.
/// Read at start; changes take effect on restart.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Most connections open at once on each listener; beyond it new
    /// connections wait in the kernel's accept queue until one closes.
    /// Default 10000.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Requests served on one connection before the server closes it
    /// gracefully (HTTP/1.1 `Connection: close`, HTTP/2 `GOAWAY`), so
    /// long-lived clients spread over replicas. `0`: no limit. Default 10000.
    #[serde(default = "default_max_requests_per_connection")]
    pub max_requests_per_connection: u64,
    /// Largest request head in bytes (request line and headers; HTTP/2: the
    /// decoded header list). Larger gets 431 (HTTP/1.1) or a stream reset
    /// (HTTP/2). At least 8192. Default 65536.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// A connection with no request in progress for this long is closed.
    /// On HTTP/1.1 it also bounds the time a client may take to send a
    /// request's headers (slow-header clients). Default `"60s"`.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: String,
    /// On SIGTERM/SIGINT: how long in-flight requests and streams may run
    /// before the process exits anyway. Default `"30s"`.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            max_connections: default_max_connections(),
            max_requests_per_connection: default_max_requests_per_connection(),
            max_header_bytes: default_max_header_bytes(),
            idle_timeout: default_idle_timeout(),
            drain_timeout: default_drain_timeout(),
        }
    }
}

fn default_max_connections() -> usize {
    10_000
}
fn default_max_requests_per_connection() -> u64 {
    10_000
}
fn default_max_header_bytes() -> usize {
    64 * 1024
}
fn default_idle_timeout() -> String {
    "60s".into()
}
fn default_drain_timeout() -> String {
    "30s".into()
}

/// `[log]`. Logs go to standard error, one line per event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Level filter, e.g. `"info"`, `"debug"`, `"warn,actgate=debug"`
    /// (tracing `EnvFilter` syntax). `RUST_LOG`, when set, wins. Default
    /// `"info"`.
    pub level: Option<String>,
    /// `"auto"` (default: JSON when standard error is not a terminal,
    /// human-readable when it is), `"json"` or `"text"`.
    #[serde(default)]
    pub format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Auto,
    Json,
    Text,
}

/// An egress sidecar's configuration file (`actgate egress --config FILE`):
/// `[egress]`, and optionally `[server]` and `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEgressConfig {
    pub egress: EgressSection,
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub log: LogSection,
}

/// `[egress]`: a local agent calls peers through this sidecar over plain
/// HTTP on loopback; the sidecar calls the remote gateway over mTLS with the
/// agent's workload certificate.
#[derive(Debug, Clone, Deserialize)]
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
    /// Plain-HTTP listener for `/healthz` and `/readyz` (kubelet probes reach
    /// it on the pod IP, so it may be non-loopback; it serves nothing else).
    pub admin_listen: Option<SocketAddr>,
}

fn default_socket_mode() -> String {
    "0600".into()
}

/// An egress config file read from disk.
#[derive(Debug, Clone)]
pub struct EgressConfigFile {
    pub path: PathBuf,
    pub raw: RawEgressConfig,
}

impl EgressConfigFile {
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigProblem {
                location: path.display().to_string(),
                message: format!("cannot read the config file: {e}"),
            }])
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigErrors> {
        Ok(EgressConfigFile {
            path: path.to_path_buf(),
            raw: parse_toml(path, text).map_err(|p| ConfigErrors(vec![p]))?,
        })
    }

    /// Resolve a path named in the config against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path
                .parent()
                .map(|d| d.join(p))
                .unwrap_or_else(|| p.to_path_buf())
        }
    }

    /// `FILE: field` location string.
    pub fn at(&self, field: impl std::fmt::Display) -> String {
        format!("{}: {field}", self.path.display())
    }
}

/// Agent names appear in URLs; keep them to a safe, unambiguous alphabet.
pub fn valid_agent_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != "."
        && name != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        for bad in ["", "5", "m", "5x", "0s", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn agent_names() {
        assert!(valid_agent_name("scheduler"));
        assert!(valid_agent_name("tool-agent_2.v1"));
        for bad in ["", ".", "..", "a/b", "a b", "a%2f", &"x".repeat(65)] {
            assert!(!valid_agent_name(bad), "{bad} should be rejected");
        }
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let text = "[gateway]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n";
        let err = ConfigFile::parse(Path::new("x.toml"), text).unwrap_err();
        assert!(err.0[0].location.starts_with("x.toml:"), "{:?}", err.0);
        assert!(err.0[0].message.contains("lisen"), "{:?}", err.0);
    }
}
