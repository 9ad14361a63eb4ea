//! rustls `ClientCertVerifier` for SPIFFE: per-trust-domain roots, SVID checks. (STUB)

use std::collections::HashMap;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};

use super::TrustDomain;

#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    #[error("trust domain {0}: {1}")]
    Build(String, String),
}

/// One trust domain's anchors (and optional CRLs).
#[derive(Debug, Clone)]
pub struct TrustDomainBundle {
    pub trust_domain: TrustDomain,
    pub roots: Vec<CertificateDer<'static>>,
    pub crls: Vec<CertificateRevocationListDer<'static>>,
}

#[derive(Debug)]
pub struct SpiffeClientVerifier {
    _domains: HashMap<TrustDomain, ()>,
}

impl SpiffeClientVerifier {
    pub fn new(
        _bundles: Vec<TrustDomainBundle>,
        _provider: Arc<rustls::crypto::CryptoProvider>,
        _rejections: Arc<crate::metrics::Metrics>,
    ) -> Result<Self, VerifierError> {
        todo!()
    }
}

// STUB impl, replaced by the identity branch.
impl rustls::server::danger::ClientCertVerifier for SpiffeClientVerifier {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _e: &CertificateDer<'_>,
        _i: &[CertificateDer<'_>],
        _n: rustls_pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        todo!()
    }
    fn verify_tls12_signature(
        &self,
        _m: &[u8],
        _c: &CertificateDer<'_>,
        _d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        todo!()
    }
    fn verify_tls13_signature(
        &self,
        _m: &[u8],
        _c: &CertificateDer<'_>,
        _d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        todo!()
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        todo!()
    }
}
