//! The live material of a running gateway — one immutable snapshot built from a
//! config file: TLS config, registry, policy, keys, verifiers, upstream clients.
//!
//! [`Snapshot::build`] reads every file the config names and reports every
//! problem it finds (file and field), so `config check` and `serve` share one
//! code path and a config that checks clean is a config that starts. It runs
//! one builder per config section, each in the module that owns the section
//! (`identity::build`, `token::build`, `registry::build`, `policy::build`,
//! `approvals::build`, `admin::build`, `audit::build`; the snapshot's own
//! `[gateway]` and `[server]` in `settings`), all recording into one
//! `config::Problems` collector.

pub(crate) mod issuer_refresh;
mod settings;
pub(crate) mod state_refresh;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::admin::access::AdminAccess;
use crate::approvals::ApprovalStore;
use crate::audit::recent::RecentDecisions;
use crate::audit::{AuditLog, AuditSettings};
use crate::config::{one_problem, ConfigErrors, ConfigFile, ConfigProblem, Problems};
use crate::identity::{SpiffeClientVerifier, SpiffeId};
use crate::metrics::Metrics;
use crate::policy::{Policy, Rule};
use crate::registry::{Agent, Registry};
use crate::tls;
use crate::token::build::subject_issuers;
use crate::token::replay::ReplaySet;
use crate::token::signing_keys::PriorKeys;
use crate::token::{ActorTokenVerifier, KeySet, Minter, SigningKey, SubjectTokenVerifier};
use crate::upstream::UpstreamClient;

/// Timeouts and limits, resolved from the config.
#[derive(Debug, Clone)]
pub struct Limits {
    pub handshake_timeout: Duration,
    pub upstream_timeout: Duration,
    pub max_request_body: u64,
    pub token_ttl_secs: i64,
    pub max_chain_depth: usize,
    pub forward_client_address: bool,
    /// `gateway.strip_headers`, parsed once.
    pub strip_headers: Vec<http::HeaderName>,
}

