//! `actgate token decode`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use serde_json::Value;

#[derive(clap::Args)]
pub struct DecodeArgs {
    /// The compact JWT (header.payload.signature).
    pub jwt: String,
    /// Verify the signature against this JWKS: a file, or a URL fetched as
    /// the gateway fetches issuer keys (https; plain http to a loopback
    /// address only; no redirect followed).
    #[arg(long, conflicts_with = "discovery")]
    pub jwks: Option<String>,
    /// Verify the signature against the keys of this issuer, found through
    /// its discovery document as `discovery = true` finds them (the
    /// document's `issuer` must equal ISSUER exactly).
    #[arg(long, value_name = "ISSUER")]
    pub discovery: Option<String>,
    /// PEM roots for an https URL (default: the system's roots).
    #[arg(long, alias = "cacert")]
    pub ca: Option<PathBuf>,
    /// For an https JWKS URL on an mTLS listener: client certificate.
    #[arg(long, requires = "key", conflicts_with = "discovery")]
    pub cert: Option<PathBuf>,
    /// Key of --cert.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
}

fn b64_json(part: &str, what: &str) -> anyhow::Result<Value> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .with_context(|| format!("the {what} is not base64url"))?;
    serde_json::from_slice(&bytes).with_context(|| format!("the {what} is not JSON"))
}

pub fn decode(a: DecodeArgs) -> anyhow::Result<ExitCode> {
    let parts: Vec<&str> = a.jwt.trim().split('.').collect();
    if parts.len() != 3 {
        bail!(
            "not a compact JWS: expected 3 dot-separated parts, found {}",
            parts.len()
        );
    }
    let header = b64_json(parts[0], "header")?;
    let claims = b64_json(parts[1], "payload")?;
    println!("header:\n{}", serde_json::to_string_pretty(&header)?);
    println!("claims:\n{}", serde_json::to_string_pretty(&claims)?);
    if let Some(exp) = claims.get("exp").and_then(Value::as_i64) {
        let left = exp - actgate::unix_now();
        if left >= 0 {
            println!("expires in {left} s");
        } else {
            println!("EXPIRED {} s ago", -left);
        }
    }
    let (src, jwks_text) = match key_source(&a)? {
        Some(Ok(found)) => found,
        Some(Err(problem)) => {
            // Fetch and discovery problems in the gateway's own words.
            eprintln!("keys: {problem}");
            println!("signature: not verified (no key set)");
            return Ok(ExitCode::FAILURE);
        }
        None => {
            println!("signature: not verified (pass --jwks FILE_OR_URL or --discovery ISSUER)");
            return Ok(ExitCode::SUCCESS);
        }
    };
    verify_with(&a.jwt, &header, &src, &jwks_text)
}

/// Where the keys come from and their text; `None` without --jwks or
/// --discovery; `Some(Err)` for a fetch that failed.
fn key_source(a: &DecodeArgs) -> anyhow::Result<Option<Result<(String, String), String>>> {
    use actgate::token::issuer_keys::discovery::Locator;
    let (issuer, locator) = match (&a.jwks, &a.discovery) {
        (None, None) => return Ok(None),
        (None, Some(issuer)) => (issuer.clone(), Locator::Discovery),
        (Some(src), None) if !src.starts_with("https://") && !src.starts_with("http://") => {
            let text = std::fs::read_to_string(src).with_context(|| format!("reading {src}"))?;
            return Ok(Some(Ok((src.clone(), text))));
        }
        (Some(url), None) if a.cert.is_some() => {
            let text = fetch(
                url,
                a.ca.as_deref(),
                a.cert.as_deref().zip(a.key.as_deref()),
            )?;
            return Ok(Some(Ok((url.clone(), text))));
        }
        (Some(url), None) => (String::new(), Locator::JwksUri(url.clone())),
        (Some(_), Some(_)) => bail!("--jwks and --discovery exclude each other"),
    };
    let fetcher = fetcher(a.ca.as_deref())?;
    let fetched = super::runtime()?.block_on(actgate::token::issuer_keys::probe::fetch_jwks(
        &fetcher, &issuer, &locator,
    ));
    Ok(Some(
        fetched
            .map(|(url, body)| (url, String::from_utf8_lossy(&body).into_owned()))
            .map_err(|e| e.to_string()),
    ))
}

/// The issuer-key fetcher with `--ca` (or the system roots).
fn fetcher(
    ca: Option<&std::path::Path>,
) -> anyhow::Result<actgate::token::issuer_keys::fetch::Fetcher> {
    use actgate::token::issuer_keys::fetch::Fetcher;
    let Some(ca) = ca else {
        return Ok(Fetcher::new(None)?);
    };
    let certs = actgate::tls::load_certs(ca).with_context(|| format!("--ca {}", ca.display()))?;
    Fetcher::new(Some((ca, &certs))).with_context(|| format!("--ca {}", ca.display()))
}

