//! The verified-token cache: what verifying a subject token established,
//! kept per exact token so the signature is checked once per token, not once
//! per request (Envoy's `jwt_authn` does the same).
//!
//! What is cached is only what does not depend on the request: the
//! signature, the header rules and the claims as parsed. The clock checks
//! (`exp`, `nbf`, `iat`), the presenter's audience check for the gateway's
//! own tokens and the caller's `cnf` binding (done by the caller of
//! [`super::SubjectTokenVerifier::verify`]) run on every request, cached or
//! not, so a hit can never accept what a miss would refuse.
//!
//! Security choices:
//! - Entries are found by an HMAC-SHA256 of the token under a key made for
//!   this cache at start: the token itself is never a key (nothing that
//!   dumps or logs the map can show one), and nobody who does not know the
//!   key can make two tokens collide.
//! - Only tokens whose signature verified are cached; a token refused
//!   before that is checked again every time it is presented.
//! - Bounded in entries and in bytes, per shard; a full shard first drops
//!   the expired entries, then arbitrary ones. A flood of distinct valid
//!   tokens costs hits, never memory.
//! - An entry is never served past its token's `exp` (plus the leeway): it
//!   is dropped when found expired, and the clock check refuses it anyway.
//! - The cache belongs to one verifier: new configured keys (a reload) mean
//!   a new verifier and an empty cache. An issuer's fetched key set can
//!   change under a verifier: each entry remembers the generation of the
//!   key set it verified under and is served only while that is still its
//!   issuer's (checked by the verifier on a hit), so a removed key stops
//!   verifying at the next good fetch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::metrics::{CacheCounters, Metrics};

/// Entries across all shards unless configured otherwise.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// Bytes (estimated from the token sizes) across all shards.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;
const SHARDS: usize = 16;
/// Estimated bookkeeping per entry beyond the token's own length (the
/// parsed claims are never larger than the token that carried them).
const ENTRY_OVERHEAD: usize = 256;

type Tag = [u8; 32];

struct Entry<T> {
    value: Arc<T>,
    /// The first second the entry must no longer be served (the token's
    /// `exp` plus the leeway).
    stale_at: i64,
    cost: usize,
}

struct Shard<T> {
    map: HashMap<Tag, Entry<T>>,
    bytes: usize,
}

impl<T> Default for Shard<T> {
    fn default() -> Self {
        Shard {
            map: HashMap::new(),
            bytes: 0,
        }
    }
}

impl<T> Shard<T> {
    /// Whether an entry was there.
    fn remove(&mut self, tag: &Tag) -> bool {
        let Some(e) = self.map.remove(tag) else {
            return false;
        };
        self.bytes -= e.cost;
        true
    }
}

/// See the module documentation. `T` is what verification established.
pub struct VerifiedTokenCache<T> {
    key: hmac::Key,
    shards: Vec<Mutex<Shard<T>>>,
    max_entries_per_shard: usize,
    max_bytes_per_shard: usize,
    counters: Arc<CacheCounters>,
}

impl<T> std::fmt::Debug for VerifiedTokenCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key, never a tag.
        f.debug_struct("VerifiedTokenCache")
            .field("entries", &self.len())
            .finish()
    }
}

/// The key could not be made: the system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the verified-token cache key could not be generated (system random source failed)")]
pub struct CacheKeyError;

impl<T> VerifiedTokenCache<T> {
    /// A cache for at most `max_entries` tokens and about `max_bytes` of
    /// them; `max_entries == 0` disables it.
    pub fn new(max_entries: usize, max_bytes: usize) -> Result<Self, CacheKeyError> {
        let mut secret = [0u8; 32];
        SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| CacheKeyError)?;
        Ok(VerifiedTokenCache {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            max_entries_per_shard: max_entries.div_ceil(SHARDS),
            max_bytes_per_shard: max_bytes.div_ceil(SHARDS),
            counters: Arc::default(),
        })
    }

    /// Count hits, misses and evictions in `counters` (the gateway's
    /// metrics) rather than in counters of this cache's own.
    pub fn with_counters(mut self, counters: Arc<CacheCounters>) -> Self {
        self.counters = counters;
        self
    }

    /// The counters this cache counts in.
    pub fn counters(&self) -> &Arc<CacheCounters> {
        &self.counters
    }

    pub(super) fn enabled(&self) -> bool {
        self.max_entries_per_shard > 0
    }

    pub(super) fn tag(&self, token: &str) -> Tag {
        let mut tag = [0u8; 32];
        tag.copy_from_slice(hmac::sign(&self.key, token.as_bytes()).as_ref());
        tag
    }

    fn shard(&self, tag: &Tag) -> MutexGuard<'_, Shard<T>> {
        // A panic while holding the lock leaves a consistent map (every
        // mutation is one call), so a poisoned lock is still usable.
        self.shards[usize::from(tag[0]) % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached verification of the token with `tag`, unless it is stale.
    pub(super) fn get(&self, tag: &Tag, now: i64) -> Option<Arc<T>> {
        if !self.enabled() {
            return None;
        }
        let mut shard = self.shard(tag);
        let Some(entry) = shard.map.get(tag) else {
            Metrics::inc(&self.counters.misses);
            return None;
        };
        if now >= entry.stale_at {
            shard.remove(tag);
            Metrics::inc(&self.counters.evictions);
            Metrics::inc(&self.counters.misses);
            return None;
        }
        let value = Arc::clone(&entry.value);
        Metrics::inc(&self.counters.hits);
        Some(value)
    }

    /// Keep `value` for the token with `tag`, `token_len` bytes long, until
    /// `stale_at` (its `exp` plus the leeway).
    pub(super) fn insert(
        &self,
        tag: Tag,
        token_len: usize,
        value: Arc<T>,
        stale_at: i64,
        now: i64,
    ) {
        let cost = token_len.saturating_add(ENTRY_OVERHEAD);
        if !self.enabled() || cost > self.max_bytes_per_shard {
            return;
        }
        let mut shard = self.shard(&tag);
        // The same token again (two requests verified it at once): replaced,
        // not evicted.
        shard.remove(&tag);
        let full = |s: &Shard<T>| {
            s.map.len() >= self.max_entries_per_shard || s.bytes + cost > self.max_bytes_per_shard
        };
        if full(&shard) {
            let before = shard.map.len();
            shard.map.retain(|_, e| now < e.stale_at);
            if shard.map.len() != before {
                shard.bytes = shard.map.values().map(|e| e.cost).sum();
                let dropped = (before - shard.map.len()) as u64;
                self.counters
                    .evictions
                    .fetch_add(dropped, std::sync::atomic::Ordering::Relaxed);
            }
        }
        while full(&shard) {
            let Some(victim) = shard.map.keys().next().copied() else {
                break;
            };
            if shard.remove(&victim) {
                Metrics::inc(&self.counters.evictions);
            }
        }
        shard.bytes += cost;
        shard.map.insert(
            tag,
            Entry {
                value,
                stale_at,
                cost,
            },
        );
    }

    /// Tokens held now (for tests, benchmarks and metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.map.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Estimated bytes held now.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.bytes))
            .sum()
    }
}
