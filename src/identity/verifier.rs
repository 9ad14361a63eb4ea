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
