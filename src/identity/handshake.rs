//! What the two SPIFFE verifiers share, callers' client certificates
//! ([`super::SpiffeClientVerifier`]) and upstreams' server certificates
//! ([`super::SpiffeServerVerifier`]): the trust anchors of one trust domain,
//! the shape of a refusal, and the handshake signature checks.
//!
//! The handshake signatures (the peer proving it holds the certificate's key)
//! are checked by rustls's own functions with the provider's algorithms;
//! nothing about them is SPIFFE-specific, so both verifiers use exactly the
//! same code and cannot drift apart.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use rustls_pki_types::CertificateDer;

/// The roots of one trust domain as a rustls store; `Err` names the first
/// root (by index) that is not a usable trust anchor.
pub(crate) fn root_store(
    roots: &[CertificateDer<'static>],
) -> Result<RootCertStore, (usize, rustls::Error)> {
    let mut store = RootCertStore::empty();
    for (index, root) in roots.iter().enumerate() {
        store.add(root.clone()).map_err(|e| (index, e))?;
    }
    Ok(store)
}

/// A certificate refused for a reason of ours (not webpki's): the TLS alert
/// is `bad_certificate`, the reason stays available to logs and tests.
pub(crate) fn refused<E>(why: E) -> rustls::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(why))))
}

/// Handshake signature checks with one provider's algorithms.
#[derive(Debug, Clone)]
pub(crate) struct HandshakeSignatures {
    provider: Arc<CryptoProvider>,
}

impl HandshakeSignatures {
    pub(crate) fn new(provider: Arc<CryptoProvider>) -> Self {
        HandshakeSignatures { provider }
    }

    pub(crate) fn provider(&self) -> &Arc<CryptoProvider> {
        &self.provider
    }

    pub(crate) fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    pub(crate) fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    pub(crate) fn schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The three handshake-signature methods of a rustls verifier trait
/// (`ClientCertVerifier` and `ServerCertVerifier` declare the same ones),
/// answered by the implementing type's `signatures: HandshakeSignatures`.
macro_rules! handshake_signature_methods {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls_pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.signatures.tls12(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls_pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.signatures.tls13(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.signatures.schemes()
        }
    };
}
pub(crate) use handshake_signature_methods;
