//! Fetching an issuer's documents (its JWKS, its metadata): HTTPS only
//! (plain HTTP only to a loopback address), no redirect followed, bounded in
//! size and in time, and the `Cache-Control: max-age` of the answer.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;

use crate::upstream::{https_connector, Schemes};

/// Largest document accepted from an issuer. Real key sets and metadata
/// documents are a few KiB; the bound keeps a misbehaving IdP from making
/// the gateway buffer without limit.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Time allowed for one document, from connecting to the last body byte.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A URL an issuer's documents may not be fetched from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{0:?} is not an absolute URL")]
    NotAUrl(String),
    #[error("{0:?} is plain http to a non-loopback address; keys are fetched over https (http is allowed to 127.0.0.1, ::1 and localhost only)")]
    PlainHttp(String),
    #[error("{0:?} is neither https nor http")]
    Scheme(String),
    /// Credentials in a URL would be printed wherever the URL is (logs,
    /// `/readyz`, `config check`), and the gateway never sends them.
    #[error("a key URL must not carry credentials (user:password@); they would be shown wherever the URL is")]
    Credentials,
}

/// `url` parsed, when the gateway may fetch keys from it: `https`, or
/// `http` to a loopback host (a local test IdP, a sidecar).
pub fn check_url(url: &str) -> Result<Uri, UrlError> {
    let uri: Uri = url.parse().map_err(|_| UrlError::NotAUrl(url.into()))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(UrlError::Credentials);
    }
    let host = uri
        .host()
        .ok_or_else(|| UrlError::NotAUrl(url.into()))?
        .trim_start_matches('[')
        .trim_end_matches(']');
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(host) => Ok(uri),
        Some("http") => Err(UrlError::PlainHttp(url.into())),
        _ => Err(UrlError::Scheme(url.into())),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why a document could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("{url}: cannot build the request: {source}")]
    Request { url: String, source: http::Error },
    /// Connecting failed: `cause` is the whole chain (DNS, TCP, TLS), and
    /// `roots` names the roots the server's certificate was checked against
    /// when that is what failed.
    #[error("{url}: unreachable: {cause}{}", roots.as_ref().map(|r| format!(" (checked against {r})")).unwrap_or_default())]
    Unreachable {
        url: String,
        cause: String,
        roots: Option<String>,
    },
    #[error("{url}: answered HTTP {status}, not 200")]
    Status { url: String, status: StatusCode },
    #[error("{url}: reading the body: {source} (at most {MAX_DOCUMENT_BYTES} bytes are accepted)")]
    Body {
        url: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{url}: no complete answer within {FETCH_TIMEOUT:?}")]
    Timeout { url: String },
}

