//! The `[[trust_domain]]` part of building a snapshot: one bundle per trust
//! domain (never merged), its CRLs and revocation rules, and the client
//! verifier made from them. Each problem is reported under its field.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

use super::verifier::{crls_from_pem, RevocationPolicy, SpiffeClientVerifier, TrustDomainBundle};
use super::TrustDomain;
use crate::config::{ConfigFile, Disposition, Problems, RevocationScope, TrustDomainSection};
use crate::metrics::Metrics;

/// The trust material of every configured trust domain that loaded.
pub(crate) struct Trust {
    /// One bundle per domain, for the client verifier.
    pub bundles: Vec<TrustDomainBundle>,
    /// The same roots by trust domain name, to verify upstreams with.
    pub roots_by_td: HashMap<String, Vec<CertificateDer<'static>>>,
}

/// Load every `[[trust_domain]]` (its files are added to `files`). The text
/// of each domain's JWT-SVID bundle (`jwt_bundle`) goes to `jwt_bundle`
/// (trust domain, JWKS text): it verifies tokens, not connections.
pub(crate) fn trust_domains<E: std::fmt::Display>(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
    mut jwt_bundle: impl FnMut(&str, &str) -> Result<(), E>,
) -> Trust {
    let mut trust = Trust {
        bundles: Vec::new(),
        roots_by_td: HashMap::new(),
    };
    if cfg.raw.trust_domain.is_empty() {
        p.add(
            "[[trust_domain]]",
            "no trust domain configured: no caller could ever be accepted",
        );
    }
    for (i, td) in cfg.raw.trust_domain.iter().enumerate() {
        let field = format!("trust_domain[{i}]");
        let Some(name) = p.take(format!("{field}.name"), TrustDomain::parse(&td.name)) else {
            continue;
        };
        if trust.roots_by_td.contains_key(name.as_str()) {
            p.add(
                format!("{field}.name"),
                format!("trust domain {name} is configured twice"),
            );
            continue;
        }
        files.push(cfg.resolve(&td.bundle));
        let crls = crls(p, cfg, files, &field, td);
        if let Some(path) = &td.jwt_bundle {
            let full = cfg.resolve(path);
            files.push(full.clone());
            let added = std::fs::read_to_string(&full)
                .map_err(|e| format!("{}: cannot read: {e}", full.display()))
                .and_then(|text| {
                    jwt_bundle(name.as_str(), &text).map_err(|e| format!("{}: {e}", full.display()))
                });
            p.take(format!("{field}.jwt_bundle"), added);
        }
        let max_lifetime_secs = td.max_certificate_lifetime.as_ref().map(|s| {
            p.duration(&format!("{field}.max_certificate_lifetime"), s)
                .as_secs() as i64
        });
        let bundle_path = cfg.resolve(&td.bundle);
        let roots = std::fs::read(&bundle_path)
            .map_err(|e| format!("{}: cannot read: {e}", bundle_path.display()))
            .and_then(|bytes| {
                crate::pki::load_bundle_any(&bytes)
                    .map_err(|e| format!("{}: {e}", bundle_path.display()))
            });
        if let Some(roots) = p.take(format!("{field}.bundle"), roots) {
            trust
                .roots_by_td
                .insert(name.as_str().to_string(), roots.clone());
            let mut b = TrustDomainBundle::new(name, roots).with_crls(crls);
            b.revocation = RevocationPolicy {
                end_entity_only: td.revocation_scope == RevocationScope::Leaf,
                allow_unknown_status: td.unknown_revocation_status == Disposition::Allow,
                enforce_expiration: td.expired_crl == Disposition::Reject,
            };
            b.max_lifetime_secs = max_lifetime_secs;
            trust.bundles.push(b);
        }
    }
    trust
}

/// `trust_domain[i].crls`, each file read and parsed (and watched).
fn crls(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
    field: &str,
    td: &TrustDomainSection,
) -> Vec<rustls::pki_types::CertificateRevocationListDer<'static>> {
    let mut crls = Vec::new();
    for (j, path) in td.crls.iter().enumerate() {
        let full = cfg.resolve(path);
        files.push(full.clone());
        let loaded = std::fs::read_to_string(&full)
            .map_err(|e| format!("{}: cannot read: {e}", full.display()))
            .and_then(|pem| crls_from_pem(&pem).map_err(|e| format!("{}: {e}", full.display())));
        if let Some(c) = p.take(format!("{field}.crls[{j}]"), loaded) {
            crls.extend(c);
        }
    }
    crls
}

/// The client verifier over `bundles`; `None` (with the problem recorded)
/// when it cannot be made, or when no bundle loaded (already a problem).
pub(crate) fn client_verifier(
    p: &mut Problems,
    bundles: Vec<TrustDomainBundle>,
    metrics: &Arc<Metrics>,
) -> Option<SpiffeClientVerifier> {
    if bundles.is_empty() {
        return None;
    }
    p.take(
        "[[trust_domain]]",
        SpiffeClientVerifier::new(bundles, crate::tls::provider(), metrics.clone()),
    )
}
