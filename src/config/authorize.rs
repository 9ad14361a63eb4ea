//! The user's side of delegation: `[authorize]` (the listener people's
//! browsers reach, its login to the organisation's IdP in
//! `[authorize.login]`) and `[[oauth_client]]` (the public clients that may
//! send people there). Checked by `crate::user_auth::build`.

use std::net::SocketAddr;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

/// `[authorize]`: the authorization endpoint (`GET /oauth2/authorize`),
/// the consent page and the grants page (`/oauth2/grants`), on a listener
/// of their own that people's browsers reach. Server-authenticated TLS
/// only: a browser presents no client certificate.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeSection {
    /// Address of the listener, e.g. `"0.0.0.0:8444"`.
    pub listen: SocketAddr,
    /// The `https://` URL browsers reach the listener at (no path, no
    /// trailing `/`): the authorization endpoint is
    /// `{public_url}/oauth2/authorize`, and the redirect URI registered at
    /// the login IdP is `{public_url}/oauth2/login/callback`. The session
    /// cookie is `Secure`, so plain `http` is refused.
    pub public_url: String,
    /// PEM certificate chain the listener presents (browsers verify it
    /// against `public_url`'s host). Default: `gateway.server_cert`.
    pub server_cert: Option<PathBuf>,
    /// Key of `server_cert`. Default: `gateway.server_key`.
    pub server_key: Option<PathBuf>,
    /// The file holding the grants people made (remembered consents and
    /// their refresh tokens, stored as hashes), rewritten atomically on
    /// each change. One gateway per file. Default `"grants.json"` next to
    /// the config file. Not available with `[state] backend = "postgres"`
    /// (grants are not shared between replicas yet).
    pub grants_file: Option<PathBuf>,
    /// File holding the key (at least 32 bytes; trailing newline ignored)
    /// that signs the session cookies: every replica behind one
    /// `public_url` needs the same key, or a person logged in at one is a
    /// stranger to the next. Used for nothing else. Default: a random key
    /// made at start (kept across reloads): a restart logs everyone out.
    pub session_key_file: Option<PathBuf>,
    /// How long a login lasts (the session cookie's lifetime). Default
    /// `"30m"`, at most `"12h"`.
    #[serde(default = "default_session_lifetime")]
    pub session_lifetime: String,
    /// How long a person has to answer the consent page, and to come back
    /// from the IdP's login. Default `"10m"`, at most `"1h"`.
    #[serde(default = "default_consent_timeout")]
    pub consent_timeout: String,
    /// The organisation's IdP people log in at. Required.
    pub login: LoginSection,
}

/// `[authorize.login]`: the OpenID Connect provider people log in at. The
/// gateway is its relying party (authorization code + PKCE, `state` and
/// `nonce` checked, the ID token verified with the keys of the provider's
/// discovery document); it never sees a password.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginSection {
    /// Exact issuer of the provider; its metadata is read from
    /// `{issuer}/.well-known/openid-configuration`, whose `issuer` must
    /// equal this. `https://` (plain `http` only to a loopback address).
    pub issuer: String,
    /// The client ID the gateway is registered under at the provider (with
    /// the redirect URI `{public_url}/oauth2/login/callback`).
    pub client_id: String,
    /// File holding the client secret (trailing newline ignored), sent as
    /// `client_secret_basic`, or `client_secret_post` when the provider
    /// supports only that. Never written in the config itself.
    pub client_secret_file: PathBuf,
    /// PEM CA bundle for the provider's TLS certificate. Default: the
    /// system's roots.
    pub ca: Option<PathBuf>,
    /// The ID token claim naming the person. Default `"sub"`; e.g. `"oid"`
    /// for Entra's stable object ID. Must be a non-empty string in the token,
    /// and one the person cannot change at the IdP (grants are keyed on it):
    /// not a display name or username. `"email"` is accepted only with
    /// `email_verified: true` in the token.
    #[serde(default = "default_claim")]
    pub claim: String,
    /// Scopes asked of the provider. Default `["openid"]`; must include
    /// `"openid"`.
    #[serde(default = "default_login_scopes")]
    pub scopes: Vec<String>,
}

/// `[[oauth_client]]`: an application that may send a person to the
/// authorization endpoint to let one of the client's agents act for them.
/// Public clients only: no secret, PKCE (`S256`) required.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientSection {
    /// The `client_id` the client sends. Unique; letters, digits, `.`, `_`,
    /// `-`, `:`.
    pub client_id: String,
    /// The name shown to people on the consent page. Default: `client_id`.
    pub name: Option<String>,
    /// The redirect URIs a request may name, compared exactly (RFC 9700
    /// §4.1.3): `https://`, or `http://` to a loopback address (native
    /// apps, RFC 8252 §7.3); no fragment. At least one.
    pub redirect_uris: Vec<String>,
    /// The agents this client may name as `requested_actor`: SPIFFE IDs or
    /// patterns within one trust domain (`*` one segment, trailing `**`
    /// one or more), as rules' `caller`. At least one.
    pub actors: Vec<String>,
    /// The most this client may ask for: a request's `scope` must be a
    /// subset of these. At least one.
    pub scopes: Vec<String>,
}

fn default_session_lifetime() -> String {
    "30m".into()
}
fn default_consent_timeout() -> String {
    "10m".into()
}
fn default_claim() -> String {
    "sub".into()
}
fn default_login_scopes() -> Vec<String> {
    vec!["openid".into()]
}
