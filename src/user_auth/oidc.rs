//! The gateway as an OpenID Connect relying party of `[authorize.login]`:
//! people log in at the organisation's IdP, never at the gateway (it never
//! sees a password). Authorization code + PKCE (S256) with `state` and
//! `nonce` (OIDC Core 1.0 §3.1), the code redeemed at the IdP's token
//! endpoint with the gateway's client secret, the ID token verified with
//! the keys of the IdP's discovery document.
//!
//! The discovery document and key set are fetched on first use and kept
//! for [`METADATA_KEPT`]; an ID token naming a `kid` the kept set lacks
//! fetches them again once (the IdP rotated its keys).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::authorize::{encode, with_query};
use super::login::LoginSettings;
use crate::token::id_token::IdTokenVerifier;
use crate::token::issuer_keys::discovery::metadata_urls;
use crate::token::issuer_keys::fetch::{check_url, FetchError, Fetcher, RootsError};
use crate::token::TokenError;

/// How long a fetched discovery document and key set are used.
pub const METADATA_KEPT: Duration = Duration::from_secs(3600);

/// Why a login could not be started or finished. Shown to the person as a
/// page (no token or secret in any message) and logged.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the login provider is unreachable: {0}")]
    Fetch(#[from] FetchError),
    #[error("{url}: not an OpenID Provider metadata document ({missing})")]
    NotMetadata { url: String, missing: &'static str },
    #[error("{url}: issuer mismatch: document says {found:?}, config says {configured:?}")]
    IssuerMismatch {
        url: String,
        found: String,
        configured: String,
    },
    #[error("{url}: {field} {reason}")]
    BadEndpoint {
        url: String,
        field: &'static str,
        reason: String,
    },
    #[error("the login provider's keys: {0}")]
    Keys(TokenError),
    #[error("the login provider refused the code: HTTP {status} {error}")]
    TokenEndpoint { status: u16, error: String },
    #[error("the login provider's token answer has no id_token")]
    NoIdToken,
    #[error("the login provider's ID token was refused: {0}")]
    IdToken(TokenError),
    #[error("the ID token has no non-empty string claim {0:?} naming the person")]
    NoUserClaim(String),
    #[error("the ID token's email is not verified (email_verified is not true); people are named by email only when the IdP verified it")]
    UnverifiedEmail,
}

/// What the provider's discovery document says, and its keys.
struct Discovered {
    authorization_endpoint: String,
    token_endpoint: String,
    /// `client_secret_post` when the provider lists only that.
    post_secret: bool,
    keys: Arc<IdTokenVerifier>,
    fetched: Instant,
}

/// The person as the login IdP named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    pub issuer: String,
    pub user: String,
}

/// The person a verified ID token names by `claim`.
fn person(claims: &crate::token::id_token::IdClaims, claim: &str) -> Result<String, LoginError> {
    let user = claims
        .get(claim)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| LoginError::NoUserClaim(claim.to_owned()))?;
    // An address the IdP has not verified is whatever the person typed:
    // keyed on it, anyone could sign in as someone else and hold their grants.
    if claim == "email" && claims.get("email_verified") != Some(&serde_json::Value::Bool(true)) {
        return Err(LoginError::UnverifiedEmail);
    }
    Ok(user.to_owned())
}

/// One login IdP's relying party.
pub struct LoginProvider {
    settings: LoginSettings,
    fetcher: Fetcher,
    discovered: Mutex<Option<Arc<Discovered>>>,
}

impl std::fmt::Debug for LoginProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginProvider")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

