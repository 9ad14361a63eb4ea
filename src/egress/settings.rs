//! `[egress]` checked and resolved, and the rotating material (workload
//! certificate and key, the gateway's trust bundle) loaded into an mTLS client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, Uri};

use crate::browser_guard::AllowedHost;
use crate::config::{ConfigErrors, ConfigProblem, EgressConfigFile, EgressSection};
use crate::duration::parse as parse_duration;
use crate::identity::{svid, SpiffeId};
use crate::server::conn::ConnLimits;
use crate::tls::{self, TlsMaterialError};
use crate::upstream::UpstreamClient;

/// The fixed part of an egress configuration (changes need a restart).
#[derive(Debug, Clone)]
pub struct EgressSettings {
    pub listen: Option<SocketAddr>,
    pub unix_socket: Option<PathBuf>,
    pub unix_socket_mode: u32,
    pub local_url: Option<String>,
    /// The gateway's base URL, without a trailing slash.
    pub gateway_base: String,
    pub gateway_id: SpiffeId,
    pub bundle: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub watch_interval: Duration,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub max_request_body: u64,
    pub admin_listen: Option<SocketAddr>,
    pub conn_limits: ConnLimits,
    /// `allowed_hosts` plus the host of `local_url`.
    pub allowed_hosts: Vec<AllowedHost>,
    /// `strip_headers`, parsed once.
    pub strip_headers: Vec<HeaderName>,
}

