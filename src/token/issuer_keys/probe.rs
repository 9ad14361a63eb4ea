//! A one-off fetch of an issuer's keys for the tools (`actgate config
//! check`, `actgate token decode --jwks URL`): what the gateway would get,
//! or why not, in the words the gateway logs, with nothing put in service.

use std::time::Duration;

use bytes::Bytes;

use super::discovery::{jwks_url, DiscoveryError, Locator};
use super::fetch::{FetchError, Fetcher};
use super::jwk::{jose_name, key_set, Strictness};
use super::IssuerKeySlot;
use crate::token::TokenError;

/// What a configured issuer serves.
#[derive(Debug)]
pub struct Probe {
    /// Where the key set was fetched (discovered, or configured).
    pub jwks_url: String,
    /// `(kid, algorithm)` of each usable key.
    pub keys: Vec<(Option<String>, String)>,
    /// Keys the gateway leaves out, each with why.
    pub skipped: Vec<String>,
}

/// Why an issuer's keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0}")]
    Discovery(#[from] DiscoveryError),
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("{url}: no usable keys: {reason}")]
    NoKeys { url: String, reason: String },
    #[error("no key set within startup_timeout ({0:?})")]
    Timeout(Duration),
    #[error("its keys are read from a file, not fetched")]
    NotFetched,
}

/// The key set of `issuer` as `locator` says: its URL and bytes.
pub async fn fetch_jwks(
    fetcher: &Fetcher,
    issuer: &str,
    locator: &Locator,
) -> Result<(String, Bytes), ProbeError> {
    let url = jwks_url(fetcher, issuer, locator).await?;
    let doc = fetcher.get(&url).await?;
    Ok((url, doc.body))
}

impl IssuerKeySlot {
    /// Fetch this issuer's keys once, as the gateway would at start (within
    /// its `startup_timeout`, with its `ca` and `algorithms`), and say what
    /// it got. The slot's key set in service is not touched.
    pub async fn probe(&self) -> Result<Probe, ProbeError> {
        let remote = self.remote().ok_or(ProbeError::NotFetched)?;
        let timeout = remote.timing.startup_timeout;
        let fetched = async {
            let (url, body) = fetch_jwks(&remote.fetcher, self.issuer(), &remote.locator).await?;
            let (keys, skipped) = key_set(
                self.issuer(),
                self.acceptance(),
                &body,
                remote.algorithms.as_deref(),
                Strictness::UsableKeys,
            )
            .map_err(|e| ProbeError::NoKeys {
                url: url.clone(),
                reason: match e {
                    TokenError::Jwks { reason, .. } => reason,
                    other => other.to_string(),
                },
            })?;
            let keys = keys
                .iter()
                .map(|k| (k.kid.clone(), jose_name(k.alg)))
                .collect();
            Ok(Probe {
                jwks_url: url,
                keys,
                skipped,
            })
        };
        tokio::time::timeout(timeout, fetched)
            .await
            .map_err(|_| ProbeError::Timeout(timeout))?
    }
}