/// Everything a request needs, immutable once built.
pub struct Snapshot {
    pub listen: SocketAddr,
    pub admin_listen: Option<SocketAddr>,
    /// Probes-and-metrics-only listener (`gateway.health_listen`).
    pub health_listen: Option<SocketAddr>,
    pub issuer: String,
    pub public_url: String,
    pub registry: Registry,
    pub policy: Policy,
    pub subject_tokens: SubjectTokenVerifier,
    /// JWT-SVID keys per trust domain, for `actor_token` at the token endpoint.
    pub actor_tokens: ActorTokenVerifier,
    /// Assertions the JWT bearer grant has used, kept across reloads (a
    /// reload must not make a used assertion usable again).
    pub assertions: Arc<ReplaySet>,
    pub minter: Minter,
    pub keys: Arc<KeySet>,
    /// `/.well-known/jwks.json`, serialised once: token keys only.
    pub jwks_json: Bytes,
    /// The keys that sign served cards (`[cards]`), never a token key.
    pub card_keys: Arc<KeySet>,
    /// [`crate::cards::sign::CARD_JWKS_PATH`], serialised once: card keys only.
    pub card_jwks_json: Bytes,
    /// Card keys replaced by a reload, published until the time given.
    pub retired_card_keys: Vec<(SigningKey, i64)>,
    /// `/.well-known/oauth-authorization-server`, serialised once.
    pub metadata_json: Bytes,
    pub tls: Arc<rustls::ServerConfig>,
    /// The client verifier inside `tls`: open connections re-check their
    /// certificate against it when a reload replaced it (CRLs, bundles).
    pub client_verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    pub upstreams: HashMap<String, UpstreamClient>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    /// Keys that signed tokens before the last rotation, with the time until
    /// which they stay published and accepted (`ttl` + leeway after they
    /// stopped signing), so tokens they signed keep verifying.
    pub retired_keys: Vec<(SigningKey, i64)>,
    /// `notAfter` of the listener's certificate (seconds since the epoch).
    pub server_cert_not_after: Option<i64>,
    /// When the signing key is due for rotation (`tokens.rotate_after`).
    pub signing_key_rotate_at: Option<i64>,
    /// The human approval store; kept across reloads while its directory
    /// stays the same.
    pub approvals: Option<Arc<ApprovalStore>>,
    /// Recent decisions for the console (kept across reloads).
    pub recent: Arc<RecentDecisions>,
    /// MCP sessions bound to their callers (kept across reloads).
    pub mcp_sessions: Arc<crate::mcp::session::Sessions>,
    /// Who may use the admin listener, and its TLS config under mTLS.
    pub admin: AdminAccess,
    /// Every file the config names (and the config itself): what a reload watches.
    pub files: Vec<std::path::PathBuf>,
    /// How often to look for changed files; `None` when watching is off.
    pub watch_interval: Option<Duration>,
    /// The resolved `[audit]` section.
    pub audit_settings: AuditSettings,
    /// Where request records go. Opened once by `server::start` and carried
    /// over by reloads (it owns the files); disabled in a gateway that was
    /// only built, e.g. by `config check`.
    pub audit: AuditLog,
    /// `[server]`: connection limits, idle and drain timeouts (used at start).
    pub conn_limits: crate::server::conn::ConnLimits,
    /// `[authorize]`: the user's side (authorization endpoint, consent and
    /// grants pages), when configured.
    pub user_auth: Option<Arc<crate::user_auth::UserAuth>>,
    /// The people's grants the authorization code and refresh grants
    /// redeem and the proxy checks tokens from them against: one store for
    /// the gateway's life (it holds its file's lock), kept across reloads
    /// while `[authorize]` names the same grants file;
    /// empty when there is no authorization endpoint (the token endpoint
    /// then refuses those grants and the proxy every token from a grant).
    pub grants: Arc<arc_swap::ArcSwapOption<crate::grants::GrantStore>>,
}

impl Snapshot {
    /// The authorization core as this snapshot configures it: the one
    /// [`crate::authorize`] every front door asks (the proxy route, the token
    /// endpoint, `actgate policy check`).
    pub fn core(&self) -> crate::authorize::Core<'_> {
        crate::authorize::Core {
            policy: &self.policy,
            issuer: self.minter.issuer(),
            token_ttl_secs: self.limits.token_ttl_secs,
            max_chain_depth: self.limits.max_chain_depth,
        }
    }
}

impl Snapshot {
    /// Build the live material from a parsed config file.
    pub fn build(cfg: &ConfigFile, metrics: Arc<Metrics>) -> Result<Snapshot, ConfigErrors> {
        Self::build_after(cfg, metrics, None)
    }