/// The material that rotates: a client presenting the current workload
/// certificate and trusting the current gateway bundle.
pub struct Material {
    pub client: UpstreamClient,
    /// The local workload's SPIFFE ID (from its certificate).
    pub spiffe_id: SpiffeId,
    /// `notAfter` of the workload certificate (seconds since the epoch).
    pub not_after: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum MaterialError {
    #[error(transparent)]
    Read(#[from] TlsMaterialError),
    #[error("{path}: {message}")]
    Bundle { path: String, message: String },
    #[error("{path}: the workload certificate is not an X509-SVID: {message}")]
    NotSvid { path: String, message: String },
    #[error("{cert} and {key}: {source} (a rotation may be half-written)")]
    Pair {
        cert: String,
        key: String,
        source: rustls::Error,
    },
}

impl EgressSettings {
    /// The files a rotation may change.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        vec![self.cert.clone(), self.key.clone(), self.bundle.clone()]
    }

    /// Load the certificate, key and bundle into a new client.
    pub fn load_material(&self) -> Result<Material, MaterialError> {
        let chain = tls::load_certs(&self.cert)?;
        let key = tls::load_key(&self.key)?;
        let bundle_bytes = std::fs::read(&self.bundle).map_err(|e| MaterialError::Bundle {
            path: self.bundle.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        let roots =
            crate::pki::load_bundle_any(&bundle_bytes).map_err(|e| MaterialError::Bundle {
                path: self.bundle.display().to_string(),
                message: e.to_string(),
            })?;
        let leaf = chain.first().map(|c| c.as_ref()).unwrap_or_default();
        let info = svid::parse_svid(leaf).map_err(|e| MaterialError::NotSvid {
            path: self.cert.display().to_string(),
            message: e.to_string(),
        })?;
        let not_after = x509_parser::parse_x509_certificate(leaf)
            .map(|(_, x)| x.validity().not_after.timestamp())
            .unwrap_or(0);
        // Builds the rustls config; refuses a key that does not match the
        // certificate (what a half-finished rotation looks like).
        let cfg = tls::upstream_client_config(self.gateway_id.clone(), &roots, chain, key)
            .map_err(|source| MaterialError::Pair {
                cert: self.cert.display().to_string(),
                key: self.key.display().to_string(),
                source,
            })?;
        Ok(Material {
            client: UpstreamClient::tls(cfg, self.connect_timeout),
            spiffe_id: info.spiffe_id,
            not_after,
        })
    }
}

/// Check `[egress]` (and `[server]`, `[log]`) and load the material; every
/// problem is reported with its file and field.
pub fn build(cfg: &EgressConfigFile) -> Result<(EgressSettings, Material), ConfigErrors> {
    let e = &cfg.raw.egress;
    let mut problems: Vec<ConfigProblem> = Vec::new();
    let mut add = |field: &str, message: String| {
        problems.push(ConfigProblem {
            location: cfg.at(field),
            message,
        })
    };

    let unix_socket_mode = local_listeners(e, &mut add);
    let (allowed_hosts, strip_headers) = local_side(e, &mut add);
    let gateway_base = e.gateway_url.trim_end_matches('/').to_string();
    match gateway_base.parse::<Uri>() {
        Ok(u) if u.scheme_str() == Some("https") && u.host().is_some() => {
            if u.query().is_some() {
                add("egress.gateway_url", "must not carry a query string".into());
            }
        }
        _ => add(
            "egress.gateway_url",
            format!(
                "\"{}\" is not an absolute https:// URL (the gateway is always called over mTLS)",
                e.gateway_url
            ),
        ),
    }
    let gateway_id = match SpiffeId::parse(&e.gateway_spiffe_id) {
        Ok(id) => Some(id),
        Err(err) => {
            add("egress.gateway_spiffe_id", err.to_string());
            None
        }
    };
    let mut duration = |field: &str, v: &str| match parse_duration(v) {
        Ok(d) => d,
        Err(m) => {
            add(field, m.to_string());
            Duration::from_secs(1)
        }
    };
    let watch_interval = duration("egress.watch_interval", &e.watch_interval);
    let connect_timeout = duration("egress.connect_timeout", &e.connect_timeout);
    let response_timeout = duration("egress.response_timeout", &e.response_timeout);
    let conn_limits = match ConnLimits::from_section(&cfg.raw.server, |f| cfg.at(f)) {
        Ok(l) => l,
        Err(ps) => {
            problems.extend(ps);
            ConnLimits::default()
        }
    };
    if let Err(m) = crate::logging::check(&cfg.raw.log) {
        problems.push(ConfigProblem {
            location: cfg.at("log.level"),
            message: m.to_string(),
        });
    }
    let Some(gateway_id) = gateway_id else {
        return Err(ConfigErrors(problems));
    };
    let settings = EgressSettings {
        listen: e.listen,
        unix_socket: e.unix_socket.as_ref().map(|p| cfg.resolve(p)),
        unix_socket_mode,
        local_url: e
            .local_url
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_string()),
        gateway_base,
        gateway_id,
        bundle: cfg.resolve(&e.gateway_bundle),
        cert: cfg.resolve(&e.cert),
        key: cfg.resolve(&e.key),
        watch_interval,
        connect_timeout,
        response_timeout,
        max_request_body: e.max_request_body,
        admin_listen: e.admin_listen,
        conn_limits,
        allowed_hosts,
        strip_headers,
    };
    let material = match settings.load_material() {
        Ok(m) => Some(m),
        Err(err) => {
            let field = material_field(&err, &settings);
            problems.push(ConfigProblem {
                location: cfg.at(field),
                message: err.to_string(),
            });
            None
        }
    };
    match material {
        Some(m) if problems.is_empty() => Ok((settings, m)),
        _ => Err(ConfigErrors(problems)),
    }
}

/// `listen` and `unix_socket`: the ways in for the local agent (at least
/// one; TCP on loopback unless meant otherwise). Returns the socket's mode.
fn local_listeners(e: &EgressSection, add: &mut impl FnMut(&str, String)) -> u32 {
    if e.listen.is_none() && e.unix_socket.is_none() {
        add(
            "egress.listen",
            "set listen, unix_socket, or both: the local agent needs a way in".into(),
        );
    }
    if let Some(a) = e.listen {
        // The listener is unauthenticated and calls out with this workload's
        // identity: on anything but loopback, every host that can reach it
        // could act as this agent.
        if !a.ip().is_loopback() && !e.allow_non_loopback {
            add(
                "egress.listen",
                format!(
                    "{a} is not a loopback address; whoever reaches the egress listener calls \
                     with this workload's identity. Use 127.0.0.1 or ::1, or set \
                     allow_non_loopback = true if that is really meant"
                ),
            );
        }
    }
    match u32::from_str_radix(e.unix_socket_mode.trim_start_matches("0o"), 8) {
        Ok(m) if m <= 0o777 => m,
        _ => {
            add(
                "egress.unix_socket_mode",
                format!(
                    "\"{}\" is not an octal file mode like \"0600\"",
                    e.unix_socket_mode
                ),
            );
            0o600
        }
    }
}

/// The field a material problem is reported under.
fn material_field(err: &MaterialError, settings: &EgressSettings) -> &'static str {
    match err {
        MaterialError::Bundle { .. } => "egress.gateway_bundle",
        MaterialError::Read(TlsMaterialError::NoKey { .. }) => "egress.key",
        MaterialError::Read(TlsMaterialError::Read { path, .. })
            if *path == settings.key.display().to_string() =>
        {
            "egress.key"
        }
        MaterialError::Pair { .. } => "egress.key",
        _ => "egress.cert",
    }
}

/// `allowed_hosts`, `local_url` and `strip_headers`: what the local agent
/// may name and send. Problems go to `add` (field, message).
fn local_side(
    e: &EgressSection,
    add: &mut impl FnMut(&str, String),
) -> (Vec<AllowedHost>, Vec<HeaderName>) {
    let mut allowed_hosts = Vec::new();
    for h in &e.allowed_hosts {
        match AllowedHost::parse(h) {
            Ok(h) => allowed_hosts.push(h),
            Err(err) => add("egress.allowed_hosts", err.to_string()),
        }
    }
    if let Some(u) = &e.local_url {
        match u.parse::<Uri>() {
            Ok(p) if p.scheme_str() == Some("http") && p.host().is_some() => {
                // The cards the sidecar serves send the agent there, so
                // that name is one the agent legitimately uses.
                let authority = p.authority().map(|a| a.as_str()).unwrap_or("");
                match AllowedHost::parse(authority) {
                    Ok(h) => allowed_hosts.push(h.with_default_port(80)),
                    Err(err) => add("egress.local_url", err.to_string()),
                }
            }
            _ => add(
                "egress.local_url",
                format!("\"{u}\" is not an absolute http:// URL"),
            ),
        }
    }
    let strip_headers = match crate::proxy::headers::parse_header_names(&e.strip_headers) {
        Ok(v) => v,
        Err(err) => {
            add("egress.strip_headers", err.to_string());
            Vec::new()
        }
    };
    (allowed_hosts, strip_headers)
}
