//! `[state]` checked and resolved: the PostgreSQL URL read from its file or
//! variable (never from the config), TLS verified against `ca` or plain TCP
//! to loopback only, and this replica's name. Each problem under its field.

use std::net::IpAddr;
use std::sync::Arc;

use tokio_postgres::config::{Host, SslMode};

use crate::config::{ConfigFile, Problems, StateBackend};

/// A resolved `[state] backend = "postgres"`.
#[derive(Clone)]
pub struct StateSettings {
    /// Connection parameters (with the password: never logged or shown).
    pub pg: tokio_postgres::Config,
    /// TLS verified against `ca` with the host name; `None`: plain TCP to
    /// a loopback address or a Unix socket.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// This replica's name in shared records.
    pub replica: String,
    /// `[state] migrate`: whether this gateway may change the schema.
    pub migrate: bool,
    /// Where the URL came from, for messages (`url_file /etc/…`).
    pub source: String,
    /// `ca`, for messages.
    pub ca: Option<std::path::PathBuf>,
    /// A digest of the URL, CA and replica: a reload keeps the pool when
    /// it is unchanged.
    pub fingerprint: String,
}

impl std::fmt::Debug for StateSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No URL: it holds the password.
        f.debug_struct("StateSettings")
            .field("source", &self.source)
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

/// `[state]` of `cfg`: `None` for the files backend (or after a problem,
/// which is recorded in `p`).
fn resolve(p: &mut Problems, cfg: &ConfigFile) -> Option<StateSettings> {
    let s = &cfg.raw.state;
    if s.url.is_some() {
        p.add(
            "state.url",
            "not accepted: the URL holds the database password; put it in the file `url_file` names (e.g. a mounted Secret) or the variable `url_env` names",
        );
    }
    if s.backend == StateBackend::Files {
        for (set, field) in [
            (s.url_file.is_some(), "state.url_file"),
            (s.url_env.is_some(), "state.url_env"),
            (s.ca.is_some(), "state.ca"),
        ] {
            if set {
                p.add(field, "only used with backend = \"postgres\"");
            }
        }
        return None;
    }
    let replica = replica_name(p, &s.replica);
    let (field, source, url) = match (&s.url_file, &s.url_env) {
        (Some(f), None) => {
            let path = cfg.resolve(f);
            let read = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()));
            (
                "state.url_file",
                format!("url_file {}", path.display()),
                read,
            )
        }
        (None, Some(v)) => {
            let read = std::env::var(v)
                .map_err(|_| format!("the environment variable {v} is not set (or not UTF-8)"));
            ("state.url_env", format!("url_env {v}"), read)
        }
        (Some(_), Some(_)) => {
            p.add(
                "state.url_file",
                "give either url_file or url_env, not both",
            );
            return None;
        }
        (None, None) => {
            p.add(
                "state.url_file",
                "backend = \"postgres\" needs url_file (or url_env) naming where the PostgreSQL URL is",
            );
            return None;
        }
    };
    let url = p.take(field, url)?;
    let url = url.trim();
    let pg = p.take(field, parse_url(url))?;
    let tls = match &s.ca {
        Some(ca) => p.take("state.ca", client_tls(&cfg.resolve(ca)))?,
        None => {
            p.take(field, loopback_only(&pg))?;
            return finish(pg, None, replica?, source, None, url);
        }
    };
    let ca = s.ca.as_ref().map(|c| cfg.resolve(c));
    finish(pg, Some(tls), replica?, source, ca, url)
}

/// `[state]` of `cfg` with `migrate` (see [`resolve`]).
pub(crate) fn settings(p: &mut Problems, cfg: &ConfigFile) -> Option<StateSettings> {
    resolve(p, cfg).map(|s| StateSettings {
        migrate: cfg.raw.state.migrate,
        ..s
    })
}

fn finish(
    mut pg: tokio_postgres::Config,
    tls: Option<Arc<rustls::ClientConfig>>,
    replica: String,
    source: String,
    ca: Option<std::path::PathBuf>,
    url: &str,
) -> Option<StateSettings> {
    // With a CA: TLS always, verified with the host name by rustls
    // (verify-full). Without: never TLS (loopback was checked).
    pg.ssl_mode(if tls.is_some() {
        SslMode::Require
    } else {
        SslMode::Disable
    });
    pg.connect_timeout(super::TIMEOUT);
    if pg.get_application_name().is_none() {
        pg.application_name(format!("actgate {replica}"));
    }
    // The CA's contents, not its path: a CA rotated in place is a new pool.
    let ca_text = ca
        .as_deref()
        .and_then(|c| std::fs::read_to_string(c).ok())
        .unwrap_or_default();
    let fingerprint =
        crate::audit::chain::line_hash(format!("{url}\n{ca_text}\n{replica}").as_bytes());
    Some(StateSettings {
        pg,
        tls,
        replica,
        migrate: true,
        source,
        ca,
        fingerprint,
    })
}

