//! Request-side header handling: the bearer subject token, hop-by-hop
//! headers, and the identity-header rule (every inbound header that could
//! carry identity is removed). Pure functions over `HeaderMap`s: the
//! snapshot builder and the egress sidecar use them too.

use std::sync::LazyLock;

use http::header::{self, HeaderMap, HeaderName};

/// The header a caller retries an approval-gated call with
/// (`Actgate-Approval`). Read by the approval stage, never forwarded upstream.
pub static APPROVAL_HEADER: HeaderName = HeaderName::from_static("actgate-approval");

/// Only the approval header(s), copied before the request's headers are
/// sanitised (usually none: an empty `HeaderMap` does not allocate).
pub fn presented_approval(headers: &HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in headers.get_all(&APPROVAL_HEADER) {
        h.append(APPROVAL_HEADER.clone(), v.clone());
    }
    h
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
/// Parsed `HeaderName`s, so removing them neither parses nor lower-cases a
/// name per request.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Headers through which a caller could claim an identity, an origin, or
/// what the request "really" is (the URL or method before a proxy rewrote
/// it): what common proxies, load balancers and identity-aware proxies set
/// for the service behind them, which trusts them because that proxy
/// removes them from its own clients' requests. actgate is that proxy for
/// its upstreams, so it removes them too. Grouped by who sets them; the
/// README has the table. Exact names; families with a reserved prefix are
/// in [`STRIPPED_PREFIXES`].
const STRIPPED_NAMES: &[&str] = &[
    // RFC 7239, the de-facto client address headers, RFC 9440 client
    // certificates (Cloudflare, Envoy, HAProxy, nginx can all set them).
    "authorization",
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "x-client-port",
    "x-cluster-client-ip",
    "true-client-ip",
    "client-cert",
    "client-cert-chain",
    // The URL, host or method a proxy rewrote (ARR, ingress-nginx,
    // nginx auth_request, IIS).
    "x-original-url",
    "x-original-uri",
    "x-original-host",
    "x-original-method",
    "x-original-forwarded-for",
    "x-rewrite-url",
    "front-end-https",
    "x-url-scheme",
    // Method override: frameworks honour these over the request line, so
    // the upstream would execute another method than the one decided on.
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    // nginx, HAProxy, Apache mod_ssl (usual names; `x-ssl-*` by prefix).
    "x-ssl",
    "x-client-cert",
    "x-client-verify",
    "x-client-dn",
    "x-client-s-dn",
    "x-client-i-dn",
    "remote-user",
    "remote-groups",
    "remote-email",
    "remote-name",
    // SPIFFE-aware proxies and sidecars.
    "x-spiffe-id",
    // Istio (Envoy's own are `x-envoy-*`).
    "x-istio-attributes",
    // Azure App Service / Application Gateway / Front Door.
    "x-arr-clientcert",
    "x-arr-ssl",
    "x-waws-unencoded-url",
    "x-azure-clientip",
    "x-azure-socketip",
    "x-azure-fdid",
    // GCP IAP and Cloud Run.
    "x-goog-iap-jwt-assertion",
    "x-serverless-authorization",
    // Cloudflare.
    "cf-connecting-ip",
    "cf-connecting-ipv6",
    "cf-ipcountry",
    "cf-visitor",
    // oauth2-proxy's signature headers.
    "gap-auth",
    "gap-signature",
    // Kong, after its authentication plugins.
    "x-consumer-id",
    "x-consumer-custom-id",
    "x-consumer-username",
    "x-consumer-groups",
    "x-credential-identifier",
    "x-anonymous-consumer",
    "x-authenticated-userid",
    "x-authenticated-scope",
    // Generic user headers of auth proxies and SSO setups (Apache, Vouch,
    // OpenResty/APISIX OIDC, WSO2, Tailscale serve, Fastly, Fly.io).
    "x-auth-user",
    "x-authenticated-user",
    "x-user",
    "x-userinfo",
    "x-access-token",
    "x-id-token",
    "x-jwt-assertion",
    "fastly-client-ip",
    "fly-client-ip",
    "client-ip",
    // The legacy single `X-Forwarded` (RFC 7239's predecessor form).
    "x-forwarded",
];

/// Header families reserved by the proxy that sets them; every member is
/// removed. Each is narrow enough that nothing an agent legitimately sends
/// shares it.
const STRIPPED_PREFIXES: &[&str] = &[
    // X-Forwarded-For/-Host/-Proto/-Port/-Prefix/-Uri/-Method/-Server,
    // Envoy's -Client-Cert, Traefik's -Tls-Client-Cert(-Info),
    // oauth2-proxy's -User/-Email/-Groups/-Access-Token/-Preferred-Username.
    "x-forwarded-",
    // Envoy: -Internal, -External-Address, -Original-Path, -Peer-Metadata
    // (Istio), -Downstream-Service-Cluster, ...
    "x-envoy-",
    // Linkerd: l5d-client-id, l5d-server-id, l5d-dst-override, ...
    "l5d-",
    // nginx/HAProxy conventions: X-SSL-Client-Cert/-DN/-S-DN/-Verify, ...
    "x-ssl-",
    // ingress-nginx client certificate auth: ssl-client-cert/-verify/-subject-dn.
    "ssl-client-",
    // GCP load balancer mTLS headers (X-Client-Cert-Present/-Chain-Verified/
    // -Spiffe/-Hash, ...).
    "x-client-cert-",
    // Kubernetes authenticating proxy and Traefik forwardAuth setups:
    // X-Remote-User/-Group/-Extra-*.
    "x-remote-",
    // AWS ALB authentication: -Accesstoken, -Identity, -Data.
    "x-amzn-oidc-",
    // AWS ALB mTLS: X-Amzn-Mtls-Clientcert(-Serial-Number/-Issuer/-Subject/-Leaf).
    "x-amzn-mtls-",
    // CloudFront: -Viewer-Address, -Viewer-Cert-*, -Viewer-Country, ...
    "cloudfront-viewer-",
    // Azure App Service authentication (Easy Auth): principal and tokens.
    "x-ms-client-principal",
    "x-ms-token-",
    // GCP IAP: X-Goog-Authenticated-User-Email/-Id.
    "x-goog-authenticated-",
    // App Engine: -User-Email, -Inbound-Appid, -Cron, -Taskname, ...
    "x-appengine-",
    // Cloudflare Access: -Jwt-Assertion, -Authenticated-User-Email, -Client-Id/-Secret.
    "cf-access-",
    // oauth2-proxy: X-Auth-Request-User/-Email/-Groups/-Access-Token, ...
    "x-auth-request-",
    // Pomerium: -Jwt-Assertion, -Claim-*.
    "x-pomerium-",
    // authentik proxy outpost: -Username, -Email, -Groups, -Jwt, ...
    "x-authentik-",
    // Grafana's auth proxy: X-WEBAUTH-USER/-NAME/-EMAIL/-ROLE/-GROUPS.
    "x-webauth-",
    // Vouch Proxy: X-Vouch-User, X-Vouch-Idp-Claims-*.
    "x-vouch-",
    // Tailscale serve: Tailscale-User-Login/-Name/-Profile-Pic.
    "tailscale-user-",
    // Kubernetes impersonation: Impersonate-User/-Group/-Uid/-Extra-*.
    "impersonate-",
    // actgate's own namespace: never taken from a caller.
    "x-actgate-",
];

/// [`STRIPPED_NAMES`] sorted once, so a lookup is a binary search (the list
/// above stays grouped by source, for its readers).
static SORTED_NAMES: LazyLock<Box<[&'static str]>> = LazyLock::new(|| {
    let mut v = STRIPPED_NAMES.to_vec();
    v.sort_unstable();
    v.into_boxed_slice()
});

