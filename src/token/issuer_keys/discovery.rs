//! Where an issuer's keys are: its configured `jwks_uri`, or the one its
//! metadata document names (OpenID Connect Discovery 1.0 §4, falling back to
//! RFC 8414). The document's `issuer` must equal the configured issuer
//! exactly (OIDC Discovery §4.3, RFC 8414 §3.3): otherwise a document served
//! at the issuer's URL could hand the gateway another issuer's keys.

use super::fetch::{check_url, FetchError, Fetcher, UrlError};

/// Where the metadata of `issuer` is looked for, in order: the OpenID
/// document (suffix appended, OIDC Discovery §4), the RFC 8414 document
/// (suffix inserted between host and path, §3.1), and the RFC 8414 suffix
/// appended (what Okta's custom authorization servers serve). For an issuer
/// without a path the last two are the same URL, tried once.
pub fn metadata_urls(issuer: &str) -> Vec<String> {
    let base = issuer.trim_end_matches('/');
    let mut urls = vec![format!("{base}/.well-known/openid-configuration")];
    if let Ok(uri) = base.parse::<http::Uri>() {
        if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
            let path = uri.path().trim_end_matches('/');
            urls.push(format!(
                "{scheme}://{authority}/.well-known/oauth-authorization-server{path}"
            ));
        }
    }
    let appended = format!("{base}/.well-known/oauth-authorization-server");
    if !urls.contains(&appended) {
        urls.push(appended);
    }
    urls
}

/// Where the keys of an issuer are found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Locator {
    /// `jwks_uri` configured.
    JwksUri(String),
    /// `discovery = true`.
    Discovery,
}

/// Why an issuer's key set URL could not be found.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("{url}: not a JSON object with a string \"issuer\" and \"jwks_uri\"")]
    NotMetadata { url: String },
    #[error("{url}: issuer mismatch: document says {found:?}, config says {configured:?}")]
    IssuerMismatch {
        url: String,
        found: String,
        configured: String,
    },
    #[error("{url}: jwks_uri {source}")]
    JwksUri { url: String, source: UrlError },
}

/// The URL of `issuer`'s key set.
pub async fn jwks_url(
    fetcher: &Fetcher,
    issuer: &str,
    locator: &Locator,
) -> Result<String, DiscoveryError> {
    match locator {
        Locator::JwksUri(u) => Ok(u.clone()),
        Locator::Discovery => discover(fetcher, issuer).await,
    }
}

/// `jwks_uri` of `issuer`'s metadata: the first of [`metadata_urls`] that
/// is found (a 404 tries the next; any other failure stops).
async fn discover(fetcher: &Fetcher, issuer: &str) -> Result<String, DiscoveryError> {
    let mut last = None;
    for url in metadata_urls(issuer) {
        match fetcher.get(&url).await {
            Ok(doc) => return jwks_uri_of(&url, &doc.body, issuer),
            Err(e) if e.not_found() => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(match last {
        Some(e) => e.into(),
        None => DiscoveryError::NotMetadata { url: issuer.into() },
    })
}

/// The `jwks_uri` of the metadata document at `url`, once its `issuer` is
/// the configured one.
pub fn jwks_uri_of(url: &str, body: &[u8], configured: &str) -> Result<String, DiscoveryError> {
    let doc: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| DiscoveryError::NotMetadata { url: url.into() })?;
    let field = |name: &str| doc.get(name).and_then(serde_json::Value::as_str);
    let (Some(found), Some(jwks)) = (field("issuer"), field("jwks_uri")) else {
        return Err(DiscoveryError::NotMetadata { url: url.into() });
    };
    if found != configured {
        return Err(DiscoveryError::IssuerMismatch {
            url: url.into(),
            found: found.chars().take(200).collect(),
            configured: configured.into(),
        });
    }
    check_url(jwks).map_err(|source| DiscoveryError::JwksUri {
        url: url.into(),
        source,
    })?;
    Ok(jwks.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_looked_for_where_oidc_and_rfc_8414_put_it() {
        assert_eq!(
            metadata_urls("https://idp.example"),
            [
                "https://idp.example/.well-known/openid-configuration",
                "https://idp.example/.well-known/oauth-authorization-server",
            ]
        );
        assert_eq!(
            metadata_urls("https://idp.example/t1/"),
            [
                "https://idp.example/t1/.well-known/openid-configuration",
                "https://idp.example/.well-known/oauth-authorization-server/t1",
                "https://idp.example/t1/.well-known/oauth-authorization-server",
            ]
        );
    }

    #[test]
    fn the_document_must_name_the_configured_issuer_exactly() {
        let doc = br#"{"issuer": "https://idp.example/", "jwks_uri": "https://idp.example/keys"}"#;
        let err = jwks_uri_of(
            "https://idp.example/.well-known/x",
            doc,
            "https://idp.example",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(
                "issuer mismatch: document says \"https://idp.example/\", config says \"https://idp.example\""
            ),
            "{err}"
        );
        assert_eq!(
            jwks_uri_of("u", doc, "https://idp.example/").unwrap(),
            "https://idp.example/keys"
        );
    }

    #[test]
    fn a_document_without_keys_or_with_a_plain_http_jwks_uri_is_refused() {
        assert!(matches!(
            jwks_uri_of("u", br#"{"issuer": "https://i"}"#, "https://i"),
            Err(DiscoveryError::NotMetadata { .. })
        ));
        assert!(matches!(
            jwks_uri_of("u", b"[1]", "https://i"),
            Err(DiscoveryError::NotMetadata { .. })
        ));
        assert!(matches!(
            jwks_uri_of(
                "u",
                br#"{"issuer": "https://i", "jwks_uri": "http://i.example/keys"}"#,
                "https://i"
            ),
            Err(DiscoveryError::JwksUri { .. })
        ));
    }
}
