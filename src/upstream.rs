//! Pooled HTTP clients to upstream agents (plain, or mTLS with the
//! gateway's workload certificate). Built with the snapshot, used by the
//! proxy's forward stage, the card fetcher and the egress sidecar (and its
//! TLS connector by the issuer key fetcher); it knows nothing about the
//! request it carries.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// What a connector from [`https_connector`] connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schemes {
    /// `https` only, HTTP/1.1 or HTTP/2 (ALPN): upstream agents.
    HttpsOnly,
    /// `https`, and plain `http` for URLs the caller checked (issuer key
    /// fetches: loopback only); HTTP/1.1.
    HttpsOrCheckedHttp,
}

/// The TLS connector of every client the gateway makes: `cfg`'s roots and
/// identity, `connect_timeout`, no Nagle delay.
pub(crate) fn https_connector(
    cfg: rustls::ClientConfig,
    connect_timeout: Duration,
    schemes: Schemes,
) -> hyper_rustls::HttpsConnector<HttpConnector> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    http.enforce_http(false);
    let b = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(cfg);
    match schemes {
        Schemes::HttpsOnly => b
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http),
        Schemes::HttpsOrCheckedHttp => b.https_or_http().enable_http1().wrap_connector(http),
    }
}

/// A pooled HTTP client for one upstream (or all plain-HTTP upstreams).
#[derive(Clone)]
pub enum UpstreamClient {
    Plain(Client<HttpConnector, Full<Bytes>>),
    Tls(Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>),
}

impl UpstreamClient {
    pub fn plain(connect_timeout: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        UpstreamClient::Plain(Client::builder(TokioExecutor::new()).build(http))
    }

    pub fn tls(cfg: rustls::ClientConfig, connect_timeout: Duration) -> Self {
        let https = https_connector(cfg, connect_timeout, Schemes::HttpsOnly);
        UpstreamClient::Tls(Client::builder(TokioExecutor::new()).build(https))
    }

    pub(crate) async fn send(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        match self {
            UpstreamClient::Plain(c) => c.request(req).await,
            UpstreamClient::Tls(c) => c.request(req).await,
        }
    }
}
