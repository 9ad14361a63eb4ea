//! The gateway's own signing keys, read from the config: the token keys
//! (`[tokens]`) and the card keys (`[cards]`), each with its previous keys,
//! plus the keys a reload retires, kept published for a while.
//!
//! One key, one purpose: the token key signs only access tokens, the card
//! key only served Agent Cards. A card carries members its upstream chose,
//! so a card signature by a token key could be replayed as an access token
//! at any resource server that does not check `typ`. The two sets are
//! published in separate JWKS documents and may never share a key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{KeyError, KeySet, SigningAlgorithm, SigningKey};
use crate::cards::sign::{CardSigner, CARD_JWKS_PATH};
use crate::config::{ConfigFile, Problems};

/// How long past one token lifetime a retired token key stays published.
pub const RETIRED_KEY_LEEWAY_SECS: i64 = 60;

/// How long a card key replaced in place stays in the card JWKS after a
/// reload: well past the `max-age` (300 s) of a served card, so a caller
/// that cached a card and fetches the key set later still verifies it.
/// Operators who need longer list the old key in `cards.previous_keys`.
pub const RETIRED_CARD_KEY_SECS: i64 = 3600;

/// `[tokens]` and `[cards]` as configured.
pub(crate) struct OwnKeys {
    pub tokens: Configured,
    pub cards: Configured,
    /// The card key with the card JWKS URL its signatures name (`jku`).
    pub card_signer: Option<CardSigner>,
    /// When the token key is due for rotation (`tokens.rotate_after`).
    pub token_rotate_at: Option<i64>,
}

/// Load the token keys and the card keys; a missing `[cards]` is a problem.
pub(crate) fn load_own(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
    public_url: &str,
) -> OwnKeys {
    let t = &cfg.raw.tokens;
    let tokens = load(
        p,
        cfg,
        files,
        "tokens",
        (&t.signing_key, &t.previous_keys),
        t.algorithm,
    );
    let cards = match &cfg.raw.cards {
        Some(c) => load(
            p,
            cfg,
            files,
            "cards",
            (&c.signing_key, &c.previous_keys),
            c.algorithm,
        ),
        None => {
            p.add("cards.signing_key", MISSING_CARD_KEY);
            Configured {
                current: None,
                previous: Vec::new(),
            }
        }
    };
    // Cards point verifiers at their own key set (A2A v1.0 §8.4.2 `jku`).
    let card_signer = cards
        .current
        .clone()
        .map(|key| CardSigner::new(key, format!("{public_url}{CARD_JWKS_PATH}")));
    let token_rotate_at = t.rotate_after.as_ref().and_then(|s| {
        let d = p.duration("tokens.rotate_after", s);
        let modified = std::fs::metadata(cfg.resolve(&t.signing_key))
            .and_then(|m| m.modified())
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some((modified + d).as_secs() as i64)
    });
    OwnKeys {
        tokens,
        cards,
        card_signer,
        token_rotate_at,
    }
}

/// A key section whose every key loaded: the current key and the previous.
pub(crate) type Loaded = (SigningKey, Vec<SigningKey>);

impl OwnKeys {
    /// The token and card keys, when both current keys loaded (a key that
    /// failed to load has its problem recorded).
    pub(crate) fn loaded(self) -> Option<(Loaded, Loaded)> {
        let tokens = (self.tokens.current?, self.tokens.previous);
        let cards = (self.cards.current?, self.cards.previous);
        Some((tokens, cards))
    }
}

/// What the snapshot a reload replaces published: its keys stay verifiable
/// for a while after they stop signing.
pub(crate) struct PriorKeys<'a> {
    /// The token lifetime of the prior snapshot (`tokens.ttl`).
    pub token_ttl_secs: i64,
    pub tokens: &'a KeySet,
    pub retired_tokens: &'a [(SigningKey, i64)],
    pub cards: &'a KeySet,
    pub retired_cards: &'a [(SigningKey, i64)],
}

