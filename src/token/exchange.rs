//! The RFC 8693 token-exchange grant: form parameters in, one
//! certificate-bound access token (or a standard error) out.
//!
//! The client is the workload on the other end of the mTLS connection
//! (RFC 8705 `tls_client_auth`): there are no client secrets, and whatever
//! the form says, the identity that acts is the certificate's SPIFFE ID.
//!
//! Order of checks (the first failure answers):
//! 1. parameters: grant type, client authentication method, token types,
//!    scope syntax, target count (RFC 6749 §3.2: repeated parameters are
//!    malformed, empty ones count as absent, unknown ones are ignored);
//! 2. the subject token, verified exactly as on the proxy route (a trusted
//!    issuer's token, or a gateway token whose audience is the caller);
//! 3. the actor token, when present: a JWT-SVID of the caller ([`super::actor`]);
//! 4. the target: exactly one registered agent;
//! 5. the authorization core ([`crate::authorize`], as on the proxy route,
//!    asked about every operation, see [`POLICY_OPERATION`]): policy, the
//!    card's scopes, the requested ones (granted by policy *and* held by the
//!    subject token), the lifetime cap and the chain (`act` nesting, depth,
//!    cycles, `may_act`);
//! 6. minting with the proxy's minter, plus `cnf` of the caller's
//!    certificate.
//!
//! Every refusal of a subject or actor token is `invalid_request`, as
//! RFC 8693 §2.2.2 requires (not `invalid_grant`).
//!
//! Steps 4–6 are [`issue`], shared with the JWT bearer grant
//! ([`super::jwt_bearer`]), which comes with a verified assertion instead of
//! a subject token.

use super::actor::ActorTokenVerifier;
use super::claims::{ClaimsError, UserGrantClaims};
use super::grant::{
    invalid_request, invalid_scope, invalid_target, parse_scope, resolve_target, target_parameter,
    Params, Target,
};
pub use super::grant::{ErrorCode, ExchangeError, Issued};
use super::mint::{MintError, Minter};
use super::replay::ReplaySet;
use super::verify::{SubjectToken, SubjectTokenVerifier};
use crate::authorize::{authorize, Ask, Core, Denied, Operation, Outcome, ScopeProblem};
use crate::identity::CallerIdentity;
use crate::registry::Registry;

pub use super::grant::{GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_ENDPOINT_PATH};
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const TOKEN_TYPE_ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

/// How the exchange asks policy: [`crate::policy::Policy::decide_every_operation`].
///
/// Not `may_reach`, because the decision also yields the grant (the scopes
/// and the lifetime cap). A token from this endpoint is used directly at
/// the agent, where the gateway cannot hold it to a list of operations, so
/// only rules that allow *every* operation of an agent allow exchanging for
/// a token to it, and a deny rule for *any* operation refuses it. The
/// exchange always has a subject token, so it is a delegated decision
/// (`app_only` plays no part). This name is not an A2A operation: config
/// validation refuses it in a rule's `operations`.
pub const POLICY_OPERATION: &str = "TokenExchange";

/// What the exchange reads from the live snapshot (built from it by the
/// token endpoint; see `proxy::oauth`).
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The authorization core, as the proxy route uses it.
    pub core: Core<'a>,
    pub registry: &'a Registry,
    pub subject_tokens: &'a SubjectTokenVerifier,
    pub actor_tokens: &'a ActorTokenVerifier,
    pub minter: &'a Minter,
    /// The `jti`s of assertions already used (the JWT bearer grant).
    pub assertions: &'a ReplaySet,
    /// The audit log can record the exchange (checked again by the core).
    pub recordable: bool,
    /// The people's grants: a subject token minted down a person's
    /// delegation is exchanged only while that grant is live.
    pub grants: &'a arc_swap::ArcSwapOption<crate::grants::GrantStore>,
}

/// The parameters after step 1: what the rest of the exchange works with.
struct Checked<'p> {
    subject_token: &'p str,
    subject_type: &'p str,
    actor_token: Option<&'p str>,
    issued_token_type: &'static str,
    requested_scopes: Option<Vec<String>>,
    target: Target<'p>,
}

