//! One issuer's keys at run time. The snapshot is immutable; only the key
//! set inside an issuer's [`IssuerKeySlot`] is swapped, by a fetch. Every
//! key set installed gets a new generation number: a verified token
//! remembers the generation it was verified under, and the verified-token
//! cache serves it only while that is still the issuer's generation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use jsonwebtoken::Algorithm;

use super::cache_control::keep_for;
use super::discovery::{jwks_url, Locator};
use super::fetch::Fetcher;
use super::jwk::{key_set, Acceptance, Strictness};
use crate::metrics::Metrics;
use crate::token::verify::{TokenError, VerifyKey};

/// At most this many kids (and skipped keys) are logged per key set.
const LOGGED_KIDS: usize = 16;

/// The key set in service for an issuer.
pub struct KeyState {
    pub(in crate::token) generation: u64,
    pub(in crate::token) keys: Vec<VerifyKey>,
    /// The bytes the keys were read from: a fetch of the same bytes changes
    /// nothing (no new generation, the cache stays warm).
    body: Bytes,
    /// When the set was fetched (seconds since the epoch; `None`: a file).
    pub(crate) fetched_at: Option<i64>,
}

/// The issuer's fetch timings (`refresh`, `min_refresh_interval`,
/// `startup_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub refresh: Duration,
    pub min_refresh_interval: Duration,
    pub startup_timeout: Duration,
}

/// How a fetched issuer's keys are found and read.
pub struct Remote {
    pub locator: Locator,
    pub fetcher: Fetcher,
    pub timing: Timing,
    pub algorithms: Option<Vec<Algorithm>>,
    /// Everything configured about the issuer: a reload whose issuer has the
    /// same fingerprint keeps this slot, keys and all (no refetch storm).
    pub fingerprint: String,
}

struct Schedule {
    created: Instant,
    last_attempt: Option<Instant>,
    next_due: Instant,
    last_error: Option<String>,
    /// The key set URL discovery found, and when.
    discovered: Option<(String, Instant)>,
}

/// Whether an issuer's tokens can be verified now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Ready,
    /// No key set yet, still within `startup_timeout`.
    Waiting,
    /// No key set, and `startup_timeout` has passed: why.
    Unavailable(String),
}

/// See the module documentation.
pub struct IssuerKeySlot {
    issuer: String,
    accept: Acceptance,
    remote: Option<Remote>,
    generation: AtomicU64,
    state: ArcSwapOption<KeyState>,
    schedule: Mutex<Schedule>,
    /// Held while fetching: one fetch per issuer at a time, and a request
    /// that waits for keys waits for the fetch in progress.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for IssuerKeySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<Option<String>> = self
            .state
            .load()
            .as_ref()
            .map(|s| s.keys.iter().map(|k| k.kid.clone()).collect())
            .unwrap_or_default();
        f.debug_struct("IssuerKeySlot")
            .field("issuer", &self.issuer)
            .field("generation", &self.generation())
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}

