//! The refresh token grant (RFC 6749 §6) for tokens from a person's grant.
//!
//! Order of checks (the first failure answers):
//! 1. parameters: grant type, no other client authentication,
//!    `refresh_token` required, no `scope` (RFC 6749 §6 lets a client
//!    narrow here; refused instead, before the token is spent, because a
//!    narrowing the core then refused would cost the client its refresh
//!    token: the store spends it on rotation);
//! 2. rotation in the grant store over the connection's certificate: the
//!    token is spent and a new one returned (RFC 9700 §4.14.2: rotation for
//!    a token a public client holds); unknown, expired, revoked, bound to
//!    another certificate or already spent → `invalid_grant`, and a spent
//!    one presented again revokes the whole grant (the store does it);
//! 3. the caller is the grant's actor (the certificate binding already
//!    says so; checked again so a token can never move to another agent);
//! 4. the access token as the code grant issues it (the grant's scopes ∩
//!    what policy grants now).

use super::authorization_code::{check_no_other_auth, invalid_grant, issue_from_grant, no_store};
use super::exchange::{Context, ErrorCode, ExchangeError, Issued};
pub use super::grant::GRANT_TYPE_REFRESH_TOKEN;
use super::grant::{invalid_request, Params};
use crate::grants::{GrantStore, RefreshError};
use crate::identity::CallerIdentity;

/// Rotate the refresh token in the form `body` for `caller`, at `now`.
pub fn grant(
    ctx: &Context<'_>,
    store: Option<&GrantStore>,
    registered: &super::authorization_code::StillRegistered<'_>,
    caller: &CallerIdentity,
    body: &[u8],
    now: i64,
) -> Result<Issued, ExchangeError> {
    let p = Params::parse(body)?;
    p.check_grant_type(GRANT_TYPE_REFRESH_TOKEN)?;
    check_no_other_auth(&p)?;
    let Some(token) = &p.refresh_token else {
        return Err(invalid_request("refresh_token is required"));
    };
    if p.scope.is_some() {
        return Err(ExchangeError::new(
            ErrorCode::InvalidScope,
            "scope is not accepted on refresh: the token carries the grant's consented scopes",
        ));
    }
    let store = store.ok_or_else(no_store)?;
    let rotated = store
        .rotate_refresh(token, &caller.thumbprint, now)
        .map_err(refresh_refusal)?;
    if rotated.grant.consent.actor != caller.spiffe_id.as_str() {
        return Err(invalid_grant(
            "the refresh token was issued to another agent",
        ));
    }
    super::authorization_code::check_registered(registered, &rotated.grant, &rotated.scopes)?;
    let mut issued = issue_from_grant(ctx, caller, &rotated.grant, &rotated.scopes, None, now)?;
    issued.refresh_token = Some(rotated.refresh_token);
    Ok(issued)
}

fn refresh_refusal(e: RefreshError) -> ExchangeError {
    match e {
        RefreshError::Store(s) => {
            tracing::error!(error = %s, "grant store");
            ExchangeError::new(
                ErrorCode::ServerError,
                "the refresh could not be recorded; no token was issued",
            )
        }
        other => invalid_grant(other),
    }
}
