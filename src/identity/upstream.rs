//! rustls `ServerCertVerifier` for SPIFFE: an `https` upstream is
//! authenticated by the SPIFFE ID of its X509-SVID, not by a DNS name.
//!
//! SPIFFE servers are identified by the URI SAN of their SVID; a DNS-name
//! check (what `WebPkiServerVerifier` does) would either fail or, worse,
//! accept any certificate from the bundle with a matching hostname. So: the
//! webpki chain check against this trust domain's roots (server-auth usage,
//! current time) and then an exact match of the SPIFFE ID.

use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::RootCertStore;

use super::handshake::{handshake_signature_methods, refused, root_store, HandshakeSignatures};
use super::{svid, SpiffeId};

/// Accepts only an X509-SVID for `expected` that chains to the roots of
/// `expected`'s trust domain.
#[derive(Debug)]
pub struct SpiffeServerVerifier {
    expected: SpiffeId,
    roots: Arc<RootCertStore>,
    signatures: HandshakeSignatures,
}

impl SpiffeServerVerifier {
    /// `roots`: the bundle of `expected`'s trust domain (only that one).
    pub fn new(
        expected: SpiffeId,
        roots: &[CertificateDer<'static>],
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, rustls::Error> {
        let roots = root_store(roots).map_err(|(_, e)| e)?;
        Ok(SpiffeServerVerifier {
            expected,
            roots: Arc::new(roots),
            signatures: HandshakeSignatures::new(provider),
        })
    }
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.signatures
                .provider()
                .signature_verification_algorithms
                .all,
        )?;
        let info = svid::parse_svid(end_entity.as_ref()).map_err(refused)?;
        if info.spiffe_id != self.expected {
            tracing::warn!(
                expected = %self.expected,
                presented = %info.spiffe_id,
                "upstream presented the wrong SPIFFE ID"
            );
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName,
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    handshake_signature_methods!();
}
