//! Inbound subject tokens: trusted issuers and the gateway's own tokens.
//!
//! Order of checks, each with its own [`TokenError`]:
//! 1. shape and size; protected header parsed here (jsonwebtoken ignores
//!    `crit` and `typ`): no `crit`, no `alg: none`, no key-carrying headers;
//! 2. issuer chosen by the *unverified* `iss`, as a lookup among configured
//!    issuers only, then the key by `kid` among that issuer's keys only;
//! 3. signature and `iss`/`aud`/`sub`/`exp` presence by jsonwebtoken, with one
//!    `Validation` per key and its algorithm pinned;
//! 4. time (`exp`, `nbf`, `iat`) against the caller's clock, with a fixed leeway
//!    (jsonwebtoken has no injectable clock);
//! 5. for the gateway's own tokens: `typ` and audience = the presenter.
//!
//! Steps 1–3 are done once per token ([`super::verify_cache`]); 4 and 5 on
//! every presentation.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::claims::UserGrantClaims;
pub(super) use super::compact::{
    check_header, checked_header, decode_json_object, malformed, map_jwt_error, numeric_date,
    split_compact, Header,
};
use super::issuer_keys::claim_map::ClaimMap;
pub(super) use super::issuer_keys::jwk::parse_jwk;
use super::issuer_keys::jwk::{key_set, Acceptance, Strictness};
use super::issuer_keys::{IssuerKeySlot, Purpose};
use super::verify_cache::{VerifiedTokenCache, DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES};
use super::{Actor, Cnf, KeySet, SigningAlgorithm};
use crate::metrics::{CacheCounters, CACHE_HIT, CACHE_MISS};

pub use super::token_error::TokenError;

/// Clock skew tolerated on `exp`, `nbf` and `iat` (RFC 9068: "a few minutes"
/// at most; kept well under the 60 s jsonwebtoken default).
pub const LEEWAY_SECS: i64 = 30;

/// Larger tokens are refused before any decoding work.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A verified inbound token, reduced to what claim building and policy use.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectToken {
    // Shared with the verified-token cache's entry (`Arc`s): a cache hit
    // hands these out without copying them, the delegated call's hot path.
    pub issuer: Arc<str>,
    pub sub: Arc<str>,
    /// From the `scope` string; `None` when the token has no `scope` claim.
    pub scopes: Option<Arc<[String]>>,
    pub exp: i64,
    /// The delegation chain, identity claims only. Kept for trusted issuers
    /// too: dropping it would be a delegation downgrade (oauth-tokens.md §6).
    pub act: Option<Arc<Actor>>,
    pub may_act: Option<Arc<serde_json::Value>>,
    /// Minted by this gateway.
    pub own: bool,
    /// The audience the token was accepted for.
    pub aud: Arc<str>,
    /// RFC 8705 certificate binding, when the token carries one.
    pub cnf: Option<Cnf>,
    /// The person's grant this delegation comes from (`gr-…`): set for a
    /// grant's own token and, as `grant_ref`, carried into every token
    /// minted from it, so a revocation stops the whole chain at its next
    /// presentation, not only the first hop.
    pub grant: Option<Arc<str>>,
}

impl SubjectToken {
    /// RFC 8705 §3: a certificate-bound token is usable only over a
    /// connection authenticated with that certificate. Unbound tokens pass.
    pub fn check_binding(&self, presenter_thumbprint: &str) -> Result<(), TokenError> {
        match &self.cnf {
            Some(c) if c.x5t_s256 != presenter_thumbprint => Err(TokenError::CertificateMismatch),
            _ => Ok(()),
        }
    }
}

/// One verification key, its algorithm pinned at configuration time.
pub(super) struct VerifyKey {
    pub(super) kid: Option<String>,
    pub(super) alg: Algorithm,
    pub(super) key: DecodingKey,
    pub(super) validation: Validation,
}

/// An external issuer whose tokens are accepted as subject tokens, with
/// its keys (fixed, or fetched into its slot).
#[derive(Debug)]
pub struct TrustedIssuer {
    issuer: String,
    keys: Arc<IssuerKeySlot>,
    /// `None`: `scope` and `sub`, nothing else required.
    claims: Option<Arc<ClaimMap>>,
    purpose: Purpose,
}

