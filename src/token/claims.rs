//! Claim sets: `act` nesting, scope narrowing, `aud` binding, lifetime caps.
//!
//! Pure: [`build_claims`] turns a [`MintRequest`] into the RFC 9068 claim set
//! the gateway signs, and refuses whatever would widen authority (scopes,
//! lifetime) or break the delegation chain (depth, cycles, `may_act`).

use serde::{Deserialize, Serialize};

use super::SubjectToken;
use crate::identity::CallerIdentity;

/// One actor in an RFC 8693 `act` chain: identity claims only.
///
/// `exp`, `aud`, `scope` and the like are "not meaningful" inside `act`
/// (RFC 8693 §4.1), so they are neither read nor written; a SPIFFE ID already
/// names its trust domain, so `sub` alone identifies the actor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// The actors from the current (outermost) to the least recent.
    pub fn chain(&self) -> impl Iterator<Item = &Actor> {
        std::iter::successors(Some(self), |a| a.act.as_deref())
    }

    /// Number of actors in the chain (1 for a single `act`).
    pub fn depth(&self) -> usize {
        self.chain().count()
    }
}

/// RFC 8705 §3.1 confirmation claim: the token is bound to the client
/// certificate with this SHA-256 thumbprint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cnf {
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

impl Cnf {
    /// Bind to the caller's TLS client certificate.
    pub fn for_caller(caller: &CallerIdentity) -> Self {
        Cnf {
            x5t_s256: caller.thumbprint.clone(),
        }
    }
}

/// An RFC 9068 access token as the gateway mints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    /// A single audience: a multi-audience bearer token could be replayed by
    /// one audience against the others (RFC 8707 §3).
    pub aud: String,
    pub client_id: String,
    /// Space-separated, sorted, deduplicated; absent when no scope survives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// Certificate binding; `build_claims` leaves it unset (see `Cnf::for_caller`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Cnf>,
    /// The person's grant the delegation comes from, when the subject
    /// token came from one: checked live at every presentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_ref: Option<String>,
}

/// Why no token may be minted for a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error(
        "delegation chain too deep: the new token would carry {depth} actors, the limit is {max}"
    )]
    ChainTooDeep { depth: usize, max: usize },
    #[error("delegation cycle: {caller} already appears in the subject token's delegation chain")]
    ActorCycle { caller: String },
    #[error("the subject token's may_act does not name the caller {caller}")]
    MayActMismatch { caller: String },
    #[error("the subject token's may_act is not an object with a string \"sub\"")]
    MayActMalformed,
    #[error("the subject token expired (exp {exp}, now {now})")]
    SubjectExpired { exp: i64, now: i64 },
    #[error("token lifetime must be positive, got {0} s")]
    InvalidTtl(i64),
    #[error("the caller's certificate expired (notAfter {not_after}, now {now})")]
    CallerCertificateExpired { not_after: i64, now: i64 },
}

/// Everything that decides the content of one minted token.
pub struct MintRequest<'a> {
    pub caller: &'a CallerIdentity,
    pub subject: Option<&'a SubjectToken>,
    pub audience: &'a str,
    /// Scopes policy grants this caller at this agent (before narrowing).
    pub granted_scopes: &'a [String],
    pub ttl_secs: i64,
    pub max_chain_depth: usize,
    /// Policy lets the caller appear in the chain again (`allow_reentry`):
    /// the cycle check is skipped; the depth limit still applies.
    pub allow_reentry: bool,
}

