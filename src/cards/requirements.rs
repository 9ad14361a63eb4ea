//! Card-declared security requirements against what the gateway can satisfy.
//!
//! A requirement list is an OR of alternatives, each an AND of schemes with
//! the scopes they need (reference §2.2). At load time
//! [`satisfiable_alternatives`] keeps the alternatives the gateway can meet
//! when it calls the agent, or explains why none can be met; per request
//! [`required_scopes`] picks the alternative the caller's granted scopes cover.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use super::model::{AgentCard, SecurityRequirement, SecurityScheme};

/// What the gateway can present to an upstream agent.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    /// The gateway holds a client certificate (SVID) for upstream calls.
    pub mtls_to_upstream: bool,
    /// Issuer / token-endpoint URL prefixes that mean "the gateway": an
    /// OAuth 2 or OIDC scheme pointing there accepts gateway-minted tokens.
    pub gateway_token_issuers: Vec<String>,
    /// Scheme names configuration marks as accepting gateway tokens.
    pub accept_gateway_token_schemes: HashSet<String>,
    /// Scheme names for which configuration supplies an API key.
    pub api_keys: HashSet<String>,
}

/// One satisfiable alternative: the schemes the gateway must present
/// together, and the scopes they need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    /// Position in the card's `securityRequirements` (0 for the implicit
    /// empty alternative of a card without requirements).
    pub index: usize,
    pub terms: Vec<Term>,
}

/// One scheme of an alternative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub scheme: String,
    pub how: Satisfied,
    pub scopes: Vec<String>,
}

/// How the gateway satisfies a scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Satisfied {
    /// Present the gateway's client certificate.
    Mtls,
    /// Present the minted token (`Authorization: Bearer`).
    GatewayToken,
    /// Present the configured API key.
    ApiKey,
}

/// No alternative can be met: a configuration error naming the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsatisfiable {
    pub agent: String,
    /// Per alternative (by index): what is missing.
    pub alternatives: Vec<(usize, Vec<String>)>,
}

impl fmt::Display for Unsatisfiable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "agent \"{}\": the gateway cannot satisfy any securityRequirements alternative of its card",
            self.agent
        )?;
        for (i, missing) in &self.alternatives {
            write!(f, "; alternative {i}: {}", missing.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Unsatisfiable {}

/// The card-level alternatives the gateway can satisfy, in card order.
///
/// Absent or empty requirements mean "no card-declared requirement": one
/// empty alternative (configured policy still applies; this is not allow-all).
pub fn satisfiable_alternatives(
    card: &AgentCard,
    caps: &Capabilities,
) -> Result<Vec<Alternative>, Unsatisfiable> {
    if card.security_requirements.is_empty() {
        return Ok(vec![Alternative {
            index: 0,
            terms: Vec::new(),
        }]);
    }
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (index, req) in card.security_requirements.iter().enumerate() {
        let mut terms = Vec::new();
        let mut missing = Vec::new();
        for (name, scopes) in &req.schemes {
            match satisfy(card, name, caps) {
                Ok(how) => terms.push(Term {
                    scheme: name.clone(),
                    how,
                    scopes: scopes.list.clone(),
                }),
                Err(why) => missing.push(format!("\"{name}\" {why}")),
            }
        }
        if missing.is_empty() {
            ok.push(Alternative { index, terms });
        } else {
            failed.push((index, missing));
        }
    }
    if ok.is_empty() {
        return Err(Unsatisfiable {
            agent: card.name.clone(),
            alternatives: failed,
        });
    }
    Ok(ok)
}

/// Why the gateway cannot meet one scheme of a card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Unmet {
    #[error("is not declared in securitySchemes")]
    Undeclared,
    #[error("needs mTLS but the gateway has no client certificate for upstream calls")]
    Mtls,
    #[error("needs HTTP \"{0}\" authentication")]
    HttpAuth(String),
    #[error("needs OAuth 2 tokens from an issuer that is not the gateway")]
    OAuth2,
    #[error("needs OpenID Connect tokens from an issuer that is not the gateway")]
    OpenIdConnect,
    #[error("needs an API key and none is configured")]
    ApiKey,
}

fn satisfy(card: &AgentCard, name: &str, caps: &Capabilities) -> Result<Satisfied, Unmet> {
    let Some(scheme) = card.security_schemes.get(name) else {
        return Err(Unmet::Undeclared);
    };
    let gateway_url = |url: &str| {
        !url.is_empty()
            && caps
                .gateway_token_issuers
                .iter()
                .any(|p| !p.is_empty() && url.starts_with(p.as_str()))
    };
    let accepts_token = caps.accept_gateway_token_schemes.contains(name);
    match scheme {
        SecurityScheme::Mtls(_) if caps.mtls_to_upstream => Ok(Satisfied::Mtls),
        SecurityScheme::Mtls(_) => Err(Unmet::Mtls),
        SecurityScheme::HttpAuth(h) if h.scheme.eq_ignore_ascii_case("bearer") => {
            Ok(Satisfied::GatewayToken)
        }
        SecurityScheme::HttpAuth(h) => Err(Unmet::HttpAuth(h.scheme.clone())),
        SecurityScheme::OAuth2(o) => {
            let urls = o
                .flows
                .iter()
                .map(|f| f.token_url.as_str())
                .chain([o.oauth2_metadata_url.as_str()]);
            if accepts_token || urls.into_iter().any(gateway_url) {
                Ok(Satisfied::GatewayToken)
            } else {
                Err(Unmet::OAuth2)
            }
        }
        SecurityScheme::OpenIdConnect(o) => {
            if accepts_token || gateway_url(&o.open_id_connect_url) {
                Ok(Satisfied::GatewayToken)
            } else {
                Err(Unmet::OpenIdConnect)
            }
        }
        SecurityScheme::ApiKey(_) if caps.api_keys.contains(name) => Ok(Satisfied::ApiKey),
        SecurityScheme::ApiKey(_) => Err(Unmet::ApiKey),
    }
}

/// The per-request scope decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeDecision {
    /// `scopes`: what the chosen alternative needs (sorted, deduplicated);
    /// the minted token should carry exactly these (intersected with policy).
    Ok { scopes: Vec<String> },
    /// No alternative is covered by the granted scopes. `needed` is the
    /// smallest missing set among the alternatives; `alternative` is that
    /// alternative's full scope set, the value for
    /// `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."`
    /// (RFC 6750 §3: the scope necessary to access the resource).
    InsufficientScope {
        needed: Vec<String>,
        alternative: Vec<String>,
    },
    /// A skill named by routing configuration is not on the card. Refused
    /// rather than ignored: its requirements are unknown.
    UnknownSkill(String),
    /// The card-level and skill-level alternatives multiply to more than
    /// [`MAX_COMBINATIONS`]; refused (fail closed) rather than searched, so
    /// a hostile card cannot make every request expensive.
    TooManyCombinations,
}