impl TrustedIssuer {
    /// Parse `jwks` (`{"keys": [...]}`) for `issuer`, whose tokens must carry
    /// `audience`.
    pub fn from_jwks_json(issuer: &str, audience: &str, jwks: &str) -> Result<Self, TokenError> {
        let accept = Acceptance {
            audiences: vec![audience.to_owned()],
            require_sub: true,
        };
        Self::from_jwks_allowing(issuer, accept, ClaimMap::default(), jwks.as_bytes(), None)
    }

    /// [`Self::from_jwks_json`] with the issuer's audiences, claim mapping
    /// and `algorithms` allow-list.
    pub fn from_jwks_allowing(
        issuer: &str,
        accept: Acceptance,
        claims: ClaimMap,
        jwks: &[u8],
        algorithms: Option<&[Algorithm]>,
    ) -> Result<Self, TokenError> {
        let (keys, _) = key_set(issuer, &accept, jwks, algorithms, Strictness::EveryKey)?;
        let slot = IssuerKeySlot::fixed(issuer, accept, keys);
        Ok(Self::from_slot(Arc::new(slot), claims))
    }

    /// An issuer whose keys are in `slot` (fetched ones, or kept from the
    /// snapshot a reload replaces), its claims read as `claims` says.
    pub fn from_slot(slot: Arc<IssuerKeySlot>, claims: ClaimMap) -> Self {
        TrustedIssuer {
            issuer: slot.issuer().to_owned(),
            keys: slot,
            claims: (!claims.is_default()).then(|| Arc::new(claims)),
            purpose: Purpose::Subject,
        }
    }

    /// This issuer, trusted for `purpose` only.
    pub fn with_purpose(mut self, purpose: Purpose) -> Self {
        self.purpose = purpose;
        self
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn purpose(&self) -> Purpose {
        self.purpose
    }
}

/// One `Validation` per key, algorithm pinned (so an HS256 token "signed" with
/// a public key never reaches HMAC). Time checks are ours (injectable clock),
/// presence of `exp`/`iss`/`sub`/`aud` is enforced here: jsonwebtoken skips
/// `iss`/`aud` checks on tokens that simply omit them.
pub(super) fn validation_for(alg: Algorithm, issuer: &str, audience: Option<&str>) -> Validation {
    let mut v = Validation::new(alg);
    v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    v.set_issuer(&[issuer]);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.leeway = 0;
    match audience {
        Some(aud) => v.set_audience(&[aud]),
        // Own tokens: the audience depends on the presenter; checked in code.
        None => v.validate_aud = false,
    }
    v
}

struct IssuerKeys {
    issuer: String,
    /// The issuer's keys; the slot's audiences are the ones accepted (none
    /// for the gateway's own tokens, whose audience depends on the presenter).
    keys: Arc<IssuerKeySlot>,
    /// `None`: `scope` and `sub`, nothing else required.
    claims: Option<Arc<ClaimMap>>,
    purpose: Purpose,
}

pub struct SubjectTokenVerifier {
    own: IssuerKeys,
    trusted: HashMap<String, IssuerKeys>,
    cache: VerifiedTokenCache<Verified>,
}

impl SubjectTokenVerifier {
    pub fn new(
        own_issuer: String,
        own_keys: &KeySet,
        trusted: Vec<TrustedIssuer>,
    ) -> Result<Self, TokenError> {
        let mut keys = Vec::new();
        for k in own_keys.iter() {
            let jwk: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(k.public_jwk()).map_err(|e| TokenError::Jwks {
                    issuer: own_issuer.clone(),
                    reason: format!("own key {}: {e}", k.kid()),
                })?;
            let key = DecodingKey::from_jwk(&jwk).map_err(|e| TokenError::Jwks {
                issuer: own_issuer.clone(),
                reason: format!("own key {}: {e}", k.kid()),
            })?;
            let alg = match k.algorithm() {
                SigningAlgorithm::Es256 => Algorithm::ES256,
                SigningAlgorithm::EdDsa => Algorithm::EdDSA,
            };
            keys.push(VerifyKey {
                kid: Some(k.kid().to_owned()),
                alg,
                key,
                validation: validation_for(alg, &own_issuer, None),
            });
        }
        let own_accept = Acceptance {
            audiences: Vec::new(),
            require_sub: true,
        };
        let keys = Arc::new(IssuerKeySlot::fixed(&own_issuer, own_accept, keys));
        let mut map = HashMap::new();
        for t in trusted {
            if t.issuer == own_issuer || map.contains_key(&t.issuer) {
                return Err(TokenError::DuplicateIssuer(t.issuer));
            }
            map.insert(
                t.issuer.clone(),
                IssuerKeys {
                    issuer: t.issuer,
                    keys: t.keys,
                    claims: t.claims,
                    purpose: t.purpose,
                },
            );
        }
        Ok(SubjectTokenVerifier {
            own: IssuerKeys {
                issuer: own_issuer,
                keys,
                claims: None,
                purpose: Purpose::Subject,
            },
            trusted: map,
            cache: VerifiedTokenCache::new(DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES)
                .map_err(|_| TokenError::RandomUnavailable)?,
        })
    }