/// Whether a token for `req` may be issued by `issuer` at `now`, and its
/// `exp` if so: the lifetime, the delegation chain (depth, cycles,
/// `may_act`), the subject token's and the caller certificate's expiry.
/// [`build_claims`] runs exactly these checks first; the authorization core
/// runs them before anything is minted, so both front doors refuse alike.
pub fn check(req: &MintRequest<'_>, issuer: &str, now: i64) -> Result<i64, ClaimsError> {
    if req.ttl_secs <= 0 {
        return Err(ClaimsError::InvalidTtl(req.ttl_secs));
    }
    let caller = req.caller.spiffe_id.as_str();
    let mut exp = now.saturating_add(req.ttl_secs);
    if let Some(subject) = req.subject {
        check_chain(subject, caller, req.max_chain_depth, req.allow_reentry)?;
        check_may_act(subject, req.caller, issuer)?;
        // Never outlive the subject token (RFC 8693 practice, pitfalls §6).
        exp = exp.min(subject.exp);
    }
    if exp <= now {
        return Err(ClaimsError::SubjectExpired { exp, now });
    }
    // Never outlive the certificate the token was issued on: past notAfter
    // the caller could not present it again, so a token outliving it would
    // be authority nobody can hold to that certificate any more.
    if req.caller.not_after <= now {
        return Err(ClaimsError::CallerCertificateExpired {
            not_after: req.caller.not_after,
            now,
        });
    }
    Ok(exp.min(req.caller.not_after))
}

/// Build the claim set for `req`, issued by `issuer` at `now`.
///
/// - App-only (no subject): `sub` = caller, no `act`, scope = granted scopes.
/// - Delegated: `sub` = subject's `sub`; `act` = caller wrapping the subject's
///   chain; scope = granted ∩ subject scopes; `exp` capped by the subject's.
/// - Either way `exp` is capped by the caller certificate's `notAfter`.
pub fn build_claims(
    req: &MintRequest<'_>,
    issuer: &str,
    now: i64,
    jti: String,
) -> Result<AccessTokenClaims, ClaimsError> {
    let v = claims_view(req, issuer, now, "")?;
    Ok(AccessTokenClaims {
        iss: v.iss.to_owned(),
        sub: v.sub.to_owned(),
        aud: v.aud.to_owned(),
        client_id: v.client_id.to_owned(),
        scope: v.scope,
        iat: v.iat,
        exp: v.exp,
        jti,
        act: v.act.map(|a| Actor {
            sub: a.sub.to_owned(),
            act: a.act.cloned().map(Box::new),
        }),
        cnf: v.cnf.cloned(),
        grant_ref: v.grant_ref.map(str::to_owned),
    })
}

/// The claim set [`build_claims`] builds, borrowing from the request what
/// it can: what the minter serialises, with no copy of the names. Its JSON
/// is that of the [`AccessTokenClaims`] `build_claims` returns, member for
/// member and in the same order (the fields below are in that order).
#[derive(Debug, Serialize)]
pub(super) struct ClaimsView<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<ActorView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<&'a Cnf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_ref: Option<&'a str>,
    /// A person's delegation (the authorization code and refresh grants):
    /// the grant and the person's own issuer.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a UserGrantClaims>,
}

/// The claims a token issued from a person's grant carries besides the
/// usual ones: `grant` (the grant's id, so the gateway can stop its tokens
/// when the person revokes it) and `sub_id`, the RFC 9493 `iss_sub`
/// subject identifier naming the IdP the person logged in at (the token's
/// `iss` is this gateway, so `sub` alone would not say whose `sub` it is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGrantClaims {
    pub grant: String,
    pub sub_id: SubjectIdentifier,
}

/// RFC 9493 §3.2.5 `iss_sub` subject identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectIdentifier {
    /// Always `"iss_sub"`.
    pub format: String,
    pub iss: String,
    pub sub: String,
}

impl UserGrantClaims {
    pub fn new(grant: &str, issuer: &str, sub: &str) -> Self {
        UserGrantClaims {
            grant: grant.to_owned(),
            sub_id: SubjectIdentifier {
                format: "iss_sub".into(),
                iss: issuer.to_owned(),
                sub: sub.to_owned(),
            },
        }
    }
}

/// The new outermost actor, wrapping the subject token's chain (serialised
/// as the [`Actor`] it stands for).
#[derive(Debug, Serialize)]
pub(super) struct ActorView<'a> {
    pub sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<&'a Actor>,
}

