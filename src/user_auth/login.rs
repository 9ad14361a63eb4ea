//! The login at the organisation's IdP (`[authorize.login]`): the gateway
//! is an OpenID Connect relying party of one issuer. This file: the
//! settings (the flow is added beside them).

use std::path::PathBuf;

use rustls::pki_types::CertificateDer;

use crate::config::{ConfigFile, LoginSection, Problems};
use crate::token::issuer_keys::fetch::check_url;

/// The client secret: never printed.
#[derive(Clone)]
pub struct ClientSecret(pub(crate) String);

impl ClientSecret {
    /// The secret, for the token request's client authentication only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(…)")
    }
}

/// `[authorize.login]`, checked.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// `ca`, read, with its file for messages; `None`: the system's roots.
    pub ca: Option<(PathBuf, Vec<CertificateDer<'static>>)>,
    pub claim: String,
    pub scopes: Vec<String>,
}

pub(crate) fn settings(
    p: &mut Problems,
    cfg: &ConfigFile,
    l: &LoginSection,
    files: &mut Vec<PathBuf>,
) -> Option<LoginSettings> {
    let issuer = p
        .take("authorize.login.issuer", check_url(&l.issuer))
        .map(|_| l.issuer.clone());
    if l.client_id.is_empty() {
        p.add("authorize.login.client_id", "must not be empty");
    }
    let secret_path = cfg.resolve(&l.client_secret_file);
    files.push(secret_path.clone());
    let secret = match std::fs::read_to_string(&secret_path) {
        Ok(s) if !s.trim_end_matches(['\r', '\n']).is_empty() => {
            Some(ClientSecret(s.trim_end_matches(['\r', '\n']).to_owned()))
        }
        Ok(_) => {
            p.add(
                "authorize.login.client_secret_file",
                format!("{} is empty", secret_path.display()),
            );
            None
        }
        Err(e) => {
            p.add(
                "authorize.login.client_secret_file",
                format!("cannot read {}: {e}", secret_path.display()),
            );
            None
        }
    };
    let ca = match &l.ca {
        Some(f) => {
            let path = cfg.resolve(f);
            files.push(path.clone());
            let certs = p.take("authorize.login.ca", crate::tls::load_certs(&path))?;
            Some((path, certs))
        }
        None => None,
    };
    if l.claim.is_empty() {
        p.add("authorize.login.claim", "must name a claim, e.g. \"sub\"");
    }
    if !l.scopes.iter().any(|s| s == "openid") {
        p.add(
            "authorize.login.scopes",
            "must include \"openid\" (without it the IdP sends no ID token)",
        );
    }
    if let Some(bad) = l.scopes.iter().find(|s| !super::build::valid_scope(s)) {
        p.add(
            "authorize.login.scopes",
            format!("{bad:?} is not a scope token"),
        );
    }
    if l.client_id.is_empty() || l.claim.is_empty() {
        return None;
    }
    Some(LoginSettings {
        issuer: issuer?,
        client_id: l.client_id.clone(),
        client_secret: secret?,
        ca,
        claim: l.claim.clone(),
        scopes: l.scopes.clone(),
    })
}
