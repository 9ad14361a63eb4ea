//! Discovery documents: RFC 8414 authorization server metadata and RFC 9728
//! protected resource metadata for each fronted agent.

use serde_json::{json, Value};

use super::grant::{
    GRANT_TYPE_AUTHORIZATION_CODE, GRANT_TYPE_JWT_BEARER, GRANT_TYPE_REFRESH_TOKEN,
    GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_ENDPOINT_PATH,
};

/// Path of the authorization endpoint on the `[authorize]` listener.
pub const AUTHORIZATION_ENDPOINT_PATH: &str = "/oauth2/authorize";

/// The token endpoint URL callers use (on the mTLS listener).
pub fn token_endpoint(public_url: &str) -> String {
    format!("{public_url}{TOKEN_ENDPOINT_PATH}")
}

fn jwks_uri(public_url: &str) -> String {
    format!("{public_url}/.well-known/jwks.json")
}

/// `/.well-known/oauth-authorization-server` (RFC 8414, with the RFC 8705
/// members). The grants are the token exchange and, when some issuer is
/// trusted for assertions (`jwt_bearer`), the RFC 7523 JWT bearer grant;
/// clients authenticate only with their certificate. With an authorization
/// endpoint (`authorize_url`: `[authorize] public_url`) the authorization
/// code grant (PKCE S256 only, RFC 7636 §4.2: `plain` is refused) and the
/// refresh grant join them; without one there is no authorization
/// endpoint, hence the (required) empty `response_types_supported`.
pub fn authorization_server(
    issuer: &str,
    public_url: &str,
    scopes: &[String],
    jwt_bearer: bool,
    authorize_url: Option<&str>,
) -> Value {
    let mut grants = vec![GRANT_TYPE_TOKEN_EXCHANGE];
    if jwt_bearer {
        grants.push(GRANT_TYPE_JWT_BEARER);
    }
    let mut doc = json!({
        "issuer": issuer,
        "token_endpoint": token_endpoint(public_url),
        "jwks_uri": jwks_uri(public_url),
        "response_types_supported": [],
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": ["tls_client_auth"],
        "tls_client_certificate_bound_access_tokens": true,
        "scopes_supported": scopes,
    });
    if let Some(url) = authorize_url {
        grants.push(GRANT_TYPE_AUTHORIZATION_CODE);
        grants.push(GRANT_TYPE_REFRESH_TOKEN);
        doc["grant_types_supported"] = json!(grants);
        doc["authorization_endpoint"] = json!(format!("{url}{AUTHORIZATION_ENDPOINT_PATH}"));
        doc["response_types_supported"] = json!(["code"]);
        doc["code_challenge_methods_supported"] = json!(["S256"]);
    }
    doc
}

/// RFC 9728 metadata of one agent as a protected resource: tokens for it
/// come from this gateway, in the `Authorization` header; tokens from the
/// token endpoint are bound to the caller's certificate, so the agent must
/// check `cnf` against the client certificate of the connection.
pub fn protected_resource(
    resource: &str,
    issuer: &str,
    public_url: &str,
    scopes: &[String],
) -> Value {
    json!({
        "resource": resource,
        "authorization_servers": [issuer],
        "jwks_uri": jwks_uri(public_url),
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "tls_client_certificate_bound_access_tokens": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_code_members_only_with_an_authorization_endpoint() {
        let without = authorization_server("https://gw", "https://gw", &[], false, None);
        assert_eq!(without["response_types_supported"], json!([]));
        assert!(without.get("authorization_endpoint").is_none());
        assert!(without.get("code_challenge_methods_supported").is_none());
        assert_eq!(
            without["grant_types_supported"],
            json!([GRANT_TYPE_TOKEN_EXCHANGE])
        );
        let with = authorization_server(
            "https://gw",
            "https://gw",
            &[],
            true,
            Some("https://login.example"),
        );
        assert_eq!(
            with["authorization_endpoint"],
            "https://login.example/oauth2/authorize"
        );
        assert_eq!(with["response_types_supported"], json!(["code"]));
        assert_eq!(with["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            with["grant_types_supported"],
            json!([
                GRANT_TYPE_TOKEN_EXCHANGE,
                GRANT_TYPE_JWT_BEARER,
                "authorization_code",
                "refresh_token"
            ])
        );
    }
}
