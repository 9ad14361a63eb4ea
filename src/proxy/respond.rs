//! The answers the gateway makes itself: JSON errors with their standard
//! codes and challenges, and served Agent Cards with their validators.
//! Pure builders: which answer a refusal gets, and what it counts, is
//! decided in [`super::refusal`].

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};

use crate::cards::serve::ServedCard;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Response body: either a small gateway-made body or the upstream's stream.
pub type ResponseBody = BoxBody<Bytes, BoxError>;

pub(super) fn full(b: impl Into<Bytes>) -> ResponseBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub fn json_response(status: StatusCode, body: Bytes) -> Response<ResponseBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub fn error(status: StatusCode, code: &str, message: &str) -> Response<ResponseBody> {
    let body = serde_json::json!({"error": code, "error_description": message}).to_string();
    json_response(status, Bytes::from(body))
}

/// A JSON-RPC error object answered by the gateway itself.
pub(super) fn jsonrpc_error(
    status: StatusCode,
    code: i64,
    message: &str,
    id: &serde_json::Value,
) -> Response<ResponseBody> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message},
    });
    json_response(status, Bytes::from(body.to_string()))
}

/// 405 with the methods the resource accepts.
pub(super) fn method_not_allowed(allow: &'static str, message: &str) -> Response<ResponseBody> {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        message,
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

pub(super) fn forbidden() -> Response<ResponseBody> {
    error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "the caller may not call this agent, or it does not exist",
    )
}

/// 403 with the RFC 6750 step-up challenge: the scopes that would let the
/// call through, so the caller can return with a user token carrying them.
pub(super) fn insufficient_scope(needed: &[String]) -> Response<ResponseBody> {
    let scope = needed.join(" ");
    let mut r = error(
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        &format!("this call needs the scopes: {scope}"),
    );
    let scope: String = scope
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
    )) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// 503 for an agent with no card in service (its card failed to load,
/// fetch or verify, and no good one came before). Logged where it failed.
pub(super) fn unavailable() -> Response<ResponseBody> {
    let mut resp = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "agent_unavailable",
        "the agent's card could not be loaded or verified; try again later",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    resp
}

/// A served card, with `ETag`/`Cache-Control` and `If-None-Match` support.
pub(super) fn card_response(
    card: &ServedCard,
    v03: bool,
    headers: &HeaderMap,
) -> Response<ResponseBody> {
    let etag = if v03 {
        format!("W/{}", card.etag)
    } else {
        card.etag.clone()
    };
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if not_modified {
        let mut r = Response::new(full(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        json_response(
            StatusCode::OK,
            if v03 {
                card.json_v03.clone()
            } else {
                card.json.clone()
            },
        )
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    // Only callers allowed to reach the agent see its card: no shared caches.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    r
}

pub(super) fn unauthorized(why: &str) -> Response<ResponseBody> {
    let mut r = error(StatusCode::UNAUTHORIZED, "invalid_token", why);
    let desc: String = why
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "Bearer error=\"invalid_token\", error_description=\"{desc}\""
    )) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}
