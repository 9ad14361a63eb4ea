//! The admin API's answers: JSON bodies, and errors as
//! `{"error", "error_description"}`. Nothing here knows the gateway.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

pub type AdminResponse = Response<Full<Bytes>>;

pub fn json_response(status: StatusCode, v: Value) -> AdminResponse {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub fn error(status: StatusCode, code: &str, message: &str) -> AdminResponse {
    json_response(status, json!({"error": code, "error_description": message}))
}

pub(super) fn method_not_allowed() -> AdminResponse {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed here",
    )
}
