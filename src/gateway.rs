//! The live material of a running gateway — one immutable snapshot built from a
//! config file: TLS config, registry, policy, keys, verifiers, upstream clients.
//!
//! [`Gateway::build`] reads every file the config names and reports every
//! problem it finds (file and field), so `config check` and `serve` share one
//! code path and a config that checks clean is a config that starts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Uri;

use crate::admin::AdminAccess;
use crate::approvals::ApprovalStore;
use crate::audit::{AuditLog, AuditSettings};
use crate::card_source::{CardContext, CardSlot, FetchSpec};
use crate::cards::requirements::Capabilities;
use crate::config::{
    parse_duration, valid_agent_name, ConfigErrors, ConfigFile, ConfigProblem, Disposition,
    RevocationScope,
};
use crate::identity::verifier::{
    crls_from_pem, RevocationPolicy, SpiffeClientVerifier, TrustDomainBundle,
};
use crate::identity::{SpiffeId, TrustDomain};
use crate::metrics::Metrics;
use crate::policy::scopes::scopes_supported;
use crate::policy::Policy;
use crate::recent::RecentDecisions;
use crate::registry::{Agent, Registry};
use crate::tls;
use crate::token::{
    metadata, ActorTokenVerifier, KeySet, Minter, SigningKey, SubjectTokenVerifier, TrustedIssuer,
};
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
pub struct Gateway {
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
    pub conn_limits: crate::listener::ConnLimits,
}

/// Collects problems while building, so one run reports them all.
pub(crate) struct Problems<'a> {
    cfg: &'a ConfigFile,
    list: Vec<ConfigProblem>,
}

impl Problems<'_> {
    pub(crate) fn add(&mut self, field: impl std::fmt::Display, message: impl Into<String>) {
        self.list.push(ConfigProblem {
            location: self.cfg.at(field),
            message: message.into(),
        });
    }

    /// Record the error of `r` under `field`, returning the value if any.
    pub(crate) fn take<T, E: std::fmt::Display>(
        &mut self,
        field: impl std::fmt::Display,
        r: Result<T, E>,
    ) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    pub(crate) fn duration(&mut self, field: &str, s: &str) -> Duration {
        self.take(field, parse_duration(s))
            .unwrap_or(Duration::from_secs(1))
    }
}

impl Gateway {
    /// Build the live material from a parsed config file.
    pub fn build(cfg: &ConfigFile, metrics: Arc<Metrics>) -> Result<Gateway, ConfigErrors> {
        Self::build_after(cfg, metrics, None)
    }

