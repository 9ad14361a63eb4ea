//! What the token endpoint's grants share: the wire (RFC 6749 §5 errors and
//! responses), the form parameters, client authentication by certificate,
//! scope syntax and the target (one registered agent). The grants are the
//! RFC 8693 token exchange ([`super::exchange`]) and the RFC 7523 JWT bearer
//! grant ([`super::jwt_bearer`]); both decide with the same authorization
//! core and mint alike ([`super::exchange::issue`]).

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;

use super::form;
use super::verify::SubjectToken;
use crate::identity::CallerIdentity;
use crate::registry::{Agent, Registry};

/// Path of the token endpoint on the mTLS listener.
pub const TOKEN_ENDPOINT_PATH: &str = "/oauth2/token";
/// RFC 8693.
pub const GRANT_TYPE_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 7523 §2.1.
pub const GRANT_TYPE_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// RFC 6749 §4.1.3 (with RFC 7636 PKCE).
pub const GRANT_TYPE_AUTHORIZATION_CODE: &str = "authorization_code";
/// RFC 6749 §6.
pub const GRANT_TYPE_REFRESH_TOKEN: &str = "refresh_token";

/// RFC 6749 §5.2 / RFC 8693 §2.2.2 / RFC 8707 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    /// RFC 7523 §3.1: the assertion is invalid, expired, replayed or from
    /// an issuer not trusted for assertions.
    InvalidGrant,
    /// The assertion does not let this client use it (its `may_act`).
    UnauthorizedClient,
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
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
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

pub(super) fn invalid_request(d: impl Into<String>) -> ExchangeError {
    ExchangeError::new(ErrorCode::InvalidRequest, d)
}
pub(super) fn invalid_target(d: impl Into<String>) -> ExchangeError {
    ExchangeError::new(ErrorCode::InvalidTarget, d)
}
pub(super) fn invalid_scope(d: impl Into<String>) -> ExchangeError {
    ExchangeError::new(ErrorCode::InvalidScope, d)
}

/// A token issued (RFC 8693 §2.2.1, RFC 6749 §5.1).
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: Arc<str>,
    /// RFC 8693's `issued_token_type`; `None` for the JWT bearer grant,
    /// whose response (RFC 6749 §5.1) has no such member.
    pub issued_token_type: Option<&'static str>,
    pub expires_in: i64,
    /// The token's scope, reported when it differs from the request.
    pub scope: Option<String>,
    /// The agent the token is for (for the log line).
    pub agent: String,
    /// The verified subject token (or assertion) the token was issued for
    /// (its `sub` is the issued token's; its chain is nested in the issued
    /// `act`).
    pub subject: SubjectToken,
    /// `jti` and `scope` of the issued token, for the audit record.
    pub jti: Arc<str>,
    pub token_scope: Option<Arc<str>>,
    /// The next refresh token (the authorization code and refresh grants).
    pub refresh_token: Option<String>,
    /// The person's grant the token was issued from (`gr-…`), for the
    /// audit record.
    pub grant: Option<String>,
}

impl Issued {
    /// The response body. `token_type` is `Bearer` for both issued types:
    /// the token is an access token either way, and RFC 8705 defines no new
    /// type for certificate-bound tokens.
    pub fn to_json(&self) -> Bytes {
        let mut v = serde_json::json!({
            "access_token": &*self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        });
        if let Some(t) = self.issued_token_type {
            v["issued_token_type"] = t.into();
        }
        if let Some(s) = &self.scope {
            v["scope"] = s.as_str().into();
        }
        if let Some(r) = &self.refresh_token {
            v["refresh_token"] = r.as_str().into();
        }
        Bytes::from(v.to_string())
    }
}

