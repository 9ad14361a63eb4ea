//! The development PKI behind `actgate certs init` and the demo: one CA, the
//! gateway's certificate, a token signing key, a demo identity provider and
//! workload SVIDs, written once and kept.

use std::path::{Path, PathBuf};

use std::net::IpAddr;

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};

use super::{es256_jwk, gen, read, write_new, DevCa, PkiError, DEV_SVID_TTL};
use crate::identity::{SpiffeId, TrustDomain};

// ---------------------------------------------------------------------------
// init_dev_pki
// ---------------------------------------------------------------------------

/// Files of one workload written by [`init_dev_pki`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadFiles {
    pub stem: String,
    pub spiffe_id: SpiffeId,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where [`init_dev_pki`] put everything, and which files it created this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevPki {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub bundle: PathBuf,
    pub gateway_cert: PathBuf,
    pub gateway_key: PathBuf,
    pub token_signing_key: PathBuf,
    /// Signs the served Agent Cards only (never a token: see `[cards]`).
    pub card_signing_key: PathBuf,
    pub idp_key: PathBuf,
    pub idp_jwks: PathBuf,
    pub workloads: Vec<WorkloadFiles>,
    /// Files written by this call; existing files are kept untouched.
    pub created: Vec<PathBuf>,
}

/// Create (or complete) a development PKI under `out_dir`:
///
/// ```text
/// <out>/<td>/ca.pem, ca.key (0600), bundle.pem
/// <out>/gateway.pem, gateway.key     SVID spiffe://<td>/gateway, DNS localhost, IP 127.0.0.1
/// <out>/token-signing.key            PKCS#8 P-256 (0600), signs access tokens only
/// <out>/card-signing.key             PKCS#8 P-256 (0600), signs served Agent Cards only
/// <out>/idp.key, idp-jwks.json       demo identity provider ES256 key and its public JWKS
/// <out>/agents/<stem>.pem, .key      one SVID per workload
/// ```
///
/// Existing files are kept. SVIDs live [`DEV_SVID_TTL`] (30 days): this is a
/// development PKI without rotation.
pub fn init_dev_pki(
    out_dir: &Path,
    trust_domain: &TrustDomain,
    workloads: &[(&str, SpiffeId)],
) -> Result<DevPki, PkiError> {
    check_stems(workloads)?;
    let td_dir = out_dir.join(trust_domain.as_str());
    let agents_dir = out_dir.join("agents");
    let mut created = Vec::new();

    let ca_cert = td_dir.join("ca.pem");
    let ca_key = td_dir.join("ca.key");
    let gateway_cert = out_dir.join("gateway.pem");
    let gateway_key = out_dir.join("gateway.key");
    let leaf_paths: Vec<(PathBuf, PathBuf)> =
        std::iter::once((gateway_cert.clone(), gateway_key.clone()))
            .chain(workloads.iter().map(|(stem, _)| {
                (
                    agents_dir.join(format!("{stem}.pem")),
                    agents_dir.join(format!("{stem}.key")),
                )
            }))
            .collect();

    let ca = if pair_state(&ca_cert, &ca_key)? {
        DevCa::from_pem(&read(&ca_cert)?, &read(&ca_key)?)?.for_trust_domain(trust_domain)
    } else {
        // Leaves kept from an earlier CA would silently fail every handshake
        // under a new one; refuse before writing anything.
        for (cert, key) in &leaf_paths {
            if cert.exists() || key.exists() {
                return Err(PkiError::StaleLeaf(cert.clone()));
            }
        }
        let ca = DevCa::generate(trust_domain)?;
        write_new(&ca_key, ca.key_pem(), true, &mut created)?;
        write_new(&ca_cert, ca.cert_pem(), false, &mut created)?;
        ca
    };
    let bundle = td_dir.join("bundle.pem");
    if !bundle.exists() {
        write_new(&bundle, ca.cert_pem(), false, &mut created)?;
    }

    let issue = |cert: &Path,
                 key: &Path,
                 id: &SpiffeId,
                 dns: &[&str],
                 ips: &[IpAddr],
                 created: &mut Vec<PathBuf>| {
        if pair_state(cert, key)? {
            return Ok(());
        }
        let svid = ca.issue_svid(id, DEV_SVID_TTL, dns, ips)?;
        write_new(key, &svid.key_pem, true, created)?;
        write_new(cert, &svid.cert_pem, false, created)
    };

    let gateway_id = SpiffeId::from_parts(trust_domain, "/gateway")
        .map_err(|e| PkiError::CaCert(e.to_string()))?;
    let localhost: IpAddr = [127, 0, 0, 1].into();
    issue(
        &gateway_cert,
        &gateway_key,
        &gateway_id,
        &["localhost"],
        &[localhost],
        &mut created,
    )?;

    let mut files = Vec::with_capacity(workloads.len());
    for ((stem, id), (cert, key)) in workloads.iter().zip(leaf_paths.iter().skip(1)) {
        issue(cert, key, id, &[], &[], &mut created)?;
        files.push(WorkloadFiles {
            stem: (*stem).to_owned(),
            spiffe_id: id.clone(),
            cert: cert.clone(),
            key: key.clone(),
        });
    }

    let token_signing_key = out_dir.join("token-signing.key");
    signing_key(&token_signing_key, "token key", &mut created)?;
    // A key of its own: a card carries content the upstream chose, so a
    // signature by the token key over it could pass for an access token.
    let card_signing_key = out_dir.join("card-signing.key");
    signing_key(&card_signing_key, "card key", &mut created)?;

    let idp_key = out_dir.join("idp.key");
    let idp_jwks = out_dir.join("idp-jwks.json");
    idp_pair(&idp_key, &idp_jwks, &mut created)?;

    Ok(DevPki {
        ca_cert,
        ca_key,
        bundle,
        gateway_cert,
        gateway_key,
        token_signing_key,
        card_signing_key,
        idp_key,
        idp_jwks,
        workloads: files,
        created,
    })
}

