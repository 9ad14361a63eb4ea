//! The `[[agent]]` part of building a snapshot: each agent's upstream, card
//! slot (file, fetch, signing keys, API keys) and upstream client. An agent
//! with any problem is left out (its problems are recorded), so a mistake can
//! only refuse calls, never allow them.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use http::Uri;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{Agent, Registry};
use crate::cards::requirements::Capabilities;
use crate::cards::sign::{CardSigner, VerificationKey};
use crate::config::{valid_agent_name, AgentSection, ApiKeySection, ConfigFile, Problems};
use crate::identity::SpiffeId;
use crate::metrics::Metrics;
use crate::registry::card_slot::{CardContext, CardError, CardSlot, FetchSpec};
use crate::tls;
use crate::upstream::UpstreamClient;

/// What agents are built with, from the other sections.
pub(crate) struct Context<'a> {
    /// `gateway.issuer` and `gateway.public_url`, without a trailing `/`.
    pub issuer: &'a str,
    pub public_url: &'a str,
    /// The roots of each trust domain, to verify https upstreams with.
    pub roots_by_td: &'a HashMap<String, Vec<CertificateDer<'static>>>,
    /// The gateway's card key, to re-sign served cards.
    pub card_signer: Option<CardSigner>,
    pub connect_timeout: Duration,
    pub metrics: &'a Metrics,
    /// The registry being replaced (a reload): its cards seed the new slots.
    pub prior: Option<&'a Registry>,
}

/// The agents that loaded, with the upstream client of each (by name), and
/// the MCP servers that loaded.
pub(crate) struct Agents {
    pub agents: Vec<Agent>,
    pub upstreams: HashMap<String, UpstreamClient>,
    pub mcp_servers: Vec<super::McpServer>,
}

/// The gateway's client certificate for https upstreams.
type ClientMaterial = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// Per-agent inputs shared by every agent of one build.
pub(super) struct Shared<'a> {
    pub(super) ctx: &'a Context<'a>,
    material: Option<ClientMaterial>,
    td_names: Vec<String>,
}

/// Load every `[[agent]]` (its files are added to `files`).
pub(crate) fn agents(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
    ctx: &Context<'_>,
) -> Agents {
    let shared = Shared {
        ctx,
        material: client_material(p, cfg, files),
        td_names: cfg
            .raw
            .trust_domain
            .iter()
            .map(|t| t.name.clone())
            .collect(),
    };
    let mut out = Agents {
        agents: Vec::new(),
        upstreams: HashMap::new(),
        mcp_servers: Vec::new(),
    };
    let mut names = HashSet::new();
    for (i, a) in cfg.raw.agent.iter().enumerate() {
        let Some(field) = route_name(p, ("agent", "agent"), i, &a.name, &mut names) else {
            continue;
        };
        if let Some((agent, client)) = agent(p, cfg, files, &shared, &field, a) {
            out.upstreams.insert(a.name.clone(), client);
            out.agents.push(agent);
        }
    }
    out.mcp_servers = super::mcp::servers(p, &cfg.raw.mcp_server, &shared);
    distinct_audiences(p, &out);
    out
}

/// Every route's audiences are its own: a user token is accepted on the
/// route whose `resource` (or MCP `local_resources`) it names, so one URL
/// claimed by two routes would let a token for one be used on the other.
fn distinct_audiences(p: &mut Problems, out: &Agents) {
    let mut owner: HashMap<&str, String> = HashMap::new();
    for a in &out.agents {
        if let Some(other) = owner.insert(a.resource.as_str(), format!("agent {:?}", a.name)) {
            p.add(
                format!("agent ({}).resource", a.name),
                format!(
                    "\"{}\" is already the resource of {other}: every route needs its own",
                    a.resource
                ),
            );
        }
    }
    for m in &out.mcp_servers {
        for aud in &m.audiences {
            let this = format!("mcp_server {:?}", m.name);
            match owner.get(aud.as_str()) {
                Some(other) if *other != this => p.add(
                    format!("mcp_server ({}).resource/local_resources", m.name),
                    format!(
                        "\"{aud}\" is already the resource of {other}: every route needs its own"
                    ),
                ),
                _ => {
                    owner.insert(aud.as_str(), this);
                }
            }
        }
    }
}

