//! The tools against a real HTTPS identity provider (`tests/common/idp.rs`):
//! `actgate config check` fetching every `[[subject_issuer]]`'s keys and
//! naming each problem, `actgate token decode` verifying against a key set
//! URL or a discovered one, the README's four IdP examples checked, and the
//! gateway reusing the key set URL discovery found.

mod common;

use std::path::Path;
use std::process::Output;

use common::gateway::{make_pki, Options, ISSUER};
use common::idp::{jwks, IdpKey, TestIdp};
use serde_json::json;

/// `actgate ARGS` in `dir`, off the runtime thread (the test IdP runs on it).
async fn actgate(dir: &Path, args: &[&str]) -> Output {
    let (dir, args): (std::path::PathBuf, Vec<String>) =
        (dir.into(), args.iter().map(|a| a.to_string()).collect());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::cli::actgate(&dir, &args)
    })
    .await
    .unwrap()
}

/// A gateway config in `dir` (`gw.toml`) with the `[[subject_issuer]]`
/// entries `blocks` after the test PKI's own (file-keyed) issuer, which is
/// `subject_issuer[0]`.
fn write_config(dir: &Path, blocks: &str) {
    make_pki(dir);
    let text = common::gateway::config_text(dir, &Options::new().raw(blocks));
    std::fs::write(dir.join("gw.toml"), text).unwrap();
}

fn block(issuer: &str, keys: &str, ca: Option<&Path>) -> String {
    let ca = ca.map_or(String::new(), |c| format!("ca = \"{}\"\n", c.display()));
    format!(
        "[[subject_issuer]]\nissuer = \"{issuer}\"\n{keys}\n{ca}audience = \"{ISSUER}\"\n\
         algorithms = [\"RS256\", \"ES256\"]\nstartup_timeout = \"8s\"\n\n"
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn config_check_fetches_each_issuers_keys_and_lists_them() {
    let (rsa, ec) = (IdpKey::rsa("rsa-1"), IdpKey::ec());
    let mut set = jwks(&[&rsa, &ec]);
    // An encryption key, as Keycloak publishes next to its signing key.
    let mut enc = rsa.jwk();
    enc["use"] = json!("enc");
    enc["kid"] = json!("enc-1");
    set["keys"].as_array_mut().unwrap().push(enc);
    let idp = TestIdp::start(set).await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &block(&idp.url, "discovery = true", Some(&idp.ca_path)),
    );
    let o = actgate(dir.path(), &["config", "check", "--config", "gw.toml"]).await;
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}{err}");
    let expected = format!(
        "gw.toml: subject_issuer[1] ({u}): ok: 2 keys (RS256 kid \"rsa-1\", ES256 kid \"{}\") from {u}/jwks; left out: JWKS key #2: \"use\" is \"enc\", not \"sig\"",
        ec.kid(),
        u = idp.url
    );
    assert!(out.contains(&expected), "{expected}\n{out}");
    assert!(out.contains("gw.toml: ok ("), "{out}");
    assert_eq!(
        idp.requests(),
        ["/.well-known/openid-configuration", "/jwks"]
    );

    // --offline fetches nothing, and says so.
    let o = actgate(
        dir.path(),
        &["config", "check", "--offline", "--config", "gw.toml"],
    )
    .await;
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(
        out.contains(&format!(
            "gw.toml: subject_issuer[1] ({}): keys not fetched (--offline)",
            idp.url
        )),
        "{out}"
    );
    assert_eq!(idp.requests().len(), 2, "{:?}", idp.requests());
}

#[tokio::test]
async fn config_check_names_each_issuers_problem_on_its_own_line() {
    let key = IdpKey::ec();
    let idp = TestIdp::start(jwks(&[&key])).await;
    let impostor = TestIdp::start(jwks(&[&key])).await;
    impostor.state.lock().unwrap().document_issuer = Some("https://impostor.example".into());
    let unusable = TestIdp::start(json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA", "kid": "k1"},
    ]}))
    .await;
    // Another IdP's CA: not the one `idp`'s certificate chains to.
    let stranger = TestIdp::start(jwks(&[&key])).await;
    let other_ca_path = stranger.ca_path.clone();
    let dir = tempfile::tempdir().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let blocks = [
        block(&impostor.url, "discovery = true", Some(&impostor.ca_path)),
        block(&idp.url, "discovery = true", Some(&other_ca_path)),
        block(
            "https://idp-404.example",
            &format!("jwks_uri = \"{}/keys-moved\"", idp.url),
            Some(&idp.ca_path),
        ),
        block(
            &unusable.url,
            &format!("jwks_uri = \"{}/jwks\"", unusable.url),
            Some(&unusable.ca_path),
        ),
        block(
            "https://idp-down.example",
            &format!("jwks_uri = \"https://127.0.0.1:{closed}/jwks\""),
            None,
        ),
        block(
            "https://idp-dns.example",
            "jwks_uri = \"https://idp.no-such-host.invalid/jwks\"",
            None,
        ),
    ];
    write_config(dir.path(), &blocks.concat());
    let o = actgate(dir.path(), &["config", "check", "--config", "gw.toml"]).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{}{err}", text(&o.stdout));
    // Each entry's line says what is wrong with it.
    let expected: [(&str, Vec<String>); 6] = [
        (
            &impostor.url,
            vec![format!(
                "issuer mismatch: document says \"https://impostor.example\", config says \"{}\"",
                impostor.url
            )],
        ),
        (
            &idp.url,
            vec![
                "unreachable".into(),
                "invalid peer certificate".into(),
                format!("(checked against the CA in {})", other_ca_path.display()),
            ],
        ),
        (
            "https://idp-404.example",
            vec![format!(
                "{}/keys-moved: answered HTTP 404 Not Found",
                idp.url
            )],
        ),
        (
            &unusable.url,
            vec![
                "no usable keys".into(),
                "JWKS key #0: symmetric (\"oct\") keys are not accepted".into(),
                "JWKS key #1: unsupported key type \"EC\" / curve Some(\"secp256k1\")".into(),
            ],
        ),
        (
            "https://idp-down.example",
            vec!["unreachable".into(), "Connection refused".into()],
        ),
        (
            "https://idp-dns.example",
            vec!["unreachable".into(), "dns error".into()],
        ),
    ];
    for (i, (issuer, parts)) in expected.iter().enumerate() {
        let prefix = format!("gw.toml: subject_issuer[{}] ({issuer}): ", i + 1);
        let line = err
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line for {prefix}\n{err}"));
        for part in parts {
            assert!(line.contains(part.as_str()), "{part}\n{line}");
        }
    }
    // The good file-keyed issuer is not a problem, and nothing says "ok".
    assert!(!err.contains("subject_issuer[0]"), "{err}");
    assert!(!text(&o.stdout).contains(": ok"), "{}", text(&o.stdout));
}

