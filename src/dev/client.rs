//! An mTLS HTTP client that presents a workload certificate: what an agent
//! uses to call through the gateway. Used by `actgate demo`, `token decode
//! --jwks https://…`, and the tests.

use std::path::Path;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;

use crate::tls::{self, TlsMaterialError};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Material(#[from] TlsMaterialError),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("request: {0}")]
    Http(#[from] http::Error),
    #[error("request failed: {0}")]
    Send(#[from] hyper_util::client::legacy::Error),
    #[error("reading the response: {0}")]
    Body(#[from] hyper::Error),
}

/// A pooled HTTPS client with a client certificate; the server is verified
/// against `ca` by DNS name / IP (the gateway's listener certificate).
#[derive(Clone)]
pub struct MtlsClient {
    inner: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl MtlsClient {
    /// `ca`: PEM roots to verify the server; `cert`/`key`: the workload
    /// certificate to present (omit both for no client certificate).
    pub fn new(
        ca: &Path,
        identity: Option<(&Path, &Path)>,
        http2: bool,
    ) -> Result<Self, ClientError> {
        let mut roots = RootCertStore::empty();
        for c in tls::load_certs(ca)? {
            roots.add(c)?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let cfg = match identity {
            Some((cert, key)) => {
                builder.with_client_auth_cert(tls::load_certs(cert)?, tls::load_key(key)?)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Self::from_config(cfg, http2))
    }

    pub fn from_config(cfg: rustls::ClientConfig, http2: bool) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let b = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(cfg)
            .https_or_http();
        let connector = if http2 {
            b.enable_http2().wrap_connector(http)
        } else {
            b.enable_http1().wrap_connector(http)
        };
        let mut cb = Client::builder(TokioExecutor::new());
        cb.http2_only(http2);
        MtlsClient {
            inner: cb.build(connector),
        }
    }

    /// Send a request and return the response with its body still streaming.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, ClientError> {
        let mut req = Request::builder()
            .method(method)
            .uri(url)
            .body(Full::new(body))?;
        req.headers_mut().extend(headers.clone());
        Ok(self.inner.request(req).await?)
    }

    /// Send a request and read the whole response body.
    pub async fn fetch(
        &self,
        method: Method,
        url: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(http::StatusCode, HeaderMap, Bytes), ClientError> {
        let resp = self.send(method, url, headers, body).await?;
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await?.to_bytes();
        Ok((parts.status, parts.headers, bytes))
    }
}
