//! Answers of the `[authorize]` listener, all built here so every one
//! carries the same protections: the pages' Content-Security-Policy, no
//! caching (pages show who a person is and carry CSRF tokens), no
//! referrer to other sites (URLs carry `state` and codes; `same-origin`,
//! not `no-referrer`: with that, Chrome sends `Origin: null` on the
//! pages' own form posts, and the origin check would refuse them), no
//! MIME sniffing, HSTS.

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY, SET_COOKIE,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

use super::html;

pub type Answer = Response<Full<Bytes>>;

/// An answer under construction: status, body, the form target allowed
/// by the CSP, cookies to set.
pub struct Reply {
    status: StatusCode,
    body: String,
    location: Option<String>,
    form_target: Option<String>,
    cookies: Vec<String>,
}

impl Reply {
    /// An HTML page.
    pub fn page(status: StatusCode, body: String) -> Reply {
        Reply {
            status,
            body,
            location: None,
            form_target: None,
            cookies: Vec::new(),
        }
    }

    /// A `303 See Other` to `location` (after a form post the browser GETs
    /// it; for a GET it is an ordinary redirect).
    pub fn redirect(location: String) -> Reply {
        Reply {
            status: StatusCode::SEE_OTHER,
            body: String::new(),
            location: Some(location),
            form_target: None,
            cookies: Vec::new(),
        }
    }

    /// A plain page with a title and one paragraph (errors, notices).
    pub fn message(status: StatusCode, title: &str, text: &str) -> Reply {
        Reply::page(
            status,
            html::document(
                title,
                &format!(
                    "<h1>{}</h1><p>{}</p>",
                    html::escape(title),
                    html::escape(text)
                ),
            ),
        )
    }

    /// The page's forms answer with a redirect to `uri`'s origin: Chrome
    /// checks `form-action` on the redirects after a form post too.
    pub fn form_redirects_to(mut self, uri: &str) -> Reply {
        self.form_target = html::origin(uri);
        self
    }

    pub fn cookie(mut self, set_cookie: String) -> Reply {
        self.cookies.push(set_cookie);
        self
    }

    pub fn build(self) -> Answer {
        let mut r = Response::new(Full::new(Bytes::from(self.body)));
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        let fixed = [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
            (REFERRER_POLICY, "same-origin"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (X_FRAME_OPTIONS, "DENY"),
            (STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
        ];
        for (name, value) in fixed {
            h.insert(name, HeaderValue::from_static(value));
        }
        if let Ok(v) = HeaderValue::from_str(&html::csp(self.form_target.as_deref())) {
            h.insert(CONTENT_SECURITY_POLICY, v);
        }
        // A location or cookie that is not a valid header value (it would
        // have to come from a registered redirect URI or our own tokens)
        // is left out rather than answered half-built.
        if let Some(l) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(LOCATION, l);
        }
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(SET_COOKIE, v);
            }
        }
        r
    }
}
