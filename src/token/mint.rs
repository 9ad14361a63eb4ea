//! Signing and the token cache.
//!
//! Tokens are compact JWS signed by hand with the pre-parsed key held in
//! [`SigningKey`] (no per-call PKCS#8 parse as in `jsonwebtoken::encode`), and
//! the protected header is base64-encoded once per key. Identical requests
//! reuse a cached token until shortly before it expires (performance.md §8).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;

use super::claims::{claims_view, ClaimsView, UserGrantClaims};
use super::{Actor, ClaimsError, Cnf, KeyError, KeySet, MintRequest, SigningKey};
use crate::metrics::{Metrics, CACHE_HIT, CACHE_MISS};

/// Upper bound on cached tokens; on overflow stale entries are purged, and if
/// that is not enough the cache is cleared (cheap, and it refills on demand).
pub const CACHE_CAPACITY: usize = 10_000;

/// A cached token is served only while at least this many seconds (or 20 % of
/// the TTL, whichever is larger) of its lifetime remain, so a receiver never
/// gets a token that expires in transit.
const MIN_REMAINING_SECS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    #[error("signing failed")]
    Sign,
    #[error("could not serialize the claims: {0}")]
    Serialize(String),
    #[error("the system random generator failed")]
    Random,
}

impl From<KeyError> for MintError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Serialize(why) => MintError::Serialize(why),
            _ => MintError::Sign,
        }
    }
}

#[derive(Debug, Clone)]
pub struct MintedToken {
    pub token: Arc<str>,
    /// `Bearer <token>`, built and validated once per minted token (a cache
    /// hit clones it: no per-request formatting of a ~600-byte header).
    pub authorization: http::HeaderValue,
    pub exp: i64,
    /// The token's `jti` and `scope` claims, kept for the audit log (which
    /// records them, never the token itself).
    pub jti: Arc<str>,
    pub scope: Option<Arc<str>>,
    pub cache_hit: bool,
}

struct CachedToken {
    token: Arc<str>,
    authorization: http::HeaderValue,
    exp: i64,
    jti: Arc<str>,
    scope: Option<Arc<str>>,
    /// Serve while `now < fresh_until`.
    fresh_until: i64,
}

pub struct Minter {
    keys: Arc<KeySet>,
    issuer: String,
    /// base64url of `{"alg","typ":"at+jwt","kid"}` for `keys.current`.
    header_b64: String,
    /// `None` when caching is disabled: every call mints.
    cache: Option<RwLock<HashMap<Vec<u8>, CachedToken>>>,
    capacity: usize,
    metrics: Arc<Metrics>,
    hits: AtomicU64,
    minted: AtomicU64,
}

impl Minter {
    pub fn new(
        keys: Arc<KeySet>,
        issuer: String,
        cache_enabled: bool,
        metrics: Arc<Metrics>,
    ) -> Self {
        let header_b64 = header_b64(&keys.current, "at+jwt");
        Minter {
            keys,
            issuer,
            header_b64,
            cache: cache_enabled.then(|| RwLock::new(HashMap::new())),
            capacity: CACHE_CAPACITY,
            metrics,
            hits: AtomicU64::new(0),
            minted: AtomicU64::new(0),
        }
    }

    /// Override the cache bound (default [`CACHE_CAPACITY`]).
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    /// A token for `req` at `now`: from the cache when an identical request was
    /// minted recently enough, otherwise freshly built and signed.
    pub fn token_for(&self, req: &MintRequest<'_>, now: i64) -> Result<MintedToken, MintError> {
        let started = std::time::Instant::now();
        let minted = self.token_for_uncounted(req, now);
        if let Ok(t) = &minted {
            let cache = if t.cache_hit { CACHE_HIT } else { CACHE_MISS };
            self.metrics.mint_durations[cache].observe(started.elapsed());
        }
        minted
    }

