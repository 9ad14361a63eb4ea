//! The snapshot's own sections: `[gateway]` (URLs, timeouts, limits, file
//! watching), `[server]` (connection limits), `[log]`, and the listener's
//! certificate. They belong to no stage: every request reads them.

use std::path::PathBuf;
use std::time::Duration;

use http::Uri;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::Limits;
use crate::config::{ConfigFile, Problems};
use crate::server::conn::ConnLimits;
use crate::tls;

/// `[gateway]`, checked.
pub(crate) struct Settings {
    /// `gateway.issuer`, without a trailing `/`.
    pub issuer: String,
    /// `gateway.public_url`, without a trailing `/`.
    pub public_url: String,
    pub limits: Limits,
    pub connect_timeout: Duration,
    /// How often to look for changed files; `None` when watching is off.
    pub watch_interval: Option<Duration>,
}

/// `[gateway]`: the URLs, timeouts and limits (and `tokens.ttl`, a limit).
pub(crate) fn gateway(p: &mut Problems, cfg: &ConfigFile) -> Settings {
    let raw = &cfg.raw;
    let g = &raw.gateway;
    let issuer = g.issuer.trim_end_matches('/').to_string();
    check_url(p, "gateway.issuer", &issuer, true);
    let public_url = g.public_url.trim_end_matches('/').to_string();
    check_url(p, "gateway.public_url", &public_url, false);
    let limits = Limits {
        handshake_timeout: p.duration("gateway.handshake_timeout", &g.handshake_timeout),
        upstream_timeout: p.duration("gateway.upstream_timeout", &g.upstream_timeout),
        max_request_body: g.max_request_body,
        token_ttl_secs: p.duration("tokens.ttl", &raw.tokens.ttl).as_secs().max(1) as i64,
        max_chain_depth: raw.tokens.max_chain_depth,
        forward_client_address: g.forward_client_address,
        strip_headers: p
            .take(
                "gateway.strip_headers",
                crate::proxy::headers::parse_header_names(&g.strip_headers),
            )
            .unwrap_or_default(),
    };
    let connect_timeout = p.duration(
        "gateway.upstream_connect_timeout",
        &g.upstream_connect_timeout,
    );
    let watch_interval = p.duration("gateway.watch_interval", &g.watch_interval);
    Settings {
        issuer,
        public_url,
        limits,
        connect_timeout,
        watch_interval: g.watch_files.then_some(watch_interval),
    }
}

/// The main listener: `[server]` limits, `[log]`, and its certificate.
pub(crate) struct Server {
    pub conn_limits: ConnLimits,
    /// `gateway.server_cert`, if it loaded (else a problem is recorded).
    pub chain: Option<Vec<CertificateDer<'static>>>,
    /// `gateway.server_key`, if it loaded (else a problem is recorded).
    pub key: Option<PrivateKeyDer<'static>>,
}

/// `[server]`, `[log]`, `tokens.max_chain_depth` and the listener's
/// certificate and key (added to `files`).
pub(crate) fn server(p: &mut Problems, cfg: &ConfigFile, files: &mut Vec<PathBuf>) -> Server {
    let raw = &cfg.raw;
    let g = &raw.gateway;
    let conn_limits = match ConnLimits::from_section(&raw.server, |f| cfg.at(f)) {
        Ok(l) => l,
        Err(problems) => {
            p.extend(problems);
            ConnLimits::default()
        }
    };
    if let Err(e) = crate::logging::check(&raw.log) {
        p.add("log.level", e.to_string());
    }
    let env = |name: &str| std::env::var(name).ok();
    if let Err(problems) = crate::telemetry::Settings::resolve(&raw.telemetry, env) {
        for (field, message) in problems {
            p.add(field, message);
        }
    }
    if raw.tokens.max_chain_depth == 0 {
        p.add("tokens.max_chain_depth", "must be at least 1");
    }
    let chain = p.take(
        "gateway.server_cert",
        tls::load_certs(&cfg.resolve(&g.server_cert)),
    );
    let key = p.take(
        "gateway.server_key",
        tls::load_key(&cfg.resolve(&g.server_key)),
    );
    files.push(cfg.resolve(&g.server_cert));
    files.push(cfg.resolve(&g.server_key));
    Server {
        conn_limits,
        chain,
        key,
    }
}

fn check_url(p: &mut Problems, field: &str, url: &str, https_only: bool) {
    match url.parse::<Uri>() {
        Ok(u) if u.host().is_some() && matches!(u.scheme_str(), Some("https") | Some("http")) => {
            if https_only && u.scheme_str() != Some("https") {
                p.add(field, format!("\"{url}\" must be an https URL"));
            }
            if u.query().is_some() {
                p.add(field, format!("\"{url}\" must not carry a query"));
            }
        }
        _ => p.add(field, format!("\"{url}\" is not an absolute http(s) URL")),
    }
}
