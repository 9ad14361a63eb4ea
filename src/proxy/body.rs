//! The request body, read whole and size-limited before anything is
//! decided or forwarded.

use bytes::Bytes;
use http::header;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::respond::{error, ResponseBody};

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRefused {
    /// Longer than `limit` bytes (announced or sent).
    TooLarge { limit: u64 },
    /// Not all there by the body deadline (`server.body_timeout`).
    Timeout,
    /// The stream broke.
    Unreadable,
}

impl BodyRefused {
    pub fn status(self) -> StatusCode {
        match self {
            BodyRefused::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyRefused::Timeout => StatusCode::REQUEST_TIMEOUT,
            BodyRefused::Unreadable => StatusCode::BAD_REQUEST,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            BodyRefused::TooLarge { .. } => "payload_too_large",
            BodyRefused::Timeout => "request_timeout",
            BodyRefused::Unreadable => "invalid_request",
        }
    }

    pub fn into_response(self) -> Response<ResponseBody> {
        match self {
            BodyRefused::TooLarge { limit } => error(
                self.status(),
                self.code(),
                &format!("request body exceeds {limit} bytes"),
            ),
            BodyRefused::Timeout => {
                let mut r = error(
                    self.status(),
                    self.code(),
                    "the request body did not arrive in time (server.body_timeout)",
                );
                // HTTP/1.1: the rest of the body may still be on its way; the
                // connection cannot carry another request.
                r.extensions_mut()
                    .insert(crate::server::conn::CloseConnection);
                r
            }
            BodyRefused::Unreadable => {
                error(self.status(), self.code(), "request body could not be read")
            }
        }
    }
}

/// Read the whole body, up to `limit` bytes, by the request's
/// [`BodyDeadline`](crate::server::conn::BodyDeadline) (from its `parts`).
pub(crate) async fn read_body(
    body: Incoming,
    parts: &http::request::Parts,
    limit: u64,
) -> Result<Bytes, Response<ResponseBody>> {
    body_within(body, parts, limit)
        .await
        .map_err(BodyRefused::into_response)
}

/// [`read_body`], refusing with a typed reason.
pub(crate) async fn body_within(
    body: Incoming,
    parts: &http::request::Parts,
    limit: u64,
) -> Result<Bytes, BodyRefused> {
    let headers = &parts.headers;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit {
            return Err(BodyRefused::TooLarge { limit });
        }
    }
    // The body is read whole (up to the limit) before anything is forwarded:
    // the operation, and so the decision, depends on the JSON-RPC method, and
    // nothing may reach the upstream before the decision.
    // The deadline is absolute, not per read: a body trickled a byte at a
    // time would reset any per-read timer forever.
    let deadline = crate::server::conn::BodyDeadline::of(&parts.extensions);
    let read = Limited::new(body, limit as usize).collect();
    let Ok(collected) = tokio::time::timeout_at(deadline, read).await else {
        return Err(BodyRefused::Timeout);
    };
    match collected {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(BodyRefused::TooLarge { limit })
        }
        Err(_) => Err(BodyRefused::Unreadable),
    }
}
