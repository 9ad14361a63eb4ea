//! The login session: a short, signed cookie naming the person as the
//! login IdP named them. Signed with a key of its own (HMAC-SHA256; one
//! key, one purpose), so it cannot be forged or altered; `HttpOnly` (no
//! script reads it), `Secure`, `SameSite=Lax` (sent on the top-level
//! return from the IdP and from the client, which `Strict` would break;
//! not on cross-site form posts, which is what CSRF needs) and `Path=/`.
//! It carries the session's CSRF token, which every form posts back.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The cookie's name. `__Host-`: the browser accepts it only `Secure`,
/// with `Path=/` and no `Domain`, so a sibling host cannot plant one.
pub const COOKIE: &str = "__Host-actgate-session";

/// The person logged in, and this session's CSRF token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Random: tells sessions apart (a consent page belongs to one).
    pub sid: String,
    /// The login IdP's issuer.
    pub iss: String,
    /// The person (the configured claim of the ID token).
    pub sub: String,
    /// Posted back by every form of this session.
    pub csrf: String,
    /// Seconds since the epoch after which the cookie is refused.
    pub exp: i64,
}

/// The cookie signing key.
pub struct SessionKey(hmac::Key);

impl SessionKey {
    /// A key from `session_key_file`'s bytes.
    pub fn from_bytes(key: &[u8]) -> SessionKey {
        SessionKey(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// A random key (sessions end with the process).
    pub fn random() -> Result<SessionKey, aws_lc_rs::error::Unspecified> {
        let mut b = [0u8; 32];
        SystemRandom::new().fill(&mut b)?;
        Ok(Self::from_bytes(&b))
    }

    /// The cookie value for `s`: base64url(JSON) "." base64url(HMAC).
    pub fn seal(&self, s: &Session) -> String {
        self.seal_as(SESSION_PURPOSE, s)
    }

    /// The session in `value`, when its signature is ours and it has not
    /// expired at `now`. The signature is checked (in constant time)
    /// before anything in the cookie is read.
    pub fn open(&self, value: &str, now: i64) -> Option<Session> {
        let s: Session = self.open_as(SESSION_PURPOSE, value)?;
        (now < s.exp).then_some(s)
    }

    /// `value` sealed for `purpose`: the MAC covers the purpose too, so a
    /// value sealed for one cookie is never accepted as another (a login
    /// in progress is no session).
    pub fn seal_as<T: Serialize>(&self, purpose: &str, value: &T) -> String {
        // Our cookie structs (strings and integers) always serialise.
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default());
        let tag = hmac::sign(&self.0, format!("{purpose}.{body}").as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The value [`Self::seal_as`] sealed for `purpose`, if the MAC is ours.
    pub fn open_as<T: serde::de::DeserializeOwned>(&self, purpose: &str, value: &str) -> Option<T> {
        let (body, tag) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.0, format!("{purpose}.{body}").as_bytes(), &tag).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
    }
}

const SESSION_PURPOSE: &str = "session";

/// The `Set-Cookie` value carrying `sealed` for `max_age` seconds.
pub fn set_cookie(sealed: &str, max_age: i64) -> String {
    format!("{COOKIE}={sealed}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// The session cookie's value in a `Cookie` request header, if one.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    cookies_named(header, COOKIE).next()
}

/// The values of every cookie called `name` in a `Cookie` header.
pub fn cookies_named<'h>(header: &'h str, name: &'h str) -> impl Iterator<Item = &'h str> {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .filter(move |(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A random token (32 bytes, base64url): session IDs, CSRF tokens,
/// `state` and `nonce` of the login.
pub fn random_token() -> Result<String, aws_lc_rs::error::Unspecified> {
    let mut b = [0u8; 32];
    SystemRandom::new().fill(&mut b)?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// Whether a posted CSRF token is the session's (constant time: the
/// comparison must not tell an attacker how much of a guess was right).
pub fn csrf_matches(session: &Session, posted: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(session.csrf.as_bytes(), posted.as_bytes())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            sid: "s1".into(),
            iss: "https://idp.example".into(),
            sub: "alice".into(),
            csrf: "c1".into(),
            exp: 1000,
        }
    }

    #[test]
    fn a_sealed_session_opens_until_it_expires() {
        let k = SessionKey::random().unwrap();
        let v = k.seal(&session());
        assert_eq!(k.open(&v, 999), Some(session()));
        assert_eq!(k.open(&v, 1000), None);
    }

    #[test]
    fn another_key_or_an_altered_cookie_is_refused() {
        let k = SessionKey::random().unwrap();
        let v = k.seal(&session());
        assert_eq!(SessionKey::random().unwrap().open(&v, 1), None);
        // The person renamed in the body, the signature kept.
        let (_, tag) = v.split_once('.').unwrap();
        let mut bob = session();
        bob.sub = "bob".into();
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&bob).unwrap());
        assert_eq!(k.open(&format!("{body}.{tag}"), 1), None);
        for junk in ["", ".", "x.y", "a.b.c", &v[..v.len() - 2]] {
            assert_eq!(k.open(junk, 1), None, "{junk}");
        }
    }

    #[test]
    fn the_cookie_is_host_only_secure_httponly_lax() {
        let c = set_cookie("v", 60);
        assert!(c.starts_with("__Host-actgate-session=v;"), "{c}");
        for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age=60"] {
            assert!(c.contains(attr), "{attr} in {c}");
        }
        assert!(!c.contains("Domain"), "{c}");
        assert_eq!(
            from_cookie_header("a=1; __Host-actgate-session=v.t; b=2"),
            Some("v.t")
        );
        assert_eq!(from_cookie_header("actgate-session=v"), None);
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        let s = session();
        assert!(csrf_matches(&s, "c1"));
        assert!(!csrf_matches(&s, "c"));
        assert!(!csrf_matches(&s, ""));
    }
}
