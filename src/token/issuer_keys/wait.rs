//! Verification that survives a key rotation: a token whose `kid` its
//! issuer's key set lacks (or whose issuer has no key set yet) waits for a
//! fetch of that issuer's keys, bounded, and is verified again. The fetch is
//! rate-limited per issuer ([`IssuerKeySlot::refresh_for_unknown_kid`]).

use std::time::Duration;

use super::fetch::FETCH_TIMEOUT;
use super::IssuerKeySlot;
use crate::metrics::Metrics;
use crate::token::{SubjectToken, SubjectTokenVerifier, TokenError};

/// Longest a request waits for its issuer's keys: a discovery document and
/// a key set, each bounded by [`FETCH_TIMEOUT`]. (A fetch reuses the key set
/// URL discovery found, so it is usually one document; it is never more
/// than two, since a failed key set fetch only makes the next fetch
/// discover again.)
pub const KEY_WAIT: Duration = FETCH_TIMEOUT.saturating_mul(2);

impl SubjectTokenVerifier {
    /// [`SubjectTokenVerifier::verify`], waiting for a fetch of the issuer's
    /// keys when the token names a key the issuer's set lacks.
    pub async fn verify_waiting_for_keys(
        &self,
        token: &str,
        presenter_resource: Option<&str>,
        metrics: &Metrics,
    ) -> Result<SubjectToken, TokenError> {
        let first = self.verify(token, presenter_resource, crate::unix_now());
        if !matches!(
            first,
            Err(TokenError::UnknownKey(_) | TokenError::IssuerUnavailable { .. })
        ) {
            return first;
        }
        // Both refusals come after the cheap checks: the token is well
        // formed and names a configured issuer.
        let Some((slot, _)) = self.fetched_slot_of(token) else {
            return first; // keys from a file: nothing to fetch
        };
        wait_for_keys(slot, metrics).await;
        self.verify(token, presenter_resource, crate::unix_now())
    }
}

impl SubjectTokenVerifier {
    /// Before a synchronous verification (the token exchange): when `token`
    /// names a configured issuer whose fetched key set lacks its `kid` (or
    /// has no keys yet), wait for a fetch as [`Self::verify_waiting_for_keys`]
    /// would. Anything else returns at once; nothing is verified here.
    pub async fn wait_for_keys_of(&self, token: &str, metrics: &Metrics) {
        // The same header rules as verification (checked there): a token
        // they refuse never makes the gateway fetch.
        let Some((slot, kid)) = self.fetched_slot_of(token) else {
            return;
        };
        let kid = kid.as_deref();
        let known = slot
            .current()
            .is_ok_and(|set| kid.is_none() || set.keys.iter().any(|k| k.kid.as_deref() == kid));
        if !known {
            wait_for_keys(slot, metrics).await;
        }
    }
}

async fn wait_for_keys(slot: &IssuerKeySlot, metrics: &Metrics) {
    let seen = slot.generation();
    if tokio::time::timeout(KEY_WAIT, slot.refresh_for_unknown_kid(seen, metrics))
        .await
        .is_err()
    {
        tracing::warn!(issuer = %slot.issuer(), "gave up waiting for the issuer's keys");
    }
}