/// The key sets a snapshot publishes, with the keys a reload retired.
pub(crate) struct Published {
    pub tokens: Arc<KeySet>,
    pub retired_tokens: Vec<(SigningKey, i64)>,
    pub cards: Arc<KeySet>,
    pub retired_cards: Vec<(SigningKey, i64)>,
}

/// Why the configured keys cannot be published.
#[derive(Debug, thiserror::Error)]
pub enum OwnKeyError {
    #[error(
        "key {kid} also signs tokens ([tokens]); the card key must be a separate key \
         (`actgate keys generate --out certs/card-signing.key`)"
    )]
    SharedKey { kid: String },
}

/// Assemble both published sets at `now`: configured keys first, then the
/// ones `prior` published and the config no longer names (token keys for
/// one token lifetime of `prior` plus [`RETIRED_KEY_LEEWAY_SECS`], card keys for
/// [`RETIRED_CARD_KEY_SECS`]). Refused when any key is in both sets.
pub(crate) fn publish(
    tokens: Loaded,
    cards: Loaded,
    prior: Option<&PriorKeys<'_>>,
    now: i64,
) -> Result<Published, OwnKeyError> {
    let token_until = now + prior.map_or(0, |g| g.token_ttl_secs) + RETIRED_KEY_LEEWAY_SECS;
    let (tokens, retired_tokens) = with_retired(
        tokens.0,
        tokens.1,
        prior.map(|g| (g.tokens, g.retired_tokens)),
        now,
        token_until,
    );
    let (cards, retired_cards) = with_retired(
        cards.0,
        cards.1,
        prior.map(|g| (g.cards, g.retired_cards)),
        now,
        now + RETIRED_CARD_KEY_SECS,
    );
    if let Some(kid) = shared_key(&tokens, &cards) {
        return Err(OwnKeyError::SharedKey {
            kid: kid.to_owned(),
        });
    }
    Ok(Published {
        tokens,
        retired_tokens,
        cards,
        retired_cards,
    })
}

/// The keys one config section names; `current` is `None` when it failed
/// to load (the problem is recorded).
pub(crate) struct Configured {
    pub current: Option<SigningKey>,
    pub previous: Vec<SigningKey>,
}

/// Load `section.signing_key` and `section.previous_keys[i]` as `alg` keys,
/// recording each problem under its field and each file for the watcher.
pub(crate) fn load(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
    section: &str,
    (key, previous): (&Path, &[PathBuf]),
    alg: SigningAlgorithm,
) -> Configured {
    let current = load_one(p, cfg, format!("{section}.signing_key"), key, section, alg);
    files.push(cfg.resolve(key));
    let mut prev = Vec::new();
    for (i, path) in previous.iter().enumerate() {
        files.push(cfg.resolve(path));
        let field = format!("{section}.previous_keys[{i}]");
        if let Some(k) = load_one(p, cfg, field, path, section, alg) {
            prev.push(k);
        }
    }
    Configured {
        current,
        previous: prev,
    }
}

fn load_one(
    p: &mut Problems,
    cfg: &ConfigFile,
    field: String,
    path: &Path,
    section: &str,
    alg: SigningAlgorithm,
) -> Option<SigningKey> {
    let full = cfg.resolve(path);
    let pem = p.take(
        &field,
        std::fs::read_to_string(&full).map_err(|e| format!("{}: cannot read: {e}", full.display())),
    )?;
    let key = SigningKey::from_pkcs8_pem(&pem, alg).map_err(|e| match e {
        // The key error names `tokens.algorithm`; say which section's.
        KeyError::AlgorithmMismatch { found, configured } => format!(
            "{} holds an {found} key but {section}.algorithm is {configured}",
            full.display()
        ),
        e => format!("{}: {e}", full.display()),
    });
    p.take(&field, key)
}

