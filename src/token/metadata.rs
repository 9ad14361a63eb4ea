//! Discovery documents: RFC 8414 authorization server metadata and RFC 9728
//! protected resource metadata for each fronted agent.

use serde_json::{json, Value};

use super::grant::{GRANT_TYPE_JWT_BEARER, GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_ENDPOINT_PATH};

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
/// clients authenticate only with their certificate; there is no
/// authorization endpoint, hence the (required) empty
/// `response_types_supported`.
pub fn authorization_server(
    issuer: &str,
    public_url: &str,
    scopes: &[String],
    jwt_bearer: bool,
) -> Value {
    let mut grants = vec![GRANT_TYPE_TOKEN_EXCHANGE];
    if jwt_bearer {
        grants.push(GRANT_TYPE_JWT_BEARER);
    }
    json!({
        "issuer": issuer,
        "token_endpoint": token_endpoint(public_url),
        "jwks_uri": jwks_uri(public_url),
        "response_types_supported": [],
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": ["tls_client_auth"],
        "tls_client_certificate_bound_access_tokens": true,
        "scopes_supported": scopes,
    })
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
