//! The registered public clients (`[[oauth_client]]`): who may send a
//! person to the authorization endpoint, back to where, naming which
//! agents, asking for at most which scopes.

use crate::identity::{SpiffeId, SpiffePattern};

/// One `[[oauth_client]]`, checked.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    /// Shown on the consent page.
    pub name: String,
    /// Compared exactly (no prefix, no normalisation): RFC 9700 §4.1.3.
    pub redirect_uris: Vec<String>,
    /// The agents it may name as `requested_actor`.
    pub actors: Vec<SpiffePattern>,
    /// The upper bound of what it may ask for.
    pub scopes: Vec<String>,
}

impl OAuthClient {
    /// Whether `uri` is one of the registered redirect URIs, exactly.
    pub fn redirects_to(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    /// Whether this client may name `actor` as the agent that will act.
    pub fn may_name(&self, actor: &SpiffeId) -> bool {
        self.actors.iter().any(|p| p.matches(actor))
    }

    /// Whether every one of `scopes` is within this client's bound.
    pub fn allows_scopes<'a>(&self, mut scopes: impl Iterator<Item = &'a str>) -> bool {
        scopes.all(|s| self.scopes.iter().any(|c| c == s))
    }
}

/// The registered clients, looked up by `client_id`.
#[derive(Debug, Clone, Default)]
pub struct OAuthClients(pub Vec<OAuthClient>);

impl OAuthClients {
    pub fn get(&self, client_id: &str) -> Option<&OAuthClient> {
        self.0.iter().find(|c| c.client_id == client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> OAuthClient {
        OAuthClient {
            client_id: "app".into(),
            name: "App".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            actors: vec![SpiffePattern::parse("spiffe://example.org/agent/*").unwrap()],
            scopes: vec!["calendar:read".into(), "calendar:write".into()],
        }
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let c = client();
        assert!(c.redirects_to("https://app.example/cb"));
        for near in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://APP.example/cb",
            "https://app.example/c",
            "https://app.example/cb#f",
        ] {
            assert!(!c.redirects_to(near), "{near}");
        }
    }

    #[test]
    fn actors_and_scopes_are_bounded() {
        let c = client();
        assert!(c.may_name(&SpiffeId::parse("spiffe://example.org/agent/scheduler").unwrap()));
        assert!(!c.may_name(&SpiffeId::parse("spiffe://example.org/admin/x").unwrap()));
        assert!(!c.may_name(&SpiffeId::parse("spiffe://other.org/agent/x").unwrap()));
        assert!(c.allows_scopes(["calendar:read"].into_iter()));
        assert!(!c.allows_scopes(["calendar:read", "mail:send"].into_iter()));
    }
}
