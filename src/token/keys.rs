//! Signing keys, parsed once and kept; `kid`; JWKS. (STUB: token helper owns this)

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum SigningAlgorithm {
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key: {0}")]
    Invalid(String),
}

pub struct SigningKey {}

impl SigningKey {
    /// Parse a PKCS#8 PEM private key for `alg`.
    pub fn from_pkcs8_pem(_pem: &str, _alg: SigningAlgorithm) -> Result<Self, KeyError> {
        todo!()
    }
    /// Generate a fresh key; returns the key and its PKCS#8 PEM.
    pub fn generate(_alg: SigningAlgorithm) -> Result<(Self, String), KeyError> {
        todo!()
    }
    pub fn kid(&self) -> &str {
        todo!()
    }
    pub fn algorithm(&self) -> SigningAlgorithm {
        todo!()
    }
    pub fn public_jwk(&self) -> serde_json::Value {
        todo!()
    }
}

/// The current signing key plus older keys still published for verification.
pub struct KeySet {
    pub current: SigningKey,
    pub previous: Vec<SigningKey>,
}

impl KeySet {
    /// `{"keys": [...]}` with public members only.
    pub fn jwks(&self) -> serde_json::Value {
        todo!()
    }
}
