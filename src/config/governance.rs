//! Governance sections: policy rules (`[[rule]]`, or the file `gateway.policy`
//! names), `[approvals]`, `[admin]` and `[audit]`.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

use super::*;

/// `[approvals]`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsSection {
    /// Directory the approvals are kept in, one JSON file per approval, each
    /// written atomically (temporary file, fsync, rename). Created if missing.
    /// Pending and approved approvals survive a restart; one gateway per
    /// directory. Required with `[state] backend = "files"` (the default);
    /// not used with `"postgres"`, where approvals are in the database.
    pub dir: Option<PathBuf>,
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
    /// Most approvals one caller (SPIFFE ID) may have pending at once, so one
    /// agent cannot fill `max_pending` and starve everyone else; its further
    /// requests that need approval get 503 (`approval_store_full`). At least
    /// 1, at most `max_pending`. Default 20.
    #[serde(default = "default_max_pending_per_caller")]
    pub max_pending_per_caller: usize,
}

/// `[admin]`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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

/// `[[rule]]`: one policy rule (in the config, or in the file
/// `gateway.policy` names). A matching `deny` rule refuses the call whatever
/// any allow rule says; otherwise the first matching `allow` rule, in file
/// order, decides; no match is a deny.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    /// `"allow"` (default) or `"deny"`. A deny rule takes only `caller*`,
    /// `agent` or `mcp_server`, `operations`, `tools`, `resources`,
    /// `prompts`, `subject_issuer` and `subject`.
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
    /// Exactly one of `agent` and `mcp_server`.
    #[serde(default)]
    pub agent: AgentNames,
    /// Target MCP server(s) (`[[mcp_server]]` names): a name, a list of
    /// names, or `"*"` for every MCP server. Exactly one of `agent` and
    /// `mcp_server`. Any caller such a rule covers may use the session
    /// operations (`initialize`, `ping`, `server/discover`, notifications,
    /// `logging/setLevel`, the `*/list` methods, whose answers are filtered);
    /// `tools/call`, `resources/read` (and `subscribe`), `prompts/get` and
    /// `completion/complete` are decided per name by `tools`, `resources`
    /// and `prompts`.
    pub mcp_server: Option<AgentNames>,
    /// With `mcp_server`: the tools (`tools/call` names) this rule covers,
    /// as patterns where `*` matches any run of characters
    /// (`["read_*", "list_dir"]`). A rule with none of `tools`, `resources`
    /// and `prompts` covers every tool, resource and prompt; a rule with
    /// some of them covers only what they list (a kind not listed: none).
    pub tools: Option<Vec<String>>,
    /// With `mcp_server`: the resource URIs (`resources/read`) this rule
    /// covers, as patterns (`["file:///shared/*"]`); see `tools`.
    pub resources: Option<Vec<String>>,
    /// With `mcp_server`: the prompts (`prompts/get` names) this rule
    /// covers, as patterns; see `tools`.
    pub prompts: Option<Vec<String>>,
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
    /// operation. Requests the gateway cannot name as one operation are
    /// refused before any rule is consulted, so a list can never be bypassed.
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
    /// Let the caller act again in a delegation chain it already appears in
    /// (A → B → A: an orchestrator called back by a sub-agent it spawned).
    /// Default `false`: such a chain is refused as a delegation cycle, since
    /// loops only launder authority or burn the depth budget. The chain
    /// depth limit (`tokens.max_chain_depth`) applies either way.
    #[serde(default)]
    pub allow_reentry: bool,
}

/// `agent = "name"`, `agent = ["a", "b"]` or `agent = "*"` (and the same
/// for `mcp_server`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyFileRaw {
    #[serde(default)]
    pub rule: Vec<RuleSection>,
}

/// `approval = "none" | "human"` of a `[[rule]]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
fn default_max_pending_per_caller() -> usize {
    20
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
