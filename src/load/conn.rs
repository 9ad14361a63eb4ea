//! One connection at a time, under exact control: TCP connect, rustls mTLS
//! handshake, then a hyper 1 `client::conn` HTTP/1.1 or HTTP/2 handshake.
//! No pool: a connection lives exactly as long as its owner keeps it.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use rustls::RootCertStore;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::tls;

/// Why a request did not count as OK. `HttpStatus` is any non-2xx answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    Connect,
    Tls,
    HttpStatus(u16),
    Timeout,
    Io,
    Body,
}

impl ErrorKind {
    /// The name used in reports: `connect`, `tls`, `http_status_500`, …
    pub fn name(self) -> String {
        match self {
            ErrorKind::Connect => "connect".into(),
            ErrorKind::Tls => "tls".into(),
            ErrorKind::HttpStatus(c) => format!("http_status_{c}"),
            ErrorKind::Timeout => "timeout".into(),
            ErrorKind::Io => "io".into(),
            ErrorKind::Body => "body".into(),
        }
    }
}

/// Where to connect and what to put in requests, from `--url`.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// `host[:port]` as written, for `Host` / `:authority`.
    pub authority: String,
    /// Origin-form path and query.
    pub path_and_query: String,
    pub server_name: ServerName<'static>,
}

impl Target {
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("--url {url:?}: not a valid URL"))?;
        match uri.scheme_str() {
            Some("https") => {}
            Some(s) => anyhow::bail!("--url {url:?}: scheme {s:?} is not supported, use https"),
            None => anyhow::bail!("--url {url:?}: expected https://host[:port]/path"),
        }
        let auth = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("--url {url:?}: no host"))?;
        let host = auth.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            anyhow::bail!("--url {url:?}: no host");
        }
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|_| anyhow::anyhow!("--url {url:?}: {host:?} is not a valid server name"))?;
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into());
        Ok(Target {
            host: host.to_string(),
            port: auth.port_u16().unwrap_or(443),
            authority: auth.as_str().to_string(),
            path_and_query,
            server_name,
        })
    }

    /// The absolute URI (HTTP/2 takes `:scheme` and `:authority` from it).
    pub fn absolute(&self) -> String {
        format!("https://{}{}", self.authority, self.path_and_query)
    }
}

/// The rustls client config: server verified by `cacert` with the URL host
/// as name, client certificate presented, ALPN for the chosen protocol.
pub fn client_config(
    cacert: &Path,
    cert: &Path,
    key: &Path,
    http2: bool,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for c in tls::load_certs(cacert).map_err(|e| anyhow::anyhow!("--cacert: {e}"))? {
        roots
            .add(c)
            .with_context(|| format!("--cacert {}: unusable CA certificate", cacert.display()))?;
    }
    let chain = tls::load_certs(cert).map_err(|e| anyhow::anyhow!("--cert: {e}"))?;
    let key = tls::load_key(key).map_err(|e| anyhow::anyhow!("--key: {e}"))?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .context("--cert/--key: the key does not fit the certificate or is unsupported")?;
    // Every connection is a full handshake: the new-connection scenario
    // measures what a server pays per mTLS handshake, and a resumed session
    // would hide most of it (actgate refuses resumption anyway).
    cfg.resumption = rustls::client::Resumption::disabled();
    cfg.alpn_protocols = vec![if http2 {
        b"h2".to_vec()
    } else {
        b"http/1.1".to_vec()
    }];
    Ok(Arc::new(cfg))
}

pub type Body = Full<Bytes>;

/// A failure with its kind and a human-readable cause.
pub type Failure = (ErrorKind, String);

/// A ready connection's request handle.
pub enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

impl Sender {
    /// Wait until the connection can take a request, then send it.
    pub async fn send(
        &mut self,
        req: http::Request<Body>,
    ) -> Result<http::Response<hyper::body::Incoming>, hyper::Error> {
        match self {
            Sender::H1(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
            Sender::H2(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
        }
    }

    /// Another handle on the same connection (HTTP/2 only: streams share it).
    pub fn share(&self) -> Option<Sender> {
        match self {
            Sender::H1(_) => None,
            Sender::H2(s) => Some(Sender::H2(s.clone())),
        }
    }

    pub fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

/// Everything needed to open connections.
pub struct Connector {
    pub target: Target,
    pub tls: TlsConnector,
    pub http2: bool,
}

impl Connector {
    pub fn new(target: Target, cfg: Arc<rustls::ClientConfig>, http2: bool) -> Self {
        Connector {
            target,
            tls: TlsConnector::from(cfg),
            http2,
        }
    }

    /// TCP + TLS + HTTP handshake. The hyper connection task is spawned and
    /// ends when the last `Sender` is dropped or the peer closes.
    pub async fn connect(&self) -> Result<Sender, Failure> {
        let t = &self.target;
        let tcp = TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| (ErrorKind::Connect, format!("{}:{}: {e}", t.host, t.port)))?;
        let _ = tcp.set_nodelay(true);
        let tls = self
            .tls
            .connect(t.server_name.clone(), tcp)
            .await
            .map_err(|e| (ErrorKind::Tls, format!("TLS handshake: {e}")))?;
        let io = TokioIo::new(tls);
        if self.http2 {
            if io.inner().get_ref().1.alpn_protocol() != Some(b"h2") {
                return Err((
                    ErrorKind::Tls,
                    "--http2: the server did not select h2 by ALPN".into(),
                ));
            }
            let (send, conn) = http2::Builder::new(TokioExecutor::new())
                .handshake(io)
                .await
                .map_err(|e| (ErrorKind::Io, format!("HTTP/2 handshake: {e}")))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Sender::H2(send))
        } else {
            let (send, conn) = http1::handshake(io)
                .await
                .map_err(|e| (ErrorKind::Io, format!("HTTP/1.1 handshake: {e}")))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Sender::H1(send))
        }
    }
}
