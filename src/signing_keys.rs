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

use crate::config::ConfigFile;
use crate::gateway::Problems;
use crate::token::{KeyError, KeySet, SigningAlgorithm, SigningKey};

/// How long a card key replaced in place stays in the card JWKS after a
/// reload: well past the `max-age` (300 s) of a served card, so a caller
/// that cached a card and fetches the key set later still verifies it.
/// Operators who need longer list the old key in `cards.previous_keys`.
pub const RETIRED_CARD_KEY_SECS: i64 = 3600;

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
