//! The user's delegations (issue 18): what a person allowed an agent to do
//! for them, and the secrets that carry it.
//!
//! - A **grant** is a person's consent: this client may have this agent
//!   (the actor, a SPIFFE ID) act on this resource with these scopes. It is
//!   the remembered consent (the page is skipped for a subset of its
//!   scopes), what the grants page lists, and what revocation ends.
//! - An **authorization code** (60 seconds, single use) is issued when the
//!   person allows, bound to the grant, the redirect URI, the PKCE challenge
//!   and the scopes of that request.
//! - A **refresh token** is bound to the grant, the actor's certificate and
//!   the scopes; each use spends it and returns the next one (rotation). A
//!   spent token presented again means two parties hold it, so the whole
//!   grant is revoked (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2): its refresh
//!   tokens die and the consent is forgotten.
//!
//! Codes and refresh tokens are kept only as digests ([`secret`]). Grants
//! and refresh tokens persist in one file ([`file`]), rewritten durably
//! before a change is answered; codes live in memory. The store is
//! synchronous (one mutex; each change writes a small file) and one process
//! owns its file (a lock beside it). With `[state] backend = "postgres"`
//! each replica would keep its own file, so a code issued through one
//! replica could not be redeemed through another: the store is for one
//! gateway, as the file backend of approvals is.

mod file;
mod secret;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::dir_lock::{DirLock, DirLockError};
use file::{Persisted, RefreshRecord};

/// How long an authorization code may be redeemed (RFC 6749 §4.1.2
/// recommends at most ten minutes; a code only crosses one redirect).
pub const CODE_LIFETIME_SECS: i64 = 60;

/// Codes outstanding at once: each is created only after a person logged
/// in and allowed, so the cap stops a scripted loop, not real users.
const MAX_CODES: usize = 10_000;

/// Codes one person may have outstanding: a remembered consent skips the
/// page, so without it one logged-in script could fill the shared table.
const MAX_CODES_PER_USER: usize = 20;

/// Grants one person may hold (live or revoked and kept for the listing).
const MAX_GRANTS_PER_USER: usize = 1_000;

/// How long a revoked grant stays listed on the grants page.
const REVOKED_KEPT_SECS: i64 = 30 * 24 * 3600;

/// The person, as the login IdP names them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub issuer: String,
    pub sub: String,
}

/// What the person allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    pub client_id: String,
    /// The SPIFFE ID of the agent that will act (`requested_actor`).
    pub actor: String,
    /// The RFC 8707 resource: an agent's or MCP server's resource URL.
    pub resource: String,
    /// Sorted and without duplicates (see [`Consent::new`]).
    pub scopes: Vec<String>,
}

impl Consent {
    /// A consent with its scopes sorted and deduplicated, so two consents
    /// compare by content.
    pub fn new(client_id: &str, actor: &str, resource: &str, scopes: &[String]) -> Consent {
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        Consent {
            client_id: client_id.to_owned(),
            actor: actor.to_owned(),
            resource: resource.to_owned(),
            scopes,
        }
    }

    /// Same client, actor and resource (the grant a consent belongs to).
    fn same_party(&self, other: &Consent) -> bool {
        self.client_id == other.client_id
            && self.actor == other.actor
            && self.resource == other.resource
    }

    fn covers(&self, scopes: &[String]) -> bool {
        scopes.iter().all(|s| self.scopes.contains(s))
    }
}

/// What a code is bound to besides its grant (checked at redemption).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBinding {
    pub redirect_uri: String,
    /// The PKCE S256 challenge, base64url.
    pub code_challenge: String,
}