    /// Build new material to replace `previous` (a reload): signing keys that
    /// `previous` used and the new config no longer names stay published and
    /// accepted for one token lifetime plus leeway.
    pub fn build_after(
        cfg: &ConfigFile,
        metrics: Arc<Metrics>,
        prior: Option<&Snapshot>,
    ) -> Result<Snapshot, ConfigErrors> {
        let g = &cfg.raw.gateway;
        let mut p = Problems::new(cfg);
        let mut files = vec![cfg.path.clone()];
        // The sections, in the order their problems are reported.
        let set = settings::gateway(&mut p, cfg);
        let audit_settings = crate::audit::build::settings(&mut p, cfg);
        let server = settings::server(&mut p, cfg, &mut files);
        let mut actor_tokens = crate::token::build::actor_verifier(&set.issuer, &set.public_url);
        // [[trust_domain]]: one bundle per domain, never merged.
        let trust = crate::identity::build::trust_domains(&mut p, cfg, &mut files, |td, jwks| {
            actor_tokens.add_trust_domain(td, jwks)
        });
        // [tokens] and [cards]: one key each, never the same one.
        let own = crate::token::signing_keys::load_own(&mut p, cfg, &mut files, &set.public_url);
        let kept = prior.map(|g| &g.subject_tokens);
        let names = crate::token::build::Names {
            issuer: &set.issuer,
            public_url: &set.public_url,
        };
        let trusted = subject_issuers(&mut p, cfg, &mut files, &names, kept);
        let built = crate::registry::build::agents(
            &mut p,
            cfg,
            &mut files,
            &crate::registry::build::Context {
                issuer: &set.issuer,
                public_url: &set.public_url,
                roots_by_td: &trust.roots_by_td,
                card_signer: own.card_signer.clone(),
                connect_timeout: set.connect_timeout,
                metrics: &metrics,
                prior: prior.map(|g| &g.registry),
            },
        );
        let rules = rules(&mut p, cfg, &built.agents, &set.issuer, &mut files);
        let (approvals, approval_limits) = crate::approvals::build::approvals(
            &mut p,
            cfg,
            prior.and_then(|g| g.approvals.as_ref()),
        );
        let admin_plan = crate::admin::build::plan(&mut p, cfg, &mut files);
        let authorize_plan = crate::user_auth::build::plan(&mut p, cfg, &mut files);
        // Verifier and TLS config, only once the inputs are sound.
        let client_verifier =
            crate::identity::build::client_verifier(&mut p, trust.bundles, &metrics);
        let token_rotate_at = own.token_rotate_at;
        p.finish()?;

        // Every `take` above that returned None recorded a problem, so these are
        // all present here; the `else` arm is unreachable but keeps this panic-free.
        let (Some(chain), Some(key), Some(own_keys), Some(verifier)) =
            (server.chain, server.key, own.loaded(), client_verifier)
        else {
            return Err(incomplete(cfg));
        };
        let user_auth = crate::user_auth::build::finish(cfg, authorize_plan, (&chain, &key))?;
        let tls = listener_tls(cfg, (chain, key), verifier, admin_plan)?;
        let tokens = crate::token::build::finish(
            cfg,
            own_keys,
            prior.map(Snapshot::prior_keys).as_ref(),
            trusted,
            names,
            &crate::policy::scopes::scopes_supported(&rules, None),
            metrics.clone(),
        )?;
        // Nothing can fail past this point: a kept store takes the new limits.
        if let (Some(store), Some(limits)) = (&approvals, approval_limits) {
            store.set_limits(limits);
        }
        Ok(Snapshot {
            listen: g.listen,
            admin_listen: g.admin_listen,
            health_listen: g.health_listen,
            issuer: set.issuer,
            public_url: set.public_url,
            mcp_sessions: kept_mcp_sessions(prior, &built.mcp_servers),
            registry: Registry::new(built.agents).with_mcp_servers(built.mcp_servers),
            policy: Policy::new(rules),
            subject_tokens: tokens.subject_tokens,
            actor_tokens,
            assertions: prior.map(|g| g.assertions.clone()).unwrap_or_default(),
            minter: tokens.minter,
            keys: tokens.keys,
            jwks_json: tokens.jwks_json,
            card_keys: tokens.card_keys,
            card_jwks_json: tokens.card_jwks_json,
            retired_card_keys: tokens.retired_card_keys,
            metadata_json: tokens.metadata_json,
            tls: tls.server,
            client_verifier: tls.verifier,
            upstreams: built.upstreams,
            limits: set.limits,
            metrics,
            retired_keys: tokens.retired_keys,
            approvals,
            recent: kept_recent(prior, g.admin_listen.is_some()),
            admin: tls.admin,
            server_cert_not_after: tls.not_after,
            signing_key_rotate_at: token_rotate_at,
            files,
            watch_interval: set.watch_interval,
            audit_settings,
            audit: prior.map(|p| p.audit.clone()).unwrap_or_default(),
            conn_limits: server.conn_limits,
            grants: kept_grants(prior, user_auth.as_deref()),
            user_auth,
        })
    }