    /// Verify `token` presented at `now` by the agent whose resource (audience
    /// URI) is `presenter_resource` (`None` for callers that are not agents).
    ///
    /// The signature and claim parsing are done once per token and cached
    /// ([`VerifiedTokenCache`]); the clock and presenter checks run on every
    /// call.
    pub fn verify(
        &self,
        token: &str,
        presenter_resource: Option<&str>,
        now: i64,
    ) -> Result<SubjectToken, TokenError> {
        self.verified(token, now)?.finish(presenter_resource, now)
    }

    /// `token`'s signature and claims, from the cache or verified now (and
    /// cached), before any clock or presenter check.
    pub(super) fn verified(&self, token: &str, now: i64) -> Result<Arc<Verified>, TokenError> {
        // The size limit comes before any work, hashing included.
        if token.len() > MAX_TOKEN_BYTES {
            return Err(malformed("longer than 16 KiB"));
        }
        let started = std::time::Instant::now();
        let timing = &self.cache.counters().verifications;
        if !self.cache.enabled() {
            // No cache: no keyed hash to compute either.
            let verified = self.verify_signed(token, false).map(Arc::new);
            timing[CACHE_MISS].observe(started.elapsed());
            return verified;
        }
        let tag = self.cache.tag(token);
        // A hit verified under a key set its issuer has since replaced is
        // verified again: removed keys stop verifying at once.
        if let Some(hit) = self.cache.get(&tag, now).filter(|h| h.key_set_current()) {
            timing[CACHE_HIT].observe(started.elapsed());
            return Ok(hit);
        }
        let verified = self.verify_signed(token, false);
        // Refused tokens are timed too: a flood of bad signatures costs
        // verification time an operator should see.
        timing[CACHE_MISS].observe(started.elapsed());
        let verified = Arc::new(verified?);
        let stale_at = verified.exp.saturating_add(LEEWAY_SECS);
        self.cache
            .insert(tag, token.len(), Arc::clone(&verified), stale_at, now);
        Ok(verified)
    }

