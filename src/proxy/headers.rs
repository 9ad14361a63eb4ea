//! Request-side header and body handling: the bearer subject token, the
//! size-limited body, hop-by-hop headers, and the identity-header rule
//! (every inbound header that could carry identity is removed).

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::respond::error;
use super::ResponseBody;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
/// Parsed `HeaderName`s, so removing them neither parses nor lower-cases a
/// name per request.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Headers through which a caller could claim an identity or an origin.
static IDENTITY_HEADERS: [HeaderName; 12] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-forwarded-client-cert"),
    HeaderName::from_static("client-cert"),
    HeaderName::from_static("client-cert-chain"),
    HeaderName::from_static("l5d-client-id"),
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-real-ip"),
    header::FORWARDED,
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-client-cert"),
    HeaderName::from_static("x-ssl-client-cert"),
];

/// The single `Authorization: Bearer` value, if any. Several Authorization
/// headers, or another scheme, are refused rather than guessed at.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let s = v
        .to_str()
        .map_err(|_| "Authorization header is not ASCII")?;
    let (scheme, token) = s
        .split_once(' ')
        .ok_or("Authorization header is not 'Bearer TOKEN'")?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err("only Bearer subject tokens are accepted");
    }
    let token = token.trim();
    if token.is_empty() {
        return Err("empty bearer token");
    }
    Ok(Some(token))
}

/// Read the whole body, up to `limit` bytes, by the request's
/// [`BodyDeadline`](crate::listener::BodyDeadline) (from its `parts`).
pub(crate) async fn read_body(
    body: Incoming,
    parts: &http::request::Parts,
    limit: u64,
) -> Result<Bytes, Response<ResponseBody>> {
    let headers = &parts.headers;
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("request body exceeds {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
    }
    // The body is read whole (up to the limit) before anything is forwarded:
    // the operation, and so the decision, depends on the JSON-RPC method, and
    // nothing may reach the upstream before the decision.
    // The deadline is absolute, not per read: a body trickled a byte at a
    // time would reset any per-read timer forever.
    let deadline = crate::listener::BodyDeadline::of(&parts.extensions);
    let read = Limited::new(body, limit as usize).collect();
    let Ok(collected) = tokio::time::timeout_at(deadline, read).await else {
        let mut r = error(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time (server.body_timeout)",
        );
        // HTTP/1.1: the rest of the body may still be on its way; the
        // connection cannot carry another request.
        r.extensions_mut().insert(crate::listener::CloseConnection);
        return Err(r);
    };
    match collected {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "request body could not be read",
        )),
    }
}

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in &HOP_BY_HOP {
        headers.remove(h);
    }
}

/// Remove hop-by-hop and every identity-bearing header (all copies, any case:
/// `HeaderMap` names are case-insensitive) and the `Host` (the client sets the
/// upstream's). `A2A-Version`, `A2A-Extensions` and the rest pass through.
pub fn sanitize_request_headers(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
    for h in &IDENTITY_HEADERS {
        headers.remove(h);
    }
    let actgate: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-actgate-"))
        .cloned()
        .collect();
    for k in actgate {
        headers.remove(k);
    }
    headers.remove(header::HOST);
    headers.remove(&crate::approval_gate::APPROVAL_HEADER);
}