    /// [`Minter::token_for`] without its duration observed.
    fn token_for_uncounted(
        &self,
        req: &MintRequest<'_>,
        now: i64,
    ) -> Result<MintedToken, MintError> {
        let key = self.cache.as_ref().map(|_| cache_key(req));
        if let (Some(cache), Some(key)) = (&self.cache, &key) {
            let map = cache.read().unwrap_or_else(|p| p.into_inner());
            // The key holds the certificate's thumbprint, so a hit was minted
            // for this very certificate and ends by its notAfter; checked
            // again so no cache path can serve a token outliving it.
            if let Some(hit) = map
                .get(key.as_slice())
                .filter(|e| now < e.fresh_until && e.exp <= req.caller.not_after)
            {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Metrics::inc(&self.metrics.token_cache_hits);
                return Ok(MintedToken {
                    token: Arc::clone(&hit.token),
                    authorization: hit.authorization.clone(),
                    exp: hit.exp,
                    jti: Arc::clone(&hit.jti),
                    scope: hit.scope.clone(),
                    cache_hit: true,
                });
            }
        }

        let jti = Jti::new()?;
        let claims = claims_view(req, &self.issuer, now, jti.as_str())?;
        let (token, authorization) = self.sign(&claims)?;
        let jti: Arc<str> = jti.as_str().into();
        let scope: Option<Arc<str>> = claims.scope.as_deref().map(Arc::from);

        let fresh_until = claims.exp - MIN_REMAINING_SECS.max(req.ttl_secs / 5);
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            if fresh_until > now {
                let mut map = cache.write().unwrap_or_else(|p| p.into_inner());
                if map.len() >= self.capacity && !map.contains_key(&key) {
                    map.retain(|_, e| now < e.fresh_until);
                    if map.len() >= self.capacity {
                        map.clear();
                    }
                }
                map.insert(
                    key,
                    CachedToken {
                        token: Arc::clone(&token),
                        authorization: authorization.clone(),
                        exp: claims.exp,
                        jti: Arc::clone(&jti),
                        scope: scope.clone(),
                        fresh_until,
                    },
                );
            }
        }
        Ok(MintedToken {
            token,
            authorization,
            exp: claims.exp,
            jti,
            scope,
            cache_hit: false,
        })
    }

    /// A certificate-bound token for `req` (RFC 8705 §3.1): the same claims
    /// as [`Minter::token_for`] plus `cnf.x5t#S256` of the caller's
    /// certificate, and never outliving that certificate (the token is
    /// useless once it expires). Always freshly minted: the token endpoint
    /// hands out each token once, so a cache would only hold copies.
    pub fn token_bound(&self, req: &MintRequest<'_>, now: i64) -> Result<MintedToken, MintError> {
        self.token_bound_for(req, None, now)
    }

    /// [`Minter::token_bound`], plus the claims of the person's grant it is
    /// issued from (`user`), when it is.
    pub fn token_bound_for(
        &self,
        req: &MintRequest<'_>,
        user: Option<&UserGrantClaims>,
        now: i64,
    ) -> Result<MintedToken, MintError> {
        // `build_claims` already ends the token by the certificate's notAfter.
        let started = std::time::Instant::now();
        let jti = Jti::new()?;
        let cnf = Cnf::for_caller(req.caller);
        let mut claims = claims_view(req, &self.issuer, now, jti.as_str())?;
        claims.cnf = Some(&cnf);
        claims.user = user;
        let (token, authorization) = self.sign(&claims)?;
        self.metrics.mint_durations[CACHE_MISS].observe(started.elapsed());
        Ok(MintedToken {
            token,
            authorization,
            exp: claims.exp,
            jti: jti.as_str().into(),
            scope: claims.scope.as_deref().map(Arc::from),
            cache_hit: false,
        })
    }

    /// Sign `claims` with the current key; the token and its `Bearer` header.
    fn sign(&self, claims: &ClaimsView<'_>) -> Result<(Arc<str>, http::HeaderValue), MintError> {
        // Signed in place after the `Bearer ` prefix: the header value is
        // that buffer (no copy), the token one copy of its tail.
        let bearer = sign_compact(&self.keys.current, &self.header_b64, claims, BEARER)?;
        let token: Arc<str> = Arc::from(&bearer[BEARER.len()..]);
        // A compact JWS is base64url and dots: always a valid header value.
        let mut authorization = http::HeaderValue::from_maybe_shared(bytes::Bytes::from(bearer))
            .map_err(|_| MintError::Sign)?;
        authorization.set_sensitive(true);
        self.minted.fetch_add(1, Ordering::Relaxed);
        Metrics::inc(&self.metrics.tokens_minted);
        Ok((token, authorization))
    }

    /// `(cache hits, tokens minted)` by this minter.
    pub fn cache_stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.minted.load(Ordering::Relaxed),
        )
    }

    /// Number of cached tokens (fresh or not yet purged).
    pub fn cache_len(&self) -> usize {
        self.cache
            .as_ref()
            .map_or(0, |c| c.read().unwrap_or_else(|p| p.into_inner()).len())
    }
}

/// Sign `claims` as a compact JWS with `key`, header `{"alg","typ","kid"}`.
///
/// For JWTs other than the gateway's access tokens (e.g. the demo IdP's user
/// tokens); the minter uses the same path with a precomputed header.
pub fn sign_jwt(key: &SigningKey, typ: &str, claims: &impl Serialize) -> Result<String, KeyError> {
    sign_compact(key, &header_b64(key, typ), claims, "")
}

const BEARER: &str = "Bearer ";

fn header_b64(key: &SigningKey, typ: &str) -> String {
    // Built with serde_json so any `typ` is escaped correctly.
    let header = serde_json::json!({
        "alg": key.algorithm().jose_name(),
        "typ": typ,
        "kid": key.kid(),
    });
    URL_SAFE_NO_PAD.encode(header.to_string().as_bytes())
}