/// The `name` of entry `i` of `section` (`(section, what it is called)`):
/// valid in a URL and not used twice. The field prefix for its other
/// problems, `None` when it has one (recorded).
pub(super) fn route_name(
    p: &mut Problems,
    (section, what): (&str, &str),
    i: usize,
    name: &str,
    seen: &mut HashSet<String>,
) -> Option<String> {
    if !valid_agent_name(name) {
        p.add(
            format!("{section}[{i}].name"),
            format!(
                "\"{name}\" is not a valid {what} name (letters, digits, '.', '_', '-'; at most 64)"
            ),
        );
        return None;
    }
    let field = format!("{section}[{i}] ({name})");
    if !seen.insert(name.to_owned()) {
        p.add(
            format!("{field}.name"),
            format!("{what} name is used twice"),
        );
        return None;
    }
    Some(field)
}

/// `gateway.upstream_client_cert` and `upstream_client_key`, both or neither.
fn client_material(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
) -> Option<ClientMaterial> {
    let g = &cfg.raw.gateway;
    match (&g.upstream_client_cert, &g.upstream_client_key) {
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
    }
}

/// One agent, `None` when it has a problem (recorded under `field`).
fn agent(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
    shared: &Shared<'_>,
    field: &str,
    a: &AgentSection,
) -> Option<(Agent, UpstreamClient)> {
    let ctx = shared.ctx;
    let upstream = upstream_uri(p, field, &a.upstream);
    let spiffe_id = match &a.spiffe_id {
        Some(s) => p.take(format!("{field}.spiffe_id"), SpiffeId::parse(s)),
        None => None,
    };
    let resource = a
        .resource
        .clone()
        .unwrap_or_else(|| format!("{}/agents/{}", ctx.public_url, a.name));
    let upstream = upstream?;
    let api_keys = load_api_keys(p, cfg, field, &a.api_key);
    let caps = Capabilities {
        mtls_to_upstream: upstream.scheme_str() == Some("https") && shared.material.is_some(),
        gateway_token_issuers: vec![ctx.issuer.to_string(), ctx.public_url.to_string()],
        accept_gateway_token_schemes: a.accept_gateway_token.iter().cloned().collect(),
        api_keys: api_keys.iter().map(|(s, _)| s.clone()).collect(),
    };
    let card_keys = card_keys(p, cfg, files, field, a)?;
    let fetch = fetch_spec(p, field, a, &upstream);
    let slot = CardSlot::new(
        CardContext {
            agent: a.name.clone(),
            caps,
            route_base: format!("{}/agents/{}", ctx.public_url, a.name),
            upstream_base: upstream.to_string(),
            trust_domains: shared.td_names.clone(),
            card_keys,
            signer: ctx.card_signer.clone(),
            api_keys,
        },
        fetch,
    );
    load_card(p, cfg, files, field, a, &slot)?;
    // A reload keeps the card last fetched (rebuilt under the new
    // settings) until the first fetch of the new snapshot.
    if let Some(prior) = ctx.prior.and_then(|r| r.get(&a.name)) {
        slot.seed_from(&prior.card);
    }
    let tls_upstream = upstream.scheme_str() == Some("https");
    let client = if tls_upstream {
        tls_client(p, field, spiffe_id.clone(), shared)?
    } else {
        UpstreamClient::plain(ctx.connect_timeout)
    };
    let agent = Agent {
        name: a.name.clone(),
        upstream,
        upstream_tls: tls_upstream,
        spiffe_id,
        resource,
        card: slot,
        metrics: ctx.metrics.target(&a.name),
    };
    Some((agent, client))
}

/// `agent.upstream`: an absolute http(s) URL without a query.
pub(super) fn upstream_uri(p: &mut Problems, field: &str, upstream: &str) -> Option<Uri> {
    match upstream.trim_end_matches('/').parse::<Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http") | Some("https")) && u.host().is_some() => {
            if u.query().is_some() {
                p.add(
                    format!("{field}.upstream"),
                    "must not contain a query string",
                );
                None
            } else if u.authority().is_some_and(|a| a.as_str().contains('@')) {
                // The URL is shown in the console, the admin API and logs;
                // credentials in it would be shown with it.
                p.add(
                    format!("{field}.upstream"),
                    "must not contain credentials (user:password@)",
                );
                None
            } else {
                Some(u)
            }
        }
        _ => {
            p.add(
                format!("{field}.upstream"),
                format!("\"{upstream}\" is not an absolute http:// or https:// URL"),
            );
            None
        }
    }
}