    /// Build new material to replace `previous` (a reload): signing keys that
    /// `previous` used and the new config no longer names stay published and
    /// accepted for one token lifetime plus leeway.
    pub fn build_after(
        cfg: &ConfigFile,
        metrics: Arc<Metrics>,
        prior: Option<&Gateway>,
    ) -> Result<Gateway, ConfigErrors> {
        let raw = &cfg.raw;
        let g = &raw.gateway;
        let mut p = Problems {
            cfg,
            list: Vec::new(),
        };

        // [gateway]
        let issuer = g.issuer.trim_end_matches('/').to_string();
        check_url(&mut p, "gateway.issuer", &issuer, true);
        let public_url = g.public_url.trim_end_matches('/').to_string();
        check_url(&mut p, "gateway.public_url", &public_url, false);
        let limits = Limits {
            handshake_timeout: p.duration("gateway.handshake_timeout", &g.handshake_timeout),
            upstream_timeout: p.duration("gateway.upstream_timeout", &g.upstream_timeout),
            max_request_body: g.max_request_body,
            token_ttl_secs: p.duration("tokens.ttl", &raw.tokens.ttl).as_secs().max(1) as i64,
            max_chain_depth: raw.tokens.max_chain_depth,
            forward_client_address: g.forward_client_address,
            strip_headers: p
                .take(
                    "gateway.strip_headers",
                    crate::proxy::headers::parse_header_names(&g.strip_headers),
                )
                .unwrap_or_default(),
        };
        let connect_timeout = p.duration(
            "gateway.upstream_connect_timeout",
            &g.upstream_connect_timeout,
        );
        let watch_interval = p.duration("gateway.watch_interval", &g.watch_interval);
        let audit_settings = audit_settings(&mut p, cfg);
        let conn_limits =
            match crate::listener::ConnLimits::from_section(&raw.server, |f| cfg.at(f)) {
                Ok(l) => l,
                Err(problems) => {
                    p.list.extend(problems);
                    crate::listener::ConnLimits::default()
                }
            };
        if let Err(e) = crate::logging::check(&raw.log) {
            p.add("log.level", e);
        }
        if raw.tokens.max_chain_depth == 0 {
            p.add("tokens.max_chain_depth", "must be at least 1");
        }
        let server_chain = p.take(
            "gateway.server_cert",
            tls::load_certs(&cfg.resolve(&g.server_cert)),
        );
        let server_key = p.take(
            "gateway.server_key",
            tls::load_key(&cfg.resolve(&g.server_key)),
        );

        let mut files = vec![cfg.path.clone()];
        files.push(cfg.resolve(&g.server_cert));
        files.push(cfg.resolve(&g.server_key));

        // JWT-SVID authorities (`jwt_bundle`); an actor token must name the
        // gateway (its issuer or token endpoint) as audience.
        let mut actor_tokens =
            ActorTokenVerifier::new(vec![issuer.clone(), metadata::token_endpoint(&public_url)]);

        // [[trust_domain]]: one bundle per domain, never merged.
        let mut bundles: Vec<TrustDomainBundle> = Vec::new();
        let mut roots_by_td: HashMap<String, Vec<rustls::pki_types::CertificateDer<'static>>> =
            HashMap::new();
        if raw.trust_domain.is_empty() {
            p.add(
                "[[trust_domain]]",
                "no trust domain configured: no caller could ever be accepted",
            );
        }
        for (i, td) in raw.trust_domain.iter().enumerate() {
            let field = format!("trust_domain[{i}]");
            let Some(name) = p.take(format!("{field}.name"), TrustDomain::parse(&td.name)) else {
                continue;
            };
            if roots_by_td.contains_key(name.as_str()) {
                p.add(
                    format!("{field}.name"),
                    format!("trust domain {name} is configured twice"),
                );
                continue;
            }
            files.push(cfg.resolve(&td.bundle));
            let mut crls = Vec::new();
            for (j, path) in td.crls.iter().enumerate() {
                let full = cfg.resolve(path);
                files.push(full.clone());
                let loaded = std::fs::read_to_string(&full)
                    .map_err(|e| format!("{}: cannot read: {e}", full.display()))
                    .and_then(|pem| {
                        crls_from_pem(&pem).map_err(|e| format!("{}: {e}", full.display()))
                    });
                if let Some(c) = p.take(format!("{field}.crls[{j}]"), loaded) {
                    crls.extend(c);
                }
            }
            if let Some(path) = &td.jwt_bundle {
                let full = cfg.resolve(path);
                files.push(full.clone());
                let added = std::fs::read_to_string(&full)
                    .map_err(|e| format!("{}: cannot read: {e}", full.display()))
                    .and_then(|text| {
                        actor_tokens
                            .add_trust_domain(name.as_str(), &text)
                            .map_err(|e| format!("{}: {e}", full.display()))
                    });
                p.take(format!("{field}.jwt_bundle"), added);
            }
            let max_lifetime_secs = td.max_certificate_lifetime.as_ref().map(|s| {
                p.duration(&format!("{field}.max_certificate_lifetime"), s)
                    .as_secs() as i64
            });
            let bundle_path = cfg.resolve(&td.bundle);
            let roots = std::fs::read(&bundle_path)
                .map_err(|e| format!("{}: cannot read: {e}", bundle_path.display()))
                .and_then(|bytes| {
                    crate::pki::load_bundle_any(&bytes)
                        .map_err(|e| format!("{}: {e}", bundle_path.display()))
                });
            if let Some(roots) = p.take(format!("{field}.bundle"), roots) {
                roots_by_td.insert(name.as_str().to_string(), roots.clone());
                let mut b = TrustDomainBundle::new(name, roots).with_crls(crls);
                b.revocation = RevocationPolicy {
                    end_entity_only: td.revocation_scope == RevocationScope::Leaf,
                    allow_unknown_status: td.unknown_revocation_status == Disposition::Allow,
                    enforce_expiration: td.expired_crl == Disposition::Reject,
                };
                b.max_lifetime_secs = max_lifetime_secs;
                bundles.push(b);
            }
        }

        // [tokens] and [cards]: one key each, never the same one.
        let own = crate::signing_keys::load_own(&mut p, cfg, &mut files, &public_url);
        let card_signer = own.card_signer.clone();

        // [[subject_issuer]]
        let mut trusted = Vec::new();
        for (i, si) in raw.subject_issuer.iter().enumerate() {
            let field = format!("subject_issuer[{i}]");
            if si.issuer.trim_end_matches('/') == issuer {
                p.add(
                    format!("{field}.issuer"),
                    "is the gateway's own issuer; its tokens are verified with the gateway's keys",
                );
                continue;
            }
            let full = cfg.resolve(&si.jwks);
            files.push(full.clone());
            let Some(text) = p.take(
                format!("{field}.jwks"),
                std::fs::read_to_string(&full)
                    .map_err(|e| format!("{}: cannot read: {e}", full.display())),
            ) else {
                continue;
            };
            if let Some(ti) = p.take(
                format!("{field}.jwks"),
                TrustedIssuer::from_jwks_json(&si.issuer, &si.audience, &text)
                    .map_err(|e| format!("{}: {e}", full.display())),
            ) {
                trusted.push(ti);
            }
        }

        // [[agent]]
        let upstream_client_material = match (&g.upstream_client_cert, &g.upstream_client_key) {
            (Some(c), Some(k)) => {
                files.push(cfg.resolve(c));
                files.push(cfg.resolve(k));
                let chain = p.take(
                    "gateway.upstream_client_cert",
                    tls::load_certs(&cfg.resolve(c)),
                );
                let key = p.take(
                    "gateway.upstream_client_key",
                    tls::load_key(&cfg.resolve(k)),
                );
                chain.zip(key)
            }
            (None, None) => None,
            _ => {
                p.add(
                    "gateway.upstream_client_cert",
                    "upstream_client_cert and upstream_client_key go together",
                );
                None
            }
        };
        let td_names: Vec<String> = raw.trust_domain.iter().map(|t| t.name.clone()).collect();
        let mut agents = Vec::new();
        let mut upstreams = HashMap::new();
        let mut names = std::collections::HashSet::new();
        for (i, a) in raw.agent.iter().enumerate() {
            let field = format!("agent[{i}]");
            if !valid_agent_name(&a.name) {
                p.add(
                    format!("{field}.name"),
                    format!("\"{}\" is not a valid agent name (letters, digits, '.', '_', '-'; at most 64)", a.name),
                );
                continue;
            }
            let field = format!("agent[{i}] ({})", a.name);
            if !names.insert(a.name.clone()) {
                p.add(format!("{field}.name"), "agent name is used twice");
                continue;
            }
            let upstream: Option<Uri> = match a.upstream.trim_end_matches('/').parse::<Uri>() {
                Ok(u)
                    if matches!(u.scheme_str(), Some("http") | Some("https"))
                        && u.host().is_some() =>
                {
                    if u.query().is_some() {
                        p.add(
                            format!("{field}.upstream"),
                            "must not contain a query string",
                        );
                        None
                    } else {
                        Some(u)
                    }
                }
                _ => {
                    p.add(
                        format!("{field}.upstream"),
                        format!(
                            "\"{}\" is not an absolute http:// or https:// URL",
                            a.upstream
                        ),
                    );
                    None
                }
            };
            let spiffe_id = match &a.spiffe_id {
                Some(s) => p.take(format!("{field}.spiffe_id"), SpiffeId::parse(s)),
                None => None,
            };
            let resource = a
                .resource
                .clone()
                .unwrap_or_else(|| format!("{public_url}/agents/{}", a.name));
            let Some(upstream) = upstream else { continue };
            let api_keys = load_api_keys(&mut p, cfg, &field, &a.api_key);
            let caps = Capabilities {
                mtls_to_upstream: upstream.scheme_str() == Some("https")
                    && upstream_client_material.is_some(),
                gateway_token_issuers: vec![issuer.clone(), public_url.clone()],
                accept_gateway_token_schemes: a.accept_gateway_token.iter().cloned().collect(),
                api_keys: api_keys.iter().map(|(s, _)| s.clone()).collect(),
            };
            let card_keys = match &a.card_signing_keys {
                None => None,
                Some(f) => {
                    let full = cfg.resolve(f);
                    files.push(full.clone());
                    let keys = std::fs::read(&full)
                        .map_err(|e| format!("{}: cannot read: {e}", full.display()))
                        .and_then(|b| {
                            serde_json::from_slice(&b)
                                .map_err(|e| format!("{}: not JSON: {e}", full.display()))
                        })
                        .and_then(|v| {
                            crate::cards::sign::keys_from_jwks(&v)
                                .map_err(|e| format!("{}: {e}", full.display()))
                        })
                        .and_then(|k| {
                            if k.is_empty() {
                                Err(format!("{}: the JWKS has no keys", full.display()))
                            } else {
                                Ok(k)
                            }
                        });
                    match p.take(format!("{field}.card_signing_keys"), keys) {
                        Some(k) => Some(k),
                        None => continue,
                    }
                }
            };
            let fetch = if a.fetch_card {
                let every = p.duration(
                    &format!("{field}.card_refresh"),
                    a.card_refresh.as_deref().unwrap_or("5m"),
                );
                let path = a
                    .card_path
                    .as_deref()
                    .unwrap_or(crate::card_source::DEFAULT_CARD_PATH);
                p.take(
                    format!("{field}.card_path"),
                    crate::card_source::card_uri(&upstream, path),
                )
                .map(|uri| FetchSpec { uri, every })
            } else {
                if a.card_path.is_some() || a.card_refresh.is_some() {
                    p.add(
                        format!("{field}.fetch_card"),
                        "card_path and card_refresh apply only with fetch_card = true",
                    );
                }
                None
            };
            let slot = CardSlot::new(
                CardContext {
                    agent: a.name.clone(),
                    caps,
                    route_base: format!("{public_url}/agents/{}", a.name),
                    upstream_base: upstream.to_string(),
                    trust_domains: td_names.clone(),
                    card_keys,
                    signer: card_signer.clone(),
                    api_keys,
                },
                fetch,
            );
            match &a.card {
                Some(card) => {
                    let card_path = cfg.resolve(card);
                    files.push(card_path.clone());
                    let origin = card_path.display().to_string();
                    let live = std::fs::read(&card_path)
                        .map_err(|e| format!("{origin}: cannot read: {e}"))
                        .and_then(|bytes| slot.context().build(&bytes, &origin, false));
                    match p.take(format!("{field}.card"), live) {
                        Some(live) => slot.set(live),
                        None => continue,
                    }
                }
                None if !a.fetch_card => {
                    p.add(
                        format!("{field}.card"),
                        "give the agent's card: a file (card = \"agent-cards/NAME.json\"), fetch_card = true, or both",
                    );
                    continue;
                }
                None => {}
            }
            // A reload keeps the card last fetched (rebuilt under the new
            // settings) until the first fetch of the new snapshot.
            if let Some(prior) = prior.and_then(|g| g.registry.get(&a.name)) {
                slot.seed_from(&prior.card);
            }
            let tls_upstream = upstream.scheme_str() == Some("https");
            let client = if tls_upstream {
                let Some(id) = spiffe_id.clone() else {
                    p.add(
                        format!("{field}.spiffe_id"),
                        "an https upstream is authenticated by its SPIFFE ID; set spiffe_id",
                    );
                    continue;
                };
                let Some(roots) = roots_by_td.get(id.trust_domain()) else {
                    p.add(
                        format!("{field}.spiffe_id"),
                        format!(
                            "no [[trust_domain]] bundle for {} to verify the upstream with",
                            id.trust_domain()
                        ),
                    );
                    continue;
                };
                let Some((chain, key)) = upstream_client_material
                    .as_ref()
                    .map(|(c, k)| (c.clone(), k.clone_key()))
                else {
                    p.add(
                        format!("{field}.upstream"),
                        "https upstreams need gateway.upstream_client_cert and upstream_client_key",
                    );
                    continue;
                };
                let Some(cc) = p.take(
                    format!("{field}.upstream"),
                    tls::upstream_client_config(id, roots, chain, key),
                ) else {
                    continue;
                };
                UpstreamClient::tls(cc, connect_timeout)
            } else {
                UpstreamClient::plain(connect_timeout)
            };
            upstreams.insert(a.name.clone(), client);
            agents.push(Agent {
                name: a.name.clone(),
                upstream,
                upstream_tls: tls_upstream,
                spiffe_id,
                resource,
                card: slot,
                decisions: metrics.decision_counters(&a.name),
            });
        }

        // [[rule]], or the policy file gateway.policy names.
        // Skills are checked against the card in service now; an agent whose
        // card is still to be fetched has its skills checked per request.
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
        subject_issuers.push(&issuer);
        let rules = crate::policy::build::load(
            cfg,
            &crate::policy::build::Context {
                agents: &agent_info,
                subject_issuers: &subject_issuers,
            },
            &mut p.list,
            &mut files,
        );
        drop(agent_info);

        // [approvals] and [admin]
        let (approvals, approval_limits) = crate::admin::build::approvals(&mut p, cfg, prior);
        let admin_plan = crate::admin::build::plan(&mut p, cfg, &mut files);

        // Verifier and TLS config, only once the inputs are sound.
        let client_verifier = if bundles.is_empty() {
            None
        } else {
            p.take(
                "[[trust_domain]]",
                SpiffeClientVerifier::new(bundles, tls::provider(), metrics.clone()),
            )
        };

        if !p.list.is_empty() {
            return Err(ConfigErrors(p.list));
        }
        // Every `take` above that returned None recorded a problem, so these
        // are all present here; the `else` arms are unreachable but keep the
        // code panic-free.
        let (Some(chain), Some(key), Some(current), Some(card_current), Some(verifier)) = (
            server_chain,
            server_key,
            own.tokens.current,
            own.cards.current,
            client_verifier,
        ) else {
            return Err(ConfigErrors(vec![ConfigProblem {
                location: cfg.path.display().to_string(),
                message: "incomplete configuration".into(),
            }]));
        };
        let verifier: Arc<dyn rustls::server::danger::ClientCertVerifier> = Arc::new(verifier);
        let server_cert_not_after = chain.first().and_then(|c| {
            x509_parser::parse_x509_certificate(c.as_ref())
                .ok()
                .map(|(_, x)| x.validity().not_after.timestamp())
        });
        let admin =
            crate::admin::build::finish(admin_plan, &chain, &key, verifier.clone(), g.tls12)
                .map_err(|e| one(cfg, "admin.server_key", e.to_string()))?;
        let server_tls = tls::server_config(chain, key, verifier.clone(), g.tls12)
            .map_err(|e| one(cfg, "gateway.server_key", e.to_string()))?;
        // Keys the previous material signed with stay verifiable for one token
        // lifetime (plus leeway) after they stop signing.
        let published = crate::signing_keys::publish(
            (current, own.tokens.previous),
            (card_current, own.cards.previous),
            prior,
            crate::unix_now(),
        )
        .map_err(|e| one(cfg, "cards.signing_key", e.to_string()))?;
        let keys = published.tokens;
        let card_keys = published.cards;
        let subject_tokens = SubjectTokenVerifier::new(issuer.clone(), &keys, trusted)
            .map_err(|e| one(cfg, "[[subject_issuer]]", e.to_string()))?;
        let jwks_json = Bytes::from(keys.jwks().to_string());
        let card_jwks_json = Bytes::from(card_keys.jwks().to_string());
        let metadata_json = Bytes::from(
            metadata::authorization_server(&issuer, &public_url, &scopes_supported(&rules, None))
                .to_string(),
        );
        let minter = Minter::new(
            keys.clone(),
            issuer.clone(),
            raw.tokens.cache,
            metrics.clone(),
        );
        // Nothing can fail past this point: a kept store takes the new limits.
        if let (Some(store), Some(limits)) = (&approvals, approval_limits) {
            store.set_limits(limits);
        }
        Ok(Gateway {
            listen: g.listen,
            admin_listen: g.admin_listen,
            health_listen: g.health_listen,
            issuer,
            public_url,
            registry: Registry::new(agents),
            policy: Policy::new(rules),
            subject_tokens,
            actor_tokens,
            minter,
            keys,
            jwks_json,
            card_keys,
            card_jwks_json,
            retired_card_keys: published.retired_cards,
            metadata_json,
            tls: Arc::new(server_tls),
            client_verifier: verifier,
            upstreams,
            limits,
            metrics,
            retired_keys: published.retired_tokens,
            approvals,
            // The ring feeds the console on the admin listener only.
            recent: prior.map(|g| g.recent.clone()).unwrap_or_else(|| {
                Arc::new(if g.admin_listen.is_some() {
                    RecentDecisions::default()
                } else {
                    RecentDecisions::disabled()
                })
            }),
            admin,
            server_cert_not_after,
            signing_key_rotate_at: own.token_rotate_at,
            files,
            watch_interval: if g.watch_files {
                Some(watch_interval)
            } else {
                None
            },
            audit_settings,
            audit: prior.map(|p| p.audit.clone()).unwrap_or_default(),
            conn_limits,
        })
    }
}

