//! The OAuth endpoints on the mTLS listener, as HTTP: `POST /oauth2/token`
//! (RFC 8693 token exchange, decided in [`crate::token::exchange`], and the
//! RFC 7523 JWT bearer grant, [`crate::token::jwt_bearer`], the authorization
//! code grant of a person's consent, [`crate::token::authorization_code`], and
//! its refresh grant, [`crate::token::refresh_grant`]) and each agent's
//! RFC 9728 protected-resource metadata.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::body::read_body;
use super::context::ConnContext;
use super::respond::{json_response, ResponseBody};
use crate::audit::{AuditRecord, Decision as AuditDecision, RecordKind};
use crate::identity::CallerIdentity;
use crate::metrics::Metrics;
use crate::policy::scopes::scopes_supported;
use crate::registry::Agent;
use crate::snapshot::Snapshot;
use crate::token::authorization_code::{self, GRANT_TYPE_AUTHORIZATION_CODE};
use crate::token::exchange::{self, ErrorCode, ExchangeError};
use crate::token::jwt_bearer::{self, GRANT_TYPE_JWT_BEARER};
use crate::token::metadata;
use crate::token::refresh_grant::{self, GRANT_TYPE_REFRESH_TOKEN};

/// What the exchange reads from the snapshot: the same authorization core
/// as the proxy route, the registry, the verifiers and the minter.
impl<'a> From<&'a Snapshot> for exchange::Context<'a> {
    fn from(gw: &'a Snapshot) -> Self {
        exchange::Context {
            core: gw.core(),
            registry: &gw.registry,
            subject_tokens: &gw.subject_tokens,
            actor_tokens: &gw.actor_tokens,
            minter: &gw.minter,
            assertions: &gw.assertions,
            recordable: gw.audit.is_healthy(),
            grants: &gw.grants,
        }
    }
}

/// `/oauth2/token`: every answer, success or error, carries `Cache-Control:
/// no-store` and `Pragma: no-cache` (RFC 6749 §5.1): it may hold a token.
pub async fn token(
    gw: &Snapshot,
    conn: &ConnContext,
    req: Request<Incoming>,
    rec: &mut AuditRecord,
) -> Response<ResponseBody> {
    let caller = &conn.identity;
    rec.kind = RecordKind::TokenExchange;
    rec.operation = Some("TokenExchange".into());
    // Fail closed, as on the proxy route: no token is issued while the
    // audit log cannot record it.
    let result = if gw.audit.is_healthy() {
        answer(gw, caller, req, rec).await
    } else {
        Err(Refusal::Exchange(ExchangeError::new(
            ErrorCode::TemporarilyUnavailable,
            "the gateway cannot record token exchanges right now; try again later",
        )))
    };
    let mut resp = match result {
        Ok(issued) => {
            tracing::info!(caller = %caller.spiffe_id, agent = %issued.agent, subject = %issued.subject.sub,
                grant = rec.operation.as_deref().unwrap_or_default(), "token issued");
            // The audit record gets the chain, `jti` and scopes; never the token.
            rec.decision = AuditDecision::Allow;
            rec.agent = Some(issued.agent.clone());
            rec.set_delegation(caller.spiffe_id.as_str(), &issued.subject);
            rec.jti = Some(issued.jti.to_string());
            rec.grant.clone_from(&issued.grant);
            rec.scopes = issued
                .token_scope
                .as_deref()
                .map(|s| s.split(' ').map(str::to_owned).collect())
                .unwrap_or_default();
            json_response(StatusCode::OK, issued.to_json())
        }
        Err(Refusal::Exchange(e)) => {
            tracing::info!(caller = %caller.spiffe_id, error = e.code.as_str(), reason = %e.description,
                "token exchange refused");
            // Policy refusals count as denied requests, like on the proxy route.
            let decision = match e.code {
                ErrorCode::InvalidTarget
                | ErrorCode::InvalidScope
                | ErrorCode::UnauthorizedClient => {
                    Metrics::inc(&gw.metrics.requests_denied);
                    AuditDecision::Deny
                }
                ErrorCode::InvalidClient => AuditDecision::Unauthenticated,
                ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable => AuditDecision::Error,
                ErrorCode::InvalidRequest
                | ErrorCode::InvalidGrant
                | ErrorCode::UnsupportedGrantType => AuditDecision::Invalid,
            };
            rec.refuse(decision, format!("{}: {}", e.code.as_str(), e.description));
            json_response(e.code.status(), e.to_json())
        }
        Err(Refusal::Http(r)) => {
            rec.refuse(AuditDecision::Invalid, "not a token exchange request");
            r
        }
    };
    no_store(&mut resp);
    resp
}

/// The answer to an exchange whose token was issued but whose audit record
/// could not be written: the token is withheld (it would be usable with no
/// trace of it), and the caller is told to retry later (RFC 6749 §5.2
/// `temporarily_unavailable`, 503).
pub fn not_recorded(e: &crate::audit::AuditError) -> Response<ResponseBody> {
    tracing::error!(error = %e, "token exchange not recorded; token withheld");
    let mut r = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::TemporarilyUnavailable,
        "the gateway could not record this token exchange; no token was issued; try again later",
    );
    no_store(&mut r);
    r
}

fn no_store(resp: &mut Response<ResponseBody>) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

enum Refusal {
    Exchange(ExchangeError),
    /// Answered before the grant was looked at (method, size).
    Http(Response<ResponseBody>),
}

impl From<ExchangeError> for Refusal {
    fn from(e: ExchangeError) -> Self {
        Refusal::Exchange(e)
    }
}

