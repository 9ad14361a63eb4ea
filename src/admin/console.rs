//! The operator console: one HTML page, a stylesheet and a script, compiled
//! into the binary (no build step, nothing fetched from elsewhere). A strict
//! Content-Security-Policy allows only these same-origin files: no inline
//! script, no external resources, no framing.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;

use super::AdminResponse;

pub struct Asset {
    body: &'static str,
    content_type: &'static str,
}

const PAGE: Asset = Asset {
    body: include_str!("console/index.html"),
    content_type: "text/html; charset=utf-8",
};
const SCRIPT: Asset = Asset {
    body: include_str!("console/console.js"),
    content_type: "text/javascript; charset=utf-8",
};
const STYLE: Asset = Asset {
    body: include_str!("console/console.css"),
    content_type: "text/css; charset=utf-8",
};

const ICON: Asset = Asset {
    body: include_str!("console/favicon.svg"),
    content_type: "image/svg+xml",
};

/// The policy every console response carries.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn asset(path: &str) -> Option<&'static Asset> {
    match path {
        "/" | "/console" | "/console/" => Some(&PAGE),
        "/console/console.js" => Some(&SCRIPT),
        "/console/console.css" => Some(&STYLE),
        "/console/favicon.svg" | "/favicon.ico" => Some(&ICON),
        _ => None,
    }
}

pub fn response(a: &Asset) -> AdminResponse {
    let mut r = Response::new(Full::new(Bytes::from_static(a.body.as_bytes())));
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