/// How a grant's input token is named in its refusals, and with which codes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Input {
    /// The form parameter (`subject_token`, `assertion`).
    pub(super) param: &'static str,
    /// In prose (`the subject token`).
    pub(super) what: &'static str,
    /// A token the rules refuse (chain, lifetime).
    pub(super) refused: ErrorCode,
    /// A `may_act` that does not name the caller.
    pub(super) may_act: ErrorCode,
}

/// The exchange's subject token: refusals are `invalid_request` (RFC 8693
/// §2.2.2).
const SUBJECT_TOKEN: Input = Input {
    param: "subject_token",
    what: "the subject token",
    refused: ErrorCode::InvalidRequest,
    may_act: ErrorCode::InvalidRequest,
};

/// What a grant asks [`issue`] for, its input token verified.
pub(super) struct Request<'r> {
    pub(super) subject: SubjectToken,
    pub(super) target: &'r Target<'r>,
    pub(super) requested_scopes: Option<&'r [String]>,
    pub(super) issued_token_type: Option<&'static str>,
    pub(super) input: Input,
    /// The person's grant the token is issued from (the authorization code
    /// and refresh grants), carried as claims.
    pub(super) user: Option<&'r UserGrantClaims>,
}

/// Perform the exchange for `caller` (the verified mTLS client) with the form
/// `body`, at `now`.
pub fn exchange<'a>(
    ctx: impl Into<Context<'a>>,
    caller: &CallerIdentity,
    body: &[u8],
    now: i64,
) -> Result<Issued, ExchangeError> {
    let ctx = ctx.into();
    let p = Params::parse(body)?;
    // 1. Parameters.
    let checked = check_params(&p, caller)?;
    // 2. Subject token, 3. actor token.
    let subject = verify_subject(&ctx, caller, &checked, now)?;
    if let Some(t) = checked.actor_token {
        ctx.actor_tokens
            .verify(t, caller, now)
            .map_err(|e| invalid_request(e.to_string()))?;
    }
    let req = Request {
        subject,
        target: &checked.target,
        requested_scopes: checked.requested_scopes.as_deref(),
        issued_token_type: Some(checked.issued_token_type),
        input: SUBJECT_TOKEN,
        user: None,
    };
    issue(&ctx, caller, req, now)
}

/// Steps 4–6, for every grant: the target, the authorization core, minting.
pub(super) fn issue(
    ctx: &Context<'_>,
    caller: &CallerIdentity,
    req: Request<'_>,
    now: i64,
) -> Result<Issued, ExchangeError> {
    // 4. Target: unknown and forbidden targets get one answer, so the
    // endpoint does not reveal which agents exist.
    let agent = resolve_target(ctx.registry, req.target).ok_or_else(target_refused)?;
    // 5.–6. The core decides, as on the proxy route: policy, the agent's
    // card (no token for an agent without a verified card, and by default
    // exactly the scopes its requirements name within the grant), the
    // requested scopes, the lifetime and the chain.
    let live = agent.card.live();
    let ask = Ask {
        caller,
        subject: Some(&req.subject),
        agent: &agent.name,
        audience: &agent.resource,
        card: live.as_deref().map(|l| &l.served),
        operation: Operation::Every,
        requested_scopes: req.requested_scopes,
        recordable: ctx.recordable,
        now,
    };
    let allowed = match authorize(&ctx.core, &ask) {
        Outcome::Allow(a) => a,
        refused => return Err(refusal(refused, req.input)),
    };
    // 7. Mint with the proxy's core, bound to the caller's certificate.
    let minted = ctx
        .minter
        .token_bound_for(&allowed.mint_request(), req.user, now)
        .map_err(|e| mint_refusal(e, req.input))?;

    let issued_scope = issued_scope(&allowed.scopes, &req.subject);
    let scope = match (req.requested_scopes, issued_scope) {
        // RFC 6749 §5.1: only when it differs from the request.
        (Some(asked), Some(s)) if *asked == s => None,
        (_, s) => s.map(|s| s.join(" ")),
    };
    Ok(Issued {
        access_token: minted.token,
        issued_token_type: req.issued_token_type,
        expires_in: (minted.exp - now).max(0),
        scope,
        agent: agent.name.clone(),
        subject: req.subject,
        jti: minted.jti,
        token_scope: minted.scope,
        refresh_token: None,
        grant: req.user.map(|u| u.grant.clone()),
    })
}