/// The stem becomes a file name; refuse anything that could escape `agents/`
/// or create hidden files.
fn check_stems(workloads: &[(&str, SpiffeId)]) -> Result<(), PkiError> {
    for (stem, _) in workloads {
        let ok = !stem.is_empty()
            && !stem.starts_with('.')
            && stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            return Err(PkiError::BadStem((*stem).to_owned()));
        }
    }
    Ok(())
}

/// A P-256 signing key at `path` (0600), unless one is there already.
fn signing_key(
    path: &Path,
    what: &'static str,
    created: &mut Vec<PathBuf>,
) -> Result<(), PkiError> {
    if !path.exists() {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen(what))?;
        write_new(path, &key.serialize_pem(), true, created)?;
    }
    Ok(())
}

/// The demo identity provider's ES256 key and its public JWKS, unless both
/// are there already.
fn idp_pair(key_path: &Path, jwks_path: &Path, created: &mut Vec<PathBuf>) -> Result<(), PkiError> {
    if !pair_state(key_path, jwks_path)? {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen("IdP key"))?;
        let jwks = serde_json::json!({ "keys": [es256_jwk(&key)?] });
        let text = serde_json::to_string_pretty(&jwks).unwrap_or_default() + "\n";
        write_new(key_path, &key.serialize_pem(), true, created)?;
        write_new(jwks_path, &text, false, created)?;
    }
    Ok(())
}

/// `true` if both files exist, `false` if neither; a half pair is an error.
fn pair_state(a: &Path, b: &Path) -> Result<bool, PkiError> {
    match (a.exists(), b.exists()) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        (true, false) => Err(PkiError::PartialPair {
            present: a.to_path_buf(),
            missing: b.to_path_buf(),
        }),
        (false, true) => Err(PkiError::PartialPair {
            present: b.to_path_buf(),
            missing: a.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{svid, SpiffeClientVerifier, TrustDomainBundle};
    use crate::metrics::Metrics;
    use rustls::server::danger::ClientCertVerifier;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, UnixTime};
    use std::fs;
    use std::sync::Arc;

    fn td() -> TrustDomain {
        TrustDomain::parse("example.org").unwrap()
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn init_dev_pki_writes_then_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let a = SpiffeId::parse("spiffe://example.org/agent/a").unwrap();
        let pki = init_dev_pki(dir.path(), &td(), &[("a", a.clone())]).unwrap();
        assert_eq!(pki.created.len(), 11, "{:?}", pki.created);
        for p in [
            &pki.ca_key,
            &pki.gateway_key,
            &pki.token_signing_key,
            &pki.card_signing_key,
            &pki.idp_key,
            &pki.workloads[0].key,
        ] {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = fs::metadata(p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", p.display());
            }
        }
        assert_eq!(pki.ca_cert, dir.path().join("example.org/ca.pem"));
        assert_eq!(pki.workloads[0].cert, dir.path().join("agents/a.pem"));
        let gw = svid::parse_svid(der(&read(&pki.gateway_cert).unwrap()).as_ref()).unwrap();
        assert_eq!(gw.spiffe_id.as_str(), "spiffe://example.org/gateway");
        let jwks: serde_json::Value = serde_json::from_str(&read(&pki.idp_jwks).unwrap()).unwrap();
        assert_eq!(jwks["keys"][0]["crv"], "P-256");

        // The agent SVID chains to the written bundle.
        let bundle = crate::identity::bundles_from_pem(&read(&pki.bundle).unwrap()).unwrap();
        let v = SpiffeClientVerifier::new(
            vec![TrustDomainBundle::new(td(), bundle)],
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            Arc::new(Metrics::default()),
        )
        .unwrap();
        let agent = der(&read(&pki.workloads[0].cert).unwrap());
        v.verify_client_cert(&agent, &[], UnixTime::now()).unwrap();

        // Second run: nothing new, except a newly listed workload.
        let b = SpiffeId::parse("spiffe://example.org/agent/b").unwrap();
        let again = init_dev_pki(dir.path(), &td(), &[("a", a), ("b", b)]).unwrap();
        assert_eq!(
            again.created,
            vec![
                dir.path().join("agents/b.key"),
                dir.path().join("agents/b.pem")
            ]
        );
        assert_eq!(read(&again.ca_cert).unwrap(), read(&pki.ca_cert).unwrap());
    }

    #[test]
    fn init_dev_pki_refuses_unsafe_stems_and_half_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let a = SpiffeId::parse("spiffe://example.org/agent/a").unwrap();
        for stem in ["../x", "", ".hidden", "a/b"] {
            assert!(matches!(
                init_dev_pki(dir.path(), &td(), &[(stem, a.clone())]),
                Err(PkiError::BadStem(_))
            ));
        }
        init_dev_pki(dir.path(), &td(), &[]).unwrap();
        fs::remove_file(dir.path().join("gateway.key")).unwrap();
        assert!(matches!(
            init_dev_pki(dir.path(), &td(), &[]),
            Err(PkiError::PartialPair { .. })
        ));
        // A fresh CA with leftover leaves is reported, not silently mixed.
        fs::remove_file(dir.path().join("gateway.pem")).unwrap();
        init_dev_pki(dir.path(), &td(), &[]).unwrap();
        fs::remove_file(dir.path().join("example.org/ca.pem")).unwrap();
        fs::remove_file(dir.path().join("example.org/ca.key")).unwrap();
        assert!(matches!(
            init_dev_pki(dir.path(), &td(), &[]),
            Err(PkiError::StaleLeaf(_))
        ));
    }
}