/// What a missing `[cards]` section is told: fail closed, never a key made
/// up on the spot (it would change at every start and no caller could pin
/// it), and never the token key.
pub(crate) const MISSING_CARD_KEY: &str = "missing: served Agent Cards are signed with a key of \
their own, never the token key. Add `[cards]` with `signing_key = \"certs/card-signing.key\"` and \
create the key with `actgate certs init` (development PKI) or `actgate keys generate --out \
certs/card-signing.key`";

/// The published set: `current`, the configured `previous`, and every key
/// the prior snapshot published that is no longer configured, kept until
/// `retire_until` (a key retired earlier keeps its own deadline). Returns
/// the set and the retired keys with their deadlines.
pub(crate) fn with_retired(
    current: SigningKey,
    previous: Vec<SigningKey>,
    prior: Option<(&KeySet, &[(SigningKey, i64)])>,
    now: i64,
    retire_until: i64,
) -> (Arc<KeySet>, Vec<(SigningKey, i64)>) {
    let mut retired: Vec<(SigningKey, i64)> = Vec::new();
    if let Some((prev_set, prev_retired)) = prior {
        let named = |kid: &str| current.kid() == kid || previous.iter().any(|k| k.kid() == kid);
        for (k, until) in prev_retired {
            if *until > now && !named(k.kid()) {
                retired.push((k.clone(), *until));
            }
        }
        // The prior set also lists its retired keys; those keep the deadline
        // they already have (past it, they go), never a fresh one.
        let was_retired = |kid: &str| prev_retired.iter().any(|(r, _)| r.kid() == kid);
        for k in prev_set.iter() {
            if !named(k.kid()) && !was_retired(k.kid()) {
                retired.push((k.clone(), retire_until));
            }
        }
    }
    let mut previous = previous;
    previous.extend(retired.iter().map(|(k, _)| k.clone()));
    (Arc::new(KeySet { current, previous }), retired)
}

/// A key both sets hold (by `kid`, the RFC 7638 thumbprint of the public
/// key: equal kids are the same key).
pub(crate) fn shared_key<'a>(tokens: &'a KeySet, cards: &KeySet) -> Option<&'a str> {
    tokens
        .iter()
        .map(SigningKey::kid)
        .find(|kid| cards.iter().any(|c| c.kid() == *kid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::generate(SigningAlgorithm::Es256).unwrap().0
    }

    #[test]
    fn a_replaced_key_stays_until_its_deadline_and_a_configured_one_is_not_retired() {
        let (a, b, c) = (key(), key(), key());
        let prior = KeySet {
            current: a.clone(),
            previous: vec![b.clone()],
        };
        // b is still configured as previous; a is replaced by c.
        let (set, retired) =
            with_retired(c.clone(), vec![b.clone()], Some((&prior, &[])), 100, 500);
        let kids: Vec<&str> = set.iter().map(SigningKey::kid).collect();
        assert_eq!(kids, vec![c.kid(), b.kid(), a.kid()]);
        assert_eq!(retired.len(), 1);
        assert_eq!(retired[0].1, 500);
        // Past its deadline, the retired key goes.
        let (set, retired) = with_retired(c.clone(), vec![], Some((&set, &retired)), 600, 900);
        let kids: Vec<&str> = set.iter().map(SigningKey::kid).collect();
        assert!(!kids.contains(&a.kid()), "{kids:?}");
        assert!(retired
            .iter()
            .any(|(k, until)| k.kid() == b.kid() && *until == 900));
    }

    #[test]
    fn a_key_in_both_sets_is_found() {
        let (a, b) = (key(), key());
        let tokens = KeySet {
            current: a.clone(),
            previous: vec![],
        };
        let cards = KeySet {
            current: b.clone(),
            previous: vec![],
        };
        assert_eq!(shared_key(&tokens, &cards), None);
        let cards = KeySet {
            current: b,
            previous: vec![a.clone()],
        };
        assert_eq!(shared_key(&tokens, &cards), Some(a.kid()));
    }
}
