//! The OAuth 2.1 authorization code grant with PKCE (RFC 6749 §4.1.3,
//! RFC 7636), redeemed by the agent a person consented to
//! (draft-oauth-ai-agents-on-behalf-of-user `requested_actor`).
//!
//! Order of checks (the first failure answers):
//! 1. parameters: grant type, no other client authentication, `code`,
//!    `code_verifier` (RFC 7636 §4.1 grammar: 43–128 unreserved
//!    characters), `redirect_uri` and `client_id` required; an
//!    `actor_token`, when sent, must be a JWT-SVID;
//! 2. the code, redeemed from the grant store for the connection's SPIFFE
//!    ID (single use, 60 s; a second redemption by the actor revokes its
//!    grant, RFC 6749 §4.1.2; presented by another agent it is refused and
//!    neither spent nor revoking): `invalid_grant`;
//! 3. what the code is bound to, each `invalid_grant` (RFC 6749 §5.2):
//!    `client_id` the grant's, `redirect_uri` the code's, S256 of the
//!    verifier its challenge (compared in constant time);
//! 4. the actor's proof: the connection's certificate is the consented
//!    actor's (`tls_client_auth`). An `actor_token` does not replace it: the
//!    token is bound to the certificate of this connection and the actor
//!    must present it over that certificate, so only the actor's own
//!    connection can redeem; a sent `actor_token` must verify as the
//!    JWT-SVID of that same actor (as the token exchange verifies them);
//! 5. [`issue_from_grant`]: the exchange's target, authorization core and
//!    minting with `sub` = the person, `act` = `{sub: actor}`, scope =
//!    consented ∩ policy, `cnf` of the actor's certificate, plus a rotating
//!    refresh token bound to the same certificate.
//!
//! A wrong verifier, `redirect_uri` or `client_id` spends the code (it was
//! redeemed in step 2): whoever sent it may be an attacker holding a stolen
//! code, and a code is never offered twice.

use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::claims::UserGrantClaims;
use super::exchange::{
    issue, Context, ErrorCode, ExchangeError, Input, Issued, Request, TOKEN_TYPE_JWT,
};
pub use super::grant::GRANT_TYPE_AUTHORIZATION_CODE;
use super::grant::{invalid_request, Params, Target};
use super::verify::SubjectToken;
use crate::grants::{GrantStore, GrantView, GrantsError};
use crate::identity::CallerIdentity;

/// How long a refresh token lives at most (it never outlives the
/// certificate it is bound to, see [`issue_from_grant`]).
pub const REFRESH_LIFETIME_SECS: i64 = 30 * 24 * 3600;

/// Whether a grant's client is still registered and may still name its
/// actor and these scopes (`[[oauth_client]]` as the current snapshot
/// has it): removing a client, or narrowing its `actors` or `scopes`,
/// stops the codes and refresh tokens of grants it no longer covers.
pub type StillRegistered<'a> = dyn Fn(&crate::grants::Consent, &[String]) -> bool + 'a;

pub(super) fn check_registered(
    registered: &StillRegistered<'_>,
    grant: &GrantView,
    scopes: &[String],
) -> Result<(), ExchangeError> {
    if registered(&grant.consent, scopes) {
        Ok(())
    } else {
        Err(invalid_grant(
            "the client of this grant is no longer registered for this agent or these scopes",
        ))
    }
}

/// The person's grant in refusals: RFC 6749 §5.2 `invalid_grant`.
pub(super) const GRANT: Input = Input {
    param: "grant",
    what: "the person's consent",
    refused: ErrorCode::InvalidGrant,
    may_act: ErrorCode::InvalidGrant,
};

pub(super) fn invalid_grant(d: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::new(ErrorCode::InvalidGrant, d.to_string())
}

/// The answer when the gateway has no grant store (no `[authorize]`).
pub(super) fn no_store() -> ExchangeError {
    ExchangeError::new(
        ErrorCode::UnsupportedGrantType,
        "this gateway has no authorization endpoint ([authorize]), so it issues no codes or refresh tokens",
    )
}

/// Redeem the code in the form `body` for `caller` (the verified mTLS
/// client), at `now`.
pub fn grant(
    ctx: &Context<'_>,
    store: Option<&GrantStore>,
    registered: &StillRegistered<'_>,
    caller: &CallerIdentity,
    body: &[u8],
    now: i64,
) -> Result<Issued, ExchangeError> {
    let p = Params::parse(body)?;
    // 1. Parameters.
    p.check_grant_type(GRANT_TYPE_AUTHORIZATION_CODE)?;
    check_no_other_auth(&p)?;
    let (Some(code), Some(verifier), Some(redirect_uri), Some(client_id)) =
        (&p.code, &p.code_verifier, &p.redirect_uri, &p.client_id)
    else {
        return Err(invalid_request(
            "code, code_verifier, redirect_uri and client_id are required",
        ));
    };
    if !verifier_grammar(verifier) {
        return Err(invalid_request(
            "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)",
        ));
    }
    let actor_token = actor_token_param(&p)?;
    let store = store.ok_or_else(no_store)?;
    // 2. The code (spent from here on).
    let redeemed = store
        .redeem_code(code, caller.spiffe_id.as_str(), now)
        .map_err(invalid_grant)?;
    let grant = &redeemed.grant;
    // 3. What it is bound to.
    if grant.consent.client_id != *client_id {
        return Err(invalid_grant("the code was issued to another client_id"));
    }
    if redeemed.binding.redirect_uri != *redirect_uri {
        return Err(invalid_grant(
            "redirect_uri is not the one the code was issued for",
        ));
    }
    if !challenge_matches(verifier, &redeemed.binding.code_challenge) {
        return Err(invalid_grant(
            "code_verifier does not match the code_challenge (S256)",
        ));
    }
    // 4. The actor's proof.
    check_actor(ctx, grant, caller, actor_token, now)?;
    check_registered(registered, grant, &redeemed.scopes)?;
    // 5. The token and its refresh token.
    let mut issued = issue_from_grant(ctx, caller, grant, &redeemed.scopes, None, now)?;
    let expires_at = now
        .saturating_add(REFRESH_LIFETIME_SECS)
        .min(caller.not_after);
    let refresh = store
        .issue_refresh(
            &grant.id,
            &redeemed.scopes,
            &caller.thumbprint,
            expires_at,
            now,
        )
        .map_err(store_error)?;
    issued.refresh_token = Some(refresh);
    Ok(issued)
}