    /// A trusted issuer's `token` whose `aud` names `audience`, the
    /// resource identifier of the route it is presented on (an MCP server's:
    /// MCP clients request tokens for the URL they dial, RFC 8707), besides
    /// the issuer's configured audiences, which refused it. Never cached:
    /// the cache serves every route, and on any other route such a token is
    /// refused. The gateway's own tokens keep their presenter rule.
    pub fn verify_for_audience(
        &self,
        token: &str,
        presenter_resource: Option<&str>,
        audience: &str,
        now: i64,
    ) -> Result<SubjectToken, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(malformed("longer than 16 KiB"));
        }
        let started = std::time::Instant::now();
        let verified = self.verify_signed_for(token, false, Some(audience));
        self.cache.counters().verifications[CACHE_MISS].observe(started.elapsed());
        verified?.finish(presenter_resource, now)
    }

    /// The cache of verified tokens (for metrics and tests).
    pub fn cache(&self) -> &VerifiedTokenCache<Verified> {
        &self.cache
    }

    /// A verifier whose cache holds at most `max_entries` tokens and about
    /// `max_bytes` of them (`0` entries: no cache).
    pub fn with_cache_limits(
        mut self,
        max_entries: usize,
        max_bytes: usize,
    ) -> Result<Self, TokenError> {
        let counters = Arc::clone(self.cache.counters());
        self.cache = VerifiedTokenCache::new(max_entries, max_bytes)
            .map_err(|_| TokenError::RandomUnavailable)?
            .with_counters(counters);
        Ok(self)
    }

    /// Count the cache's hits, misses and evictions in `counters` (the
    /// gateway's metrics, shared across reloads).
    pub fn with_cache_counters(mut self, counters: Arc<CacheCounters>) -> Self {
        self.cache = self.cache.with_counters(counters);
        self
    }

    /// Every configured issuer's key slot (the gateway's own excluded).
    pub fn issuer_slots(&self) -> impl Iterator<Item = &Arc<IssuerKeySlot>> {
        self.trusted.values().map(|i| &i.keys)
    }

    /// The key slot of the fetched issuer `token` names (unverified `iss`)
    /// and the token's `kid`, in one parse; `None` for a token the header
    /// rules refuse, for the gateway's own, unknown and file-keyed issuers.
    pub(super) fn fetched_slot_of(&self, token: &str) -> Option<(&IssuerKeySlot, Option<String>)> {
        let (h64, p64, s64) = split_compact(token).ok()?;
        let header = checked_header(h64, s64).ok()?;
        let payload = decode_json_object(p64, "payload").ok()?;
        let iss = payload.get("iss")?.as_str()?;
        let slot = self.trusted.get(iss).map(|i| &*i.keys)?;
        slot.fingerprint()?;
        let kid = header
            .get("kid")
            .and_then(|k| k.as_str())
            .map(str::to_owned);
        Some((slot, kid))
    }

    /// Everything about `token` that holds whoever presents it, whenever:
    /// header rules, issuer and key choice, signature, claim types. Only
    /// issuers trusted for assertions when `assertion`, only the others when
    /// not (the gateway's own tokens are never assertions).
    pub(super) fn verify_signed(
        &self,
        token: &str,
        assertion: bool,
    ) -> Result<Verified, TokenError> {
        self.verify_signed_for(token, assertion, None)
    }

    /// [`Self::verify_signed`], with `audience` (when given) the only
    /// audience a trusted issuer's token is checked for.
    fn verify_signed_for(
        &self,
        token: &str,
        assertion: bool,
        audience: Option<&str>,
    ) -> Result<Verified, TokenError> {
        let (h64, p64, s64) = split_compact(token)?;
        let header = checked_header(h64, s64)?;
        let header = check_header(&header)?;

        // Unverified `iss` used only to choose among configured issuers; the
        // verified `iss` must then equal the chosen one (jsonwebtoken checks).
        let unverified = decode_json_object(p64, "payload")?;
        let iss = unverified
            .get("iss")
            .ok_or_else(|| TokenError::MissingClaim("iss".into()))?
            .as_str()
            .ok_or_else(|| malformed("iss is not a string"))?;
        let issuer = if iss == self.own.issuer {
            &self.own
        } else {
            self.trusted
                .get(iss)
                .ok_or_else(|| TokenError::UnknownIssuer(truncate(iss)))?
        };
        let own = std::ptr::eq(issuer, &self.own);
        let max_lifetime = purpose_allows(issuer.purpose, assertion, iss)?;

        let key_set = issuer.keys.current()?;
        let key = select_key(&key_set.keys, &header)?;

        let validation = match audience {
            None => std::borrow::Cow::Borrowed(&key.validation),
            // The gateway's own tokens name their audience by presenter.
            Some(_) if own => return Err(TokenError::WrongAudience),
            Some(aud) => {
                let mut v = key.validation.clone();
                v.set_audience(&[aud]);
                v.validate_aud = true;
                std::borrow::Cow::Owned(v)
            }
        };
        let claims = jsonwebtoken::decode::<RawClaims>(token, &key.key, &validation)
            .map_err(map_jwt_error)?
            .claims;

        let exp = numeric_date(claims.exp.as_ref(), "exp")?
            .ok_or_else(|| TokenError::MissingClaim("exp".into()))?;
        let nbf = numeric_date(claims.nbf.as_ref(), "nbf")?;
        let iat = numeric_date(claims.iat.as_ref(), "iat")?
            .ok_or_else(|| TokenError::MissingClaim("iat".into()))?;
        if let Some(max) = max_lifetime.filter(|max| exp.saturating_sub(iat) > *max) {
            return Err(TokenError::LifetimeTooLong { max });
        }
        // The payload read before is the one the signature covers.
        let (sub, scopes) = match issuer.claims.as_deref() {
            Some(map) => {
                map.check_required(&unverified)?;
                (map.subject(&unverified)?, map.scopes(&unverified)?)
            }
            None => (
                claims
                    .sub
                    .ok_or_else(|| TokenError::MissingClaim("sub".into()))?,
                claims
                    .scope
                    .map(|s| s.split_ascii_whitespace().map(str::to_owned).collect()),
            ),
        };
        let token_aud = claims
            .aud
            .ok_or_else(|| TokenError::MissingClaim("aud".into()))?;
        // The first configured audience the token carries (jsonwebtoken
        // checked there is one).
        let issuer_audience = match audience {
            Some(aud) => aud.to_owned(),
            None => issuer
                .keys
                .audiences()
                .iter()
                .find(|a| token_aud.contains(a))
                .cloned()
                .unwrap_or_default(),
        };

        // RFC 9068 §4 typ check, case-insensitive per the RFC's own example;
        // applied to own tokens only (external issuers' `typ` varies: JWT,
        // at+jwt, none; their tokens are bound to us by the required,
        // configured `aud` instead).
        let typ_ok = header.typ.is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        });
        Ok(Verified {
            issuer: issuer.issuer.as_str().into(),
            own,
            sub: sub.into(),
            scopes: scopes.map(Into::into),
            exp,
            nbf,
            iat,
            act: claims.act.map(Arc::new),
            may_act: claims.may_act.map(Arc::new),
            cnf: confirmation(claims.cnf.as_ref()),
            typ_ok,
            own_audience: match token_aud {
                Audience::One(a) => Some(a.into()),
                Audience::Many(_) => None,
            },
            issuer_audience: issuer_audience.into(),
            key_set: (Arc::clone(&issuer.keys), key_set.generation),
            jti: unverified
                .get("jti")
                .and_then(serde_json::Value::as_str)
                .map(Into::into),
            user_grant: user_grant(own, &unverified)?,
            grant_ref: grant_ref(own, &unverified)?,
        })
    }
}

