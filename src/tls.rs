//! rustls configurations built from the current material: the mTLS listener,
//! and the client side used towards `https` upstream agents.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;

use crate::identity::{SpiffeId, SpiffeServerVerifier};

/// The one crypto provider the gateway uses: aws-lc-rs, shared with token
/// signing so there is a single crypto library in the process.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

#[derive(Debug, thiserror::Error)]
pub enum TlsMaterialError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: String },
    #[error("{path}: no PEM private key found (expected PKCS#8, SEC1 or PKCS#1)")]
    NoKey { path: String },
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// Read a PEM certificate chain (leaf first).
pub fn load_certs(
    path: &std::path::Path,
) -> Result<Vec<CertificateDer<'static>>, TlsMaterialError> {
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| TlsMaterialError::Read {
        path: p.clone(),
        source,
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsMaterialError::NoCertificate { path: p });
    }
    Ok(certs)
}

/// Read a PEM private key.
pub fn load_key(path: &std::path::Path) -> Result<PrivateKeyDer<'static>, TlsMaterialError> {
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| TlsMaterialError::Read {
        path: p.clone(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| TlsMaterialError::NoKey { path: p })
}

/// The listener's config: client certificates mandatory (the verifier decides),
/// TLS 1.3 unless `tls12`, ALPN h2 and http/1.1.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    verifier: Arc<dyn ClientCertVerifier>,
    tls12: bool,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Session resumption is off: a resumed TLS session restores the client
    // chain from the first handshake without running the verifier again, so a
    // certificate that has since expired or been revoked would get back in.
    // A full mTLS handshake costs ~2x a resumed one; identity wins.
    cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    Ok(cfg)
}

/// Client config for one `https` upstream agent: present the gateway's
/// workload certificate, and accept only an X509-SVID for `expected` that
/// chains to `roots` (the bundle of `expected`'s trust domain; see
/// [`SpiffeServerVerifier`]).
pub fn upstream_client_config(
    expected: SpiffeId,
    roots: &[CertificateDer<'static>],
    client_chain: Vec<CertificateDer<'static>>,
    client_key: PrivateKeyDer<'static>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = provider();
    let verifier = Arc::new(SpiffeServerVerifier::new(
        expected,
        roots,
        provider.clone(),
    )?);
    // ALPN is left empty: the hyper-rustls connector sets it (h2, http/1.1).
    rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(client_chain, client_key)
}
