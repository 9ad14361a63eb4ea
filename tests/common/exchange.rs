//! Token-endpoint helpers: form encoding, POST /oauth2/token, thumbprints.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

use actgate::dev::client::MtlsClient;

use super::gateway::{header, TestGateway};

pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

/// `application/x-www-form-urlencoded` encoding of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One token-endpoint answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// A fetched answer, its body read as JSON (`null` when it is not).
    pub fn of((status, headers, body): (StatusCode, HeaderMap, Bytes)) -> Answer {
        Answer {
            status,
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }

    /// The issued token, asserting success.
    pub fn token(&self) -> String {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        self.body["access_token"].as_str().unwrap().to_string()
    }

    /// Assert a standard error: status, `error`, and the no-store headers.
    pub fn assert_error(&self, status: u16, error: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.body["error"], error, "{}", self.body);
        assert!(
            self.body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{}",
            self.body
        );
        self.assert_no_store();
    }

    pub fn assert_no_store(&self) {
        assert_eq!(self.headers["cache-control"], "no-store");
        assert_eq!(self.headers["pragma"], "no-cache");
    }

    pub fn description(&self) -> &str {
        self.body["error_description"].as_str().unwrap_or("")
    }
}

/// POST a raw body to the token endpoint over `client`.
pub async fn post_token(
    client: &MtlsClient,
    base: &str,
    body: String,
    mut headers: HeaderMap,
) -> Answer {
    headers
        .entry("content-type")
        .or_insert(HeaderValue::from_static(
            "application/x-www-form-urlencoded",
        ));
    let answer = client
        .fetch(
            Method::POST,
            &format!("{base}/oauth2/token"),
            &headers,
            Bytes::from(body),
        )
        .await
        .unwrap();
    Answer::of(answer)
}

/// The usual request: exchange `subject` (an access token) for `audience`,
/// plus `extra` parameters.
pub fn request<'a>(
    subject: &'a str,
    audience: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("grant_type", GRANT),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
        ("audience", audience),
    ];
    v.extend_from_slice(extra);
    v
}

impl TestGateway {
    /// POST `pairs` to the token endpoint as `caller` (an agent name).
    pub async fn exchange(&self, caller: &str, pairs: &[(&str, &str)]) -> Answer {
        post_token(
            &self.client(caller),
            &self.base,
            form(pairs),
            HeaderMap::new(),
        )
        .await
    }

    /// `token`'s claims, verified with the gateway's published JWKS
    /// (signature, `iss`, `aud`, `exp`).
    pub async fn verify(&self, token: &str, aud: &str) -> Value {
        let (_, jwks) = self
            .get_json("orchestrator", "/.well-known/jwks.json")
            .await;
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
        let jwk = set.find(header(token)["kid"].as_str().unwrap()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.set_audience(&[aud]);
        v.set_issuer(&[super::gateway::ISSUER]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Value>(token, &key, &v)
            .unwrap()
            .claims
    }

    /// RFC 8705 thumbprint of `agent`'s workload certificate.
    pub fn thumbprint(&self, agent: &str) -> String {
        thumbprint_of_pem(
            &std::fs::read_to_string(self.certs().join(format!("agents/{agent}.pem"))).unwrap(),
        )
    }
}

/// `x5t#S256` of the first certificate in `pem`.
pub fn thumbprint_of_pem(pem: &str) -> String {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    actgate::identity::thumbprint(der.as_ref())
}

/// A trust domain's JWT-SVID authority: a key, and its bundle file to name
/// in `[[trust_domain]] jwt_bundle`.
pub struct JwtAuthority {
    _dir: tempfile::TempDir,
    key: actgate::token::SigningKey,
    pub bundle: std::path::PathBuf,
}

impl JwtAuthority {
    pub fn new() -> JwtAuthority {
        let (key, _) =
            actgate::token::SigningKey::generate(actgate::token::SigningAlgorithm::Es256).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut jwk = key.public_jwk();
        jwk["use"] = "jwt-svid".into();
        let bundle = dir.path().join("jwt-bundle.json");
        std::fs::write(&bundle, serde_json::json!({"keys": [jwk]}).to_string()).unwrap();
        JwtAuthority {
            _dir: dir,
            key,
            bundle,
        }
    }

    /// The `[[trust_domain]]` line that configures this authority.
    pub fn config_line(&self) -> String {
        format!("jwt_bundle = \"{}\"", self.bundle.display())
    }

    /// A JWT-SVID for `sub` with audience `aud`, valid for 5 minutes.
    pub fn svid(&self, sub: &str, aud: &str) -> String {
        let now = actgate::unix_now();
        actgate::token::mint::sign_jwt(
            &self.key,
            "JWT",
            &serde_json::json!({"sub": sub, "aud": [aud], "iat": now, "exp": now + 300}),
        )
        .unwrap()
    }
}