/// Upper bound on the card × skill alternative combinations examined.
pub const MAX_COMBINATIONS: usize = 4096;

/// Which alternative the caller's `granted` scopes cover.
///
/// The need of a request is the card-level requirement AND the requirement
/// of each skill in `skills_allowed` (each an OR of alternatives, an absent
/// list imposing nothing); the combinations are tried in card order, card
/// alternatives outermost. Scopes of every term count, whatever its scheme
/// kind: listing a scope where none is meaningful only makes the card stricter.
pub fn required_scopes(
    card: &AgentCard,
    skills_allowed: &[&str],
    granted: &[String],
) -> ScopeDecision {
    let mut lists: Vec<&[SecurityRequirement]> = vec![&card.security_requirements];
    for id in skills_allowed {
        match card.skill(id) {
            Some(s) => lists.push(&s.security_requirements),
            None => return ScopeDecision::UnknownSkill((*id).to_string()),
        }
    }
    // Each list as its alternatives' scope sets; an empty list = one empty set.
    let options: Vec<Vec<BTreeSet<&str>>> = lists
        .iter()
        .map(|reqs| {
            if reqs.is_empty() {
                vec![BTreeSet::new()]
            } else {
                reqs.iter()
                    .map(|r| {
                        r.schemes
                            .values()
                            .flat_map(|l| l.list.iter().map(String::as_str))
                            .collect()
                    })
                    .collect()
            }
        })
        .collect();
    let total = options.iter().try_fold(1usize, |acc, o| {
        acc.checked_mul(o.len()).filter(|n| *n <= MAX_COMBINATIONS)
    });
    if total.is_none() {
        return ScopeDecision::TooManyCombinations;
    }
    let granted: HashSet<&str> = granted.iter().map(String::as_str).collect();
    let mut best: Option<(BTreeSet<&str>, BTreeSet<&str>)> = None;
    let mut combo = vec![0usize; options.len()];
    loop {
        let need: BTreeSet<&str> = combo
            .iter()
            .zip(&options)
            .flat_map(|(&i, opts)| opts[i].iter().copied())
            .collect();
        let missing: BTreeSet<&str> = need
            .iter()
            .copied()
            .filter(|s| !granted.contains(s))
            .collect();
        if missing.is_empty() {
            return ScopeDecision::Ok {
                scopes: need.into_iter().map(String::from).collect(),
            };
        }
        if best.as_ref().is_none_or(|(m, _)| missing.len() < m.len()) {
            best = Some((missing, need));
        }
        // Next combination, last list fastest.
        let mut k = combo.len();
        loop {
            if k == 0 {
                let (missing, need) = best.unwrap_or_default();
                return ScopeDecision::InsufficientScope {
                    needed: missing.into_iter().map(String::from).collect(),
                    alternative: need.into_iter().map(String::from).collect(),
                };
            }
            k -= 1;
            combo[k] += 1;
            if combo[k] < options[k].len() {
                break;
            }
            combo[k] = 0;
        }
    }
}

#[cfg(test)]
#[path = "requirements_tests.rs"]
mod tests;