/// [`build_claims`], borrowed (see [`ClaimsView`]); `cnf` is left unset.
pub(super) fn claims_view<'a>(
    req: &MintRequest<'a>,
    issuer: &'a str,
    now: i64,
    jti: &'a str,
) -> Result<ClaimsView<'a>, ClaimsError> {
    let exp = check(req, issuer, now)?;
    let caller = req.caller.spiffe_id.as_str();
    let (sub, act, scopes) = match req.subject {
        None => (caller, None, normalize(req.granted_scopes.iter())),
        Some(subject) => {
            // A token carries no more authority than the one it was exchanged
            // for: a subject without a `scope` claim grants nothing (fail
            // closed), rather than being read as "no restriction".
            let scopes = match &subject.scopes {
                None => Vec::new(),
                Some(theirs) => normalize(
                    req.granted_scopes
                        .iter()
                        .filter(|s| theirs.iter().any(|t| t == *s)),
                ),
            };
            let act = ActorView {
                sub: caller,
                act: subject.act.as_deref(),
            };
            (&*subject.sub, Some(act), scopes)
        }
    };

    Ok(ClaimsView {
        iss: issuer,
        sub,
        aud: req.audience,
        client_id: caller,
        scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
        iat: now,
        exp,
        jti,
        act,
        cnf: None,
        grant_ref: req.subject.and_then(|s| s.grant.as_deref()),
        user: None,
    })
}

/// Depth limit and cycle rejection for the chain the new token would carry.
fn check_chain(
    subject: &SubjectToken,
    caller: &str,
    max: usize,
    allow_reentry: bool,
) -> Result<(), ClaimsError> {
    let prior = subject.act.as_deref().map_or(0, Actor::depth);
    let depth = prior + 1;
    if depth > max {
        return Err(ClaimsError::ChainTooDeep { depth, max });
    }
    // The same workload twice in one chain is a loop (A → B → A), which only
    // serves to launder authority or exhaust the depth budget. The subject's
    // own `sub` counts: a caller receiving a token about itself got it back
    // through a round trip.
    let in_chain = subject
        .act
        .as_ref()
        .is_some_and(|a| a.chain().any(|a| a.sub == caller));
    if (in_chain || &*subject.sub == caller) && !allow_reentry {
        return Err(ClaimsError::ActorCycle {
            caller: caller.to_owned(),
        });
    }
    Ok(())
}

/// RFC 8693 §4.4: when the subject names who may act for it, only that party may.
///
/// `sub` must equal the caller's SPIFFE ID. If `iss` is present it must name
/// the authority that vouches for the caller's identity: this gateway (which
/// authenticated the caller) or the caller's SPIFFE trust domain
/// (`spiffe://<td>`); anything else is a different identity namespace.
fn check_may_act(
    subject: &SubjectToken,
    caller: &CallerIdentity,
    issuer: &str,
) -> Result<(), ClaimsError> {
    let Some(may_act) = &subject.may_act else {
        return Ok(());
    };
    let obj = may_act.as_object().ok_or(ClaimsError::MayActMalformed)?;
    let sub = obj
        .get("sub")
        .and_then(serde_json::Value::as_str)
        .ok_or(ClaimsError::MayActMalformed)?;
    let iss_ok = match obj.get("iss") {
        None => true,
        Some(serde_json::Value::String(iss)) => {
            iss == issuer
                || iss
                    .strip_prefix("spiffe://")
                    .is_some_and(|td| td == caller.spiffe_id.trust_domain())
        }
        Some(_) => return Err(ClaimsError::MayActMalformed),
    };
    if sub != caller.spiffe_id.as_str() || !iss_ok {
        return Err(ClaimsError::MayActMismatch {
            caller: caller.spiffe_id.as_str().to_owned(),
        });
    }
    Ok(())
}

/// Sorted and deduplicated, so equal grants give byte-identical tokens and
/// cache keys.
fn normalize<'s>(scopes: impl Iterator<Item = &'s String>) -> Vec<&'s str> {
    let mut v: Vec<&str> = scopes
        .filter(|s| !s.is_empty())
        .map(String::as_str)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
#[path = "claims_tests.rs"]
mod tests;