/// `prefix`, then the compact JWS of `claims`: the signature covers what
/// follows the prefix only.
fn sign_compact(
    key: &SigningKey,
    header_b64: &str,
    claims: &impl Serialize,
    prefix: &str,
) -> Result<String, KeyError> {
    // Sized for a usual claim set (~300–600 bytes), so serialising does not
    // grow the buffer from 128 bytes in three steps.
    let mut payload = Vec::with_capacity(1024);
    serde_json::to_writer(&mut payload, claims).map_err(|e| KeyError::Serialize(e.to_string()))?;
    // prefix + header . payload . signature (≤ 86 chars for a 64-byte signature)
    let mut out =
        String::with_capacity(prefix.len() + header_b64.len() + payload.len().div_ceil(3) * 4 + 96);
    out.push_str(prefix);
    out.push_str(header_b64);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
    // base64url of the signature, straight from the signature value: 86
    // characters for the 64 bytes of ES256 and EdDSA (too long a one is an
    // error, never cut).
    let mut sig = [0u8; 128];
    let n = key
        .sign_with(&out.as_bytes()[prefix.len()..], |s| {
            URL_SAFE_NO_PAD.encode_slice(s, &mut sig)
        })?
        .map_err(|_| KeyError::Sign(key.algorithm()))?;
    out.push('.');
    // base64url is ASCII.
    out.push_str(std::str::from_utf8(&sig[..n]).map_err(|_| KeyError::Sign(key.algorithm()))?);
    Ok(out)
}

/// 128 random bits, base64url (22 characters, held inline): unguessable and
/// unique without coordination.
struct Jti([u8; 22]);

impl Jti {
    fn new() -> Result<Self, MintError> {
        let mut bytes = [0u8; 16];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| MintError::Random)?;
        let mut out = [0u8; 22];
        URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut out)
            .map_err(|_| MintError::Random)?;
        Ok(Jti(out))
    }

    fn as_str(&self) -> &str {
        // base64url is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Everything that decides the claims except `now` and `jti`, length-prefixed
/// so no two different requests encode alike.
///
/// The caller's certificate thumbprint is part of the key: after a certificate
/// rotation the next request mints afresh, so a later `cnf` binding or audit
/// never sees a token issued to the old certificate. Because every input of
/// `build_claims` is in the key and a cached token never outlives its subject,
/// a hit is exactly a token `build_claims` would accept now.
fn cache_key(req: &MintRequest<'_>) -> Vec<u8> {
    let mut k = KeyBuf(Vec::with_capacity(256));
    k.str(&req.caller.thumbprint);
    k.str(req.caller.spiffe_id.as_str());
    k.str(req.audience);
    k.num(req.ttl_secs);
    k.num(req.max_chain_depth as i64);
    // A token minted where re-entry was allowed must not be handed out
    // (from the cache, past the cycle check) where it is not.
    k.tag(u8::from(req.allow_reentry));
    // Granted scopes as a set: sorted and deduplicated. Policy keeps rule
    // scopes that way already, so the common case needs no sorting copy.
    let granted = req.granted_scopes;
    if granted.windows(2).all(|w| w[0] < w[1]) {
        k.list(granted.iter().map(String::as_str));
    } else {
        let mut set: Vec<&str> = granted.iter().map(String::as_str).collect();
        set.sort_unstable();
        set.dedup();
        k.list(set.iter().copied());
    }
    match req.subject {
        None => k.tag(0),
        Some(s) => {
            k.tag(1);
            k.str(&s.issuer);
            k.str(&s.sub);
            k.num(s.exp);
            match &s.scopes {
                None => k.tag(0),
                Some(v) => {
                    k.tag(1);
                    k.list(v.iter().map(String::as_str));
                }
            }
            k.list(
                s.act
                    .as_deref()
                    .into_iter()
                    .flat_map(Actor::chain)
                    .map(|a| a.sub.as_str()),
            );
            match &s.may_act {
                None => k.tag(0),
                Some(v) => {
                    k.tag(1);
                    k.json(v);
                }
            }
            // A token carrying one grant's reference is never handed out
            // for another delegation (or for none).
            match &s.grant {
                None => k.tag(0),
                Some(g) => {
                    k.tag(1);
                    k.str(g);
                }
            }
        }
    }
    k.0
}

struct KeyBuf(Vec<u8>);

impl KeyBuf {
    fn tag(&mut self, t: u8) {
        self.0.push(t);
    }
    fn num(&mut self, n: i64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.num(s.len() as i64);
        self.0.extend_from_slice(s.as_bytes());
    }
    /// Like [`KeyBuf::str`] of `v.to_string()`, serialised in place.
    fn json(&mut self, v: &serde_json::Value) {
        let at = self.0.len();
        self.num(0);
        // Writing a `Value` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut self.0, v);
        let len = (self.0.len() - at - 8) as i64;
        self.0[at..at + 8].copy_from_slice(&len.to_le_bytes());
    }
    /// Each item tagged 1, the end tagged 0: unambiguous without a count.
    fn list<'s>(&mut self, items: impl Iterator<Item = &'s str>) {
        for s in items {
            self.tag(1);
            self.str(s);
        }
        self.tag(0);
    }
}

#[cfg(test)]
#[path = "mint_tests.rs"]
mod tests;
