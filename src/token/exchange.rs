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

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;

use super::actor::ActorTokenVerifier;
use super::claims::ClaimsError;
use super::form;
use super::mint::{MintError, Minter};
use super::verify::{SubjectToken, SubjectTokenVerifier};
use crate::authorize::{authorize, Ask, Core, Denied, Operation, Outcome, ScopeProblem};
use crate::identity::CallerIdentity;
use crate::registry::{Agent, Registry};

/// Path of the token endpoint on the mTLS listener.
pub const TOKEN_ENDPOINT_PATH: &str = "/oauth2/token";
pub const GRANT_TYPE_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
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

/// RFC 6749 §5.2 / RFC 8693 §2.2.2 / RFC 8707 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidTarget,
    InvalidScope,
    UnsupportedGrantType,
    ServerError,
    /// 503: the gateway cannot issue right now (its audit log is down);
    /// the RFC 6749 §4.1.2.1 code, as OAuth servers use it at the token
    /// endpoint too.
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// 400 for everything the client got wrong, `server_error` 500.
    /// `invalid_client` is 400 here too: RFC 6749 §5.2 reserves the (then
    /// mandatory) 401 for clients that authenticated with the
    /// `Authorization` header, which the HTTP handler answers itself.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A refused exchange: the code and a description safe to show the client
/// (it never contains a token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct ExchangeError {
    pub code: ErrorCode,
    pub description: String,
}

impl ExchangeError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        ExchangeError {
            code,
            description: description.into(),
        }
    }

    /// The RFC 6749 §5.2 JSON body.
    pub fn to_json(&self) -> Bytes {
        Bytes::from(
            serde_json::json!({"error": self.code.as_str(), "error_description": self.description})
                .to_string(),
        )
    }
}

fn invalid_request(d: impl Into<String>) -> ExchangeError {
    ExchangeError::new(ErrorCode::InvalidRequest, d)
}
fn invalid_target(d: impl Into<String>) -> ExchangeError {
    ExchangeError::new(ErrorCode::InvalidTarget, d)
}
fn invalid_scope(d: impl Into<String>) -> ExchangeError {
    ExchangeError::new(ErrorCode::InvalidScope, d)
}

/// A successful exchange (RFC 8693 §2.2.1).
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: Arc<str>,
    pub issued_token_type: &'static str,
    pub expires_in: i64,
    /// The token's scope, reported when it differs from the request.
    pub scope: Option<String>,
    /// The agent the token is for (for the log line).
    pub agent: String,
    /// The verified subject token the exchange was for (its `sub` is the
    /// issued token's; its chain is nested in the issued `act`).
    pub subject: SubjectToken,
    /// `jti` and `scope` of the issued token, for the audit record.
    pub jti: Arc<str>,
    pub token_scope: Option<Arc<str>>,
}

impl Issued {
    /// The response body. `token_type` is `Bearer` for both issued types:
    /// the token is an access token either way, and RFC 8705 defines no new
    /// type for certificate-bound tokens.
    pub fn to_json(&self) -> Bytes {
        let mut v = serde_json::json!({
            "access_token": &*self.access_token,
            "issued_token_type": self.issued_token_type,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        });
        if let Some(s) = &self.scope {
            v["scope"] = s.as_str().into();
        }
        Bytes::from(v.to_string())
    }
}

/// The form parameters this grant reads.
#[derive(Debug, Default)]
struct Params {
    grant_type: Option<String>,
    client_id: Option<String>,
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    actor_token: Option<String>,
    actor_token_type: Option<String>,
    requested_token_type: Option<String>,
    scope: Option<String>,
    resources: Vec<String>,
    audiences: Vec<String>,
    /// A secret or assertion: another client authentication method.
    other_client_auth: Option<String>,
}