/// Whether a (lower-case, as `HeaderName`s are) name is stripped by the
/// built-in rule.
///
/// A name with an underscore is always stripped (nginx's default,
/// `underscores_in_headers off`): CGI and WSGI servers turn `X_Remote_User`
/// and `X-Remote-User` into the same `HTTP_X_REMOTE_USER`, so an underscore
/// spelling would pass every dashed name above and still reach the upstream
/// as the identity header it spells.
pub fn is_identity_header(name: &str) -> bool {
    name.contains('_')
        || SORTED_NAMES.binary_search(&name).is_ok()
        || STRIPPED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// `strip_headers` entries that are not header names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not an HTTP header name")]
pub struct BadHeaderName(pub String);

/// Parse configured `strip_headers` into `HeaderName`s once, at load.
pub fn parse_header_names(names: &[String]) -> Result<Vec<HeaderName>, BadHeaderName> {
    names
        .iter()
        .map(|n| HeaderName::from_bytes(n.trim().as_bytes()).map_err(|_| BadHeaderName(n.clone())))
        .collect()
}

/// The single `Authorization: Bearer` value, if any. Several Authorization
/// headers, or another scheme, are refused rather than guessed at.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let s = v
        .to_str()
        .map_err(|_| "Authorization header is not ASCII")?;
    let (scheme, token) = s
        .split_once(' ')
        .ok_or("Authorization header is not 'Bearer TOKEN'")?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err("only Bearer subject tokens are accepted");
    }
    let token = token.trim();
    if token.is_empty() {
        return Err("empty bearer token");
    }
    Ok(Some(token))
}

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in &HOP_BY_HOP {
        headers.remove(h);
    }
}

