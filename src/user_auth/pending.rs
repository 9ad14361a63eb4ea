//! What a person's browser is in the middle of on the gateway's side: a
//! consent page not answered yet (a login in progress rides in a sealed
//! cookie instead, see `routes`). Kept in memory under a random key, each taken at
//! most once and only until it expires; bounded, so an unauthenticated
//! loop of `/oauth2/authorize` requests cannot grow it without limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::session::random_token;

/// The table is full of live entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many consent pages are open; try again in a few minutes")]
pub struct Full;

/// Entries of one kind, each under its random key.
pub struct Pending<T> {
    entries: Mutex<HashMap<String, (Instant, T)>>,
    max: usize,
    lifetime: Duration,
}

impl<T> Pending<T> {
    pub fn new(max: usize, lifetime: Duration) -> Self {
        Pending {
            entries: Mutex::new(HashMap::new()),
            max,
            lifetime,
        }
    }

    /// Keep `value`: its new key (32 random bytes, base64url).
    pub fn put(&self, value: T) -> Result<String, Full> {
        self.put_capped(value, usize::MAX, |_| false)
    }

    /// [`Self::put`], refused when `per_owner` live entries are already
    /// `same_owner`'s: one signed-in script cannot take the whole table.
    pub fn put_capped(
        &self,
        value: T,
        per_owner: usize,
        same_owner: impl Fn(&T) -> bool,
    ) -> Result<String, Full> {
        let key = random_token().map_err(|_| Full)?;
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= self.max {
            map.retain(|_, (expires, _)| *expires > now);
        }
        let owned = map
            .values()
            .filter(|(expires, v)| *expires > now && same_owner(v))
            .count();
        if map.len() >= self.max || owned >= per_owner {
            return Err(Full);
        }
        map.insert(key.clone(), (now + self.lifetime, value));
        Ok(key)
    }

    /// Take the entry under `key` (once), unless it expired.
    pub fn take(&self, key: &str) -> Option<T> {
        let (expires, value) = self.lock().remove(key)?;
        (expires > Instant::now()).then_some(value)
    }

    /// Take the entry under `key` only when `keep` says so; a refused entry
    /// stays for its rightful owner.
    pub fn take_if(&self, key: &str, keep: impl FnOnce(&T) -> bool) -> Option<T> {
        let mut map = self.lock();
        let (expires, value) = map.get(key)?;
        if *expires <= Instant::now() {
            map.remove(key);
            return None;
        }
        if !keep(value) {
            return None;
        }
        map.remove(key).map(|(_, v)| v)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, T)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_taken_once() {
        let p = Pending::new(4, Duration::from_secs(60));
        let k = p.put(7).unwrap();
        assert_eq!(p.take(&k), Some(7));
        assert_eq!(p.take(&k), None);
        assert_eq!(p.take("guess"), None);
    }

    #[test]
    fn a_refused_owner_leaves_the_entry() {
        let p = Pending::new(4, Duration::from_secs(60));
        let k = p.put("alice").unwrap();
        assert_eq!(p.take_if(&k, |v| *v == "bob"), None);
        assert_eq!(p.take_if(&k, |v| *v == "alice"), Some("alice"));
    }

    #[test]
    fn one_owner_cannot_take_the_table() {
        let p = Pending::new(100, Duration::from_secs(60));
        for _ in 0..3 {
            p.put_capped("alice", 3, |v| *v == "alice").unwrap();
        }
        assert_eq!(p.put_capped("alice", 3, |v| *v == "alice"), Err(Full));
        p.put_capped("bob", 3, |v| *v == "bob").unwrap();
    }

    #[test]
    fn the_table_is_bounded_and_expired_entries_make_room() {
        let p = Pending::new(2, Duration::from_millis(30));
        let a = p.put(1).unwrap();
        p.put(2).unwrap();
        assert_eq!(p.put(3), Err(Full));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(p.take(&a), None, "expired");
        p.put(4).unwrap();
    }
}
