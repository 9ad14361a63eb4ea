//! Where each agent's card comes from at run time: the configured file and,
//! optionally, the upstream's own card endpoint, refreshed on an interval.
//!
//! A card is put in service only when it parses, verifies against the
//! agent's card keys (when configured), can be satisfied by the gateway and
//! fits the configured API keys. Anything else keeps the last good card and
//! is logged and counted; an agent that never had a good card is unavailable
//! (503), never served from an unverified card. The gateway snapshot stays
//! immutable: only the card inside an agent's [`CardSlot`] is swapped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};

use crate::cards::requirements::Capabilities;
use crate::cards::serve::ServedCard;
use crate::cards::sign::{CardSigner, VerificationKey};
use crate::cards::{AgentCard, SecurityScheme};
use crate::metrics::Metrics;
use crate::upstream::UpstreamClient;

/// Largest card body accepted from an upstream. Real cards are a few KiB;
/// the bound keeps a misbehaving upstream from making the gateway buffer
/// without limit.
pub const MAX_FETCHED_CARD_BYTES: usize = 1 << 20;

/// Default path of the card on the upstream's origin (A2A v1.0 §8.2).
pub const DEFAULT_CARD_PATH: &str = "/.well-known/agent-card.json";

/// Everything needed to turn card bytes into what the gateway serves and
/// presents for one agent. Fixed per configuration snapshot.
pub struct CardContext {
    pub agent: String,
    pub caps: Capabilities,
    /// `{public_url}/agents/NAME`: where served interface URLs point.
    pub route_base: String,
    pub upstream_base: String,
    pub trust_domains: Vec<String>,
    /// Keys the agent's card must be signed with (`card_signing_keys`).
    pub card_keys: Option<Vec<VerificationKey>>,
    /// The gateway's card key (`[cards]`, never the token key), to re-sign
    /// the served card.
    pub signer: Option<CardSigner>,
    /// Configured API keys by scheme name (never from the card).
    pub api_keys: Vec<(String, HeaderValue)>,
}

impl std::fmt::Debug for CardContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No key material in debug output.
        f.debug_struct("CardContext")
            .field("agent", &self.agent)
            .field("route_base", &self.route_base)
            .finish_non_exhaustive()
    }
}

/// A card in service.
#[derive(Debug)]
pub struct LiveCard {
    pub served: ServedCard,
    /// Credentials the gateway adds for this upstream (API keys placed where
    /// this card's schemes say), as header name and value.
    pub credentials: Vec<(HeaderName, HeaderValue)>,
    /// The upstream's bytes, when the card was fetched: compared to skip
    /// identical refreshes, and rebuilt after a reload.
    pub fetched: Option<Bytes>,
    /// Where this card's JSON-RPC and REST interfaces are served below the
    /// agent route: the only places a call is classified and forwarded to.
    pub endpoints: crate::a2a::Endpoints,
}

/// Why a card cannot be put in service.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error(transparent)]
    Serve(#[from] crate::cards::serve::ServeError),
    #[error("{origin}: {source}")]
    Credentials {
        origin: String,
        source: CredentialError,
    },
    #[error("{origin}: cannot read: {source}")]
    Unreadable {
        origin: String,
        source: std::io::Error,
    },
    #[error("{url}: no answer within {timeout:?}")]
    FetchTimeout { url: String, timeout: Duration },
    #[error("{url}: {source}")]
    Fetch { url: String, source: FetchError },
}

/// A configured API key the card gives no usable place for.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "the card has no apiKeySecurityScheme named \"{scheme}\" (configured in [[agent.api_key]])"
    )]
    NoScheme { scheme: String },
    #[error("scheme \"{scheme}\": \"{name}\" is not a header name")]
    NotAHeaderName { scheme: String, name: String },
    #[error("scheme \"{scheme}\": not a valid cookie")]
    NotACookie { scheme: String },
    #[error("scheme \"{scheme}\": API keys in the {location:?} location are not supported (a key in a URL ends up in logs); use a header")]
    Location { scheme: String, location: String },
}

/// A configured card path that does not make a card URL.
#[derive(Debug, thiserror::Error)]
pub enum CardUriError {
    #[error("\"{0}\" must be an absolute path without query or fragment")]
    NotAnAbsolutePath(String),
    #[error("the upstream URL has no scheme or authority")]
    NoOrigin,
    #[error("\"{path}\": {source}")]
    Invalid {
        path: String,
        source: http::uri::InvalidUri,
    },
}