/// A grant as the grants page, the audit log and the token grants see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantView {
    /// `gr-` and 32 hex digits.
    pub id: String,
    pub user: User,
    /// The grant's scopes are the union of everything consented to it.
    pub consent: Consent,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl GrantView {
    pub fn is_live(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// A redeemed code: its grant, the scopes of that request, the binding.
#[derive(Debug, Clone)]
pub struct Redeemed {
    pub grant: GrantView,
    pub scopes: Vec<String>,
    pub binding: CodeBinding,
}

/// A rotated refresh token: the grant, its scopes, and the next token.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub grant: GrantView,
    pub scopes: Vec<String>,
    pub refresh_token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GrantsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a grant store this gateway can read: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{}: the grant store could not be written: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    #[error(transparent)]
    Locked(#[from] DirLockError),
    #[error("no such grant")]
    UnknownGrant,
    #[error("too many outstanding authorization codes; try again in a minute")]
    TooManyCodes,
    #[error("this user holds too many grants; revoke some on the grants page")]
    TooManyGrants,
    #[error("the system random number generator failed")]
    Random,
}

/// Why a code was not redeemed. All of them are `invalid_grant` on the
/// wire; the variants are for the audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("unknown authorization code")]
    Unknown,
    #[error("the authorization code expired")]
    Expired,
    #[error("the authorization code was already used; its grant is revoked")]
    Replayed,
    #[error("the grant behind this authorization code was revoked")]
    Revoked,
    #[error("the code was issued for another agent than the one presenting this certificate")]
    OtherActor,
}

/// Why a refresh token was not rotated (`invalid_grant` on the wire, but
/// [`RefreshError::Store`], a server error).
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("unknown refresh token")]
    Unknown,
    #[error("the refresh token expired")]
    Expired,
    #[error("the refresh token was already used; its grant is revoked")]
    Reused,
    #[error("the grant behind this refresh token was revoked")]
    Revoked,
    #[error("the refresh token is bound to another certificate")]
    WrongCertificate,
    #[error(transparent)]
    Store(#[from] GrantsError),
}

/// A code in memory, by digest.
#[derive(Debug, Clone)]
struct CodeRecord {
    grant_id: String,
    scopes: Vec<String>,
    binding: CodeBinding,
    expires_at: i64,
    /// Kept until it expires after use, so a replay is recognised.
    used: bool,
}

struct Inner {
    state: Persisted,
    codes: HashMap<String, CodeRecord>,
}

/// The grant store (see the module docs).
pub struct GrantStore {
    path: PathBuf,
    inner: Mutex<Inner>,
    /// The ids of the live grants, replaced after each commit: the proxy
    /// checks a grant token's liveness on every request, and must not wait
    /// behind a change writing the file under `inner`'s lock.
    live: arc_swap::ArcSwap<std::collections::HashSet<String>>,
    _lock: DirLock,
}