/// A `postgresql://` URL (the key=value form is refused: one form to
/// document and check). The error never repeats the URL.
fn parse_url(url: &str) -> Result<tokio_postgres::Config, String> {
    if !(url.starts_with("postgresql://") || url.starts_with("postgres://")) {
        return Err(
            "not a PostgreSQL URL: expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE".into(),
        );
    }
    let cfg: tokio_postgres::Config = url
        .parse()
        .map_err(|e| format!("not a valid PostgreSQL URL: {e}"))?;
    if cfg.get_hosts().is_empty() {
        return Err("the PostgreSQL URL names no host".into());
    }
    if cfg.get_ssl_mode() == SslMode::Require {
        return Err(
            "the URL asks for sslmode=require: set [state] ca to the CA that signed the server's certificate instead (the gateway then verifies it, with the host name)".into(),
        );
    }
    Ok(cfg)
}

/// Plain TCP carries the password and every approval: only to this host.
fn loopback_only(pg: &tokio_postgres::Config) -> Result<(), String> {
    for h in pg.get_hosts() {
        let ok = match h {
            Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            #[cfg(unix)]
            Host::Unix(_) => true,
        };
        if !ok {
            return Err(
                "plain TCP to PostgreSQL is allowed only to a loopback address: set [state] ca to the CA of the server's certificate to connect over TLS".into(),
            );
        }
    }
    for a in pg.get_hostaddrs() {
        if !a.is_loopback() {
            return Err("hostaddr is not a loopback address and [state] ca is not set".into());
        }
    }
    Ok(())
}

fn client_tls(ca: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let certs = crate::tls::load_certs(ca).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("{}: not a usable CA certificate: {e}", ca.display()))?;
    }
    let cfg = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// `"auto"`: the host name (a pod's name); else the name given.
fn replica_name(p: &mut Problems, configured: &str) -> Option<String> {
    let name = if configured == "auto" {
        host_name()
    } else {
        configured.to_string()
    };
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !valid {
        p.add(
            "state.replica",
            format!("{name:?} is not a replica name: 1 to 63 letters, digits, '.', '_' or '-'"),
        );
        return None;
    }
    Some(name)
}

fn host_name() -> String {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string());
    from_kernel
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "actgate".into())
}

/// Settings for a tool run outside a gateway (`actgate audit verify
/// --state URL_FILE`): the URL read from `url_file`, TLS verified with `ca`
/// or plain TCP to loopback only, as for `[state]`. Never migrates (a tool
/// that reads must not change the schema).
pub fn for_tool(
    url_file: &std::path::Path,
    ca: Option<&std::path::Path>,
) -> Result<StateSettings, String> {
    let url = std::fs::read_to_string(url_file)
        .map_err(|e| format!("cannot read {}: {e}", url_file.display()))?;
    let url = url.trim();
    let pg = parse_url(url).map_err(|e| format!("{}: {e}", url_file.display()))?;
    let tls = match ca {
        Some(ca) => Some(client_tls(ca)?),
        None => {
            loopback_only(&pg).map_err(|e| format!("{}: {e}", url_file.display()))?;
            None
        }
    };
    let source = format!("url_file {}", url_file.display());
    let s = finish(
        pg,
        tls,
        "actgate-cli".into(),
        source,
        ca.map(Into::into),
        url,
    );
    s.map(|s| StateSettings {
        migrate: false,
        ..s
    })
    .ok_or_else(|| "unreachable: settings not built".into())
}

/// `[state]` of `cfg` alone (for `actgate state …`): every problem in the
/// section, or the settings (`None`: the files backend).
pub fn from_config(cfg: &ConfigFile) -> Result<Option<StateSettings>, crate::config::ConfigErrors> {
    let mut p = Problems::new(cfg);
    let s = settings(&mut p, cfg);
    p.finish()?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_ok(url: &str) -> Result<(), String> {
        loopback_only(&parse_url(url)?)
    }

    #[test]
    fn plain_tcp_only_to_loopback_or_a_unix_socket() {
        for url in [
            "postgresql://u:p@127.0.0.1:5432/db",
            "postgresql://u:p@127.8.9.10/db",
            "postgresql://u:p@localhost/db",
            "postgresql://u:p@[::1]:5432/db",
            "postgresql://u:p@%2Fvar%2Frun%2Fpostgresql/db",
        ] {
            assert_eq!(plain_ok(url), Ok(()), "{url}");
        }
        for url in [
            "postgresql://u:p@db.example.com/db",
            "postgresql://u:p@10.0.0.5/db",
            "postgresql://u:p@127.0.0.1,db.example.com/db",
            "postgresql://u:p@localhost/db?hostaddr=10.0.0.5",
        ] {
            let e = plain_ok(url).unwrap_err();
            assert!(e.contains("loopback"), "{url}: {e}");
            assert!(!e.contains("u:p"), "{e}");
        }
    }

    #[test]
    fn only_urls_and_never_a_bare_sslmode_require() {
        assert!(parse_url("host=localhost user=u password=secret").is_err());
        let e = parse_url("postgresql://u:secret@localhost/db?sslmode=require").unwrap_err();
        assert!(e.contains("[state] ca"), "{e}");
        let e = parse_url("postgresql://u:secret@localhost/db?sslmode=bogus").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }
}
