//! The token part of building a snapshot: `[[subject_issuer]]` keys, the
//! JWT-SVID verifier for actor tokens, and, once every section checked clean,
//! the published key sets, JWKS and metadata documents, the subject-token
//! verifier and the minter.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::issuer_keys::Purpose;
use super::signing_keys::{self, Loaded, PriorKeys};
use super::{
    metadata, ActorTokenVerifier, KeySet, Minter, SigningKey, SubjectTokenVerifier, TrustedIssuer,
};
use crate::config::{one_problem, ConfigErrors, ConfigFile, Problems, SubjectIssuerSection};
use crate::metrics::Metrics;

/// JWT-SVID authorities (`jwt_bundle`) are added per trust domain; an actor
/// token must name the gateway (its issuer or token endpoint) as audience.
pub(crate) fn actor_verifier(issuer: &str, public_url: &str) -> ActorTokenVerifier {
    ActorTokenVerifier::new(vec![
        issuer.to_string(),
        metadata::token_endpoint(public_url),
    ])
}

/// `[[subject_issuer]]`: each issuer's keys from its JWKS file (added to
/// `files`) or fetched by URL (see [`super::issuer_keys`]); a fetched issuer
/// whose configuration `prior` already had keeps its keys. The gateway's own
/// issuer is refused: its tokens are verified with the gateway's keys.
pub(crate) fn subject_issuers(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
    names: &Names<'_>,
    prior: Option<&SubjectTokenVerifier>,
) -> Vec<TrustedIssuer> {
    let mut trusted = Vec::new();
    for (i, si) in cfg.raw.subject_issuer.iter().enumerate() {
        if si.issuer.trim_end_matches('/') == names.issuer {
            p.add(
                format!("subject_issuer[{i}].issuer"),
                "is the gateway's own issuer; its tokens are verified with the gateway's keys",
            );
            continue;
        }
        let purpose = purpose(p, (i, si), names);
        let kept = |iss: &str| prior.and_then(|v| v.issuer_slots().find(|s| s.issuer() == iss));
        if let Some(t) = super::issuer_keys::build::trusted_issuer(p, cfg, files, (i, si), kept) {
            trusted.extend(purpose.map(|purpose| t.with_purpose(purpose)));
        }
    }
    trusted
}

/// Longest `max_assertion_lifetime`: assertions are meant to live minutes
/// (each one is remembered until it expires, for the replay check).
const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);
const DEFAULT_ASSERTION_LIFETIME: &str = "5m";

/// What `subject_issuer[i]`'s tokens are trusted as (`assertion_grant`),
/// with its problems recorded.
fn purpose(
    p: &mut Problems,
    (i, si): (usize, &SubjectIssuerSection),
    names: &Names<'_>,
) -> Option<Purpose> {
    let field = format!("subject_issuer[{i}]");
    if !si.assertion_grant {
        if si.max_assertion_lifetime.is_some() {
            p.add(
                format!("{field}.max_assertion_lifetime"),
                "applies only with assertion_grant = true",
            );
            return None;
        }
        return Some(Purpose::Subject);
    }
    // RFC 7523 §3: the assertion's `aud` must identify this authorization
    // server; only its own names do (never an agent, never another party).
    let endpoint = metadata::token_endpoint(names.public_url);
    let mut ok = true;
    for a in si.audience.to_vec() {
        if a != names.issuer && a != endpoint {
            p.add(
                format!("{field}.audience"),
                format!(
                    "{a:?}: with assertion_grant = true, the audience must name this gateway: gateway.issuer ({:?}) or its token endpoint ({endpoint:?})",
                    names.issuer
                ),
            );
            ok = false;
        }
    }
    let at = format!("{field}.max_assertion_lifetime");
    let text = si.max_assertion_lifetime.as_deref();
    let max = p.duration(&at, text.unwrap_or(DEFAULT_ASSERTION_LIFETIME));
    if max > MAX_ASSERTION_LIFETIME || max.is_zero() {
        p.add(at, "must be more than \"0s\" and at most \"1h\"");
        ok = false;
    }
    let max_lifetime_secs = i64::try_from(max.as_secs()).unwrap_or(i64::MAX);
    ok.then_some(Purpose::Assertion { max_lifetime_secs })
}

/// What the token section contributes to a snapshot.
pub(crate) struct Tokens {
    pub keys: Arc<KeySet>,
    pub retired_keys: Vec<(SigningKey, i64)>,
    pub card_keys: Arc<KeySet>,
    pub retired_card_keys: Vec<(SigningKey, i64)>,
    pub jwks_json: Bytes,
    pub card_jwks_json: Bytes,
    pub metadata_json: Bytes,
    pub subject_tokens: SubjectTokenVerifier,
    pub minter: Minter,
}

/// The gateway's names: `gateway.issuer` and `gateway.public_url`.
pub(crate) struct Names<'a> {
    pub issuer: &'a str,
    pub public_url: &'a str,
}

/// Publish the loaded keys (with what `prior` published and the config no
/// longer names) and make everything that signs or verifies with them.
/// `scopes` are the scopes the policy can grant, for the metadata document.
pub(crate) fn finish(
    cfg: &ConfigFile,
    (tokens, cards): (Loaded, Loaded),
    prior: Option<&PriorKeys<'_>>,
    trusted: Vec<TrustedIssuer>,
    names: Names<'_>,
    scopes: &[String],
    metrics: Arc<Metrics>,
) -> Result<Tokens, ConfigErrors> {
    // Keys the previous material signed with stay verifiable for one token
    // lifetime (plus leeway) after they stop signing.
    let published = signing_keys::publish(tokens, cards, prior, crate::unix_now())
        .map_err(|e| one_problem(cfg, "cards.signing_key", e.to_string()))?;
    let keys = published.tokens;
    let card_keys = published.cards;
    let jwt_bearer = trusted
        .iter()
        .any(|t| matches!(t.purpose(), Purpose::Assertion { .. }));
    let subject_tokens = SubjectTokenVerifier::new(names.issuer.to_string(), &keys, trusted)
        .and_then(|v| {
            v.with_cache_limits(
                cfg.raw.tokens.subject_token_cache,
                crate::token::verify_cache::DEFAULT_MAX_BYTES,
            )
        })
        .map(|v| v.with_cache_counters(Arc::clone(&metrics.subject_token_cache)))
        .map_err(|e| one_problem(cfg, "[[subject_issuer]]", e.to_string()))?;
    let jwks_json = Bytes::from(keys.jwks().to_string());
    let card_jwks_json = Bytes::from(card_keys.jwks().to_string());
    let metadata_json = Bytes::from(
        metadata::authorization_server(
            names.issuer,
            names.public_url,
            scopes,
            jwt_bearer,
            // Checked by `user_auth::build` before this runs.
            cfg.raw.authorize.as_ref().map(|a| a.public_url.as_str()),
        )
        .to_string(),
    );
    let minter = Minter::new(
        keys.clone(),
        names.issuer.to_string(),
        cfg.raw.tokens.cache,
        metrics,
    );
    Ok(Tokens {
        keys,
        retired_keys: published.retired_tokens,
        card_keys,
        retired_card_keys: published.retired_cards,
        jwks_json,
        card_jwks_json,
        metadata_json,
        subject_tokens,
        minter,
    })
}
