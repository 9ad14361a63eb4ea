//! The gateway's own tokens issued from a person's grant (the authorization
//! code and refresh grants), presented by their actor on the proxy or MCP
//! route of their audience.
//!
//! Such a token names the target (`aud`), not the presenter, so the
//! subject token rule for gateway tokens (audience = presenter) does not
//! admit it; this is the rule that does, and only for tokens carrying a
//! `grant` claim (no other gateway token can pass as a person's
//! delegation). Checked, after the signature with the gateway's own keys
//! (parsed once, the subject token verifier's):
//! 1. the clock and `typ: at+jwt`;
//! 2. `aud` is exactly the route's resource;
//! 3. `act` is exactly `{sub: caller}` (the presenter is the actor the
//!    person consented to, and nobody else is in the chain);
//! 4. `cnf` is the presenting connection's certificate (RFC 8705 §3);
//! 5. the grant is live: a revoked grant stops its access tokens at once,
//!    not at their expiry (one in-memory lookup per request);
//! 6. `sub_id` names the person's issuer (RFC 9493 `iss_sub`).
//!
//! The result is the person as subject with no `act`: the presenter is
//! the actor, so the upstream's token carries it in `act` once.

use super::verify::{check_times, SubjectToken};
use super::{SubjectTokenVerifier, TokenError};
use crate::grants::GrantStore;
use crate::identity::CallerIdentity;

/// `token` as a person's delegation for `caller` at the route whose
/// resource is `resource`. `Ok(None)` when it is not such a token (the
/// caller then reports its own refusal).
pub fn verify(
    verifier: &SubjectTokenVerifier,
    grants: Option<&GrantStore>,
    token: &str,
    resource: &str,
    caller: &CallerIdentity,
    now: i64,
) -> Result<Option<SubjectToken>, TokenError> {
    // The signature and claims as the subject rule's pass just verified
    // (and cached) them: nothing is verified or parsed twice.
    let verified = verifier.verified(token, now)?;
    let Some(user) = verified.user_grant.as_deref().filter(|_| verified.own) else {
        return Ok(None);
    };
    // 1.
    check_times(verified.exp, verified.nbf, Some(verified.iat), now)?;
    if !verified.typ_ok {
        return Err(TokenError::WrongType);
    }
    // 2.
    if verified.own_audience.as_deref() != Some(resource) {
        return Err(TokenError::NotAudience);
    }
    // 3.
    match verified.act.as_deref() {
        Some(a) if a.sub == caller.spiffe_id.as_str() && a.act.is_none() => {}
        _ => return Err(TokenError::NotTheActor),
    }
    // 4. A token from a grant is always bound.
    match verified.cnf.clone()? {
        Some(c) if c.x5t_s256 == caller.thumbprint => {}
        _ => return Err(TokenError::CertificateMismatch),
    }
    // 5. Fail closed without a store: nothing can say the grant is live.
    if !grants.is_some_and(|g| g.is_live(&user.grant)) {
        return Err(TokenError::GrantRevoked);
    }
    // 6.
    if user.sub_id.format != "iss_sub" || user.sub_id.sub != *verified.sub {
        return Err(TokenError::Malformed(
            "sub_id does not name the token's sub".into(),
        ));
    }
    Ok(Some(SubjectToken {
        issuer: user.sub_id.iss.as_str().into(),
        sub: verified.sub.clone(),
        scopes: verified.scopes.clone(),
        exp: verified.exp,
        act: None,
        may_act: None,
        own: false,
        aud: resource.into(),
        cnf: None,
        grant: Some(user.grant.as_str().into()),
    }))
}

/// A subject token minted down a person's delegation (it carries
/// `grant_ref`) is good only while that grant is live: without this, the
/// agent one hop further would keep acting for the person after they
/// revoked, for its token's lifetime. Fails closed without a store.
pub fn still_granted(grants: Option<&GrantStore>, s: &SubjectToken) -> Result<(), TokenError> {
    match &s.grant {
        None => Ok(()),
        Some(g) if grants.is_some_and(|store| store.is_live(g)) => Ok(()),
        Some(_) => Err(TokenError::GrantRevoked),
    }
}
