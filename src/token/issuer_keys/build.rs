//! One `[[subject_issuer]]` section turned into a trusted issuer: where its
//! keys come from (exactly one of `jwks`, `jwks_uri`, `discovery`), its
//! algorithms and fetch timings, each problem under its field. A fetched
//! issuer whose configuration is unchanged keeps the slot of the snapshot a
//! reload replaces, keys and all.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;

use super::claim_map::ClaimMap;
use super::discovery::Locator;
use super::fetch::{check_url, Fetcher};
use super::jwk::{algorithm, jose_name, Acceptance, SUPPORTED};
use super::{IssuerKeySlot, Remote, Timing};
use crate::config::{ConfigFile, Problems, SubjectIssuerSection};
use crate::token::TrustedIssuer;

const DEFAULT_REFRESH: &str = "15m";
const DEFAULT_MIN_REFRESH_INTERVAL: &str = "30s";
const DEFAULT_STARTUP_TIMEOUT: &str = "10s";

/// `subject_issuer[i]` as a trusted issuer, or `None` with its problems
/// recorded. `prior` finds the slot of an issuer the replaced snapshot had.
pub(crate) fn trusted_issuer<'p>(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
    (i, si): (usize, &SubjectIssuerSection),
    prior: impl Fn(&str) -> Option<&'p Arc<IssuerKeySlot>>,
) -> Option<TrustedIssuer> {
    let field = format!("subject_issuer[{i}]");
    let algorithms = algorithms(p, &field, si.algorithms.as_deref());
    let acceptance = acceptance(p, &field, si);
    let locator = match (&si.jwks, &si.jwks_uri, si.discovery) {
        (Some(file), None, false) => {
            if si.ca.is_some() {
                p.add(
                    format!("{field}.ca"),
                    "applies to fetched keys only (jwks_uri, discovery), not to a jwks file",
                );
            }
            let text = read_jwks(p, cfg, files, &field, file)?;
            let (accept, claims) = acceptance?;
            return p.take(
                format!("{field}.jwks"),
                TrustedIssuer::from_jwks_allowing(
                    &si.issuer,
                    accept,
                    claims,
                    &text,
                    algorithms?.as_deref(),
                )
                .map_err(|e| format!("{}: {e}", cfg.resolve(file).display())),
            );
        }
        (None, Some(url), false) => {
            p.take(format!("{field}.jwks_uri"), check_url(url))?;
            Locator::JwksUri(url.clone())
        }
        (None, None, true) => {
            p.take(
                format!("{field}.issuer"),
                check_url(&si.issuer).map_err(|e| format!("with discovery = true: {e}")),
            )?;
            Locator::Discovery
        }
        _ => {
            p.add(
                &field,
                "exactly one of `jwks` (a file), `jwks_uri` and `discovery = true` says where the issuer's keys are",
            );
            return None;
        }
    };
    let timing = timing(p, &field, si);
    let (fetcher, ca_digest) = fetcher(p, cfg, files, &field, si)?;
    let (algorithms, timing, (accept, claims)) = (algorithms?, timing?, acceptance?);
    let fingerprint = format!(
        "{locator:?}|{accept:?}|{:?}|{timing:?}|{ca_digest}",
        algorithms
            .as_ref()
            .map(|a| a.iter().map(|x| jose_name(*x)).collect::<Vec<_>>())
    );
    let slot = match prior(&si.issuer).filter(|s| s.fingerprint() == Some(fingerprint.as_str())) {
        Some(kept) => Arc::clone(kept),
        None => Arc::new(IssuerKeySlot::fetched(
            &si.issuer,
            accept,
            Remote {
                locator,
                fetcher,
                timing,
                algorithms,
                fingerprint,
            },
        )),
    };
    Some(TrustedIssuer::from_slot(slot, claims))
}

fn read_jwks(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
    field: &str,
    file: &std::path::Path,
) -> Option<Vec<u8>> {
    let full = cfg.resolve(file);
    files.push(full.clone());
    p.take(
        format!("{field}.jwks"),
        std::fs::read(&full).map_err(|e| format!("{}: cannot read: {e}", full.display())),
    )
}