/// Remove hop-by-hop and every identity-bearing header (all copies, any case:
/// `HeaderMap` names are case-insensitive), the site-specific `extra` ones
/// (`strip_headers`), the approval header and the `Host` (the client sets the
/// upstream's). `A2A-Version`, `A2A-Extensions` and the rest pass through.
///
/// One pass over the request's own headers (a dozen, typically) rather than
/// a lookup per listed name; nothing is allocated unless something matches.
pub fn sanitize_request_headers(headers: &mut HeaderMap, extra: &[HeaderName]) {
    strip_hop_by_hop(headers);
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| is_identity_header(k.as_str()) || extra.contains(k))
        .cloned()
        .collect();
    for k in doomed {
        headers.remove(k);
    }
    headers.remove(header::HOST);
    headers.remove(&APPROVAL_HEADER);
}

#[cfg(test)]
mod tests {
    // The parent module by its full path: `super` would read as `proxy`
    // to the cycle check, which is file-based.
    use crate::proxy::headers::*;
    use http::HeaderValue;

    #[test]
    fn the_built_in_list_is_lower_case_header_names() {
        for n in STRIPPED_NAMES.iter().chain(STRIPPED_PREFIXES) {
            assert_eq!(n.to_ascii_lowercase(), *n);
            assert!(!n.contains('_'), "{n}: underscores are stripped anyway");
            assert!(HeaderName::from_bytes(n.as_bytes()).is_ok(), "{n}");
        }
        for n in STRIPPED_NAMES {
            assert!(is_identity_header(n), "{n}");
        }
    }

    #[test]
    fn what_agents_send_passes() {
        for n in [
            "content-type",
            "content-length",
            "accept",
            "accept-encoding",
            "user-agent",
            "a2a-version",
            "a2a-extensions",
            "traceparent",
            "tracestate",
            "x-request-id",
            "mcp-session-id",
            "x-ms-client-request-id",
            "cf-ray",
            "x-amzn-trace-id",
        ] {
            assert!(!is_identity_header(n), "{n}");
        }
    }

    #[test]
    fn extra_names_and_prefixes_are_stripped() {
        let extra = parse_header_names(&["X-Site-User".into()]).unwrap();
        let mut h = HeaderMap::new();
        for n in [
            "x-site-user",
            "X-Forwarded-Tls-Client-Cert-Info",
            "x-envoy-peer-metadata",
            "X-HTTP-Method-Override",
            "x-ms-client-principal-name",
            "cf-access-jwt-assertion",
            "content-type",
        ] {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        sanitize_request_headers(&mut h, &extra);
        let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-type"]);
        assert_eq!(
            parse_header_names(&["bad name".into()]),
            Err(BadHeaderName("bad name".into()))
        );
        assert!(parse_header_names(&["".into()]).is_err());
    }
}