/// `agent.card_signing_keys`: `Some(None)` when not configured, `None` when
/// the JWKS file is unusable (recorded).
fn card_keys(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
    field: &str,
    a: &AgentSection,
) -> Option<Option<Vec<VerificationKey>>> {
    let Some(f) = &a.card_signing_keys else {
        return Some(None);
    };
    let full = cfg.resolve(f);
    files.push(full.clone());
    let keys = std::fs::read(&full)
        .map_err(|e| format!("{}: cannot read: {e}", full.display()))
        .and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| format!("{}: not JSON: {e}", full.display()))
        })
        .and_then(|v| {
            crate::cards::sign::keys_from_jwks(&v).map_err(|e| format!("{}: {e}", full.display()))
        })
        .and_then(|k| {
            if k.is_empty() {
                Err(format!("{}: the JWKS has no keys", full.display()))
            } else {
                Ok(k)
            }
        });
    p.take(format!("{field}.card_signing_keys"), keys).map(Some)
}

/// `agent.fetch_card` with `card_path` and `card_refresh`.
fn fetch_spec(
    p: &mut Problems,
    field: &str,
    a: &AgentSection,
    upstream: &Uri,
) -> Option<FetchSpec> {
    if !a.fetch_card {
        if a.card_path.is_some() || a.card_refresh.is_some() {
            p.add(
                format!("{field}.fetch_card"),
                "card_path and card_refresh apply only with fetch_card = true",
            );
        }
        return None;
    }
    let every = p.duration(
        &format!("{field}.card_refresh"),
        a.card_refresh.as_deref().unwrap_or("5m"),
    );
    let path = a
        .card_path
        .as_deref()
        .unwrap_or(crate::registry::card_slot::DEFAULT_CARD_PATH);
    p.take(
        format!("{field}.card_path"),
        crate::registry::card_slot::card_uri(upstream, path),
    )
    .map(|uri| FetchSpec { uri, every })
}

/// `agent.card`: the card file loaded into `slot`; `None` when it does not
/// load, or when the agent has no card at all (no file, no fetch).
fn load_card(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
    field: &str,
    a: &AgentSection,
    slot: &CardSlot,
) -> Option<()> {
    match &a.card {
        Some(card) => {
            let card_path = cfg.resolve(card);
            files.push(card_path.clone());
            let origin = card_path.display().to_string();
            let live = std::fs::read(&card_path)
                .map_err(|source| CardError::Unreadable {
                    origin: origin.clone(),
                    source,
                })
                .and_then(|bytes| slot.context().build(&bytes, &origin, false));
            slot.set(p.take(format!("{field}.card"), live)?);
        }
        None if !a.fetch_card => {
            p.add(
                format!("{field}.card"),
                "give the agent's card: a file (card = \"agent-cards/NAME.json\"), fetch_card = true, or both",
            );
            return None;
        }
        None => {}
    }
    Some(())
}

/// The client for an https upstream, authenticated by its SPIFFE ID against
/// its trust domain's bundle; the gateway presents its client certificate.
pub(super) fn tls_client(
    p: &mut Problems,
    field: &str,
    spiffe_id: Option<SpiffeId>,
    shared: &Shared<'_>,
) -> Option<UpstreamClient> {
    let Some(id) = spiffe_id else {
        p.add(
            format!("{field}.spiffe_id"),
            "an https upstream is authenticated by its SPIFFE ID; set spiffe_id",
        );
        return None;
    };
    let Some(roots) = shared.ctx.roots_by_td.get(id.trust_domain()) else {
        p.add(
            format!("{field}.spiffe_id"),
            format!(
                "no [[trust_domain]] bundle for {} to verify the upstream with",
                id.trust_domain()
            ),
        );
        return None;
    };
    let Some((chain, key)) = shared
        .material
        .as_ref()
        .map(|(c, k)| (c.clone(), k.clone_key()))
    else {
        p.add(
            format!("{field}.upstream"),
            "https upstreams need gateway.upstream_client_cert and upstream_client_key",
        );
        return None;
    };
    let cc = p.take(
        format!("{field}.upstream"),
        tls::upstream_client_config(id, roots, chain, key),
    )?;
    Some(UpstreamClient::tls(cc, shared.ctx.connect_timeout))
}

/// Read each `[[agent.api_key]]`: exactly one source, a non-empty key that
/// is a valid header value. The key itself never appears in a message.
fn load_api_keys(
    p: &mut Problems,
    cfg: &ConfigFile,
    field: &str,
    keys: &[ApiKeySection],
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