impl LoginProvider {
    pub fn new(settings: LoginSettings) -> Result<Self, RootsError> {
        let fetcher = Fetcher::new(
            settings
                .ca
                .as_ref()
                .map(|(path, certs)| (path.as_path(), certs.as_slice())),
        )?;
        Ok(LoginProvider {
            settings,
            fetcher,
            discovered: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &LoginSettings {
        &self.settings
    }

    /// Where to send the browser to log in: the provider's authorization
    /// endpoint with our client ID, `callback`, the scopes, `state`,
    /// `nonce` and the S256 `challenge`.
    pub async fn authorization_url(
        &self,
        callback: &str,
        state: &str,
        nonce: &str,
        challenge: &str,
    ) -> Result<String, LoginError> {
        let d = self.discovered(false).await?;
        let scope = self.settings.scopes.join(" ");
        Ok(with_query(
            &d.authorization_endpoint,
            &[
                ("response_type", "code"),
                ("client_id", &self.settings.client_id),
                ("redirect_uri", callback),
                ("scope", &scope),
                ("state", state),
                ("nonce", nonce),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
    }

    /// Redeem the login's `code` (with its PKCE `verifier`) and verify the
    /// ID token against `nonce` at `now`: who logged in.
    pub async fn finish(
        &self,
        callback: &str,
        code: &str,
        verifier: &str,
        nonce: &str,
        now: i64,
    ) -> Result<LoggedIn, LoginError> {
        let d = self.discovered(false).await?;
        let id_token = self.redeem(&d, callback, code, verifier).await?;
        let keys = if d.keys.lacks_key_of(&id_token) {
            self.discovered(true).await?.keys.clone()
        } else {
            d.keys.clone()
        };
        let claims = keys
            .verify(&id_token, nonce, now)
            .map_err(LoginError::IdToken)?;
        Ok(LoggedIn {
            issuer: self.settings.issuer.clone(),
            user: person(&claims, &self.settings.claim)?,
        })
    }

    async fn redeem(
        &self,
        d: &Discovered,
        callback: &str,
        code: &str,
        verifier: &str,
    ) -> Result<String, LoginError> {
        let s = &self.settings;
        let mut form = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
            encode(code),
            encode(callback),
            encode(verifier)
        );
        // RFC 6749 §2.3.1: client_secret_basic form-encodes ID and secret
        // before base64 (many IdPs get this wrong only for unusual secrets).
        let basic;
        let auth = if d.post_secret {
            form.push_str(&format!(
                "&client_id={}&client_secret={}",
                encode(&s.client_id),
                encode(s.client_secret.expose())
            ));
            None
        } else {
            let pair = format!(
                "{}:{}",
                encode(&s.client_id),
                encode(s.client_secret.expose())
            );
            basic = format!("Basic {}", STANDARD.encode(pair));
            Some(basic.as_str())
        };
        let (status, body) = self
            .fetcher
            .post_form(&d.token_endpoint, form, auth)
            .await?;
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if !status.is_success() {
            // Only the provider's error code is kept: its description may
            // echo what we sent.
            let error = doc
                .get("error")
                .and_then(|e| e.as_str())
                .map(|e| e.chars().take(64).collect())
                .unwrap_or_default();
            return Err(LoginError::TokenEndpoint {
                status: status.as_u16(),
                error,
            });
        }
        doc.get("id_token")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or(LoginError::NoIdToken)
    }

    /// The kept discovery document and keys, fetched again when older than
    /// [`METADATA_KEPT`] or when `refetch`.
    async fn discovered(&self, refetch: bool) -> Result<Arc<Discovered>, LoginError> {
        let kept = self.lock().clone();
        if let Some(d) = kept.filter(|d| !refetch && d.fetched.elapsed() < METADATA_KEPT) {
            return Ok(d);
        }
        let d = Arc::new(self.discover().await?);
        *self.lock() = Some(d.clone());
        Ok(d)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<Discovered>>> {
        self.discovered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn discover(&self) -> Result<Discovered, LoginError> {
        let issuer = &self.settings.issuer;
        // The OpenID document only: a login provider is an OpenID Provider.
        let url = metadata_urls(issuer).swap_remove(0);
        let doc = self.fetcher.get(&url).await?;
        let doc: serde_json::Value =
            serde_json::from_slice(&doc.body).map_err(|_| LoginError::NotMetadata {
                url: url.clone(),
                missing: "not JSON",
            })?;
        let field = |name: &'static str| {
            doc.get(name)
                .and_then(|v| v.as_str())
                .ok_or(LoginError::NotMetadata {
                    url: url.clone(),
                    missing: name,
                })
        };
        let found = field("issuer")?;
        if found != issuer {
            return Err(LoginError::IssuerMismatch {
                url,
                found: found.chars().take(200).collect(),
                configured: issuer.clone(),
            });
        }
        let endpoint = |name: &'static str| -> Result<String, LoginError> {
            let v = field(name)?;
            check_url(v).map_err(|e| LoginError::BadEndpoint {
                url: url.clone(),
                field: name,
                reason: e.to_string(),
            })?;
            Ok(v.to_owned())
        };
        let (authorization_endpoint, token_endpoint, jwks_uri) = (
            endpoint("authorization_endpoint")?,
            endpoint("token_endpoint")?,
            endpoint("jwks_uri")?,
        );
        let methods: Vec<&str> = doc
            .get("token_endpoint_auth_methods_supported")
            .and_then(|m| m.as_array())
            .map(|a| a.iter().filter_map(|m| m.as_str()).collect())
            .unwrap_or_default();
        // The default when the provider says nothing is basic (OIDC
        // Discovery §3).
        let post_secret = !methods.is_empty()
            && !methods.contains(&"client_secret_basic")
            && methods.contains(&"client_secret_post");
        let jwks = self.fetcher.get(&jwks_uri).await?;
        let keys = IdTokenVerifier::from_jwks(issuer, &self.settings.client_id, &jwks.body)
            .map_err(LoginError::Keys)?;
        Ok(Discovered {
            authorization_endpoint,
            token_endpoint,
            post_secret,
            keys: Arc::new(keys),
            fetched: Instant::now(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(v: serde_json::Value) -> crate::token::id_token::IdClaims {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn an_unverified_email_names_nobody() {
        let c = claims(json!({"sub": "u1", "email": "victim@corp.example"}));
        assert_eq!(person(&c, "sub").unwrap(), "u1");
        assert!(matches!(
            person(&c, "email"),
            Err(LoginError::UnverifiedEmail)
        ));
        let c = claims(json!({"email": "victim@corp.example", "email_verified": "true"}));
        assert!(matches!(
            person(&c, "email"),
            Err(LoginError::UnverifiedEmail)
        ));
        let c = claims(json!({"email": "me@corp.example", "email_verified": true}));
        assert_eq!(person(&c, "email").unwrap(), "me@corp.example");
        assert!(matches!(person(&c, "oid"), Err(LoginError::NoUserClaim(_))));
    }
}
