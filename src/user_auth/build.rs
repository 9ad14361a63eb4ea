//! The `[authorize]` and `[[oauth_client]]` part of building a snapshot:
//! checked with the rest of the config, each problem reported under its
//! field. The listener's TLS config is made in [`finish`], once the
//! gateway's own certificate (the default) is loaded.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::client::{OAuthClient, OAuthClients};
use super::login::LoginSettings;
use crate::config::{AuthorizeSection, ConfigFile, OAuthClientSection, Problems, StateBackend};
use crate::identity::SpiffePattern;
use crate::token::issuer_keys::fetch::check_url;

/// The longest login the session cookie may carry.
const MAX_SESSION: Duration = Duration::from_secs(12 * 3600);
/// The longest a consent page or a login round trip may stay open.
const MAX_CONSENT: Duration = Duration::from_secs(3600);
/// The least a session key file must hold (HMAC-SHA256's block of entropy).
pub(crate) const MIN_SESSION_KEY: usize = 32;

/// What `[authorize]` asks for, checked.
pub(crate) struct AuthorizePlan {
    pub listen: std::net::SocketAddr,
    pub public_url: String,
    cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    pub grants_file: PathBuf,
    pub session_key: Option<Vec<u8>>,
    pub session_lifetime: Duration,
    pub consent_timeout: Duration,
    pub login: LoginSettings,
    pub clients: OAuthClients,
}

/// `[authorize]` and `[[oauth_client]]`, or `None` when the section is
/// absent (or has problems, which are recorded).
pub(crate) fn plan(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
) -> Option<AuthorizePlan> {
    let raw = &cfg.raw;
    let clients = clients(p, &raw.oauth_client);
    let Some(a) = &raw.authorize else {
        if !raw.oauth_client.is_empty() {
            p.add(
                "oauth_client",
                "clients are configured but [authorize] is not: nothing would serve them",
            );
        }
        return None;
    };
    if raw.state.backend == StateBackend::Postgres {
        p.add(
            "authorize",
            "grants are kept in a file on this node and cannot be shared by replicas yet; \
             [authorize] is not available with [state] backend = \"postgres\"",
        );
    }
    let public_url = public_url(p, &a.public_url);
    let cert = cert(p, cfg, a, files);
    let session_key = a.session_key_file.as_ref().and_then(|f| {
        let path = cfg.resolve(f);
        files.push(path.clone());
        p.take("authorize.session_key_file", session_key(&path))
    });
    let session_lifetime = bounded(
        p,
        "authorize.session_lifetime",
        &a.session_lifetime,
        MAX_SESSION,
    );
    let consent_timeout = bounded(
        p,
        "authorize.consent_timeout",
        &a.consent_timeout,
        MAX_CONSENT,
    );
    let login = super::login::settings(p, cfg, &a.login, files);
    if raw.oauth_client.is_empty() {
        p.add(
            "oauth_client",
            "[authorize] is configured but no [[oauth_client]]: no request could be valid",
        );
    }
    let grants_file = cfg.resolve(
        a.grants_file
            .as_deref()
            .unwrap_or(std::path::Path::new("grants.json")),
    );
    Some(AuthorizePlan {
        listen: a.listen,
        public_url: public_url?,
        cert,
        grants_file,
        session_key,
        session_lifetime,
        consent_timeout,
        login: login?,
        clients,
    })
}