async fn answer(
    gw: &Snapshot,
    caller: &CallerIdentity,
    req: Request<Incoming>,
    rec: &mut AuditRecord,
) -> Result<exchange::Issued, Refusal> {
    if req.method() != Method::POST {
        let mut r = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::InvalidRequest,
            "the token endpoint accepts POST only",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Err(Refusal::Http(r));
    }
    // A client that tries another authentication method in the header gets
    // the 401 RFC 6749 §5.2 requires for it, challenging with its own scheme.
    if let Some(auth) = req.headers().get(header::AUTHORIZATION) {
        let mut r = error_response(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidClient,
            "clients authenticate with their certificate only (tls_client_auth); send no Authorization header",
        );
        let scheme = auth
            .to_str()
            .ok()
            .and_then(|v| v.split(' ').next())
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()));
        let challenge = format!("{} error=\"invalid_client\"", scheme.unwrap_or("Bearer"));
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        return Err(Refusal::Http(r));
    }
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Err(ExchangeError {
            code: ErrorCode::InvalidRequest,
            description: "the body must be application/x-www-form-urlencoded".into(),
        }
        .into());
    }
    let (parts, body) = req.into_parts();
    let body = read_body(body, &parts, gw.limits.max_request_body)
        .await
        .map_err(Refusal::Http)?;
    let grant = Grant::of(param_of(&body, "grant_type").as_deref());
    rec.operation = Some(grant.operation().into());
    // A subject token (or assertion) whose kid its issuer's fetched keys
    // lack waits here (bounded) for a fetch, so a key rotation at the IdP
    // costs no refusal.
    if let Some(t) = grant.input().and_then(|input| param_of(&body, input)) {
        gw.subject_tokens.wait_for_keys_of(&t, &gw.metrics).await;
    }
    let now = crate::unix_now();
    let grants = gw.grants.load();
    let registered = |c: &crate::grants::Consent, scopes: &[String]| {
        let client = gw
            .user_auth
            .as_ref()
            .and_then(|u| u.clients.get(&c.client_id));
        client.is_some_and(|cl| {
            crate::identity::SpiffeId::parse(&c.actor).is_ok_and(|a| cl.may_name(&a))
                && cl.allows_scopes(scopes.iter().map(String::as_str))
        })
    };
    Ok(match grant {
        Grant::JwtBearer => jwt_bearer::grant(&gw.into(), caller, &body, now)?,
        Grant::AuthorizationCode => blocking_io(|| {
            authorization_code::grant(
                &gw.into(),
                grants.as_deref(),
                &registered,
                caller,
                &body,
                now,
            )
        })?,
        Grant::RefreshToken => blocking_io(|| {
            refresh_grant::grant(
                &gw.into(),
                grants.as_deref(),
                &registered,
                caller,
                &body,
                now,
            )
        })?,
        Grant::Exchange => exchange::exchange(gw, caller, &body, now)?,
    })
}

/// Run `f`, which writes the grant store's file (and syncs it), without
/// stalling the other connections on this worker: on the multi-threaded
/// runtime the worker hands its queue to another thread meanwhile. (A
/// current-thread runtime, as in some tests, simply runs it.)
fn blocking_io<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Which grant answers a request (the token exchange reports any other
/// `grant_type`).
#[derive(Clone, Copy)]
enum Grant {
    Exchange,
    JwtBearer,
    AuthorizationCode,
    RefreshToken,
}

impl Grant {
    fn of(grant_type: Option<&str>) -> Grant {
        match grant_type {
            Some(GRANT_TYPE_JWT_BEARER) => Grant::JwtBearer,
            Some(GRANT_TYPE_AUTHORIZATION_CODE) => Grant::AuthorizationCode,
            Some(GRANT_TYPE_REFRESH_TOKEN) => Grant::RefreshToken,
            _ => Grant::Exchange,
        }
    }

    /// The audit record's operation.
    fn operation(self) -> &'static str {
        match self {
            Grant::Exchange => "TokenExchange",
            Grant::JwtBearer => "JwtBearer",
            Grant::AuthorizationCode => "AuthorizationCode",
            Grant::RefreshToken => "RefreshToken",
        }
    }

    /// The form parameter holding a token of a configured issuer.
    fn input(self) -> Option<&'static str> {
        match self {
            Grant::Exchange => Some("subject_token"),
            Grant::JwtBearer => Some("assertion"),
            Grant::AuthorizationCode | Grant::RefreshToken => None,
        }
    }
}

/// The first `name` parameter of a form body, if it parses (the grant
/// reports any problem with the form itself).
fn param_of(body: &[u8], name: &str) -> Option<String> {
    crate::token::form::parse(body)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

fn error_response(
    status: StatusCode,
    code: ErrorCode,
    description: &str,
) -> Response<ResponseBody> {
    let e = ExchangeError {
        code,
        description: description.into(),
    };
    json_response(status, e.to_json())
}

/// RFC 9728 metadata for `agent`, served to callers some rule lets reach it
/// (others get the caller's usual 403, decided by the proxy before this).
/// `scopes_supported` lists what the rules grant at this agent.
pub fn protected_resource(gw: &Snapshot, agent: &Agent) -> Response<ResponseBody> {
    let scopes = scopes_supported(gw.policy.rules(), Some(&agent.name));
    let doc = metadata::protected_resource(&agent.resource, &gw.issuer, &gw.public_url, &scopes);
    let mut r = json_response(StatusCode::OK, Bytes::from(doc.to_string()));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    r
}
