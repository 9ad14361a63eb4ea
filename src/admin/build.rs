//! The `[admin]` part of building a snapshot: checked with the rest of the
//! config, each problem reported under its field.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::access::AdminAccess;
use crate::config::{ConfigFile, Problems};
use crate::identity::SpiffePattern;
use crate::tls;

/// What `[admin]` asks for, checked; the TLS config is made in [`finish`]
/// once the client verifier exists.
pub(crate) struct AdminPlan {
    mtls: bool,
    allowed: Vec<SpiffePattern>,
    cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

pub(crate) fn plan(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<std::path::PathBuf>,
) -> AdminPlan {
    let raw = &cfg.raw;
    let mut plan = AdminPlan {
        mtls: false,
        allowed: Vec::new(),
        cert: None,
    };
    if let Some(a) = &raw.admin {
        plan.mtls = a.mtls;
        for (i, s) in a.allowed_identities.iter().enumerate() {
            if let Some(pat) = p.take(
                format!("admin.allowed_identities[{i}]"),
                SpiffePattern::parse(s),
            ) {
                plan.allowed.push(pat);
            }
        }
        if a.mtls && a.allowed_identities.is_empty() {
            p.add(
                "admin.allowed_identities",
                "mtls is on but no identity is allowed: nobody could use the admin listener",
            );
        }
        if !a.mtls && !a.allowed_identities.is_empty() {
            p.add(
                "admin.allowed_identities",
                "identities are checked only with mtls = true; set it (plain HTTP authenticates no one)",
            );
        }
        match (&a.server_cert, &a.server_key) {
            (Some(c), Some(k)) => {
                files.push(cfg.resolve(c));
                files.push(cfg.resolve(k));
                let chain = p.take("admin.server_cert", tls::load_certs(&cfg.resolve(c)));
                let key = p.take("admin.server_key", tls::load_key(&cfg.resolve(k)));
                plan.cert = chain.zip(key);
            }
            (None, None) => {}
            _ => p.add(
                "admin.server_cert",
                "server_cert and server_key go together",
            ),
        }
    }
    if let Some(addr) = raw.gateway.admin_listen {
        // Plain HTTP authenticates nobody: anyone who can connect is an
        // operator. That is only acceptable where "can connect" means "is on
        // this machine".
        if !plan.mtls && !addr.ip().is_loopback() {
            p.add(
                "gateway.admin_listen",
                format!("{addr} is not a loopback address; a plain-HTTP admin listener is allowed only on loopback (or set [admin] mtls = true)"),
            );
        }
    }
    plan
}

/// The admin listener's access rules and, under mTLS, its TLS config (the
/// same client verifier as the main listener: admin callers are SVIDs of the
/// configured trust domains).
pub(crate) fn finish(
    plan: AdminPlan,
    chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    tls12: bool,
) -> Result<AdminAccess, rustls::Error> {
    if !plan.mtls {
        return Ok(AdminAccess {
            tls: None,
            allowed: Vec::new(),
        });
    }
    let (chain, key) = match plan.cert {
        Some(c) => c,
        None => (chain.to_vec(), key.clone_key()),
    };
    let mut cfg = tls::server_config(chain, key, verifier, tls12)?;
    // The admin API is small JSON and a page: HTTP/1.1 keeps it simple for
    // every client (curl, the CLI, browsers).
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(AdminAccess {
        tls: Some(Arc::new(cfg)),
        allowed: plan.allowed,
    })
}
