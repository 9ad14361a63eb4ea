//! X509-SVID leaf checks and identity extraction. (STUB: identity helper owns this)

use super::SpiffeId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SvidError {
    #[error("no client certificate was presented")]
    NoCertificate,
    #[error("certificate is not valid DER X.509: {0}")]
    Malformed(String),
}

/// What the gateway takes from a leaf that passed every X509-SVID rule.
#[derive(Debug, Clone)]
pub struct SvidInfo {
    pub spiffe_id: SpiffeId,
    pub not_before: i64,
    pub not_after: i64,
}

/// Parse a leaf and apply every X509-SVID leaf rule except validity time and chain.
pub fn parse_svid(_der: &[u8]) -> Result<SvidInfo, SvidError> {
    todo!()
}