/// `[audit]`, checked; the directory resolved against the config file.
fn audit_settings(p: &mut Problems, cfg: &ConfigFile) -> AuditSettings {
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
    }
}

fn one(cfg: &ConfigFile, field: &str, message: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigProblem {
        location: cfg.at(field),
        message,
    }])
}

fn check_url(p: &mut Problems, field: &str, url: &str, https_only: bool) {
    match url.parse::<Uri>() {
        Ok(u) if u.host().is_some() && matches!(u.scheme_str(), Some("https") | Some("http")) => {
            if https_only && u.scheme_str() != Some("https") {
                p.add(field, format!("\"{url}\" must be an https URL"));
            }
            if u.query().is_some() {
                p.add(field, format!("\"{url}\" must not carry a query"));
            }
        }
        _ => p.add(field, format!("\"{url}\" is not an absolute http(s) URL")),
    }
}

/// Read each `[[agent.api_key]]`: exactly one source, a non-empty key that
/// is a valid header value. The key itself never appears in a message.
fn load_api_keys(
    p: &mut Problems,
    cfg: &ConfigFile,
    field: &str,
    keys: &[crate::config::ApiKeySection],
) -> Vec<(String, http::HeaderValue)> {
    let mut out = Vec::new();
    for (j, k) in keys.iter().enumerate() {
        let at = format!("{field}.api_key[{j}]");
        let value = match (&k.file, &k.env) {
            (Some(f), None) => {
                let full = cfg.resolve(f);
                std::fs::read_to_string(&full)
                    .map_err(|e| format!("{}: cannot read: {e}", full.display()))
            }
            (None, Some(var)) => std::env::var(var)
                .map_err(|_| format!("environment variable {var} is not set (or not UTF-8)")),
            _ => Err("give exactly one of file and env".to_string()),
        };
        let Some(value) = p.take(&at, value) else {
            continue;
        };
        let value = value.trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            p.add(&at, "the API key is empty");
            continue;
        }
        match http::HeaderValue::from_str(value) {
            Ok(mut v) => {
                v.set_sensitive(true);
                out.push((k.scheme.clone(), v));
            }
            Err(_) => p.add(
                &at,
                "the API key contains characters not allowed in a header",
            ),
        }
    }
    out
}
