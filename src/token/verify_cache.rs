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
//! - The cache belongs to one verifier, whose keys never change: new keys
//!   (a reload, a rotated key set) mean a new verifier and an empty cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use super::verify::{check_times, TokenError, LEEWAY_SECS};
use super::{Actor, Cnf, SubjectToken};

/// Entries across all shards unless configured otherwise.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// Bytes (estimated from the token sizes) across all shards.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;
const SHARDS: usize = 16;
/// Estimated bookkeeping per entry beyond the token's own length (the
/// parsed claims are never larger than the token that carried them).
const ENTRY_OVERHEAD: usize = 256;

type Tag = [u8; 32];

/// What a successful verification established, minus what depends on the
/// presenter or the clock.
#[derive(Debug)]
pub(super) struct Verified {
    pub(super) issuer: String,
    pub(super) own: bool,
    pub(super) sub: String,
    pub(super) scopes: Option<Vec<String>>,
    pub(super) exp: i64,
    pub(super) nbf: Option<i64>,
    pub(super) iat: i64,
    pub(super) act: Option<Actor>,
    pub(super) may_act: Option<serde_json::Value>,
    /// The `cnf` claim as read; its refusal keeps its place in the order of
    /// checks (after the clock), so it is kept as a result.
    pub(super) cnf: Result<Option<Cnf>, TokenError>,
    /// Own tokens: whether `typ` is `at+jwt`.
    pub(super) typ_ok: bool,
    /// Own tokens: the single audience, if the token has exactly one.
    pub(super) own_audience: Option<String>,
    /// Trusted issuers: the configured audience the token was checked for.
    pub(super) issuer_audience: String,
}

impl Verified {
    /// The per-request checks, in the verifier's order: clock, `cnf`, then
    /// for the gateway's own tokens `typ` and audience = presenter.
    pub(super) fn finish(
        &self,
        presenter_resource: Option<&str>,
        now: i64,
    ) -> Result<SubjectToken, TokenError> {
        check_times(self.exp, self.nbf, Some(self.iat), now)?;
        let cnf = self.cnf.clone()?;
        let aud = if self.own {
            // RFC 9068 §4 typ check (see `verify`).
            if !self.typ_ok {
                return Err(TokenError::WrongType);
            }
            // A gateway token names exactly one agent as audience; only that
            // agent may present it onward: a token minted for B cannot be
            // replayed by C. Checked per request: the presenter varies.
            match (&self.own_audience, presenter_resource) {
                (Some(a), Some(p)) if a == p => a.clone(),
                _ => return Err(TokenError::NotAudience),
            }
        } else {
            self.issuer_audience.clone()
        };
        Ok(SubjectToken {
            issuer: self.issuer.clone(),
            sub: self.sub.clone(),
            scopes: self.scopes.clone(),
            exp: self.exp,
            act: self.act.clone(),
            may_act: self.may_act.clone(),
            own: self.own,
            aud,
            cnf,
        })
    }
}

struct Entry {
    verified: Arc<Verified>,
    cost: usize,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Tag, Entry>,
    bytes: usize,
}

impl Shard {
    fn remove(&mut self, tag: &Tag) {
        if let Some(e) = self.map.remove(tag) {
            self.bytes -= e.cost;
        }
    }
}

/// See the module documentation.
pub struct VerifiedTokenCache {
    key: hmac::Key,
    shards: Vec<Mutex<Shard>>,
    max_entries_per_shard: usize,
    max_bytes_per_shard: usize,
}

impl std::fmt::Debug for VerifiedTokenCache {
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

impl VerifiedTokenCache {
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
        })
    }

    fn enabled(&self) -> bool {
        self.max_entries_per_shard > 0
    }

    pub(super) fn tag(&self, token: &str) -> Tag {
        let mut tag = [0u8; 32];
        tag.copy_from_slice(hmac::sign(&self.key, token.as_bytes()).as_ref());
        tag
    }

    fn shard(&self, tag: &Tag) -> MutexGuard<'_, Shard> {
        // A panic while holding the lock leaves a consistent map (every
        // mutation is one call), so a poisoned lock is still usable.
        self.shards[usize::from(tag[0]) % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached verification of the token with `tag`, unless it expired.
    pub(super) fn get(&self, tag: &Tag, now: i64) -> Option<Arc<Verified>> {
        if !self.enabled() {
            return None;
        }
        let mut shard = self.shard(tag);
        let entry = shard.map.get(tag)?;
        if now >= entry.verified.exp.saturating_add(LEEWAY_SECS) {
            shard.remove(tag);
            return None;
        }
        Some(Arc::clone(&entry.verified))
    }

    /// Keep `verified` for the token with `tag`, `token_len` bytes long.
    pub(super) fn insert(&self, tag: Tag, token_len: usize, verified: Arc<Verified>, now: i64) {
        let cost = token_len.saturating_add(ENTRY_OVERHEAD);
        if !self.enabled() || cost > self.max_bytes_per_shard {
            return;
        }
        let mut shard = self.shard(&tag);
        shard.remove(&tag);
        let full = |s: &Shard| {
            s.map.len() >= self.max_entries_per_shard || s.bytes + cost > self.max_bytes_per_shard
        };
        if full(&shard) {
            let before = shard.map.len();
            shard
                .map
                .retain(|_, e| now < e.verified.exp.saturating_add(LEEWAY_SECS));
            if shard.map.len() != before {
                shard.bytes = shard.map.values().map(|e| e.cost).sum();
            }
        }
        while full(&shard) {
            let Some(victim) = shard.map.keys().next().copied() else {
                break;
            };
            shard.remove(&victim);
        }
        shard.bytes += cost;
        shard.map.insert(tag, Entry { verified, cost });
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