impl Params {
    fn parse(body: &[u8]) -> Result<Params, ExchangeError> {
        let pairs = form::parse(body).map_err(|e| invalid_request(e.to_string()))?;
        let mut p = Params::default();
        for (name, value) in pairs {
            // RFC 6749 §3.2: a parameter without a value is treated as omitted.
            if value.is_empty() {
                continue;
            }
            let slot = match name.as_str() {
                "grant_type" => &mut p.grant_type,
                "client_id" => &mut p.client_id,
                "subject_token" => &mut p.subject_token,
                "subject_token_type" => &mut p.subject_token_type,
                "actor_token" => &mut p.actor_token,
                "actor_token_type" => &mut p.actor_token_type,
                "requested_token_type" => &mut p.requested_token_type,
                "scope" => &mut p.scope,
                "resource" => {
                    p.resources.push(value);
                    continue;
                }
                "audience" => {
                    p.audiences.push(value);
                    continue;
                }
                "client_secret" | "client_assertion" | "client_assertion_type" => {
                    p.other_client_auth = Some(name);
                    continue;
                }
                // RFC 6749 §3.2: unrecognised parameters are ignored.
                _ => continue,
            };
            if slot.is_some() {
                return Err(invalid_request(format!(
                    "parameter {name} is given more than once"
                )));
            }
            *slot = Some(value);
        }
        Ok(p)
    }
}

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
    /// The audit log can record the exchange (checked again by the core).
    pub recordable: bool,
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
    // 4. Target: unknown and forbidden targets get one answer, so the
    // endpoint does not reveal which agents exist.
    let agent = resolve_target(ctx.registry, &checked.target).ok_or_else(target_refused)?;
    // 5.–6. The core decides, as on the proxy route: policy, the agent's
    // card (no token for an agent without a verified card, and by default
    // exactly the scopes its requirements name within the grant), the
    // requested scopes, the lifetime and the chain.
    let live = agent.card.live();
    let ask = Ask {
        caller,
        subject: Some(&subject),
        agent: &agent.name,
        audience: &agent.resource,
        card: live.as_deref().map(|l| &l.served),
        operation: Operation::Every,
        requested_scopes: checked.requested_scopes.as_deref(),
        recordable: ctx.recordable,
        now,
    };
    let allowed = match authorize(&ctx.core, &ask) {
        Outcome::Allow(a) => a,
        refused => return Err(refusal(refused)),
    };
    // 7. Mint with the proxy's core, bound to the caller's certificate.
    let minted = ctx
        .minter
        .token_bound(&allowed.mint_request(), now)
        .map_err(mint_refusal)?;

    let issued_scope = issued_scope(&allowed.scopes, &subject);
    let scope = match (&checked.requested_scopes, issued_scope) {
        // RFC 6749 §5.1: only when it differs from the request.
        (Some(req), Some(s)) if *req == s => None,
        (_, s) => s.map(|s| s.join(" ")),
    };
    Ok(Issued {
        access_token: minted.token,
        issued_token_type: checked.issued_token_type,
        expires_in: (minted.exp - now).max(0),
        scope,
        agent: agent.name.clone(),
        subject,
        jti: minted.jti,
        token_scope: minted.scope,
    })
}

fn target_refused() -> ExchangeError {
    invalid_target("the target is unknown or this client may not obtain tokens for it")
}

/// The exchange's answer to each refusal of the core.
fn refusal(outcome: Outcome<'_>) -> ExchangeError {
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
                "the target's card requires scopes the subject token or the grant lacks: {}",
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
        } => invalid_scope(format!("scope {s} is not in the subject token's scope")),
        Outcome::TokenRefused { error, .. } => mint_refusal(MintError::Claims(error)),
    }
}

fn mint_refusal(e: MintError) -> ExchangeError {
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
        MintError::Claims(c) => invalid_request(format!("subject_token: {c}")),
        _ => ExchangeError::new(ErrorCode::ServerError, "token could not be issued"),
    }
}

/// Step 1: grant type, client authentication, token types, scope syntax,
/// target shape.
fn check_params<'p>(p: &'p Params, caller: &CallerIdentity) -> Result<Checked<'p>, ExchangeError> {
    match p.grant_type.as_deref() {
        None => return Err(invalid_request("grant_type is required")),
        Some(GRANT_TYPE_TOKEN_EXCHANGE) => {}
        Some(_) => {
            return Err(ExchangeError::new(
                ErrorCode::UnsupportedGrantType,
                format!("only {GRANT_TYPE_TOKEN_EXCHANGE} is supported"),
            ))
        }
    }
    if let Some(name) = &p.other_client_auth {
        return Err(ExchangeError::new(
            ErrorCode::InvalidClient,
            format!("{name} is not accepted: clients authenticate with their certificate only (tls_client_auth)"),
        ));
    }
    // RFC 8705 §2: the client_id, when sent, must be the certificate's identity.
    if p.client_id
        .as_deref()
        .is_some_and(|c| c != caller.spiffe_id.as_str())
    {
        return Err(ExchangeError::new(
            ErrorCode::InvalidClient,
            "client_id does not match the SPIFFE ID of the client certificate",
        ));
    }
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