#[tokio::test]
async fn token_decode_verifies_against_a_key_set_url_or_a_discovered_one() {
    let (rsa, ec) = (IdpKey::rsa("rsa-1"), IdpKey::ec());
    let idp = TestIdp::start(jwks(&[&rsa, &ec])).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = idp.ca_path.to_str().unwrap();
    let jwks_url = format!("{}/jwks", idp.url);
    let decode = |token: String, extra: Vec<String>| {
        let mut args = vec!["token".to_string(), "decode".into(), token];
        args.extend(extra);
        let dir = dir.path().to_owned();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            actgate(&dir, &args).await
        }
    };
    let with = |opts: &[&str]| opts.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // A key set URL; the RSA key names no alg (as Entra's), so the verdict
    // says the algorithm is the header's.
    let o = decode(
        idp.user_token(&rsa, "alice"),
        with(&["--jwks", &jwks_url, "--ca", ca]),
    )
    .await;
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(
        out.contains(&format!("signature: valid (RS256 as the token's header says; the RSA key names no alg, kid rsa-1, key from {jwks_url})")),
        "{out}"
    );
    assert!(out.contains("\"sub\": \"alice\""), "{out}");

    // Through discovery.
    let o = decode(
        idp.user_token(&ec, "bob"),
        with(&["--discovery", &idp.url, "--ca", ca]),
    )
    .await;
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(
        out.contains(&format!(
            "signature: valid (ES256, kid {}, key from {jwks_url})",
            ec.kid()
        )),
        "{out}"
    );

    // A token whose payload was changed: invalid, exit 1.
    let token = idp.user_token(&rsa, "alice");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory"}"#)
    };
    let o = decode(parts.join("."), with(&["--jwks", &jwks_url, "--ca", ca])).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("signature: INVALID"));

    // A key the gateway would never use (a symmetric one, whose published
    // secret lets anyone sign) is refused, not verified with.
    let secret = b"a published secret anyone can sign with";
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("h".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &serde_json::json!({"iss": "x", "sub": "mallory"}),
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap();
    let oct = dir.path().join("oct.json");
    let k = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    };
    std::fs::write(
        &oct,
        format!(r#"{{"keys":[{{"kty":"oct","kid":"h","alg":"HS256","k":"{k}"}}]}}"#),
    )
    .unwrap();
    let o = decode(hs, with(&["--jwks", oct.to_str().unwrap()])).await;
    assert!(!o.status.success(), "{}", text(&o.stdout));
    assert!(
        !text(&o.stdout).contains("signature: valid"),
        "{}",
        text(&o.stdout)
    );
    assert!(
        text(&o.stderr).contains("not one the gateway would use"),
        "{}",
        text(&o.stderr)
    );

    // Discovery problems in the gateway's words.
    idp.state.lock().unwrap().document_issuer = Some("https://impostor.example".into());
    let o = decode(
        idp.user_token(&ec, "bob"),
        with(&["--discovery", &idp.url, "--ca", ca]),
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "keys: {u}/.well-known/openid-configuration: issuer mismatch: document says \"https://impostor.example\", config says \"{u}\"",
            u = idp.url
        )),
        "{err}"
    );
    assert!(text(&o.stdout).contains("signature: not verified"));
    // Plain http to anything but loopback is refused, as in the config.
    let o = decode(
        idp.user_token(&ec, "bob"),
        with(&["--jwks", "http://idp.example.com/jwks"]),
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("is plain http to a non-loopback address"),
        "{}",
        text(&o.stderr)
    );
}

/// The `toml` block after each `<!-- idp-example: NAME -->` of README.md.
fn readme_examples() -> Vec<(String, String)> {
    let readme = include_str!("../README.md");
    let marker = "<!-- idp-example: ";
    let mut out = Vec::new();
    let mut rest = readme;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let name = rest[..rest.find(" -->").unwrap()].to_owned();
        let start = rest.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + rest[start..].find("```").unwrap();
        out.push((name, rest[start..end].to_owned()));
    }
    out
}

#[test]
fn the_readme_examples_of_the_four_identity_providers_pass_config_check() {
    let examples = readme_examples();
    let names: Vec<&str> = examples.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["keycloak", "entra", "okta", "auth0"]);
    for (name, block) in &examples {
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), block);
        let o = common::cli::actgate(
            dir.path(),
            &["config", "check", "--offline", "--config", "gw.toml"],
        );
        let out = text(&o.stdout);
        assert!(o.status.success(), "{name}: {out}{}", text(&o.stderr));
        assert!(
            out.contains("gw.toml: subject_issuer[1] (")
                && out.contains("): keys not fetched (--offline)"),
            "{name}: {out}"
        );
    }
}