impl FetchError {
    /// The server answered 404: the document is not there.
    pub fn not_found(&self) -> bool {
        matches!(self, FetchError::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}

/// A fetched document and how long its server says it may be kept.
pub struct Fetched {
    pub body: Bytes,
    pub max_age: Option<Duration>,
}

/// The roots an issuer's TLS certificate must chain to could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RootsError {
    #[error("{0}")]
    Ca(#[from] crate::tls::TlsMaterialError),
    #[error("is not a usable CA certificate: {0}")]
    Invalid(rustls::Error),
    #[error("the system has no usable root certificates; set `ca`")]
    NoSystemRoots,
}

/// An HTTP client for one issuer's documents.
#[derive(Clone)]
pub struct Fetcher {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// What the server's certificate must chain to, for messages: "the
    /// system roots" or the `ca` file.
    roots: String,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A client trusting the certificates of `ca` (a PEM bundle read from
    /// the file named, for messages), or the system's roots when `None`.
    pub fn new(ca: Option<(&Path, &[CertificateDer<'static>])>) -> Result<Self, RootsError> {
        let mut roots = rustls::RootCertStore::empty();
        let label = match ca {
            Some((file, _)) => format!("the CA in {}", file.display()),
            None => "the system roots".to_owned(),
        };
        match ca {
            Some((_, certs)) => {
                for c in certs {
                    roots.add(c.clone()).map_err(RootsError::Invalid)?;
                }
            }
            None => {
                // Unreadable system certificates are skipped, as every
                // client does; none at all is an error.
                let native = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(native.certs);
                if added == 0 {
                    return Err(RootsError::NoSystemRoots);
                }
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(RootsError::Invalid)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // Plain http is reached only for URLs `check_url` let through.
        let https = https_connector(tls, FETCH_TIMEOUT, Schemes::HttpsOrCheckedHttp);
        Ok(Fetcher {
            client: Client::builder(TokioExecutor::new()).build(https),
            roots: label,
        })
    }

    /// GET `url` (checked by [`check_url`]): a 200 answer's body and its
    /// `max-age`, within [`FETCH_TIMEOUT`] and [`MAX_DOCUMENT_BYTES`].
    pub async fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        let uri = check_url(url)?;
        match tokio::time::timeout(FETCH_TIMEOUT, self.get_unbounded(uri, url)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout { url: url.into() }),
        }
    }

    async fn get_unbounded(&self, uri: Uri, url: &str) -> Result<Fetched, FetchError> {
        let req = Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|source| FetchError::Request {
                url: url.into(),
                source,
            })?;
        let (status, max_age, body) = self.send(req, url).await?;
        // Redirects are not followed: the configured URL is the one trusted.
        if status != StatusCode::OK {
            return Err(FetchError::Status {
                url: url.into(),
                status,
            });
        }
        Ok(Fetched { body, max_age })
    }

    /// POST `form` (`application/x-www-form-urlencoded`) to `url` (checked
    /// by [`check_url`]) with `authorization` as its `Authorization`
    /// header: the status and body of the answer, whatever the status (a
    /// token endpoint explains a refusal in a 400's JSON body).
    pub async fn post_form(
        &self,
        url: &str,
        form: String,
        authorization: Option<&str>,
    ) -> Result<(StatusCode, Bytes), FetchError> {
        let uri = check_url(url)?;
        let mut req = Request::post(uri)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        if let Some(a) = authorization {
            req = req.header(http::header::AUTHORIZATION, a);
        }
        let req = req
            .body(Full::new(Bytes::from(form)))
            .map_err(|source| FetchError::Request {
                url: url.into(),
                source,
            })?;
        match tokio::time::timeout(FETCH_TIMEOUT, self.send(req, url)).await {
            Ok(r) => r.map(|(status, _, body)| (status, body)),
            Err(_) => Err(FetchError::Timeout { url: url.into() }),
        }
    }

    async fn send(
        &self,
        req: Request<Full<Bytes>>,
        url: &str,
    ) -> Result<(StatusCode, Option<Duration>, Bytes), FetchError> {
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| FetchError::Unreachable {
                url: url.into(),
                cause: cause_chain(&e),
                roots: is_certificate_error(&e).then(|| self.roots.clone()),
            })?;
        let status = resp.status();
        let max_age = super::cache_control::max_age(resp.headers());
        let body = Limited::new(resp.into_body(), MAX_DOCUMENT_BYTES)
            .collect()
            .await
            .map_err(|source| FetchError::Body {
                url: url.into(),
                source,
            })?
            .to_bytes();
        Ok((status, max_age, body))
    }
}

/// `e` and its sources, ": "-separated: hyper's own message ("client
/// error (Connect)") says nothing of DNS, refused connections or TLS.
fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        // io::Error displays its inner error and also returns it as source.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

/// Whether the chain of `e` holds a rustls certificate error (the server's
/// certificate did not verify against the roots). hyper-rustls wraps the
/// handshake's io::Error in another one; an io::Error's inner error is
/// reached through `get_ref`, not `source`.
fn is_certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if matches!(
            err.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        for ok in [
            "https://idp.example.com/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://127.3.4.5/jwks",
            "http://localhost:9/x",
            "http://[::1]:9/x",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in ["http://idp.example.com/jwks", "http://10.0.0.1/jwks"] {
            assert!(
                matches!(check_url(bad), Err(UrlError::PlainHttp(_))),
                "{bad}"
            );
        }
        assert!(matches!(check_url("ftp://idp/x"), Err(UrlError::Scheme(_))));
        assert!(matches!(
            check_url("https://user:secret@idp.example.com/jwks"),
            Err(UrlError::Credentials)
        ));
        assert!(matches!(check_url("/jwks"), Err(UrlError::NotAUrl(_))));
    }
}