/// RFC 6749 §3.3 scope: space-separated tokens of printable ASCII without
/// `"` and `\`. Returned sorted and deduplicated.
fn parse_scope(s: &str) -> Result<Vec<String>, ExchangeError> {
    let mut v = Vec::new();
    for token in s.split(' ').filter(|t| !t.is_empty()) {
        if !token
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(invalid_scope("scope is malformed (RFC 6749 §3.3)"));
        }
        v.push(token.to_owned());
    }
    if v.is_empty() {
        return Err(invalid_scope("scope is empty"));
    }
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// The requested target: at most one `resource` and one `audience`.
struct Target<'p> {
    resource: Option<&'p str>,
    audience: Option<&'p str>,
}

/// RFC 8707 / RFC 8693 target parameters, checked for shape: exactly one
/// target. Several values would ask for a multi-audience token, which one
/// audience could replay against the others (RFC 8707 §3).
fn target_parameter(p: &Params) -> Result<Target<'_>, ExchangeError> {
    if p.resources.len() > 1 || p.audiences.len() > 1 {
        return Err(invalid_target(
            "exactly one target is supported: give one resource or one audience",
        ));
    }
    let resource = p.resources.first().map(String::as_str);
    let audience = p.audiences.first().map(String::as_str);
    if resource.is_none() && audience.is_none() {
        return Err(invalid_target("a resource or an audience is required"));
    }
    if let Some(r) = resource {
        if !absolute_uri_without_fragment(r) {
            return Err(invalid_target(
                "resource must be an absolute URI without a fragment (RFC 8707 §2)",
            ));
        }
    }
    Ok(Target { resource, audience })
}

/// The registered agent both parameters name: `resource` by the agent's
/// resource identifier, `audience` by name or resource identifier. When
/// both are given they must name the same agent.
fn resolve_target<'g>(registry: &'g Registry, t: &Target<'_>) -> Option<&'g Arc<Agent>> {
    let by_resource = |r: &str| registry.agents().find(|a| a.resource == r);
    let from_resource = t.resource.map(by_resource);
    let from_audience = t
        .audience
        .map(|a| registry.get(a).or_else(|| by_resource(a)));
    match (from_resource, from_audience) {
        (Some(Some(a)), None) | (None, Some(Some(a))) => Some(a),
        (Some(Some(a)), Some(Some(b))) if Arc::ptr_eq(a, b) => Some(a),
        _ => None,
    }
}

/// RFC 3986 absolute-URI: `scheme ":" hier-part [ "?" query ]`, no fragment,
/// no whitespace or control characters.
fn absolute_uri_without_fragment(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.contains('#')
        && s.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_refuse_repeats_and_ignore_empty_and_unknown() {
        let p = Params::parse(b"grant_type=x&scope=&foo=bar&resource=a&resource=b").unwrap();
        assert_eq!(p.grant_type.as_deref(), Some("x"));
        assert_eq!(p.scope, None);
        assert_eq!(p.resources, vec!["a", "b"]);
        let e = Params::parse(b"subject_token=a&subject_token=b").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.description.contains("subject_token"), "{e}");
        let e = Params::parse(b"a=%zz").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn scopes_are_validated() {
        assert_eq!(parse_scope("b a  b").unwrap(), vec!["a", "b"]);
        assert_eq!(
            parse_scope("   ").unwrap_err().code,
            ErrorCode::InvalidScope
        );
        assert_eq!(
            parse_scope("a \"b\"").unwrap_err().code,
            ErrorCode::InvalidScope
        );
        assert_eq!(
            parse_scope("a\tb").unwrap_err().code,
            ErrorCode::InvalidScope
        );
    }

    #[test]
    fn resource_uris() {
        for ok in [
            "https://gw.example.org/agents/a",
            "urn:example:resource",
            "https://h/p?q=1",
        ] {
            assert!(absolute_uri_without_fragment(ok), "{ok}");
        }
        for bad in [
            "/agents/a",
            "agents",
            "https://h/p#frag",
            "1http://h",
            "https:",
            "https://h/a b",
            "",
        ] {
            assert!(!absolute_uri_without_fragment(bad), "{bad}");
        }
    }

    #[test]
    fn error_statuses() {
        assert_eq!(ErrorCode::InvalidRequest.status(), StatusCode::BAD_REQUEST);
        assert_eq!(ErrorCode::InvalidTarget.status(), StatusCode::BAD_REQUEST);
        assert_eq!(ErrorCode::InvalidScope.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ErrorCode::UnsupportedGrantType.status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(ErrorCode::InvalidClient.status(), StatusCode::BAD_REQUEST);
    }
}
