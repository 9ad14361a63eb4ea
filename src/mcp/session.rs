//! MCP sessions (the legacy revisions' `Mcp-Session-Id`), each bound to the
//! caller that created it: the certificate thumbprint and SPIFFE ID of the
//! connection whose `initialize` the upstream answered with the id. Another
//! caller presenting the id is refused (session hijack), answered exactly
//! like an id the gateway never saw (404, so the client re-initializes,
//! and nobody learns that the id exists). Bounded, with idle expiry;
//! kept across reloads.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::identity::CallerIdentity;

/// Most sessions kept at once; past it the least recently used goes.
pub const MAX_SESSIONS: usize = 10_000;
/// Most sessions one caller (SPIFFE ID) holds; past it that caller's own
/// least recently used goes, so one caller initializing in a loop churns
/// only its own sessions, not everyone's.
pub const MAX_SESSIONS_PER_CALLER: usize = 100;
/// A session unused this long is forgotten (the upstream's own expiry may
/// be shorter).
pub const IDLE: Duration = Duration::from_secs(3600);
/// Longest session id accepted (the spec sets none; ids are random tokens).
const MAX_ID_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    spiffe_id: String,
    thumbprint: String,
    last_used: Instant,
}

/// Why a session id was not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefused {
    /// Not visible ASCII, or too long.
    Malformed,
    /// The gateway bound no such session at this server (or it expired).
    Unknown,
    /// Bound to another caller: a hijack attempt. Answered like `Unknown`.
    Foreign,
    /// GET, DELETE and JSON-RPC responses need the caller's session.
    Missing,
}

impl SessionRefused {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionRefused::Malformed => "Mcp-Session-Id is not a valid session id",
            SessionRefused::Unknown => "no such MCP session",
            SessionRefused::Foreign => "the MCP session belongs to another caller",
            SessionRefused::Missing => {
                "GET, DELETE and JSON-RPC responses need the caller's Mcp-Session-Id"
            }
        }
    }
}

/// The bound sessions, by (server, session id).
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<(String, String), Owner>>,
}

/// Make room for one more session of `caller`: at its cap, forget its
/// least recently used one.
fn evict_callers_oldest(map: &mut HashMap<(String, String), Owner>, caller: &CallerIdentity) {
    let spiffe_id = caller.spiffe_id.as_str();
    let mut held = 0;
    let mut oldest: Option<(&(String, String), Instant)> = None;
    for (k, o) in map.iter().filter(|(_, o)| o.spiffe_id == spiffe_id) {
        held += 1;
        if oldest.is_none_or(|(_, t)| o.last_used < t) {
            oldest = Some((k, o.last_used));
        }
    }
    if held >= MAX_SESSIONS_PER_CALLER {
        if let Some(k) = oldest.map(|(k, _)| k.clone()) {
            map.remove(&k);
        }
    }
}

/// A session id as the spec allows it: visible ASCII (0x21–0x7E).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

impl Sessions {
    /// Bind `id` at `server` to `caller` (the upstream answered its
    /// `initialize` with it). An id already bound to someone else keeps its
    /// owner: an upstream handing out one id twice must not hand one
    /// caller's session to another.
    pub fn bind(&self, server: &str, id: &str, caller: &CallerIdentity, now: Instant) -> bool {
        if !valid_id(id) {
            return false;
        }
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let key = (server.to_owned(), id.to_owned());
        if !map.contains_key(&key) {
            evict_callers_oldest(&mut map, caller);
        }
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, o| now.saturating_duration_since(o.last_used) < IDLE);
        }
        if map.len() >= MAX_SESSIONS {
            let oldest = map
                .iter()
                .min_by_key(|(_, o)| o.last_used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        match map.get_mut(&key) {
            Some(o) if !owned_by(o, caller) => false,
            Some(o) => {
                o.last_used = now;
                true
            }
            None => {
                map.insert(
                    key,
                    Owner {
                        spiffe_id: caller.spiffe_id.to_string(),
                        thumbprint: caller.thumbprint.clone(),
                        last_used: now,
                    },
                );
                true
            }
        }
    }

    /// Whether `caller` may use session `id` at `server` (refreshing it).
    pub fn check(
        &self,
        server: &str,
        id: &str,
        caller: &CallerIdentity,
        now: Instant,
    ) -> Result<(), SessionRefused> {
        if !valid_id(id) {
            return Err(SessionRefused::Malformed);
        }
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let key = (server.to_owned(), id.to_owned());
        match map.get_mut(&key) {
            None => Err(SessionRefused::Unknown),
            Some(o) if now.saturating_duration_since(o.last_used) >= IDLE => {
                map.remove(&key);
                Err(SessionRefused::Unknown)
            }
            Some(o) if !owned_by(o, caller) => Err(SessionRefused::Foreign),
            Some(o) => {
                o.last_used = now;
                Ok(())
            }
        }
    }

    /// Forget session `id` at `server` (its owner ended it).
    pub fn end(&self, server: &str, id: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(server.to_owned(), id.to_owned()));
    }
}