    /// What this snapshot published, for the one that replaces it.
    fn prior_keys(&self) -> PriorKeys<'_> {
        PriorKeys {
            token_ttl_secs: self.limits.token_ttl_secs,
            tokens: &self.keys,
            retired_tokens: &self.retired_keys,
            cards: &self.card_keys,
            retired_cards: &self.retired_card_keys,
        }
    }
}

/// The error for a config whose problems were all reported but left a part
/// missing (unreachable: every missing part recorded a problem).
fn incomplete(cfg: &ConfigFile) -> ConfigErrors {
    ConfigErrors(vec![ConfigProblem {
        location: cfg.path.display().to_string(),
        message: "incomplete configuration".into(),
    }])
}

/// The TLS side of the listeners, made once every section checked clean.
struct ListenerTls {
    server: Arc<rustls::ServerConfig>,
    /// The client verifier inside `server` (and the admin listener's).
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    admin: AdminAccess,
    /// `notAfter` of the listener's certificate (seconds since the epoch).
    not_after: Option<i64>,
}

fn listener_tls(
    cfg: &ConfigFile,
    (chain, key): (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    verifier: SpiffeClientVerifier,
    admin_plan: crate::admin::build::AdminPlan,
) -> Result<ListenerTls, ConfigErrors> {
    let tls12 = cfg.raw.gateway.tls12;
    let verifier: Arc<dyn rustls::server::danger::ClientCertVerifier> = Arc::new(verifier);
    let not_after = chain.first().and_then(|c| {
        x509_parser::parse_x509_certificate(c.as_ref())
            .ok()
            .map(|(_, x)| x.validity().not_after.timestamp())
    });
    let admin = crate::admin::build::finish(admin_plan, &chain, &key, verifier.clone(), tls12)
        .map_err(|e| one_problem(cfg, "admin.server_key", e.to_string()))?;
    let server = tls::server_config(chain, key, verifier.clone(), tls12)
        .map_err(|e| one_problem(cfg, "gateway.server_key", e.to_string()))?;
    Ok(ListenerTls {
        server: Arc::new(server),
        verifier,
        admin,
        not_after,
    })
}

/// `[[rule]]`, or the policy file gateway.policy names.
/// Skills are checked against the card in service now; an agent whose
/// card is still to be fetched has its skills checked per request.
fn rules(
    p: &mut Problems,
    cfg: &ConfigFile,
    agents: &[Agent],
    issuer: &str,
    files: &mut Vec<std::path::PathBuf>,
) -> Vec<Rule> {
    let raw = &cfg.raw;
    let live_cards: Vec<_> = raw
        .agent
        .iter()
        .map(|a| {
            agents
                .iter()
                .find(|x| x.name == a.name)
                .and_then(|x| x.card.live())
        })
        .collect();
    let agent_info: Vec<crate::policy::build::AgentInfo> = raw
        .agent
        .iter()
        .zip(&live_cards)
        .map(|(a, live)| crate::policy::build::AgentInfo {
            name: &a.name,
            spiffe_id: a.spiffe_id.as_deref().and_then(|s| SpiffeId::parse(s).ok()),
            card: live.as_deref().map(|l| &l.served.card),
        })
        .collect();
    let mut subject_issuers: Vec<&str> = raw
        .subject_issuer
        .iter()
        .map(|s| s.issuer.as_str())
        .collect();
    subject_issuers.push(issuer);
    // People's grants name their person as the login IdP does: rules may
    // hold such delegations to that issuer.
    if let Some(a) = &raw.authorize {
        subject_issuers.push(a.login.issuer.as_str());
    }
    let mcp_servers: Vec<&str> = raw.mcp_server.iter().map(|m| m.name.as_str()).collect();
    crate::policy::build::load(
        p,
        cfg,
        &crate::policy::build::Context {
            agents: &agent_info,
            subject_issuers: &subject_issuers,
            mcp_servers: &mcp_servers,
        },
        files,
    )
}

/// The recent-decisions ring, kept across reloads. It feeds the console
/// on the admin listener only, so without one it records nothing.
fn kept_recent(prior: Option<&Snapshot>, admin_listener: bool) -> Arc<RecentDecisions> {
    prior.map(|g| g.recent.clone()).unwrap_or_else(|| {
        Arc::new(match admin_listener {
            true => RecentDecisions::default(),
            false => RecentDecisions::disabled(),
        })
    })
}

/// MCP sessions survive a reload, unless a server they may belong to was
/// removed or now stands for another upstream or resource: a session must
/// not come back to life at a server of that name that is not the one it
/// was opened with (a session ID is the upstream's, meaningless or worse
/// at another). The table is then started afresh for every server (clients
/// open a new session on the 404, as the spec asks), which fails closed
/// without the table having to know which entries were whose.
fn kept_mcp_sessions(
    prior: Option<&Snapshot>,
    servers: &[crate::registry::McpServer],
) -> Arc<crate::mcp::session::Sessions> {
    let Some(prior) = prior else {
        return Arc::default();
    };
    let removed = prior.registry.mcp_servers().any(|old| {
        !servers
            .iter()
            .any(|s| s.name == old.name && s.upstream == old.upstream && s.resource == old.resource)
    });
    if removed {
        Arc::default()
    } else {
        prior.mcp_sessions.clone()
    }
}

/// The grant store slot a new snapshot serves from: the prior one's while
/// `[authorize]` still names the same grants file (the open store holds
/// its file's lock), else an empty one, so removing `[authorize]` stops
/// the code and refresh grants and every token from a grant at once.
fn kept_grants(
    prior: Option<&Snapshot>,
    user_auth: Option<&crate::user_auth::UserAuth>,
) -> Arc<arc_swap::ArcSwapOption<crate::grants::GrantStore>> {
    let same_file = |p: &Snapshot| {
        matches!(
            (p.user_auth.as_deref(), user_auth),
            (Some(old), Some(new)) if old.grants_file == new.grants_file
        )
    };
    match prior {
        Some(p) if same_file(p) => p.grants.clone(),
        _ => Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// One problem in each of several sections: a build reports them all,
    /// in the order the section builders run, each under its field.
    #[test]
    fn every_section_reports_its_problems_in_one_build() {
        let text = r#"
[gateway]
listen = "127.0.0.1:1"
issuer = "http://gw.example"
public_url = "https://gw.example"
server_cert = "missing/gateway.pem"
server_key = "missing/gateway.key"
upstream_timeout = "soon"

[audit]
max_file_size = 10

[tokens]
signing_key = "missing/token.key"

[[agent]]
name = "bad name"
upstream = "http://127.0.0.1:2"
card = "missing/card.json"

[[rule]]
caller_trust_domain = "example.org"
agent = "nobody"
"#;
        let cfg = ConfigFile::parse(Path::new("/nonexistent/gw.toml"), text).unwrap();
        let Err(err) = Snapshot::build(&cfg, Arc::default()) else {
            panic!("a config with problems built");
        };
        let fields: Vec<&str> = err
            .0
            .iter()
            .map(|p| {
                p.location
                    .strip_prefix("/nonexistent/gw.toml: ")
                    .unwrap_or(&p.location)
            })
            .collect();
        assert_eq!(
            fields,
            [
                "gateway.issuer",
                "gateway.upstream_timeout",
                "audit.max_file_size",
                "gateway.server_cert",
                "gateway.server_key",
                "[[trust_domain]]",
                "tokens.signing_key",
                "cards.signing_key",
                "agent[0].name",
                "rule[0].agent",
            ],
            "{err}"
        );
    }
}
