//! The RFC 7523 JWT authorization grant (identity chaining across trust
//! domains, draft-ietf-oauth-identity-chaining): a partner domain's
//! authorization server vouches for a user in an `assertion`; the caller,
//! authenticated by its certificate, gets a gateway token for a local agent
//! with `sub` from the assertion and `act` = the caller (nested with the
//! assertion's own `act`).
//!
//! Order of checks (the first failure answers):
//! 1. parameters: grant type, client authentication (the certificate,
//!    `tls_client_auth`; nothing else), `assertion`, scope syntax, target;
//! 2. the assertion (`invalid_grant` for each refusal, RFC 7523 §3.1):
//!    - from an issuer trusted for assertions (`assertion_grant = true`)
//!      only, signed with its keys ([`SubjectTokenVerifier`], the key slots
//!      of `[[subject_issuer]]`: fetched, refreshed and rotated alike);
//!    - `aud` one value, this gateway's issuer or token endpoint (the
//!      issuer's configured `audience`, checked against those at config);
//!    - `exp`, `iat` (both required), `nbf` with the leeway, and
//!      `exp - iat` at most `max_assertion_lifetime`;
//!    - not an access token (`typ: at+jwt`): a grant is not a token;
//!    - `client_id`, when present (ID-JAG), the caller's SPIFFE ID;
//!    - `cnf`, when present, the caller's certificate;
//!    - `jti` required and used once ([`ReplaySet`]; an assertion that
//!      verified is used, whether or not the grant is then refused);
//! 3. the exchange's remaining steps ([`issue`]): target, the authorization
//!    core with `Subject { issuer: iss, sub }`, minting bound to the
//!    caller's certificate.

use super::exchange::{issue, Context, ErrorCode, ExchangeError, Input, Issued, Request};
pub use super::grant::GRANT_TYPE_JWT_BEARER;
use super::grant::{invalid_request, parse_scope, target_parameter, Params};
use super::replay::{ReplayError, ReplaySet, MAX_JTI_BYTES};
use super::verify::{
    decode_json_object, split_compact, SubjectToken, SubjectTokenVerifier, TokenError,
};
use crate::identity::CallerIdentity;

/// The assertion in refusals: RFC 7523 §3.1 `invalid_grant`; a `may_act`
/// that names someone else says this client may not use it.
const ASSERTION: Input = Input {
    param: "assertion",
    what: "the assertion",
    refused: ErrorCode::InvalidGrant,
    may_act: ErrorCode::UnauthorizedClient,
};

fn invalid_grant(d: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::new(ErrorCode::InvalidGrant, format!("assertion: {d}"))
}

/// Grant a token for `caller` (the verified mTLS client) from the form
/// `body` (`grant_type` must be [`GRANT_TYPE_JWT_BEARER`]), at `now`.
pub fn grant(
    ctx: &Context<'_>,
    caller: &CallerIdentity,
    body: &[u8],
    now: i64,
) -> Result<Issued, ExchangeError> {
    let p = Params::parse(body)?;
    // 1. Parameters.
    p.check_grant_type(GRANT_TYPE_JWT_BEARER)?;
    p.check_client(caller)?;
    let Some(assertion) = &p.assertion else {
        return Err(invalid_request("assertion is required"));
    };
    let requested_scopes = p.scope.as_deref().map(parse_scope).transpose()?;
    let target = target_parameter(&p)?;
    // 2. The assertion.
    let subject = verify_assertion(ctx.subject_tokens, ctx.assertions, assertion, caller, now)?;
    // 3. As the exchange.
    let req = Request {
        subject,
        target: &target,
        requested_scopes: requested_scopes.as_deref(),
        issued_token_type: None,
        input: ASSERTION,
        user: None,
    };
    issue(ctx, caller, req, now)
}

/// Step 2: `token` as an assertion for `caller`, used once.
fn verify_assertion(
    verifier: &SubjectTokenVerifier,
    used: &ReplaySet,
    token: &str,
    caller: &CallerIdentity,
    now: i64,
) -> Result<SubjectToken, ExchangeError> {
    // Not through the verified-token cache: an assertion is used once.
    let verified = verifier.verify_signed(token, true).map_err(invalid_grant)?;
    // RFC 8725 §3.12: a JWT of another kind must not pass as this one.
    if verified.typ_ok {
        return Err(invalid_grant(
            "typ at+jwt is an access token, not an authorization grant",
        ));
    }
    // One audience (draft-ietf-oauth-rfc7523bis: a single value), so the
    // assertion cannot also be meant for another party.
    if verified.own_audience.is_none() {
        return Err(invalid_grant(
            "aud must be a single string naming this gateway",
        ));
    }
    let jti = match verified.jti.as_deref() {
        Some(j) if !j.is_empty() && j.len() <= MAX_JTI_BYTES => j,
        Some(_) => {
            return Err(invalid_grant(format!(
                "jti must be a non-empty string of at most {MAX_JTI_BYTES} bytes"
            )))
        }
        None => {
            return Err(invalid_grant(TokenError::MissingClaim(
                "jti (required: each assertion is accepted once)".into(),
            )))
        }
    };
    check_client_id(token, caller)?;
    let subject = verified.finish(None, now).map_err(invalid_grant)?;
    // A sender-constrained assertion (RFC 8705 `cnf`) is usable only by its
    // holder.
    subject
        .check_binding(&caller.thumbprint)
        .map_err(invalid_grant)?;
    // Last: only an assertion that passed every check is remembered.
    used.use_once(&subject.issuer, jti, subject.exp, now)
        .map_err(|e| match e {
            ReplayError::Replayed => invalid_grant(e),
            ReplayError::Full => {
                ExchangeError::new(ErrorCode::TemporarilyUnavailable, e.to_string())
            }
        })?;
    Ok(subject)
}

/// draft-ietf-oauth-identity-assertion-authz-grant: an assertion naming the
/// client it was issued to (`client_id`, its identity here) is usable by
/// that client only. Read from the payload whose signature just verified.
fn check_client_id(token: &str, caller: &CallerIdentity) -> Result<(), ExchangeError> {
    let payload = split_compact(token)
        .and_then(|(_, p64, _)| decode_json_object(p64, "payload"))
        .map_err(invalid_grant)?;
    match payload.get("client_id") {
        None => Ok(()),
        Some(serde_json::Value::String(c)) if c == caller.spiffe_id.as_str() => Ok(()),
        Some(_) => Err(invalid_grant(
            "client_id names another client than the SPIFFE ID of the client certificate",
        )),
    }
}
