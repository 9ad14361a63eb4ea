//! Who is calling (and who is called): SPIFFE IDs, X509-SVID checks, and the
//! rustls verifiers of both directions, callers' client certificates
//! (`verifier`) and upstreams' server certificates (`upstream`), on one shared
//! core (`handshake`).

pub(crate) mod build;
mod handshake;
pub mod spiffe;
pub mod svid;
pub mod upstream;
pub mod verifier;

pub use spiffe::{SpiffeId, SpiffeIdError, SpiffePattern, TrustDomain};
pub use svid::{SvidError, SvidInfo};
pub use upstream::SpiffeServerVerifier;
pub use verifier::{
    bundles_from_pem, crls_from_pem, ClientCertRejection, RevocationPolicy, SpiffeClientVerifier,
    TrustDomainBundle, VerifierError,
};

use rustls_pki_types::CertificateDer;

/// The verified identity of the peer on one TLS connection.
///
/// Computed once, right after the handshake, from the leaf the verifier already
/// accepted; every request on the connection reuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// The SPIFFE ID from the leaf's single URI SAN.
    pub spiffe_id: SpiffeId,
    /// RFC 8705 `x5t#S256`: base64url (no padding) SHA-256 of the leaf DER.
    pub thumbprint: String,
    /// The leaf's `notAfter`, seconds since the epoch.
    pub not_after: i64,
}

impl CallerIdentity {
    /// Derive the identity from the peer chain of an established connection.
    ///
    /// The chain has already passed [`SpiffeClientVerifier`]; this re-parses only
    /// the leaf to extract the ID (it cannot fail for a chain the verifier
    /// accepted, but it still returns an error rather than panicking).
    pub fn from_peer_chain(chain: &[CertificateDer<'_>]) -> Result<Self, SvidError> {
        let leaf = chain.first().ok_or(SvidError::NoCertificate)?;
        let info = svid::parse_svid(leaf.as_ref())?;
        Ok(CallerIdentity {
            spiffe_id: info.spiffe_id,
            thumbprint: thumbprint(leaf.as_ref()),
            not_after: info.not_after,
        })
    }
}

/// RFC 8705 §3.1 certificate thumbprint: base64url(SHA-256(DER)), no padding.
pub fn thumbprint(der: &[u8]) -> String {
    use base64::Engine;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}
