//! The `jti`s of assertions already used (RFC 7523 §3: a used assertion is
//! refused on a second use), each remembered until its `exp` plus the
//! leeway (expiring entries at `exp` would leave a replay window the size of
//! the leeway, as Keycloak's DPoP cache once did).
//!
//! In memory and bounded: when the set is full of assertions that have not
//! expired yet, a new assertion is refused (fail closed) rather than an
//! entry dropped early, which would let that assertion be replayed. One
//! gateway process: replicas do not share the set (a cluster needs a shared
//! store; see the README).

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use super::verify::LEEWAY_SECS;

/// Assertions remembered at most at once. At the default lifetime of five
/// minutes, about 330 grants a second sustained.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Longest `jti` accepted (it is kept in memory until the assertion expires).
pub const MAX_JTI_BYTES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("assertion was already used (its jti was seen before)")]
    Replayed,
    #[error("too many unexpired assertions are remembered; try again later")]
    Full,
}

/// `(issuer, jti)` of each assertion used, by the time it may be forgotten.
#[derive(Debug)]
pub struct ReplaySet {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashSet<(String, String)>,
    /// `(forget_at, issuer, jti)`, soonest first.
    by_expiry: BTreeSet<(i64, String, String)>,
}

impl Default for ReplaySet {
    fn default() -> Self {
        ReplaySet::new(DEFAULT_CAPACITY)
    }
}

impl ReplaySet {
    pub fn new(capacity: usize) -> Self {
        ReplaySet {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Record the use of assertion `jti` of `issuer`, which expires at
    /// `exp`, at `now`: an error if it was used before (and is not yet
    /// forgotten, which happens only once it can no longer verify).
    pub fn use_once(&self, issuer: &str, jti: &str, exp: i64, now: i64) -> Result<(), ReplayError> {
        // A poisoned lock only means another thread panicked mid-insert; the
        // sets are still consistent enough to refuse replays.
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(first) = g.by_expiry.first() {
            if first.0 > now {
                break;
            }
            if let Some((_, iss, jti)) = g.by_expiry.pop_first() {
                g.seen.remove(&(iss, jti));
            }
        }
        let key = (issuer.to_owned(), jti.to_owned());
        if g.seen.contains(&key) {
            return Err(ReplayError::Replayed);
        }
        if g.seen.len() >= self.capacity {
            return Err(ReplayError::Full);
        }
        g.by_expiry.insert((
            exp.saturating_add(LEEWAY_SECS),
            key.0.clone(),
            key.1.clone(),
        ));
        g.seen.insert(key);
        Ok(())
    }

    /// How many assertions are remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.seen.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_use_is_refused_until_the_assertion_cannot_verify() {
        let set = ReplaySet::new(10);
        set.use_once("https://a", "j1", 100, 50).unwrap();
        assert_eq!(
            set.use_once("https://a", "j1", 100, 60),
            Err(ReplayError::Replayed)
        );
        // Another issuer's jti is another assertion.
        set.use_once("https://b", "j1", 100, 60).unwrap();
        // Within the leeway after exp the assertion still verifies: still refused.
        assert_eq!(
            set.use_once("https://a", "j1", 100, 100 + LEEWAY_SECS - 1),
            Err(ReplayError::Replayed)
        );
        // Past it, it is forgotten (the verifier refuses it as expired).
        set.use_once("https://a", "j1", 200, 100 + LEEWAY_SECS)
            .unwrap();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn a_full_set_refuses_rather_than_forgets() {
        let set = ReplaySet::new(2);
        set.use_once("i", "1", 100, 0).unwrap();
        set.use_once("i", "2", 100, 0).unwrap();
        assert_eq!(set.use_once("i", "3", 100, 0), Err(ReplayError::Full));
        assert_eq!(set.use_once("i", "1", 100, 0), Err(ReplayError::Replayed));
        // Once entries expire there is room again.
        set.use_once("i", "3", 300, 100 + LEEWAY_SECS).unwrap();
        assert_eq!(set.len(), 1);
    }
}