/// The listener's TLS config: its own certificate, or the gateway's; no
/// client certificates (a browser has none to give).
pub(crate) fn tls(
    plan: &AuthorizePlan,
    gateway: (&[CertificateDer<'static>], &PrivateKeyDer<'static>),
    tls12: bool,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let (chain, key) = match &plan.cert {
        Some((c, k)) => (c.clone(), k.clone_key()),
        None => (gateway.0.to_vec(), gateway.1.clone_key()),
    };
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // Pages and form posts: HTTP/1.1 serves every browser.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

fn public_url(p: &mut Problems, url: &str) -> Option<String> {
    let ok = url
        .parse::<http::Uri>()
        .ok()
        .filter(|u| u.scheme_str() == Some("https") && u.host().is_some())
        .filter(|u| u.path() == "/" && !url.ends_with('/') && u.query().is_none());
    match ok {
        Some(_) => Some(url.to_owned()),
        None => {
            p.add(
                "authorize.public_url",
                format!(
                    "{url:?} is not an https:// URL without path or trailing /, e.g. \
                     \"https://login.example.com:8444\" (the session cookie is Secure)"
                ),
            );
            None
        }
    }
}

type CertAndKey = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn cert(
    p: &mut Problems,
    cfg: &ConfigFile,
    a: &AuthorizeSection,
    files: &mut Vec<PathBuf>,
) -> Option<CertAndKey> {
    match (&a.server_cert, &a.server_key) {
        (Some(c), Some(k)) => {
            let (c, k) = (cfg.resolve(c), cfg.resolve(k));
            files.push(c.clone());
            files.push(k.clone());
            let chain = p.take("authorize.server_cert", crate::tls::load_certs(&c));
            let key = p.take("authorize.server_key", crate::tls::load_key(&k));
            chain.zip(key)
        }
        (None, None) => None,
        _ => {
            p.add(
                "authorize.server_cert",
                "server_cert and server_key go together",
            );
            None
        }
    }
}

/// Why a session key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionKeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds {len} bytes; a session key needs at least {MIN_SESSION_KEY}")]
    Short { path: String, len: usize },
}

fn session_key(path: &std::path::Path) -> Result<Vec<u8>, SessionKeyError> {
    let mut key = std::fs::read(path).map_err(|source| SessionKeyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    while key.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        key.pop();
    }
    if key.len() < MIN_SESSION_KEY {
        return Err(SessionKeyError::Short {
            path: path.display().to_string(),
            len: key.len(),
        });
    }
    Ok(key)
}

fn bounded(p: &mut Problems, field: &str, s: &str, max: Duration) -> Duration {
    let d = p.duration(field, s);
    if d.is_zero() || d > max {
        p.add(
            field,
            format!("{s:?} is out of range: more than 0, at most {max:?}"),
        );
    }
    d
}

fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

/// A scope token (RFC 6749 §3.3: printable ASCII but space, `"` and `\`).
pub(crate) fn valid_scope(s: &str) -> bool {
    crate::scope_token::is_scope_token(s)
}

fn clients(p: &mut Problems, raw: &[OAuthClientSection]) -> OAuthClients {
    let mut out = Vec::new();
    for (i, c) in raw.iter().enumerate() {
        let at = |f: &str| format!("oauth_client[{i}] ({}).{f}", c.client_id);
        let mut ok = true;
        if !valid_client_id(&c.client_id) {
            p.add(
                at("client_id"),
                "letters, digits, '.', '_', '-', ':' only, 1 to 128",
            );
            ok = false;
        }
        if raw[..i].iter().any(|o| o.client_id == c.client_id) {
            p.add(
                at("client_id"),
                "another [[oauth_client]] has this client_id",
            );
            ok = false;
        }
        if c.redirect_uris.is_empty() {
            p.add(at("redirect_uris"), "at least one is needed");
            ok = false;
        }
        for (j, u) in c.redirect_uris.iter().enumerate() {
            if let Err(why) = redirect_uri(u) {
                p.add(at(&format!("redirect_uris[{j}]")), why);
                ok = false;
            }
        }
        if c.actors.is_empty() {
            p.add(at("actors"), "at least one SPIFFE ID or pattern is needed");
            ok = false;
        }
        let mut actors = Vec::new();
        for (j, a) in c.actors.iter().enumerate() {
            match SpiffePattern::parse(a) {
                Ok(pat) => actors.push(pat),
                Err(e) => {
                    p.add(at(&format!("actors[{j}]")), e.to_string());
                    ok = false;
                }
            }
        }
        if c.scopes.is_empty() {
            p.add(at("scopes"), "at least one scope is needed");
            ok = false;
        }
        if let Some(bad) = c.scopes.iter().find(|s| !valid_scope(s)) {
            p.add(at("scopes"), format!("{bad:?} is not a scope token"));
            ok = false;
        }
        if ok {
            out.push(OAuthClient {
                client_id: c.client_id.clone(),
                name: c.name.clone().unwrap_or_else(|| c.client_id.clone()),
                redirect_uris: c.redirect_uris.clone(),
                actors,
                scopes: c.scopes.clone(),
            });
        }
    }
    OAuthClients(out)
}

/// A redirect URI a client may register: absolute, `https` (or `http` to a
/// loopback address, RFC 8252 §7.3), no fragment (RFC 6749 §3.1.2).
fn redirect_uri(u: &str) -> Result<(), String> {
    if u.contains('#') {
        return Err(format!("{u:?} has a fragment (RFC 6749 §3.1.2)"));
    }
    check_url(u).map(|_| ()).map_err(|e| match e {
        crate::token::issuer_keys::fetch::UrlError::PlainHttp(_) => format!(
            "{u:?} is plain http to a non-loopback host; codes travel only over https \
             (http to 127.0.0.1, ::1 or localhost for native apps)"
        ),
        other => other.to_string(),
    })
}

/// The `[authorize]` material of a snapshot, once every section checked
/// clean: its TLS config (the gateway's certificate unless it has its own).
pub(crate) fn finish(
    cfg: &ConfigFile,
    plan: Option<AuthorizePlan>,
    gateway: (&[CertificateDer<'static>], &PrivateKeyDer<'static>),
) -> Result<Option<Arc<super::UserAuth>>, crate::config::ConfigErrors> {
    let Some(plan) = plan else { return Ok(None) };
    let tls = tls(&plan, gateway, cfg.raw.gateway.tls12)
        .map_err(|e| crate::config::one_problem(cfg, "authorize.server_key", e.to_string()))?;
    let provider = super::oidc::LoginProvider::new(plan.login.clone())
        .map_err(|e| crate::config::one_problem(cfg, "authorize.login.ca", e.to_string()))?;
    Ok(Some(Arc::new(super::UserAuth {
        provider: Arc::new(provider),
        listen: plan.listen,
        public_url: plan.public_url,
        tls,
        clients: plan.clients,
        login: plan.login,
        session_lifetime: plan.session_lifetime,
        consent_timeout: plan.consent_timeout,
        grants_file: plan.grants_file,
        session_key: plan.session_key,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every problem of the user's side is reported at once, under its field.
    #[test]
    fn problems_are_reported_by_field() {
        let text = r#"
[gateway]
listen = "127.0.0.1:1"
issuer = "https://gw.example"
public_url = "https://gw.example"
server_cert = "missing/gateway.pem"
server_key = "missing/gateway.key"

[tokens]
signing_key = "missing/token.key"

[authorize]
listen = "127.0.0.1:2"
public_url = "http://login.example/"
session_lifetime = "2d"
server_cert = "x.pem"

[authorize.login]
issuer = "http://idp.example"
client_id = "actgate"
client_secret_file = "missing/secret"
scopes = ["profile"]

[[oauth_client]]
client_id = "app"
redirect_uris = ["http://app.example/cb", "https://app.example/cb#frag"]
actors = ["not-spiffe"]
scopes = []

[[oauth_client]]
client_id = "app"
redirect_uris = ["https://app.example/cb"]
actors = ["spiffe://example.org/agent/*"]
scopes = ["a"]
"#;
        let cfg = ConfigFile::parse(std::path::Path::new("/nonexistent/gw.toml"), text).unwrap();
        let Err(err) = crate::snapshot::Snapshot::build(&cfg, Arc::default()) else {
            panic!("a config with problems built");
        };
        let fields: Vec<&str> = err
            .0
            .iter()
            .filter_map(|p| p.location.strip_prefix("/nonexistent/gw.toml: "))
            .filter(|f| f.starts_with("authorize") || f.starts_with("oauth_client"))
            .collect();
        assert_eq!(
            fields,
            [
                "oauth_client[0] (app).redirect_uris[0]",
                "oauth_client[0] (app).redirect_uris[1]",
                "oauth_client[0] (app).actors[0]",
                "oauth_client[0] (app).scopes",
                "oauth_client[1] (app).client_id",
                "authorize.public_url",
                "authorize.server_cert",
                "authorize.session_lifetime",
                "authorize.login.issuer",
                "authorize.login.client_secret_file",
                "authorize.login.scopes",
            ],
            "{err}"
        );
    }

    #[test]
    fn clients_without_authorize_are_refused() {
        let text = r#"
[gateway]
listen = "127.0.0.1:1"
issuer = "https://gw.example"
public_url = "https://gw.example"
server_cert = "missing/gateway.pem"
server_key = "missing/gateway.key"

[tokens]
signing_key = "missing/token.key"

[[oauth_client]]
client_id = "app"
redirect_uris = ["https://app.example/cb"]
actors = ["spiffe://example.org/agent/*"]
scopes = ["a"]
"#;
        let cfg = ConfigFile::parse(std::path::Path::new("/x/gw.toml"), text).unwrap();
        let Err(err) = crate::snapshot::Snapshot::build(&cfg, Arc::default()) else {
            panic!("built");
        };
        assert!(
            err.0
                .iter()
                .any(|p| p.location == "/x/gw.toml: oauth_client"
                    && p.message.contains("[authorize] is not")),
            "{err}"
        );
    }

    #[test]
    fn redirect_uris_must_be_https_or_loopback_without_fragment() {
        assert!(redirect_uri("https://app.example/cb").is_ok());
        assert!(redirect_uri("http://127.0.0.1:5000/cb").is_ok());
        assert!(redirect_uri("http://app.example/cb").is_err());
        assert!(redirect_uri("https://app.example/cb#x").is_err());
        assert!(redirect_uri("/cb").is_err());
    }

    #[test]
    fn scope_tokens() {
        assert!(valid_scope("calendar:read"));
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert!(!valid_scope(bad), "{bad}");
        }
    }
}
