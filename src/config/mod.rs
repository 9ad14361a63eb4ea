//! The TOML configuration: the file model (every field documented here is the
//! config reference), parsing, and validation that names the file and field of
//! each problem.
//!
//! Loading is two steps. [`RawConfig`] is what the file says, checked only for
//! shape (unknown keys are errors, so a typo never silently disables a rule).
//! [`crate::server::Snapshot::build`] then reads every file the config names and
//! turns the whole into live material; both steps report *all* problems they
//! find as [`ConfigProblem`]s rather than stopping at the first.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

mod authorize;
mod egress;
mod file;
mod governance;
mod mcp;
mod problems;
mod runtime;
pub mod schema;
mod state;
mod telemetry;

pub use authorize::*;
pub use egress::*;
pub use file::{ConfigModel, TomlFile};
pub use governance::*;
pub use mcp::*;
pub(crate) use problems::{one_problem, Problems};
pub use runtime::*;
pub use state::{StateBackend, StateSection};
pub use telemetry::TelemetrySection;

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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The mTLS listener callers reach, the token issuer, the public URL,
    /// the listener's certificate and the upstream timeouts.
    pub gateway: GatewaySection,
    /// One entry per SPIFFE trust domain whose workloads may call through the gateway.
    #[serde(default)]
    pub trust_domain: Vec<TrustDomainSection>,
    /// The key that signs the tokens the gateway mints, their lifetime and
    /// cache.
    pub tokens: TokensSection,
    /// The key that signs the Agent Cards the gateway serves. Required; a
    /// config without it is refused (see [`CardsSection`]).
    // An `Option` only so that its absence is reported as a problem with
    // the others; the schema says it as it is.
    #[schemars(required)]
    pub cards: Option<CardsSection>,
    /// Identity providers whose user tokens the gateway accepts as subject tokens.
    #[serde(default)]
    pub subject_issuer: Vec<SubjectIssuerSection>,
    /// The agents reachable through the gateway.
    #[serde(default)]
    pub agent: Vec<AgentSection>,
    /// The MCP servers reachable through the gateway (`/mcp/NAME`).
    #[serde(default)]
    pub mcp_server: Vec<McpServerSection>,
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
    /// Where state shared by replicas is kept (approvals). Without the
    /// section: files, on this node.
    #[serde(default)]
    pub state: StateSection,
    /// The authorization endpoint, consent and grants pages people's
    /// browsers reach (the user's side of delegation). Default: off.
    pub authorize: Option<AuthorizeSection>,
    /// The public clients that may send people to `[authorize]`.
    #[serde(default)]
    pub oauth_client: Vec<OAuthClientSection>,
    /// OpenTelemetry traces over OTLP/HTTP. Default: off.
    #[serde(default)]
    pub telemetry: TelemetrySection,
}

/// `[gateway]`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
    /// Extra request headers removed before forwarding, on top of the
    /// built-in identity and forwarding headers (README, "Identity headers"):
    /// names your own proxies or upstreams trust, e.g. `["x-site-user"]`.
    /// Case-insensitive; each must be a valid header name. Default none.
    #[serde(default)]
    pub strip_headers: Vec<String>,
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    #[default]
    Reject,
    Allow,
}

/// Which certificates of a chain are checked against CRLs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RevocationScope {
    #[default]
    Chain,
    Leaf,
}

/// `[tokens]`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
    /// Verified subject tokens kept, so a token's signature is checked once,
    /// not on every request (its clock, audience and certificate-binding
    /// checks still run on every request). Default 10000; `0` turns the cache
    /// off. Memory is bounded too (about 16 MiB of tokens).
    #[serde(default = "default_subject_token_cache")]
    pub subject_token_cache: usize,
    /// Longest `act` chain a minted token may carry (the current caller counts).
    /// Default 5.
    #[serde(default = "default_chain_depth")]
    pub max_chain_depth: usize,
    /// Planned lifetime of a signing key, counted from its file's modification
    /// time, e.g. `"90d"`. Its end is exported (unix time) as
    /// `actgate_token_signing_key_expiry_timestamp_seconds` and warned about
    /// 7 days ahead. Default: none.
    pub rotate_after: Option<String>,
}

/// `[cards]`: the gateway's card-signing key, separate from the token key.
///
/// A served card carries members its upstream chose; signed with the token
/// key, a card holding `iss`, `sub`, `aud`, `exp` would verify as an access
/// token. So cards get a key of their own, published only at
/// `/.well-known/agent-card-jwks.json`, never in the token JWKS.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardsSection {
    /// PKCS#8 PEM private key that signs served cards (`actgate certs init`
    /// writes `certs/card-signing.key`; `actgate keys generate --out FILE`
    /// makes one). Must not be a token key.
    pub signing_key: PathBuf,
    /// `"ES256"` (default) or `"EdDSA"`.
    #[serde(default = "default_algorithm")]
    pub algorithm: SigningAlgorithm,
    /// Older card keys still published in the card JWKS, so cards callers
    /// cached keep verifying. Same algorithm as `algorithm`. A key replaced
    /// in place stays published for an hour after a reload anyway.
    #[serde(default)]
    pub previous_keys: Vec<PathBuf>,
}

