//! MCP servers through the sidecar: `http://127.0.0.1:PORT/mcp/NAME` is
//! forwarded to the gateway's `/mcp/NAME` like any other request (the
//! workload's certificate, the agent's own bearer token as the subject
//! token), and the OAuth discovery a client does is made to point at the
//! URL it dialled: MCP clients check that the protected resource
//! metadata's `resource` is the URL they connect to (RFC 9728 §3.3), and
//! fetch the metadata from the `resource_metadata` of a Bearer challenge.
//!
//! The rewriting only changes where the client looks; which audiences the
//! gateway accepts in a user token is the gateway's own configuration
//! (`[[mcp_server]] local_resources`), never something the sidecar or the
//! agent can claim.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::proxy::{error, ResponseBody};

/// RFC 9728 §3.1 location of an MCP route's metadata, as the gateway
/// serves it.
pub const METADATA_PREFIX: &str = "/.well-known/oauth-protected-resource/mcp/";

/// Largest metadata document the sidecar rewrites.
const MAX_METADATA_BYTES: usize = 64 * 1024;

/// The server name of `/mcp/NAME`: exactly the names the gateway's config
/// accepts ([`crate::config::valid_agent_name`]: no `.` or `..`, at most
/// 64 characters), so nothing else is forwarded.
pub fn server_name(name: &str) -> Option<&str> {
    crate::config::valid_agent_name(name).then_some(name)
}

/// Point every Bearer challenge's `resource_metadata` at the sidecar: the
/// client cannot reach the gateway's URL (that needs the workload's
/// certificate), and must fetch the metadata through the sidecar.
pub fn local_challenge(headers: &mut HeaderMap, local_url: &str) {
    let rewritten: Vec<HeaderValue> = headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| rewrite_challenge(s, local_url))
                .and_then(|s| HeaderValue::from_str(&s).ok())
                .unwrap_or_else(|| v.clone())
        })
        .collect();
    if rewritten.is_empty() {
        return;
    }
    headers.remove(header::WWW_AUTHENTICATE);
    for v in rewritten {
        headers.append(header::WWW_AUTHENTICATE, v);
    }
}

/// `… resource_metadata="https://gw/.well-known/…/mcp/NAME" …` with the
/// URL's origin replaced by `local_url`; `None` when there is none.
fn rewrite_challenge(challenge: &str, local_url: &str) -> Option<String> {
    const PARAM: &str = "resource_metadata=\"";
    let start = challenge.find(PARAM)? + PARAM.len();
    let len = challenge[start..].find('"')?;
    let url = &challenge[start..start + len];
    let at = url.find(METADATA_PREFIX)?;
    let name = server_name(&url[at + METADATA_PREFIX.len()..])?;
    Some(format!(
        "{}{}{METADATA_PREFIX}{name}{}",
        &challenge[..start],
        local_url.trim_end_matches('/'),
        &challenge[start + len..]
    ))
}

/// The gateway's metadata for `/mcp/NAME`, with `resource` the URL the
/// local client dials.
pub async fn metadata_response(
    mut parts: http::response::Parts,
    body: Incoming,
    name: &str,
    local_url: &str,
) -> Response<ResponseBody> {
    let bytes = match http_body_util::Limited::new(body, MAX_METADATA_BYTES)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(_) => return bad_gateway("the gateway's resource metadata could not be read"),
    };
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return bad_gateway("the gateway's resource metadata is not JSON");
    };
    let Some(obj) = doc.as_object_mut() else {
        return bad_gateway("the gateway's resource metadata is not a JSON object");
    };
    obj.insert(
        "resource".into(),
        serde_json::Value::String(local_resource(local_url, name)),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::ETAG);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(
        parts,
        http_body_util::Full::new(Bytes::from(doc.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    )
}

/// The resource identifier of `/mcp/NAME` through this sidecar.
pub fn local_resource(local_url: &str, name: &str) -> String {
    format!("{}/mcp/{name}", local_url.trim_end_matches('/'))
}

fn bad_gateway(why: &str) -> Response<ResponseBody> {
    error(StatusCode::BAD_GATEWAY, "bad_gateway", why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_route_grammar() {
        assert_eq!(server_name("files"), Some("files"));
        assert_eq!(server_name("a.b_c-1"), Some("a.b_c-1"));
        let long = "a".repeat(65);
        for bad in [
            "", ".", "..", "files/x", "../x", "fi les", "f%2e", "files?x", &long,
        ] {
            assert_eq!(server_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_challenge_points_at_the_sidecar() {
        let c = "Bearer error=\"invalid_token\", resource_metadata=\"https://gw.example:8443/.well-known/oauth-protected-resource/mcp/files\", scope=\"a\"";
        assert_eq!(
            rewrite_challenge(c, "http://127.0.0.1:9300/").unwrap(),
            "Bearer error=\"invalid_token\", resource_metadata=\"http://127.0.0.1:9300/.well-known/oauth-protected-resource/mcp/files\", scope=\"a\""
        );
        assert_eq!(rewrite_challenge("Bearer realm=\"x\"", "http://l"), None);
        // Not an MCP metadata URL: left alone.
        assert_eq!(
            rewrite_challenge("Bearer resource_metadata=\"https://gw/other\"", "http://l"),
            None
        );
    }

    #[test]
    fn every_challenge_header_is_rewritten_and_others_kept() {
        let mut h = HeaderMap::new();
        h.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer resource_metadata=\"https://gw/.well-known/oauth-protected-resource/mcp/f\"",
            ),
        );
        h.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"x\""),
        );
        local_challenge(&mut h, "http://127.0.0.1:1");
        let all: Vec<_> = h.get_all(header::WWW_AUTHENTICATE).iter().collect();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0],
            "Bearer resource_metadata=\"http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp/f\""
        );
        assert_eq!(all[1], "Basic realm=\"x\"");
    }
}