impl CardContext {
    /// Check and prepare a card; `origin` (file path or URL) prefixes errors.
    pub fn build(&self, bytes: &[u8], origin: &str, fetched: bool) -> Result<LiveCard, CardError> {
        let served = crate::cards::serve::build(
            bytes,
            origin,
            &self.agent,
            &self.caps,
            &self.route_base,
            &self.upstream_base,
            &self.trust_domains,
            self.card_keys.as_deref(),
            self.signer.as_ref(),
        )?;
        let credentials = api_key_credentials(&served.card, &self.api_keys).map_err(|source| {
            CardError::Credentials {
                origin: origin.to_owned(),
                source,
            }
        })?;
        let paths: Vec<(&str, String)> = served
            .card
            .supported_interfaces
            .iter()
            .map(|i| {
                (
                    i.protocol_binding.as_str(),
                    crate::cards::rewrite::route_path(&i.url, &self.upstream_base),
                )
            })
            .collect();
        let endpoints = crate::a2a::Endpoints::new(paths.iter().map(|(b, p)| (*b, p.as_str())));
        Ok(LiveCard {
            served,
            credentials,
            endpoints,
            fetched: fetched.then(|| Bytes::copy_from_slice(bytes)),
        })
    }
}

/// Where and how often to fetch an agent's card from its upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSpec {
    pub uri: Uri,
    pub every: Duration,
}

/// One agent's card at run time.
#[derive(Debug)]
pub struct CardSlot {
    ctx: CardContext,
    pub fetch: Option<FetchSpec>,
    live: ArcSwapOption<LiveCard>,
    next_due: Mutex<Instant>,
    problem: Mutex<Option<String>>,
}

impl CardSlot {
    pub fn new(ctx: CardContext, fetch: Option<FetchSpec>) -> Self {
        CardSlot {
            ctx,
            fetch,
            live: ArcSwapOption::empty(),
            next_due: Mutex::new(Instant::now()),
            problem: Mutex::new(None),
        }
    }

    pub fn context(&self) -> &CardContext {
        &self.ctx
    }

    /// The card in service, if any (one atomic load and reference count).
    pub fn live(&self) -> Option<Arc<LiveCard>> {
        self.live.load_full()
    }

    pub fn set(&self, card: LiveCard) {
        self.live.store(Some(Arc::new(card)));
    }

    /// Why the last load or fetch failed, while it stays failed.
    pub fn problem(&self) -> Option<String> {
        self.problem.lock().ok().and_then(|p| p.clone())
    }

    fn set_problem(&self, p: Option<String>) {
        if let Ok(mut slot) = self.problem.lock() {
            *slot = p;
        }
    }