/// `[[subject_issuer]]`
///
/// Where the issuer's keys come from: exactly one of `jwks` (a file),
/// `jwks_uri` (fetched) or `discovery = true` (the `jwks_uri` of the
/// issuer's metadata document). Keys are taken only from there; a token's
/// `kid`, `jku` or `x5u` never makes the gateway fetch from anywhere else.
///
/// Fetched keys are fetched at start (`/readyz` answers 503 until the first
/// good fetch of each issuer, for at most `startup_timeout`; after it the
/// issuer's tokens get 401 `issuer keys unavailable`, and `/readyz` lists
/// it with the fetch error), then again
/// after the key set's `Cache-Control: max-age`, clamped between
/// `min_refresh_interval` and `refresh`. A token from this issuer whose
/// `kid` is not in the current set makes the gateway fetch at once, at most
/// once per `min_refresh_interval`, and the request waits for that fetch:
/// a key rotation at the IdP costs no failed call. A failed fetch keeps the
/// last good key set, is logged and counted
/// (`actgate_issuer_key_fetch_failures_total{issuer}`), and is retried after
/// `min_refresh_interval`; keys the IdP removed stop verifying after the next
/// good fetch. Fetches are HTTPS only (plain `http://` only to a loopback
/// address), follow no redirect, and are bounded in size and time.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectIssuerSection {
    /// Exact `iss` of the identity provider's tokens.
    pub issuer: String,
    /// JWKS file with the provider's public keys.
    pub jwks: Option<PathBuf>,
    /// URL of the provider's JWKS (`https://…`), fetched and refreshed.
    pub jwks_uri: Option<String>,
    /// Find the JWKS URL in `{issuer}/.well-known/openid-configuration`
    /// (OpenID Connect Discovery), or when that is not found (404) in the
    /// RFC 8414 document (`https://host/.well-known/oauth-authorization-server/path`,
    /// then `{issuer}/.well-known/oauth-authorization-server`). The
    /// document's `issuer` must equal `issuer` exactly.
    #[serde(default)]
    pub discovery: bool,
    /// PEM CA bundle for the provider's TLS certificate (`jwks_uri`,
    /// `discovery`). Default: the system's roots.
    pub ca: Option<PathBuf>,
    /// The `aud` the provider's tokens must carry to be accepted here: one
    /// value, or a list of which the token must carry at least one (Entra
    /// sends the application ID URI or the client ID, depending on the
    /// token version).
    pub audience: OneOrMany,
    /// The claim holding the token's scopes. Default `"scope"` (a
    /// space-separated string); any other claim (Entra's and Okta's `scp`)
    /// may be a space-separated string or an array of strings.
    pub scope_claim: Option<String>,
    /// The claim naming the user. Default `"sub"`; e.g. `"oid"` for Entra's
    /// stable object ID, `"preferred_username"`. Must be a non-empty string.
    pub subject_claim: Option<String>,
    /// Claims a token must carry (not `null`) to be accepted, e.g. `["tid"]`.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Longest time a fetched key set is used before it is fetched again,
    /// whatever its `Cache-Control` says. Default `"15m"`.
    pub refresh: Option<String>,
    /// Shortest time between two fetches of this issuer's keys: the least a
    /// `Cache-Control: max-age` is taken as, the pause after a failed fetch,
    /// and the rate limit of the fetches an unknown `kid` triggers. Default
    /// `"30s"`, at least `"1s"`.
    pub min_refresh_interval: Option<String>,
    /// How long `/readyz` waits for the first good fetch of this issuer's
    /// keys before the gateway is ready without them. Default `"10s"`.
    pub startup_timeout: Option<String>,
    /// The JWS algorithms accepted from this issuer (`RS256`, `RS384`,
    /// `RS512`, `PS256`, `PS384`, `PS512`, `ES256`, `ES384`, `EdDSA`). A key's
    /// algorithm is its JWK's `alg`; a key without `alg` gets the one its
    /// `kty`/`crv` implies, and an RSA key without `alg` the first RSA
    /// algorithm of this list (Entra's and many OIDC providers' RSA keys
    /// carry no `alg`). Keys of other algorithms are not used. Default: any
    /// of these, and an RSA key without `alg` is refused.
    pub algorithms: Option<Vec<String>>,
    /// Trust this issuer for RFC 7523 JWT authorization grants
    /// (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` at the
    /// token endpoint, e.g. a partner domain's authorization server in
    /// identity chaining) *instead of* for subject tokens: one issuer, one
    /// purpose. Its tokens are then refused as subject tokens (on the proxy
    /// route and in the token exchange), and only its tokens are accepted as
    /// assertions. `audience` must then name this gateway: `gateway.issuer`
    /// and/or its token endpoint `{public_url}/oauth2/token`, nothing else.
    /// Default `false`.
    #[serde(default)]
    pub assertion_grant: bool,
    /// With `assertion_grant`: the longest an assertion may be valid,
    /// `exp - iat` (both required). Default `"5m"`, at most `"1h"`.
    pub max_assertion_lifetime: Option<String>,
}

/// A value or a list of values (`audience = "x"` or `audience = ["x", "y"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values, in the order written.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// `[[agent]]`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
pub(crate) fn default_subject_token_cache() -> usize {
    crate::token::verify_cache::DEFAULT_MAX_ENTRIES
}

fn default_true() -> bool {
    true
}
fn default_chain_depth() -> usize {
    5
}

/// The gateway's config file.
pub type ConfigFile = TomlFile<RawConfig>;

impl ConfigModel for RawConfig {
    fn refuse_text(text: &str) -> Option<&'static str> {
        is_egress_config(text).then_some(
            "this is an egress sidecar configuration ([egress]); run it with \
             `actgate egress --config FILE`",
        )
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