/// Both the certificate and the identity: a new certificate for the same
/// workload (rotation) is another connection's key, and is refused too.
fn owned_by(o: &Owner, caller: &CallerIdentity) -> bool {
    o.thumbprint == caller.thumbprint && o.spiffe_id == caller.spiffe_id.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SpiffeId;

    fn caller(name: &str, thumb: &str) -> CallerIdentity {
        CallerIdentity {
            spiffe_id: SpiffeId::parse(&format!("spiffe://example.org/agent/{name}")).unwrap(),
            thumbprint: thumb.into(),
            not_after: i64::MAX,
        }
    }

    #[test]
    fn one_caller_churns_only_its_own_sessions() {
        let s = Sessions::default();
        let (a, b) = (caller("a", "ta"), caller("b", "tb"));
        let t0 = Instant::now();
        assert!(s.bind("files", "b-1", &b, t0));
        for i in 0..MAX_SESSIONS_PER_CALLER + 20 {
            let t = t0 + Duration::from_millis(i as u64 + 1);
            assert!(s.bind("files", &format!("a-{i}"), &a, t));
        }
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            s.check("files", "b-1", &b, later),
            Ok(()),
            "b's session survives"
        );
        assert_eq!(
            s.check("files", "a-0", &a, later),
            Err(SessionRefused::Unknown),
            "a's oldest went"
        );
        let last = format!("a-{}", MAX_SESSIONS_PER_CALLER + 19);
        assert_eq!(s.check("files", &last, &a, later), Ok(()));
        let held = s
            .map
            .lock()
            .unwrap()
            .values()
            .filter(|o| o.spiffe_id.ends_with("/a"))
            .count();
        assert_eq!(held, MAX_SESSIONS_PER_CALLER);
    }

    #[test]
    fn sessions_belong_to_their_creator() {
        let s = Sessions::default();
        let (a, b) = (caller("a", "ta"), caller("b", "tb"));
        let now = Instant::now();
        assert!(s.bind("files", "sess-1", &a, now));
        assert_eq!(s.check("files", "sess-1", &a, now), Ok(()));
        assert_eq!(
            s.check("files", "sess-1", &b, now),
            Err(SessionRefused::Foreign)
        );
        // Same SPIFFE ID, other certificate: refused too.
        assert_eq!(
            s.check("files", "sess-1", &caller("a", "other"), now),
            Err(SessionRefused::Foreign)
        );
        // Another server's id space.
        assert_eq!(
            s.check("web", "sess-1", &a, now),
            Err(SessionRefused::Unknown)
        );
        // A second bind by another caller does not take it over.
        assert!(!s.bind("files", "sess-1", &b, now));
        assert_eq!(s.check("files", "sess-1", &a, now), Ok(()));
        s.end("files", "sess-1");
        assert_eq!(
            s.check("files", "sess-1", &a, now),
            Err(SessionRefused::Unknown)
        );
    }

    #[test]
    fn ids_are_visible_ascii_and_sessions_expire() {
        let s = Sessions::default();
        let a = caller("a", "ta");
        let now = Instant::now();
        assert!(!s.bind("files", "has space", &a, now));
        assert_eq!(
            s.check("files", "", &a, now),
            Err(SessionRefused::Malformed)
        );
        assert!(s.bind("files", "x", &a, now));
        assert_eq!(
            s.check("files", "x", &a, now + IDLE),
            Err(SessionRefused::Unknown)
        );
    }
}