fn target_refused() -> ExchangeError {
    invalid_target("the target is unknown or this client may not obtain tokens for it")
}

/// The grant's answer to each refusal of the core.
fn refusal(outcome: Outcome<'_>, input: Input) -> ExchangeError {
    match outcome {
        Outcome::Allow(_) => {
            ExchangeError::new(ErrorCode::ServerError, "token could not be issued")
        }
        // The token is used at the agent without the gateway in between,
        // so no approval could be asked for.
        Outcome::ApprovalRequired { .. } => invalid_target(
            "calls to this target need a person's approval; no token is issued for direct use",
        ),
        Outcome::Deny {
            reason: Denied::Policy(_),
            ..
        } => target_refused(),
        Outcome::Deny {
            reason: Denied::Card(why),
            ..
        } => invalid_target(why),
        // Only MCP asks get this; the exchange never makes one.
        Outcome::Deny {
            reason: d @ Denied::ToolScopes,
            ..
        } => invalid_target(d.as_str()),
        Outcome::Unrecordable { .. } => ExchangeError::new(
            ErrorCode::TemporarilyUnavailable,
            "the gateway cannot record token exchanges right now; try again later",
        ),
        Outcome::NoCard { .. } => ExchangeError::new(
            ErrorCode::TemporarilyUnavailable,
            "the target's Agent Card could not be loaded or verified; try again later",
        ),
        Outcome::StepUp { scopes, .. } => ExchangeError::new(
            ErrorCode::InvalidScope,
            format!(
                "the target's card requires scopes {} or the grant lacks: {}",
                input.what,
                scopes.join(" ")
            ),
        ),
        Outcome::InvalidScope {
            problem: ScopeProblem::NotGranted(s),
            ..
        } => invalid_scope(format!(
            "scope {s} is not granted to this client for this target"
        )),
        Outcome::InvalidScope {
            problem: ScopeProblem::NotHeld(s),
            ..
        } => invalid_scope(format!("scope {s} is not in {}'s scope", input.what)),
        Outcome::TokenRefused { error, .. } => mint_refusal(MintError::Claims(error), input),
    }
}

fn mint_refusal(e: MintError, input: Input) -> ExchangeError {
    match e {
        // The subject token cannot be used by this caller: its chain,
        // `may_act` or lifetime rules it out.
        MintError::Claims(ClaimsError::InvalidTtl(_)) => {
            ExchangeError::new(ErrorCode::ServerError, "token could not be issued")
        }
        // Client authentication is the certificate: past its notAfter
        // there is no client to issue to.
        MintError::Claims(c @ ClaimsError::CallerCertificateExpired { .. }) => {
            ExchangeError::new(ErrorCode::InvalidClient, c.to_string())
        }
        MintError::Claims(c @ ClaimsError::MayActMismatch { .. }) => {
            ExchangeError::new(input.may_act, format!("{}: {c}", input.param))
        }
        MintError::Claims(c) => ExchangeError::new(input.refused, format!("{}: {c}", input.param)),
        _ => ExchangeError::new(ErrorCode::ServerError, "token could not be issued"),
    }
}

