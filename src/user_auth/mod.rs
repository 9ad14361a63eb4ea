//! The user's side of delegation (issue 18): what a person's browser
//! touches. The `[authorize]` listener serves the authorization endpoint
//! (`GET /oauth2/authorize`, authorization code + PKCE for public
//! clients), the login at the organisation's IdP, the consent page that
//! names the agent that will act, and the grants page where the person
//! revokes what they allowed. One job per file:
//!
//! - [`authorize`]: the authorization request checked, its refusals;
//! - [`build`]: `[authorize]` and `[[oauth_client]]` checked into a plan;
//! - [`client`]: the registered clients and their bounds;
//! - [`login`]: the settings of `[authorize.login]`; [`oidc`]: the
//!   OpenID Connect relying party that logs people in there;
//! - [`session`]: the signed session cookie and CSRF tokens;
//! - [`pending`]: logins and consent pages in progress;
//! - [`listener`] accepts, [`routes`] answers each page, [`consent`]
//!   turns a person's answer into a code or a revocation (with its audit
//!   record), [`pages`] renders, [`respond`] sets every answer's headers;
//! - [`html`]: escaping and the pages' Content-Security-Policy.

pub mod authorize;
pub(crate) mod build;
pub mod client;
mod consent;
pub mod html;
pub(crate) mod listener;
pub mod login;
pub mod oidc;
pub mod pages;
pub mod pending;
mod respond;
pub(crate) mod routes;
pub mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use client::{OAuthClient, OAuthClients};
pub use login::LoginSettings;

/// `[authorize]` as one snapshot configures it.
pub struct UserAuth {
    pub listen: SocketAddr,
    /// `https://host[:port]`, no trailing `/`.
    pub public_url: String,
    /// Server-authenticated only: browsers present no certificate.
    pub tls: Arc<rustls::ServerConfig>,
    pub clients: OAuthClients,
    pub login: LoginSettings,
    /// The relying party of `login` (its discovery and keys, kept).
    pub provider: Arc<oidc::LoginProvider>,
    pub session_lifetime: Duration,
    pub consent_timeout: Duration,
    pub grants_file: PathBuf,
    /// `session_key_file`'s key; `None`: a random one made at start.
    pub session_key: Option<Vec<u8>>,
}

impl UserAuth {
    /// Where the IdP sends the person back after the login.
    pub fn login_callback(&self) -> String {
        format!("{}/oauth2/login/callback", self.public_url)
    }
    /// The authorization endpoint's URL.
    pub fn authorization_endpoint(&self) -> String {
        format!("{}/oauth2/authorize", self.public_url)
    }
}