/// What a successful verification established, minus what depends on the
/// presenter or the clock.
#[derive(Debug)]
pub struct Verified {
    pub(super) issuer: Arc<str>,
    pub(super) own: bool,
    pub(super) sub: Arc<str>,
    pub(super) scopes: Option<Arc<[String]>>,
    pub(super) exp: i64,
    pub(super) nbf: Option<i64>,
    pub(super) iat: i64,
    pub(super) act: Option<Arc<Actor>>,
    pub(super) may_act: Option<Arc<serde_json::Value>>,
    /// The `cnf` claim as read; its refusal keeps its place in the order of
    /// checks (after the clock), so it is kept as a result.
    pub(super) cnf: Result<Option<Cnf>, TokenError>,
    /// Own tokens: whether `typ` is `at+jwt`.
    pub(super) typ_ok: bool,
    /// Own tokens: the single audience, if the token has exactly one.
    pub(super) own_audience: Option<Arc<str>>,
    /// Trusted issuers: the configured audience the token was checked for.
    pub(super) issuer_audience: Arc<str>,
    /// The issuer's keys and the generation the signature verified under.
    pub(super) key_set: (Arc<IssuerKeySlot>, u64),
    /// Own tokens issued from a person's grant: `grant` and `sub_id`, read
    /// once with the signature ([`super::user_token`] admits them).
    pub(super) user_grant: Option<Arc<UserGrantClaims>>,
    /// `jti`, when a string (the replay check of assertions).
    pub(super) jti: Option<Arc<str>>,
    /// Own tokens minted from a grant's delegation: its `grant_ref`.
    pub(super) grant_ref: Option<Arc<str>>,
}

impl Verified {
    /// Whether the key set the token verified under is still its issuer's.
    fn key_set_current(&self) -> bool {
        self.key_set.0.generation() == self.key_set.1
    }

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
            // A token from a person's grant is admitted only by its own
            // rule (the actor at the route of its audience, with the grant
            // live): as a subject token it would outlive a revocation.
            if self.user_grant.is_some() {
                return Err(TokenError::NotAudience);
            }
            // A gateway token names exactly one agent as audience; only that
            // agent may present it onward: a token minted for B cannot be
            // replayed by C. Checked per request: the presenter varies.
            match (&self.own_audience, presenter_resource) {
                (Some(a), Some(p)) if &**a == p => a.clone(),
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
            grant: self.grant_ref.clone(),
        })
    }
}

