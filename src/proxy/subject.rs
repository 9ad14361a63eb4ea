//! The subject stage: the bearer subject token, verified. A present but
//! invalid one is an error, never ignored.

use http::HeaderMap;
use tracing::Instrument;

use super::headers::bearer_token;
use super::refusal::Refusal;
use crate::identity::CallerIdentity;
use crate::snapshot::Snapshot;
use crate::token::{SubjectToken, TokenError};

/// [`verify`], and the record names the user and the delegation chain. On
/// a route with its own resource identifiers (an MCP server's `resource`
/// and `local_resources`), a user token whose `aud` is one of them is
/// accepted too (RFC 8707, as MCP clients ask for it), on that route only.
/// A gateway token from a person's grant is accepted on the route of its
/// audience (`route_resource`), from its actor over its certificate
/// ([`crate::token::user_token`]).
pub(super) async fn verify_recorded(
    gw: &Snapshot,
    caller: &CallerIdentity,
    headers: &HeaderMap,
    (audiences, route_resource): (&[String], &str),
    rec: &mut crate::audit::AuditRecord,
) -> Result<Option<SubjectToken>, Refusal> {
    let verified = async {
        match verify(gw, caller, headers).await {
            Err(Refusal::SubjectToken(TokenError::WrongAudience)) if !audiences.is_empty() => {
                for_resource(gw, caller, headers, audiences)
            }
            Err(Refusal::SubjectToken(TokenError::NotAudience)) => {
                from_grant(gw, caller, headers, route_resource)
            }
            other => other,
        }
    };
    let subject = verified
        .instrument(crate::telemetry::stage_span!("subject_token"))
        .await?;
    // Down a person's delegation, every hop stops when the person revokes.
    if let Some(s) = &subject {
        crate::token::user_token::still_granted(gw.grants.load().as_deref(), s)
            .map_err(Refusal::SubjectToken)?;
    }
    if let Some(s) = &subject {
        rec.set_delegation(caller.spiffe_id.as_str(), s);
    }
    Ok(subject)
}

/// The second pass of [`verify_recorded`]: the token checked for each of
/// the route's audiences in turn; any other failure is final.
fn for_resource(
    gw: &Snapshot,
    caller: &CallerIdentity,
    headers: &HeaderMap,
    audiences: &[String],
) -> Result<Option<SubjectToken>, Refusal> {
    let Ok(Some(tok)) = bearer_token(headers) else {
        return Err(Refusal::SubjectToken(TokenError::WrongAudience));
    };
    let presenter = gw
        .registry
        .by_identity(&caller.spiffe_id)
        .map(|a| a.resource.as_str());
    let now = crate::unix_now();
    for aud in audiences {
        match gw
            .subject_tokens
            .verify_for_audience(tok, presenter, aud, now)
        {
            Err(TokenError::WrongAudience) => continue,
            verified => {
                return verified
                    .and_then(|s| s.check_binding(&caller.thumbprint).map(|()| s))
                    .map(Some)
                    .map_err(Refusal::SubjectToken)
            }
        }
    }
    Err(Refusal::SubjectToken(TokenError::WrongAudience))
}

/// A gateway token the subject rule refused as not the presenter's: a
/// person's delegation to this caller for this route, or that refusal.
fn from_grant(
    gw: &Snapshot,
    caller: &CallerIdentity,
    headers: &HeaderMap,
    route_resource: &str,
) -> Result<Option<SubjectToken>, Refusal> {
    let Ok(Some(tok)) = bearer_token(headers) else {
        return Err(Refusal::SubjectToken(TokenError::NotAudience));
    };
    let grants = gw.grants.load();
    match crate::token::user_token::verify(
        &gw.subject_tokens,
        grants.as_deref(),
        tok,
        route_resource,
        caller,
        crate::unix_now(),
    ) {
        Ok(Some(s)) => Ok(Some(s)),
        Ok(None) => Err(Refusal::SubjectToken(TokenError::NotAudience)),
        Err(e) => Err(Refusal::SubjectToken(e)),
    }
}

/// The verified subject token of the request, if it sent one. A token whose
/// `kid` its issuer's fetched key set lacks waits (bounded) for a fetch of
/// that issuer's keys, so a key rotation at the IdP costs no failed call.
pub(super) async fn verify(
    gw: &Snapshot,
    caller: &CallerIdentity,
    headers: &HeaderMap,
) -> Result<Option<SubjectToken>, Refusal> {
    let Some(tok) = bearer_token(headers).map_err(Refusal::Bearer)? else {
        return Ok(None);
    };
    let presenter = gw
        .registry
        .by_identity(&caller.spiffe_id)
        .map(|a| a.resource.as_str());
    // RFC 8705 §3: a certificate-bound token (from the token endpoint, or an
    // IdP's) is usable only over a connection authenticated with that
    // certificate; checked after the signature verified. This also refuses
    // a bound gateway token presented by its audience: the token minted
    // here for the upstream is unbound, so accepting it would silently drop
    // the binding (the token endpoint re-binds instead).
    gw.subject_tokens
        .verify_waiting_for_keys(tok, presenter, &gw.metrics)
        .await
        .and_then(|s| s.check_binding(&caller.thumbprint).map(|()| s))
        .map(Some)
        .map_err(Refusal::SubjectToken)
}