/// A public client has no secret: any other authentication is refused.
pub(super) fn check_no_other_auth(p: &Params) -> Result<(), ExchangeError> {
    match &p.other_client_auth {
        Some(name) => Err(ExchangeError::new(
            ErrorCode::InvalidClient,
            format!("{name} is not accepted: clients are public (PKCE) and agents authenticate with their certificate"),
        )),
        None => Ok(()),
    }
}

fn actor_token_param(p: &Params) -> Result<Option<&str>, ExchangeError> {
    match (&p.actor_token, &p.actor_token_type) {
        (None, None) => Ok(None),
        (Some(t), Some(ty)) if ty == TOKEN_TYPE_JWT => Ok(Some(t)),
        (Some(_), None) => Err(invalid_request(
            "actor_token_type is required with actor_token",
        )),
        _ => Err(invalid_request(format!(
            "actor_token must come with actor_token_type {TOKEN_TYPE_JWT} (a JWT-SVID of the actor)"
        ))),
    }
}

/// Step 4: the consented actor is the connection's certificate, and a
/// sent JWT-SVID is that actor's too.
fn check_actor(
    ctx: &Context<'_>,
    grant: &GrantView,
    caller: &CallerIdentity,
    actor_token: Option<&str>,
    now: i64,
) -> Result<(), ExchangeError> {
    if grant.consent.actor != caller.spiffe_id.as_str() {
        return Err(invalid_grant(
            "the code was issued for another agent than the one presenting this certificate",
        ));
    }
    if let Some(t) = actor_token {
        ctx.actor_tokens
            .verify(t, caller, now)
            .map_err(|e| invalid_grant(format!("actor_token: {e}")))?;
    }
    Ok(())
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
fn verifier_grammar(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: `BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge`.
fn challenge_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

pub(super) fn store_error(e: GrantsError) -> ExchangeError {
    match e {
        GrantsError::UnknownGrant => invalid_grant("the grant was revoked"),
        other => {
            tracing::error!(error = %other, "grant store");
            ExchangeError::new(
                ErrorCode::ServerError,
                "the grant could not be recorded; no token was issued",
            )
        }
    }
}

/// An access token from the person's `grant` for `caller` (its actor):
/// the person as the subject, holding exactly the consented `scopes`, so
/// the core narrows them to what policy grants the actor at the
/// resource. `requested`, when given, narrows further.
pub(super) fn issue_from_grant(
    ctx: &Context<'_>,
    caller: &CallerIdentity,
    grant: &GrantView,
    scopes: &[String],
    requested: Option<&[String]>,
    now: i64,
) -> Result<Issued, ExchangeError> {
    // The person, as the login IdP named them. No `act`: the actor is the
    // caller, which minting puts in `act` once. No expiry of its own: the
    // token lives the tokens ttl (capped by the certificate).
    let subject = SubjectToken {
        issuer: grant.user.issuer.as_str().into(),
        sub: grant.user.sub.as_str().into(),
        scopes: Some(Arc::from(scopes.to_vec())),
        exp: i64::MAX,
        act: None,
        may_act: None,
        own: false,
        aud: grant.consent.resource.as_str().into(),
        cnf: None,
        // Named by the `grant` claim of the token issued here instead.
        grant: None,
    };
    let claims = UserGrantClaims::new(&grant.id, &grant.user.issuer, &grant.user.sub);
    let target = Target::resource(&grant.consent.resource);
    let req = Request {
        subject,
        target: &target,
        requested_scopes: requested,
        issued_token_type: None,
        input: GRANT,
        user: Some(&claims),
    };
    issue(ctx, caller, req, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        assert!(challenge_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!challenge_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }

    #[test]
    fn verifier_grammar_is_rfc7636() {
        assert!(verifier_grammar(&"a".repeat(43)));
        assert!(verifier_grammar(&"A-._~9".repeat(22)[..128]));
        assert!(!verifier_grammar(&"a".repeat(42)));
        assert!(!verifier_grammar(&"a".repeat(129)));
        assert!(!verifier_grammar(&format!("{}+", "a".repeat(43))));
        assert!(!verifier_grammar(&format!("{} ", "a".repeat(43))));
    }
}