impl IssuerKeySlot {
    fn with(
        issuer: &str,
        accept: Acceptance,
        remote: Option<Remote>,
        state: Option<KeyState>,
    ) -> Self {
        let now = Instant::now();
        IssuerKeySlot {
            issuer: issuer.to_owned(),
            accept,
            remote,
            generation: AtomicU64::new(state.as_ref().map_or(0, |s| s.generation)),
            state: ArcSwapOption::new(state.map(Arc::new)),
            schedule: Mutex::new(Schedule {
                created: now,
                last_attempt: None,
                next_due: now,
                last_error: None,
                discovered: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Keys that never change (a JWKS file, the gateway's own keys).
    pub(in crate::token) fn fixed(issuer: &str, accept: Acceptance, keys: Vec<VerifyKey>) -> Self {
        let state = KeyState {
            generation: 1,
            keys,
            body: Bytes::new(),
            fetched_at: None,
        };
        Self::with(issuer, accept, None, Some(state))
    }

    /// Keys fetched as `remote` says; none until the first good fetch.
    pub fn fetched(issuer: &str, accept: Acceptance, remote: Remote) -> Self {
        Self::with(issuer, accept, Some(remote), None)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences this issuer's tokens are accepted for.
    pub fn audiences(&self) -> &[String] {
        &self.accept.audiences
    }

    /// How a fetched issuer's keys are found (`None`: fixed keys).
    pub(super) fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }

    pub(super) fn acceptance(&self) -> &Acceptance {
        &self.accept
    }

    /// The configuration fingerprint of a fetched issuer.
    pub fn fingerprint(&self) -> Option<&str> {
        self.remote.as_ref().map(|r| r.fingerprint.as_str())
    }

    /// The generation of the key set in service (0: none yet).
    pub(in crate::token) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The key set in service, or [`TokenError::IssuerUnavailable`] (its
    /// reason is in [`Self::availability`], for `/readyz`, not for callers).
    pub(in crate::token) fn current(&self) -> Result<Arc<KeyState>, TokenError> {
        self.state
            .load_full()
            .ok_or_else(|| TokenError::IssuerUnavailable {
                issuer: self.issuer.clone(),
            })
    }

    /// Number of keys in service and when they were fetched.
    pub fn key_count_and_age(&self) -> (usize, Option<i64>) {
        self.state
            .load()
            .as_ref()
            .map_or((0, None), |s| (s.keys.len(), s.fetched_at))
    }

    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        // Every mutation is a plain field store: a poisoned lock is consistent.
        self.schedule.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn availability(&self, now: Instant) -> Availability {
        if self.state.load().is_some() {
            return Availability::Ready;
        }
        let s = self.schedule();
        let timeout = self
            .remote
            .as_ref()
            .map_or(Duration::ZERO, |r| r.timing.startup_timeout);
        if now < s.created + timeout {
            return Availability::Waiting;
        }
        Availability::Unavailable(match &s.last_error {
            Some(e) => format!("no key set could be fetched ({e})"),
            None => format!("no key set fetched within {timeout:?}"),
        })
    }

    /// When the next scheduled fetch is due (`None`: keys never fetched).
    pub fn next_due(&self) -> Option<Instant> {
        self.remote.as_ref().map(|_| self.schedule().next_due)
    }

    /// Fetch now if a fetch is due (the refresher's call).
    pub async fn refresh_if_due(&self, metrics: &Metrics) {
        let Some(remote) = &self.remote else { return };
        let _fetching = self.fetching.lock().await;
        if self.schedule().next_due > Instant::now() {
            return; // an on-demand fetch just ran
        }
        self.fetch(remote, metrics).await;
    }

    /// A token named a `kid` not in the key set of generation `seen` (or
    /// the issuer has no keys yet): wait for a fetch in progress, or fetch
    /// now unless the last fetch started under `min_refresh_interval` ago.
    pub async fn refresh_for_unknown_kid(&self, seen: u64, metrics: &Metrics) {
        let Some(remote) = &self.remote else { return };
        let _fetching = self.fetching.lock().await;
        if self.generation() != seen {
            return; // the fetch we waited for brought another set
        }
        let recent = self
            .schedule()
            .last_attempt
            .is_some_and(|t| t.elapsed() < remote.timing.min_refresh_interval);
        if !recent {
            self.fetch(remote, metrics).await;
        }
    }

    /// One fetch, under `fetching`: a good key set is put in service (a new
    /// generation when it differs); a failure keeps the last good one.
    async fn fetch(&self, remote: &Remote, metrics: &Metrics) {
        let started = Instant::now();
        self.schedule().last_attempt = Some(started);
        let t = remote.timing;
        match self.fetch_key_set(remote).await {
            Ok(keep) => {
                let mut s = self.schedule();
                s.next_due = started + keep_for(keep, t.min_refresh_interval, t.refresh);
                s.last_error = None;
            }
            Err(why) => {
                metrics.issuer_key_fetch_failed(&self.issuer);
                tracing::warn!(issuer = %self.issuer, error = %why,
                    "issuer key fetch failed; the last good key set (if any) stays in service");
                let mut s = self.schedule();
                s.next_due = started + t.min_refresh_interval;
                s.last_error = Some(why);
            }
        }
    }

    /// Fetch, read and install the key set; its `max-age`, or why not.
    async fn fetch_key_set(&self, remote: &Remote) -> Result<Option<Duration>, String> {
        let url = self.key_set_url(remote).await?;
        let installed = self.install_from(remote, &url).await;
        if installed.is_err() {
            // The IdP may have moved its keys: discover again next time.
            self.schedule().discovered = None;
        }
        installed
    }

    /// Where the key set is: the configured `jwks_uri`, or the one
    /// discovery found, kept for at most `refresh` (and until a key set
    /// fetch from it fails), so a fetch is one document, not two.
    async fn key_set_url(&self, remote: &Remote) -> Result<String, String> {
        if remote.locator == Locator::Discovery {
            let s = self.schedule();
            if let Some((url, at)) = &s.discovered {
                if at.elapsed() < remote.timing.refresh {
                    return Ok(url.clone());
                }
            }
        }
        let url = jwks_url(&remote.fetcher, &self.issuer, &remote.locator)
            .await
            .map_err(|e| e.to_string())?;
        if remote.locator == Locator::Discovery {
            self.schedule().discovered = Some((url.clone(), Instant::now()));
        }
        Ok(url)
    }

    /// Fetch the key set at `url` and put it in service (a new generation
    /// when its bytes changed).
    async fn install_from(&self, remote: &Remote, url: &str) -> Result<Option<Duration>, String> {
        let doc = remote.fetcher.get(url).await.map_err(|e| e.to_string())?;
        let old = self.state.load_full();
        if old.as_ref().is_some_and(|s| s.body == doc.body) {
            return Ok(doc.max_age);
        }
        let (keys, skipped) = key_set(
            &self.issuer,
            &self.accept,
            &doc.body,
            remote.algorithms.as_deref(),
            Strictness::UsableKeys,
        )
        .map_err(|e| format!("{url}: {e}"))?;
        let generation = self.generation() + 1;
        // The IdP's text, capped: a key set may be 256 KiB of kids.
        let kids: Vec<String> = keys
            .iter()
            .filter_map(|k| k.kid.as_deref())
            .take(LOGGED_KIDS)
            .map(|k| k.chars().take(64).collect())
            .collect();
        let skipped: Vec<&String> = skipped.iter().take(LOGGED_KIDS).collect();
        tracing::info!(issuer = %self.issuer, generation, keys = keys.len(), ?kids, ?skipped,
            "issuer key set now in service");
        self.state.store(Some(Arc::new(KeyState {
            generation,
            keys,
            body: doc.body,
            fetched_at: Some(crate::unix_now()),
        })));
        self.generation.store(generation, Ordering::Release);
        Ok(doc.max_age)
    }
}
