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
    /// Verify the signature against this JWKS: a file, or an http(s) URL.
    #[arg(long)]
    pub jwks: Option<String>,
    /// For an https JWKS URL: PEM roots to verify the server.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// For an https JWKS URL on an mTLS listener: client certificate.
    #[arg(long, requires = "key")]
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
    let Some(src) = a.jwks else {
        println!("signature: not verified (pass --jwks FILE_OR_URL)");
        return Ok(ExitCode::SUCCESS);
    };
    let jwks_text = if src.starts_with("https://") || src.starts_with("http://") {
        fetch(
            &src,
            a.cacert.as_deref(),
            a.cert.as_deref().zip(a.key.as_deref()),
        )?
    } else {
        std::fs::read_to_string(&src).with_context(|| format!("reading {src}"))?
    };
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&jwks_text).with_context(|| format!("{src} is not a JWK set"))?;
    let kid = header.get("kid").and_then(Value::as_str);
    let jwk = match kid {
        Some(k) => set
            .find(k)
            .ok_or_else(|| anyhow!("no key with kid {k} in {src}"))?,
        None if set.keys.len() == 1 => &set.keys[0],
        None => bail!("token has no kid and {src} holds {} keys", set.keys.len()),
    };
    let alg = jwk
        .common
        .key_algorithm
        .and_then(|a| a.to_string().parse::<jsonwebtoken::Algorithm>().ok())
        .ok_or_else(|| anyhow!("the JWK for this token names no usable alg"))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).context("unusable JWK")?;
    let mut v = jsonwebtoken::Validation::new(alg);
    // Only the signature is checked here; claims are printed above for a
    // person to judge.
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    match jsonwebtoken::decode::<Value>(&a.jwt, &key, &v) {
        Ok(_) => {
            println!("signature: valid ({alg:?}, kid {})", kid.unwrap_or("-"));
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
    let ca = ca.ok_or_else(|| anyhow!("an https JWKS URL needs --cacert"))?;
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