/// Step 1: grant type, client authentication, token types, scope syntax,
/// target shape.
fn check_params<'p>(p: &'p Params, caller: &CallerIdentity) -> Result<Checked<'p>, ExchangeError> {
    p.check_grant_type(GRANT_TYPE_TOKEN_EXCHANGE)?;
    p.check_client(caller)?;
    let (Some(subject_token), Some(subject_type)) = (&p.subject_token, &p.subject_token_type)
    else {
        return Err(invalid_request(
            "subject_token and subject_token_type are required",
        ));
    };
    if ![TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN]
        .contains(&subject_type.as_str())
    {
        return Err(invalid_request(format!(
            "subject_token_type must be {TOKEN_TYPE_ACCESS_TOKEN}, {TOKEN_TYPE_JWT} or {TOKEN_TYPE_ID_TOKEN}"
        )));
    }
    let actor_token = match (&p.actor_token, &p.actor_token_type) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(invalid_request(
                "actor_token_type is required with actor_token",
            ))
        }
        (None, Some(_)) => {
            return Err(invalid_request(
                "actor_token_type must not be sent without actor_token",
            ))
        }
        (Some(t), Some(ty)) if ty == TOKEN_TYPE_JWT => Some(t),
        (Some(_), Some(_)) => {
            return Err(invalid_request(format!(
                "actor_token_type must be {TOKEN_TYPE_JWT} (a JWT-SVID of the client)"
            )))
        }
    };
    let issued_token_type = match p.requested_token_type.as_deref() {
        None | Some(TOKEN_TYPE_ACCESS_TOKEN) => TOKEN_TYPE_ACCESS_TOKEN,
        Some(TOKEN_TYPE_JWT) => TOKEN_TYPE_JWT,
        Some(_) => {
            return Err(invalid_request(format!(
                "requested_token_type must be {TOKEN_TYPE_ACCESS_TOKEN} or {TOKEN_TYPE_JWT}"
            )))
        }
    };
    let requested_scopes = p.scope.as_deref().map(parse_scope).transpose()?;
    let target = target_parameter(p)?;
    Ok(Checked {
        subject_token,
        subject_type,
        actor_token: actor_token.map(String::as_str),
        issued_token_type,
        requested_scopes,
        target,
    })
}

/// Step 2: the subject token, verified with the same verifier as the proxy
/// route. A gateway token is accepted only from the agent it was minted for.
fn verify_subject(
    ctx: &Context<'_>,
    caller: &CallerIdentity,
    checked: &Checked<'_>,
    now: i64,
) -> Result<SubjectToken, ExchangeError> {
    let (subject_token, subject_type) = (checked.subject_token, checked.subject_type);
    let presenter = ctx
        .registry
        .by_identity(&caller.spiffe_id)
        .map(|a| a.resource.as_str());
    let subject = ctx
        .subject_tokens
        .verify(subject_token, presenter, now)
        .and_then(|s| {
            super::user_token::still_granted(ctx.grants.load().as_deref(), &s).map(|()| s)
        })
        .map_err(|e| invalid_request(format!("subject_token: {e}")))?;
    // The gateway's own tokens are access tokens, never ID tokens.
    if subject.own && subject_type == TOKEN_TYPE_ID_TOKEN {
        return Err(invalid_request(
            "subject_token_type is id_token, but the subject token is an access token of this gateway",
        ));
    }
    // Certificate binding of the subject token (RFC 8705 §3):
    // - another issuer's bound token (any caller may present those) must be
    //   presented over its own certificate, or a stolen copy could be
    //   laundered into a fresh token here;
    // - a gateway token reaches this point only when the caller is its
    //   audience, i.e. the resource server that received it from its
    //   certificate-bound holder. Its `cnf` names that holder, not the
    //   caller, and exchanging it is how the audience obtains its own token
    //   for the next hop, re-bound to its own certificate (so the binding is
    //   never dropped). The audience check is what keeps others out.
    if !subject.own {
        subject
            .check_binding(&caller.thumbprint)
            .map_err(|e| invalid_request(format!("subject_token: {e}")))?;
    }
    Ok(subject)
}

/// The scopes the minted token carries (what `build_claims` computes:
/// granted ∩ the subject token's), sorted; `None` when empty.
fn issued_scope(granted: &[String], subject: &SubjectToken) -> Option<Vec<String>> {
    let theirs = subject.scopes.as_deref().unwrap_or(&[]);
    let mut v: Vec<String> = granted
        .iter()
        .filter(|s| theirs.contains(s))
        .cloned()
        .collect();
    v.sort_unstable();
    v.dedup();
    (!v.is_empty()).then_some(v)
}