impl std::fmt::Debug for GrantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl GrantStore {
    /// Open (or create) the store file. Its directory must exist; one
    /// process at a time may hold it (`PATH.lock` beside it).
    pub fn open(path: &Path) -> Result<GrantStore, GrantsError> {
        let lock_path = PathBuf::from(format!("{}.lock", path.display()));
        let lock = DirLock::acquire_at(&lock_path, path, "[authorize] grants file")?;
        let state = file::load(path)?;
        let live = arc_swap::ArcSwap::from_pointee(live_ids(&state));
        Ok(GrantStore {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                state,
                codes: HashMap::new(),
            }),
            live,
            _lock: lock,
        })
    }

    /// The file this store keeps.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves whole records behind (every
        // change is applied to a copy and swapped in), so the data is sound.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Apply `change` to a copy of the persisted state, write it, and only
    /// then make it the store's: a failed write changes nothing.
    fn commit<R>(
        &self,
        inner: &mut Inner,
        change: impl FnOnce(&mut Persisted) -> R,
    ) -> Result<R, GrantsError> {
        let mut next = inner.state.clone();
        let r = change(&mut next);
        file::save(&self.path, &next)?;
        self.live.store(std::sync::Arc::new(live_ids(&next)));
        inner.state = next;
        Ok(r)
    }

    /// A live grant of `user` for the same client, actor and resource whose
    /// scopes cover `consent.scopes`: the consent is remembered.
    pub fn remembered(&self, user: &User, consent: &Consent) -> Option<GrantView> {
        let inner = self.lock();
        live_grant_for(&inner.state, user, consent)
            .filter(|g| g.consent.covers(&consent.scopes))
            .cloned()
    }

    /// The person allowed `consent` (or it was remembered): create the grant
    /// or widen it, and issue a code bound to it, `binding` and the
    /// consent's scopes.
    pub fn issue_code(
        &self,
        user: &User,
        consent: &Consent,
        binding: CodeBinding,
        now: i64,
    ) -> Result<String, GrantsError> {
        let mut inner = self.lock();
        inner.codes.retain(|_, c| c.expires_at > now);
        let state = &inner.state;
        let users_codes = inner
            .codes
            .values()
            .filter(|c| {
                state
                    .grants
                    .get(&c.grant_id)
                    .is_some_and(|g| &g.user == user)
            })
            .count();
        if inner.codes.len() >= MAX_CODES || users_codes >= MAX_CODES_PER_USER {
            return Err(GrantsError::TooManyCodes);
        }
        let grant_id = match live_grant_for(&inner.state, user, consent) {
            Some(g) if g.consent.covers(&consent.scopes) => g.id.clone(),
            Some(g) => {
                let id = g.id.clone();
                let mut scopes = g.consent.scopes.clone();
                scopes.extend(consent.scopes.iter().cloned());
                let widened = Consent::new(
                    &consent.client_id,
                    &consent.actor,
                    &consent.resource,
                    &scopes,
                );
                self.commit(&mut inner, |s| {
                    if let Some(g) = s.grants.get_mut(&id) {
                        g.consent = widened;
                    }
                })?;
                id
            }
            None => {
                let held = inner
                    .state
                    .grants
                    .values()
                    .filter(|g| &g.user == user)
                    .count();
                if held >= MAX_GRANTS_PER_USER {
                    return Err(GrantsError::TooManyGrants);
                }
                let grant = GrantView {
                    id: secret::new_grant_id()?,
                    user: user.clone(),
                    consent: consent.clone(),
                    created_at: now,
                    last_used_at: None,
                    revoked_at: None,
                };
                let id = grant.id.clone();
                self.commit(&mut inner, |s| {
                    prune(s, now);
                    s.grants.insert(grant.id.clone(), grant);
                })?;
                id
            }
        };
        let code = secret::new_secret()?;
        inner.codes.insert(
            secret::digest_of(&code),
            CodeRecord {
                grant_id,
                scopes: consent.scopes.clone(),
                binding,
                expires_at: now + CODE_LIFETIME_SECS,
                used: false,
            },
        );
        Ok(code)
    }

    /// Redeem a code, once, for `actor` (the redeeming connection's SPIFFE
    /// ID). A second redemption by the actor revokes the grant (RFC 6749
    /// §4.1.2: the code leaked; whatever was issued from it must stop). A
    /// code presented by anyone else is `OtherActor` and changes nothing:
    /// codes cross the browser, and whoever saw one must not be able to
    /// spend it or revoke the person's grant with it.
    pub fn redeem_code(&self, code: &str, actor: &str, now: i64) -> Result<Redeemed, CodeError> {
        let mut inner = self.lock();
        let digest = secret::digest_of(code);
        let Some(record) = inner.codes.get(&digest).cloned() else {
            return Err(CodeError::Unknown);
        };
        let grant_actor = inner
            .state
            .grants
            .get(&record.grant_id)
            .map(|g| g.consent.actor.as_str());
        if grant_actor.is_some_and(|a| a != actor) {
            return Err(CodeError::OtherActor);
        }
        if record.expires_at <= now {
            inner.codes.remove(&digest);
            return Err(CodeError::Expired);
        }
        if record.used {
            // Best effort: if the revocation cannot be written, the code is
            // still refused and the grant's refresh tokens stay bound to
            // the first redeemer's certificate.
            let _ = self.revoke_locked(&mut inner, &record.grant_id, now);
            return Err(CodeError::Replayed);
        }
        let grant = match inner.state.grants.get(&record.grant_id) {
            Some(g) if g.is_live() => g.clone(),
            _ => return Err(CodeError::Revoked),
        };
        if let Some(c) = inner.codes.get_mut(&digest) {
            c.used = true;
        }
        Ok(Redeemed {
            grant,
            scopes: record.scopes,
            binding: record.binding,
        })
    }

    /// A refresh token for the grant, bound to `cert_thumbprint` (RFC 8705
    /// `x5t#S256`) and `scopes`, valid until `expires_at`.
    pub fn issue_refresh(
        &self,
        grant_id: &str,
        scopes: &[String],
        cert_thumbprint: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<String, GrantsError> {
        let mut inner = self.lock();
        match inner.state.grants.get(grant_id) {
            Some(g) if g.is_live() => {}
            _ => return Err(GrantsError::UnknownGrant),
        }
        let token = secret::new_secret()?;
        let record = RefreshRecord {
            grant_id: grant_id.to_owned(),
            scopes: scopes.to_vec(),
            thumbprint: cert_thumbprint.to_owned(),
            expires_at,
            spent: false,
        };
        let digest = secret::digest_of(&token);
        self.commit(&mut inner, |s| {
            prune(s, now);
            s.refresh.insert(digest, record);
            if let Some(g) = s.grants.get_mut(grant_id) {
                g.last_used_at = Some(now);
            }
        })?;
        Ok(token)
    }

    /// Spend `token` and return the next one (same grant, scopes,
    /// certificate and expiry). A spent token presented again revokes the
    /// grant. A token presented over another certificate is refused but not
    /// spent: whoever holds the certificate it is bound to keeps it.
    pub fn rotate_refresh(
        &self,
        token: &str,
        cert_thumbprint: &str,
        now: i64,
    ) -> Result<Rotated, RefreshError> {
        let mut inner = self.lock();
        let digest = secret::digest_of(token);
        let Some(record) = inner.state.refresh.get(&digest).cloned() else {
            return Err(RefreshError::Unknown);
        };
        // Before anything with a side effect: a token presented over
        // another certificate proves nothing, so it neither spends the
        // token nor, when spent, revokes the grant.
        if record.thumbprint != cert_thumbprint {
            return Err(RefreshError::WrongCertificate);
        }
        let grant = match inner.state.grants.get(&record.grant_id) {
            Some(g) if g.is_live() => g.clone(),
            _ => return Err(RefreshError::Revoked),
        };
        if record.spent {
            self.revoke_locked(&mut inner, &record.grant_id, now)?;
            return Err(RefreshError::Reused);
        }
        if record.expires_at <= now {
            return Err(RefreshError::Expired);
        }
        let next = secret::new_secret()?;
        let next_record = RefreshRecord {
            spent: false,
            ..record.clone()
        };
        let grant_id = record.grant_id.clone();
        let grant = self.commit(&mut inner, |s| {
            prune(s, now);
            if let Some(r) = s.refresh.get_mut(&digest) {
                r.spent = true;
            }
            s.refresh.insert(secret::digest_of(&next), next_record);
            match s.grants.get_mut(&grant_id) {
                Some(g) => {
                    g.last_used_at = Some(now);
                    g.clone()
                }
                None => grant,
            }
        })?;
        Ok(Rotated {
            grant,
            scopes: record.scopes,
            refresh_token: next,
        })
    }

    /// The person's grants, newest first, revoked ones included.
    pub fn grants_of(&self, user: &User) -> Vec<GrantView> {
        let inner = self.lock();
        let mut out: Vec<GrantView> = inner
            .state
            .grants
            .values()
            .filter(|g| &g.user == user)
            .cloned()
            .collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        out
    }

    /// Revoke one of `user`'s grants: its refresh tokens stop at once, its
    /// codes are forgotten, the consent is no longer remembered. Another
    /// person's grant id is [`GrantsError::UnknownGrant`], as a missing
    /// one is (no probing for ids). Revoking twice returns the grant.
    pub fn revoke(&self, user: &User, grant_id: &str, now: i64) -> Result<GrantView, GrantsError> {
        let mut inner = self.lock();
        match inner.state.grants.get(grant_id) {
            Some(g) if &g.user == user => {}
            _ => return Err(GrantsError::UnknownGrant),
        }
        self.revoke_locked(&mut inner, grant_id, now)
    }

    fn revoke_locked(
        &self,
        inner: &mut Inner,
        grant_id: &str,
        now: i64,
    ) -> Result<GrantView, GrantsError> {
        inner.codes.retain(|_, c| c.grant_id != grant_id);
        let view = self.commit(inner, |s| {
            s.refresh.retain(|_, r| r.grant_id != grant_id);
            let g = s.grants.get_mut(grant_id)?;
            if g.revoked_at.is_none() {
                g.revoked_at = Some(now);
            }
            Some(g.clone())
        })?;
        view.ok_or(GrantsError::UnknownGrant)
    }

    /// The grant exists and is not revoked (lock-free: see `live`).
    pub fn is_live(&self, grant_id: &str) -> bool {
        self.live.load().contains(grant_id)
    }
}

fn live_ids(state: &Persisted) -> std::collections::HashSet<String> {
    state
        .grants
        .values()
        .filter(|g| g.is_live())
        .map(|g| g.id.clone())
        .collect()
}

fn live_grant_for<'a>(
    state: &'a Persisted,
    user: &User,
    consent: &Consent,
) -> Option<&'a GrantView> {
    state
        .grants
        .values()
        .find(|g| g.is_live() && &g.user == user && g.consent.same_party(consent))
}

/// Drop what can no longer matter: expired refresh tokens (spent or not:
/// an expired token is refused either way) and revoked grants past their
/// listing time.
fn prune(state: &mut Persisted, now: i64) {
    state.refresh.retain(|_, r| r.expires_at > now);
    state
        .grants
        .retain(|_, g| g.revoked_at.is_none_or(|t| now - t < REVOKED_KEPT_SECS));
}