/// The form parameters the grants read (each grant ignores the others').
#[derive(Debug, Default)]
pub(super) struct Params {
    pub(super) grant_type: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) subject_token: Option<String>,
    pub(super) subject_token_type: Option<String>,
    pub(super) actor_token: Option<String>,
    pub(super) actor_token_type: Option<String>,
    pub(super) requested_token_type: Option<String>,
    /// The JWT bearer grant's (RFC 7523 §2.1).
    pub(super) assertion: Option<String>,
    pub(super) scope: Option<String>,
    /// The authorization code grant's (RFC 6749 §4.1.3, RFC 7636 §4.5).
    pub(super) code: Option<String>,
    pub(super) code_verifier: Option<String>,
    pub(super) redirect_uri: Option<String>,
    /// The refresh grant's (RFC 6749 §6).
    pub(super) refresh_token: Option<String>,
    pub(super) resources: Vec<String>,
    pub(super) audiences: Vec<String>,
    /// A secret or assertion: another client authentication method.
    pub(super) other_client_auth: Option<String>,
}

impl Params {
    pub(super) fn parse(body: &[u8]) -> Result<Params, ExchangeError> {
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
                "assertion" => &mut p.assertion,
                "scope" => &mut p.scope,
                "code" => &mut p.code,
                "code_verifier" => &mut p.code_verifier,
                "redirect_uri" => &mut p.redirect_uri,
                "refresh_token" => &mut p.refresh_token,
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

    /// The grant type, when it is `expected` (others are unsupported).
    pub(super) fn check_grant_type(&self, expected: &str) -> Result<(), ExchangeError> {
        match self.grant_type.as_deref() {
            None => Err(invalid_request("grant_type is required")),
            Some(g) if g == expected => Ok(()),
            Some(_) => Err(ExchangeError::new(
                ErrorCode::UnsupportedGrantType,
                format!(
                    "only {GRANT_TYPE_TOKEN_EXCHANGE}, {GRANT_TYPE_JWT_BEARER}, \
                     {GRANT_TYPE_AUTHORIZATION_CODE} and {GRANT_TYPE_REFRESH_TOKEN} are supported"
                ),
            )),
        }
    }

    /// Client authentication is the certificate (RFC 8705
    /// `tls_client_auth`): another method is refused, and a `client_id`,
    /// when sent, must be the certificate's identity (RFC 8705 §2).
    pub(super) fn check_client(&self, caller: &CallerIdentity) -> Result<(), ExchangeError> {
        if let Some(name) = &self.other_client_auth {
            return Err(ExchangeError::new(
                ErrorCode::InvalidClient,
                format!("{name} is not accepted: clients authenticate with their certificate only (tls_client_auth)"),
            ));
        }
        if self
            .client_id
            .as_deref()
            .is_some_and(|c| c != caller.spiffe_id.as_str())
        {
            return Err(ExchangeError::new(
                ErrorCode::InvalidClient,
                "client_id does not match the SPIFFE ID of the client certificate",
            ));
        }
        Ok(())
    }
}

/// RFC 6749 §3.3 scope: space-separated tokens of printable ASCII without
/// `"` and `\`. Returned sorted and deduplicated.
pub(super) fn parse_scope(s: &str) -> Result<Vec<String>, ExchangeError> {
    let mut v = Vec::new();
    for token in s.split(' ').filter(|t| !t.is_empty()) {
        if !crate::scope_token::is_scope_token(token) {
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
pub(super) struct Target<'p> {
    resource: Option<&'p str>,
    audience: Option<&'p str>,
}

impl<'p> Target<'p> {
    /// The target of a person's grant: its RFC 8707 resource.
    pub(super) fn resource(resource: &'p str) -> Self {
        Target {
            resource: Some(resource),
            audience: None,
        }
    }
}

/// RFC 8707 / RFC 8693 target parameters, checked for shape: exactly one
/// target. Several values would ask for a multi-audience token, which one
/// audience could replay against the others (RFC 8707 §3).
pub(super) fn target_parameter(p: &Params) -> Result<Target<'_>, ExchangeError> {
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
pub(super) fn resolve_target<'g>(registry: &'g Registry, t: &Target<'_>) -> Option<&'g Arc<Agent>> {
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
