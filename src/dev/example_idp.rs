//! A small built-in OpenID Provider for `actgate demo`: the login IdP the
//! gateway's `[authorize.login]` sends people to, on plain HTTP on
//! loopback. One confidential client (the gateway, `client_secret_basic`),
//! authorization code + PKCE S256, a sign-in form that asks only for a
//! name (there is no password: **for demonstration only**, never deploy
//! it), ID tokens signed ES256 with the login's `nonce`.
//!
//! Endpoints: `/.well-known/openid-configuration`, `/jwks`, `/authorize`
//! (the form), `/login` (its post), `/token`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::token::{sign_jwt, SigningAlgorithm, SigningKey};
use crate::user_auth::authorize::with_query;
use crate::user_auth::html::escape;

/// The one client this provider knows.
#[derive(Debug, Clone)]
pub struct IdpClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
}

struct Code {
    user: String,
    nonce: String,
    challenge: String,
    redirect_uri: String,
    expires: i64,
}

struct Idp {
    issuer: String,
    client: IdpClient,
    key: SigningKey,
    codes: Mutex<HashMap<String, Code>>,
}

/// A running example IdP.
pub struct ExampleIdp {
    pub addr: SocketAddr,
    pub issuer: String,
    pub task: tokio::task::JoinHandle<()>,
}

/// Start the provider on `addr` (port 0 for any) for `client`.
pub async fn start(addr: SocketAddr, client: IdpClient) -> anyhow::Result<ExampleIdp> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let issuer = format!("http://{addr}");
    let (key, _) = SigningKey::generate(SigningAlgorithm::Es256)?;
    let idp = Arc::new(Idp {
        issuer: issuer.clone(),
        client,
        key,
        codes: Mutex::new(HashMap::new()),
    });
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let idp = idp.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let idp = idp.clone();
                    async move { Ok::<_, Infallible>(answer(&idp, req).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Ok(ExampleIdp { addr, issuer, task })
}

type Answer = Response<Full<Bytes>>;

async fn answer(idp: &Idp, req: Request<Incoming>) -> Answer {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let query = req.uri().query().unwrap_or("").to_owned();
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(req.into_body(), 16 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "too large"),
    };
    let form = |b: &[u8]| crate::token::form::parse(b).unwrap_or_default();
    match (method, path.as_str()) {
        (Method::GET, "/.well-known/openid-configuration") => json_answer(metadata(idp)),
        (Method::GET, "/jwks") => json_answer(json!({"keys": [idp.key.public_jwk()]})),
        (Method::GET, "/authorize") => sign_in_form(idp, &form(query.as_bytes())),
        (Method::POST, "/login") => login(idp, &form(&body)),
        (Method::POST, "/token") => token(idp, auth.as_deref(), &form(&body)),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

fn metadata(idp: &Idp) -> Value {
    let i = &idp.issuer;
    json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    })
}

fn get<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn sign_in_form(idp: &Idp, q: &[(String, String)]) -> Answer {
    if get(q, "client_id") != idp.client.client_id
        || get(q, "redirect_uri") != idp.client.redirect_uri
        || get(q, "code_challenge_method") != "S256"
        || get(q, "response_type") != "code"
    {
        return text(
            StatusCode::BAD_REQUEST,
            "unknown client, redirect URI or PKCE method",
        );
    }
    let hidden: String = ["state", "nonce", "code_challenge"]
        .iter()
        .map(|n| {
            format!(
                "<input type=\"hidden\" name=\"{n}\" value=\"{}\">",
                escape(get(q, n))
            )
        })
        .collect();
    let page = format!(
        "<!DOCTYPE html><title>demo IdP</title><h1>Demo identity provider</h1>\
         <p>For demonstration only: no password is asked.</p>\
         <form method=\"post\" action=\"/login\">{hidden}\
         <label>Sign in as <input name=\"login\" value=\"alice@example.com\"></label> \
         <button type=\"submit\">Sign in</button></form>"
    );
    let mut r = Response::new(Full::new(Bytes::from(page)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn login(idp: &Idp, f: &[(String, String)]) -> Answer {
    let user = get(f, "login").trim();
    if user.is_empty() {
        return text(StatusCode::BAD_REQUEST, "name someone to sign in as");
    }
    let Ok(code) = crate::user_auth::session::random_token() else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "no randomness");
    };
    let redirect_uri = idp.client.redirect_uri.clone();
    let mut codes = idp.codes.lock().unwrap_or_else(|e| e.into_inner());
    let now = crate::unix_now();
    codes.retain(|_, c| c.expires > now);
    codes.insert(
        code.clone(),
        Code {
            user: user.to_owned(),
            nonce: get(f, "nonce").to_owned(),
            challenge: get(f, "code_challenge").to_owned(),
            redirect_uri: redirect_uri.clone(),
            expires: now + 60,
        },
    );
    let location = with_query(
        &redirect_uri,
        &[
            ("code", &code),
            ("state", get(f, "state")),
            ("iss", &idp.issuer),
        ],
    );
    let mut r = text(StatusCode::SEE_OTHER, "");
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn token(idp: &Idp, auth: Option<&str>, f: &[(String, String)]) -> Answer {
    let c = &idp.client;
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{}:{}",
            crate::user_auth::authorize::encode(&c.client_id),
            crate::user_auth::authorize::encode(&c.client_secret)
        ))
    );
    if auth != Some(expected.as_str()) {
        return json_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let taken = idp
        .codes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(get(f, "code"));
    let Some(code) = taken.filter(|k| k.expires > crate::unix_now()) else {
        return json_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let verified = URL_SAFE_NO_PAD.encode(digest(&SHA256, get(f, "code_verifier").as_bytes()));
    if get(f, "grant_type") != "authorization_code"
        || verified != code.challenge
        || get(f, "redirect_uri") != code.redirect_uri
    {
        return json_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let now = crate::unix_now();
    let claims = json!({
        "iss": idp.issuer, "sub": code.user, "aud": c.client_id,
        "iat": now, "exp": now + 300, "nonce": code.nonce,
    });
    match sign_jwt(&idp.key, "JWT", &claims) {
        Ok(id_token) => json_answer(json!({
            "id_token": id_token, "token_type": "Bearer", "expires_in": 300,
            "access_token": crate::user_auth::session::random_token().unwrap_or_default(),
        })),
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    }
}

fn json_answer(v: Value) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn json_error(status: StatusCode, error: &str) -> Answer {
    let mut r = json_answer(json!({"error": error}));
    *r.status_mut() = status;
    r
}

fn text(status: StatusCode, s: &str) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(s.to_owned())));
    *r.status_mut() = status;
    r
}