/// Verify `jwt`'s signature with the key of `jwks_text` its header names,
/// read by the gateway's own JWK rules
/// ([`actgate::token::issuer_keys::jwk::parse_published_jwk`]), so a key the
/// gateway would refuse (a symmetric one, a short RSA key, an `alg` that
/// contradicts the key type) is refused here too.
fn verify_with(jwt: &str, header: &Value, src: &str, jwks_text: &str) -> anyhow::Result<ExitCode> {
    use actgate::token::issuer_keys::jwk::{algorithm, parse_published_jwk};
    let set: Value =
        serde_json::from_str(jwks_text).with_context(|| format!("{src} is not a JWK set"))?;
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("{src} is not a JWK set (no \"keys\" array)"))?;
    let kid = header.get("kid").and_then(Value::as_str);
    let jwk = match kid {
        Some(k) => keys
            .iter()
            .find(|j| j.get("kid").and_then(Value::as_str) == Some(k))
            .ok_or_else(|| anyhow!("no key with kid {k} in {src}"))?,
        None => match keys.as_slice() {
            [only] => only,
            _ => bail!("token has no kid and {src} holds {} keys", keys.len()),
        },
    };
    let header_alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    // An RSA key without `alg` (Entra's, oidc-provider's) does not say which
    // RSA algorithm: the token header's, if it is one, said so in the verdict.
    let rsa_alg =
        algorithm(header_alg).filter(|a| a.family() == jsonwebtoken::AlgorithmFamily::Rsa);
    let note = if jwk.get("alg").is_none() && jwk.get("kty").and_then(Value::as_str) == Some("RSA")
    {
        " as the token's header says; the RSA key names no alg"
    } else {
        ""
    };
    let (_, alg, key) = parse_published_jwk(jwk, rsa_alg).with_context(|| {
        format!(
            "the key {} of {src} is not one the gateway would use",
            kid.unwrap_or("-")
        )
    })?;
    let mut v = jsonwebtoken::Validation::new(alg);
    // Only the signature is checked here; claims are printed above for a
    // person to judge.
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    match jsonwebtoken::decode::<Value>(jwt, &key, &v) {
        Ok(_) => {
            println!(
                "signature: valid ({alg:?}{note}, kid {}, key from {src})",
                kid.unwrap_or("-")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("signature: INVALID ({e})");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn fetch(
    url: &str,
    ca: Option<&std::path::Path>,
    id: Option<(&std::path::Path, &std::path::Path)>,
) -> anyhow::Result<String> {
    let ca = ca.ok_or_else(|| anyhow!("an https JWKS URL with --cert needs --ca"))?;
    let client = actgate::dev::client::MtlsClient::new(ca, id, false)?;
    let rt = super::runtime()?;
    let (status, _, body) = rt.block_on(client.fetch(
        http::Method::GET,
        url,
        &http::HeaderMap::new(),
        bytes::Bytes::new(),
    ))?;
    if !status.is_success() {
        bail!("{url} answered {status}");
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[derive(clap::Args)]
pub struct SignArgs {
    /// PKCS#8 PEM private key to sign with (e.g. `certs/idp.key` of
    /// `actgate certs init`, or one from `actgate keys generate`).
    #[arg(long)]
    pub key: PathBuf,
    /// `ES256` or `EdDSA`: the key's algorithm.
    #[arg(long, default_value = "ES256")]
    pub algorithm: String,
    /// The claims, a JSON object, e.g. '{"iss":"…","sub":"alice","aud":"…","scope":"…"}'.
    #[arg(long)]
    pub claims: String,
    /// Lifetime: sets `exp` (and `iat` to now) unless the claims carry them.
    #[arg(long, default_value = "1h")]
    pub expires_in: String,
    /// The JOSE header's `typ`.
    #[arg(long, default_value = "JWT")]
    pub typ: String,
}

/// `actgate token sign`: sign a JWT as a (test) identity provider would,
/// for trying delegated calls and for benchmarks. The key's `kid` goes in
/// the header, matching the JWKS `actgate certs init` writes next to it.
pub fn sign(a: SignArgs) -> anyhow::Result<ExitCode> {
    use actgate::token::{SigningAlgorithm, SigningKey};
    let alg = match a.algorithm.as_str() {
        "ES256" => SigningAlgorithm::Es256,
        "EdDSA" => SigningAlgorithm::EdDsa,
        other => bail!("unknown algorithm {other:?}: use ES256 or EdDSA"),
    };
    let pem =
        std::fs::read_to_string(&a.key).with_context(|| format!("reading {}", a.key.display()))?;
    let key = SigningKey::from_pkcs8_pem(&pem, alg).with_context(|| a.key.display().to_string())?;
    let mut claims: Value = serde_json::from_str(&a.claims).context("--claims is not JSON")?;
    let Some(map) = claims.as_object_mut() else {
        bail!("--claims must be a JSON object");
    };
    let lifetime = actgate::duration::parse(&a.expires_in).context("--expires-in")?;
    let now = actgate::unix_now();
    map.entry("iat").or_insert(now.into());
    let exp = i64::try_from(lifetime.as_secs())
        .ok()
        .and_then(|l| now.checked_add(l))
        .ok_or_else(|| anyhow!("--expires-in {} is too long", a.expires_in))?;
    map.entry("exp").or_insert(exp.into());
    println!("{}", actgate::token::mint::sign_jwt(&key, &a.typ, &claims)?);
    Ok(ExitCode::SUCCESS)
}
