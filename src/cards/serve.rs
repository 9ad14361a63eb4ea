//! From a card file to what the gateway keeps for one agent: the parsed card
//! (for per-request scope decisions) and the signed card it serves callers,
//! in v1.0 and v0.3 form.

use bytes::Bytes;

use super::parse::CardError;
use super::requirements::{satisfiable_alternatives, Capabilities, Unsatisfiable};
use super::rewrite::{for_callers, to_v03};
use super::sign::{sign_card, verify_card, CardSigner, SignatureError, VerificationKey};
use super::{parse_card, AgentCard};

/// Why a card cannot be served; every message starts with the card's origin
/// (file path or URL).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{origin}: {source}")]
    Card { origin: String, source: CardError },
    #[error("{origin}: {source}")]
    Json {
        origin: String,
        source: serde_json::Error,
    },
    #[error("{origin}: card signature: {source}")]
    Signature {
        origin: String,
        source: SignatureError,
    },
    #[error("{origin}: {unmet}")]
    Unsatisfiable {
        origin: String,
        unmet: Unsatisfiable,
    },
    #[error("{origin}: signing the served card: {source}")]
    Sign {
        origin: String,
        source: SignatureError,
    },
    #[error("{0}")]
    SignatureJson(serde_json::Error),
}

/// One agent's card material, built at load time.
#[derive(Debug, Clone)]
pub struct ServedCard {
    /// The upstream agent's card as published (its requirements decide the
    /// scopes of each minted token).
    pub card: AgentCard,
    /// The v1.0 card for callers, signed by the gateway, serialised once.
    pub json: Bytes,
    /// The same card in v0.3 form (`/.well-known/agent.json`), unsigned.
    pub json_v03: Bytes,
    /// Strong validator for `If-None-Match`: SHA-256 of `json`, quoted.
    pub etag: String,
    /// The scope set of each card-level requirement alternative (sorted,
    /// deduplicated), in card order: computed once so the per-request check
    /// is a few slice comparisons.
    pub alternatives: Vec<Vec<String>>,
}

impl ServedCard {
    /// The first card-level alternative all of whose scopes `granted`
    /// accepts (`None` also for a card that declares no requirements).
    pub fn covered_alternative(&self, granted: impl Fn(&str) -> bool) -> Option<&[String]> {
        self.alternatives
            .iter()
            .find(|need| need.iter().all(|s| granted(s)))
            .map(Vec::as_slice)
    }
}

/// Parse and check the card of agent `name` (`bytes`, from `origin`: a file
/// path or URL, for messages); verify its signatures when `card_keys` are
/// configured; rewrite it for callers and sign it with the card key `key` (when given: a
/// config whose key failed to load has already recorded that problem).
#[allow(clippy::too_many_arguments)]
pub fn build(
    bytes: &[u8],
    origin: &str,
    name: &str,
    caps: &Capabilities,
    route_base: &str,
    upstream_base: &str,
    trust_domains: &[String],
    card_keys: Option<&[VerificationKey]>,
    key: Option<&CardSigner>,
) -> Result<ServedCard, ServeError> {
    let origin_of = || origin.to_string();
    let card = parse_card(bytes).map_err(|source| ServeError::Card {
        origin: origin_of(),
        source,
    })?;
    // Verified before anything of the card is used: a card that claims to
    // be the agent's must be signed by the agent's key, or it is not used
    // at all (never served unsigned in its place).
    if let Some(keys) = card_keys {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|source| ServeError::Json {
                origin: origin_of(),
                source,
            })?;
        verify_card(&value, keys).map_err(|source| ServeError::Signature {
            origin: origin_of(),
            source,
        })?;
    }
    satisfiable_alternatives(&card, caps).map_err(|mut unmet| {
        unmet.agent = name.to_string();
        ServeError::Unsatisfiable {
            origin: origin_of(),
            unmet,
        }
    })?;
    let alternatives = card
        .security_requirements
        .iter()
        .map(|r| {
            let mut v: Vec<String> = r
                .schemes
                .values()
                .flat_map(|l| l.list.iter().cloned())
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let served = for_callers(&card, route_base, upstream_base, trust_domains);
    // Served in proto field-presence form, so a spec-exact verifier gets the
    // signed bytes by applying JCS alone.
    let mut value = super::canonical::presence_normalised(&served.to_value());
    if let (Some(key), Some(obj)) = (key, value.as_object_mut()) {
        obj.remove("signatures");
        let sig = sign_card(&serde_json::Value::Object(obj.clone()), key).map_err(|source| {
            ServeError::Sign {
                origin: origin_of(),
                source,
            }
        })?;
        let sig = serde_json::to_value(sig).map_err(ServeError::SignatureJson)?;
        obj.insert("signatures".into(), serde_json::Value::Array(vec![sig]));
    }
    let json = Bytes::from(value.to_string());
    let json_v03 = Bytes::from(to_v03(&served).to_string());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &json);
    let etag = format!(
        "\"{}\"",
        digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    Ok(ServedCard {
        card,
        json,
        json_v03,
        etag,
        alternatives,
    })
}