/// `grant_ref` of one of the gateway's own tokens (a string, or absent);
/// other issuers' claims of that name mean nothing here.
fn grant_ref(
    own: bool,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<Arc<str>>, TokenError> {
    match (own, claims.get("grant_ref")) {
        (false, _) | (true, None) => Ok(None),
        (true, Some(serde_json::Value::String(g))) => Ok(Some(g.as_str().into())),
        (true, Some(_)) => Err(malformed("grant_ref is not a string")),
    }
}

/// The `grant`/`sub_id` claims of one of the gateway's own tokens, if it
/// carries `grant`; malformed ones refuse the token.
fn user_grant(
    own: bool,
    payload: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<Arc<UserGrantClaims>>, TokenError> {
    if !own || !payload.contains_key("grant") {
        return Ok(None);
    }
    let pick = |k: &str| payload.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let v = serde_json::json!({"grant": pick("grant"), "sub_id": pick("sub_id")});
    serde_json::from_value(v)
        .map(|c| Some(Arc::new(c)))
        .map_err(|_| malformed("grant or sub_id is not as this gateway issues them"))
}

/// The key for `header` among `keys` (one issuer's or one trust domain's,
/// never a global pool): by `kid`, or the only key when there is no `kid`;
/// the header's `alg` must be the algorithm pinned for that key.
pub(super) fn select_key<'k>(
    keys: &'k [VerifyKey],
    header: &Header<'_>,
) -> Result<&'k VerifyKey, TokenError> {
    let key = match header.kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
            .ok_or_else(|| TokenError::UnknownKey(truncate(kid)))?,
        None => match keys {
            [only] => only,
            _ => return Err(TokenError::MissingKid),
        },
    };
    if format!("{:?}", key.alg) != header.alg {
        return Err(TokenError::AlgorithmNotAllowed(truncate(header.alg)));
    }
    Ok(key)
}

/// `exp`, `nbf` and `iat` against `now`, each with [`LEEWAY_SECS`].
pub(super) fn check_times(
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    now: i64,
) -> Result<(), TokenError> {
    if now >= exp.saturating_add(LEEWAY_SECS) {
        return Err(TokenError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS)) {
        return Err(TokenError::NotYetValid);
    }
    if iat.is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECS)) {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(())
}

/// The `cnf` claim: absent, or exactly an RFC 8705 `x5t#S256` binding. Any
/// other confirmation (a DPoP `jkt`, a `jwk`) is refused rather than ignored:
/// accepting it as a bearer token would silently drop its binding.
fn confirmation(cnf: Option<&serde_json::Value>) -> Result<Option<Cnf>, TokenError> {
    let Some(v) = cnf else { return Ok(None) };
    let obj = v.as_object().ok_or(TokenError::UnsupportedConfirmation)?;
    match (obj.len(), obj.get("x5t#S256")) {
        (1, Some(serde_json::Value::String(t))) if !t.is_empty() => Ok(Some(Cnf {
            x5t_s256: t.clone(),
        })),
        _ => Err(TokenError::UnsupportedConfirmation),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    /// Accepted for trusted issuers (jsonwebtoken checked membership); never
    /// for own tokens, which always carry a single audience.
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, a: &str) -> bool {
        match self {
            Audience::One(one) => one == a,
            Audience::Many(many) => many.iter().any(|m| m == a),
        }
    }
}

/// The claims read after signature verification. Everything is optional here
/// so that jsonwebtoken's required-claim check (which runs after this struct
/// is deserialized) reports a missing claim by name; types are checked below.
#[derive(Deserialize)]
pub(super) struct RawClaims {
    #[serde(default)]
    pub(super) sub: Option<String>,
    #[serde(default)]
    pub(super) aud: Option<Audience>,
    #[serde(default)]
    pub(super) exp: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) nbf: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) iat: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    act: Option<Actor>,
    #[serde(default)]
    may_act: Option<serde_json::Value>,
    #[serde(default)]
    cnf: Option<serde_json::Value>,
}

/// Whether a token of an issuer with `purpose` may be used as asked (an
/// assertion when `assertion`, else a subject token): one issuer, one
/// purpose. For an assertion, its issuer's longest allowed lifetime.
fn purpose_allows(purpose: Purpose, assertion: bool, iss: &str) -> Result<Option<i64>, TokenError> {
    match (purpose, assertion) {
        (Purpose::Subject, false) => Ok(None),
        (Purpose::Assertion { max_lifetime_secs }, true) => Ok(Some(max_lifetime_secs)),
        (Purpose::Subject, true) => Err(TokenError::NotAssertionIssuer(truncate(iss))),
        (Purpose::Assertion { .. }, false) => Err(TokenError::AssertionIssuer(truncate(iss))),
    }
}

/// Attacker-supplied strings end up in error messages; keep them short.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