/// `audience`, `scope_claim`, `subject_claim` and `required_claims`.
fn acceptance(
    p: &mut Problems,
    field: &str,
    si: &SubjectIssuerSection,
) -> Option<(Acceptance, ClaimMap)> {
    let audiences = si.audience.to_vec();
    let mut ok = true;
    if audiences.is_empty() || audiences.iter().any(String::is_empty) {
        p.add(
            format!("{field}.audience"),
            "must name at least one non-empty audience",
        );
        ok = false;
    }
    let default = ClaimMap::default();
    let claims = ClaimMap {
        scope_claim: si.scope_claim.clone().unwrap_or(default.scope_claim),
        subject_claim: si.subject_claim.clone().unwrap_or(default.subject_claim),
        required: si.required_claims.clone(),
    };
    for (name, value) in [
        ("scope_claim", &claims.scope_claim),
        ("subject_claim", &claims.subject_claim),
    ] {
        if value.is_empty() {
            p.add(format!("{field}.{name}"), "is empty");
            ok = false;
        }
    }
    if claims.required.iter().any(String::is_empty) {
        p.add(format!("{field}.required_claims"), "names an empty claim");
        ok = false;
    }
    let accept = Acceptance {
        audiences,
        require_sub: claims.requires_sub(),
    };
    ok.then_some((accept, claims))
}

/// `algorithms`, each one of [`SUPPORTED`]; `Some(None)` when not set.
fn algorithms(
    p: &mut Problems,
    field: &str,
    names: Option<&[String]>,
) -> Option<Option<Vec<Algorithm>>> {
    let Some(names) = names else {
        return Some(None);
    };
    let at = format!("{field}.algorithms");
    if names.is_empty() {
        p.add(
            at,
            "is empty; leave it out to accept every supported algorithm",
        );
        return None;
    }
    let mut list = Vec::new();
    for n in names {
        match algorithm(n) {
            Some(a) => list.push(a),
            None => {
                let known: Vec<String> = SUPPORTED.iter().map(|a| jose_name(*a)).collect();
                p.add(&at, format!("{n:?} is not one of {}", known.join(", ")));
                return None;
            }
        }
    }
    Some(Some(list))
}

fn timing(p: &mut Problems, field: &str, si: &SubjectIssuerSection) -> Option<Timing> {
    let mut get = |name: &str, v: &Option<String>, default: &str| -> Duration {
        p.duration(&format!("{field}.{name}"), v.as_deref().unwrap_or(default))
    };
    let t = Timing {
        refresh: get("refresh", &si.refresh, DEFAULT_REFRESH),
        min_refresh_interval: get(
            "min_refresh_interval",
            &si.min_refresh_interval,
            DEFAULT_MIN_REFRESH_INTERVAL,
        ),
        startup_timeout: get(
            "startup_timeout",
            &si.startup_timeout,
            DEFAULT_STARTUP_TIMEOUT,
        ),
    };
    // Anyone holding a well-formed token naming this issuer and a new `kid`
    // can make the gateway fetch this often: bounded from below.
    if t.min_refresh_interval < Duration::from_secs(1) {
        p.add(
            format!("{field}.min_refresh_interval"),
            "must be at least \"1s\": a token naming an unknown kid can make the gateway fetch the issuer's keys this often",
        );
        return None;
    }
    if t.min_refresh_interval > t.refresh {
        p.add(
            format!("{field}.min_refresh_interval"),
            format!(
                "({:?}) is longer than refresh ({:?})",
                t.min_refresh_interval, t.refresh
            ),
        );
        return None;
    }
    Some(t)
}

/// The client for the issuer's TLS (its `ca`, or the system roots) and a
/// digest of the CA certificates (part of the fingerprint).
fn fetcher(
    p: &mut Problems,
    cfg: &ConfigFile,
    files: &mut Vec<PathBuf>,
    field: &str,
    si: &SubjectIssuerSection,
) -> Option<(Fetcher, String)> {
    let Some(ca) = &si.ca else {
        return p
            .take(format!("{field}.ca"), Fetcher::new(None))
            .map(|f| (f, "system".to_owned()));
    };
    let full = cfg.resolve(ca);
    files.push(full.clone());
    let certs = p.take(format!("{field}.ca"), crate::tls::load_certs(&full))?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for c in &certs {
        ctx.update(c.as_ref());
    }
    let digest = URL_SAFE_NO_PAD.encode(ctx.finish().as_ref());
    let f = p.take(
        format!("{field}.ca"),
        Fetcher::new(Some((&full, &certs))).map_err(|e| format!("{}: {e}", full.display())),
    )?;
    Some((f, digest))
}