    /// Whether a fetch is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.fetch.is_some() && self.next_due.lock().map(|t| *t <= now).unwrap_or(true)
    }

    /// When the next fetch is due (`None` for file-only cards).
    pub fn next_due(&self) -> Option<Instant> {
        self.fetch.as_ref()?;
        self.next_due.lock().ok().map(|t| *t)
    }

    /// Seed a fetching slot from the previous snapshot's fetched bytes, so a
    /// reload does not lose a good card while the first new fetch is under
    /// way. Rebuilt under the new settings: keys or schemes that changed apply.
    pub fn seed_from(&self, prior: &CardSlot) {
        let (Some(mine), Some(theirs)) = (&self.fetch, &prior.fetch) else {
            return;
        };
        if mine.uri != theirs.uri {
            return;
        }
        let Some(old) = prior.live() else { return };
        let Some(bytes) = &old.fetched else { return };
        match self.ctx.build(bytes, &mine.uri.to_string(), true) {
            Ok(card) => self.set(card),
            Err(e) => {
                tracing::warn!(agent = %self.ctx.agent, problem = %e, "the previously fetched card fails the new settings");
                self.set_problem(Some(e.to_string()));
            }
        }
    }

    /// Fetch the card now and put it in service if it is good. Never fails:
    /// a failure keeps the last good card and is logged and counted.
    pub async fn refresh(&self, client: &UpstreamClient, timeout: Duration, metrics: &Metrics) {
        let Some(spec) = &self.fetch else { return };
        if let Ok(mut t) = self.next_due.lock() {
            *t = Instant::now() + spec.every;
        }
        Metrics::inc(&metrics.card_fetches);
        let url = spec.uri.to_string();
        let result = match tokio::time::timeout(timeout, fetch(client, &spec.uri)).await {
            Err(_) => Err(CardError::FetchTimeout {
                url: url.clone(),
                timeout,
            }),
            Ok(r) => r.map_err(|source| CardError::Fetch {
                url: url.clone(),
                source,
            }),
        };
        let result = result.and_then(|bytes| {
            let current = self.live();
            let same = current
                .as_ref()
                .and_then(|c| c.fetched.as_ref())
                .is_some_and(|b| *b == bytes);
            if same {
                return Ok(None); // unchanged: keep the signed copy and its ETag
            }
            self.ctx.build(&bytes, &url, true).map(Some)
        });
        match result {
            Ok(Some(card)) => {
                tracing::info!(agent = %self.ctx.agent, url = %url, "card fetched and in service");
                self.set(card);
                self.set_problem(None);
            }
            Ok(None) => self.set_problem(None),
            Err(e) => {
                Metrics::inc(&metrics.card_fetch_failures);
                if self.live().is_some() {
                    tracing::warn!(agent = %self.ctx.agent, problem = %e, "card refresh failed; the last good card stays in service");
                } else {
                    tracing::error!(agent = %self.ctx.agent, problem = %e, "no usable card; the agent answers 503 until one loads");
                }
                self.set_problem(Some(e.to_string()));
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot build the request: {0}")]
    Request(#[from] http::Error),
    #[error("unreachable: {0}")]
    Unreachable(#[from] hyper_util::client::legacy::Error),
    #[error("answered HTTP {0}, not 200")]
    Status(StatusCode),
    #[error("reading the body: {0} (at most {MAX_FETCHED_CARD_BYTES} bytes are accepted)")]
    Body(Box<dyn std::error::Error + Send + Sync>),
}

async fn fetch(client: &UpstreamClient, uri: &Uri) -> Result<Bytes, FetchError> {
    let req = Request::get(uri.clone())
        .header(http::header::ACCEPT, "application/json")
        .body(Full::new(Bytes::new()))?;
    let resp = client.send(req).await?;
    if resp.status() != StatusCode::OK {
        return Err(FetchError::Status(resp.status()));
    }
    let body = Limited::new(resp.into_body(), MAX_FETCHED_CARD_BYTES)
        .collect()
        .await
        .map_err(FetchError::Body)?;
    Ok(body.to_bytes())
}

/// The card URL on the upstream's origin.
pub fn card_uri(upstream: &Uri, path: &str) -> Result<Uri, CardUriError> {
    if !path.starts_with('/') || path.contains(['?', '#']) {
        return Err(CardUriError::NotAnAbsolutePath(path.to_owned()));
    }
    let (Some(scheme), Some(authority)) = (upstream.scheme_str(), upstream.authority()) else {
        return Err(CardUriError::NoOrigin);
    };
    format!("{scheme}://{authority}{path}")
        .parse()
        .map_err(|source| CardUriError::Invalid {
            path: path.to_owned(),
            source,
        })
}

/// Where each configured key goes, per the card's scheme: a header, or a
/// cookie. Keys in the query string are refused: URLs end up in logs.
pub fn api_key_credentials(
    card: &AgentCard,
    keys: &[(String, HeaderValue)],
) -> Result<Vec<(HeaderName, HeaderValue)>, CredentialError> {
    let mut out = Vec::new();
    for (scheme, value) in keys {
        let Some(SecurityScheme::ApiKey(s)) = card.security_schemes.get(scheme) else {
            return Err(CredentialError::NoScheme {
                scheme: scheme.clone(),
            });
        };
        match s.location.as_str() {
            "header" => match HeaderName::from_bytes(s.name.as_bytes()) {
                Ok(h) => out.push((h, value.clone())),
                Err(_) => {
                    return Err(CredentialError::NotAHeaderName {
                        scheme: scheme.clone(),
                        name: s.name.clone(),
                    })
                }
            },
            "cookie" => {
                let cookie = format!("{}={}", s.name, value.to_str().unwrap_or_default());
                match HeaderValue::from_str(&cookie) {
                    Ok(mut v) => {
                        v.set_sensitive(true);
                        out.push((http::header::COOKIE, v));
                    }
                    Err(_) => {
                        return Err(CredentialError::NotACookie {
                            scheme: scheme.clone(),
                        })
                    }
                }
            }
            other => {
                return Err(CredentialError::Location {
                    scheme: scheme.clone(),
                    location: other.to_owned(),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_uri_is_on_the_upstream_origin() {
        let up: Uri = "https://agent.internal:8443/a2a".parse().unwrap();
        assert_eq!(
            card_uri(&up, DEFAULT_CARD_PATH).unwrap().to_string(),
            "https://agent.internal:8443/.well-known/agent-card.json"
        );
        assert!(card_uri(&up, "relative").is_err());
        assert!(card_uri(&up, "/card?x=1").is_err());
    }
}
