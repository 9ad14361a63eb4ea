//! Identity, forwarding and method-override headers a caller sends never
//! reach the upstream: those of the common proxies and identity-aware
//! proxies (which upstreams behind such a proxy trust), plus the
//! site-specific ones of `strip_headers`, through the gateway and through
//! the egress sidecar. The upstream records every header it received.

mod common;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use common::egress::{plain, plain_client, send_message_body, TestEgress};
use common::gateway::{Options, TestGateway};
use common::upstream::{self, Behaviour};

/// What a caller might send to pass as someone else, by who sets it for
/// real (researched list; README "Identity headers").
const SPOOFED: &[&str] = &[
    // Generic / RFC 7239 / RFC 9440
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-real-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "true-client-ip",
    "client-cert",
    "client-cert-chain",
    "x-original-url",
    "x-original-uri",
    "x-original-host",
    "x-rewrite-url",
    // Envoy / Istio
    "x-forwarded-client-cert",
    "x-envoy-internal",
    "x-envoy-external-address",
    "x-envoy-original-path",
    "x-envoy-peer-metadata",
    "x-envoy-peer-metadata-id",
    "x-istio-attributes",
    // Linkerd
    "l5d-client-id",
    "l5d-dst-override",
    // nginx / HAProxy / Apache
    "ssl-client-cert",
    "ssl-client-verify",
    "ssl-client-subject-dn",
    "x-ssl-client-cert",
    "x-ssl-client-s-dn",
    "x-ssl-client-verify",
    "x-client-cert",
    "x-client-verify",
    "x-client-dn",
    "remote-user",
    // Traefik
    "x-forwarded-tls-client-cert",
    "x-forwarded-tls-client-cert-info",
    "x-forwarded-uri",
    "x-forwarded-method",
    // AWS ALB / CloudFront
    "x-amzn-oidc-accesstoken",
    "x-amzn-oidc-identity",
    "x-amzn-oidc-data",
    "x-amzn-mtls-clientcert",
    "x-amzn-mtls-clientcert-subject",
    "cloudfront-viewer-address",
    "cloudfront-viewer-cert-subject",
    // Azure App Service / Front Door
    "x-arr-clientcert",
    "x-ms-client-principal",
    "x-ms-client-principal-id",
    "x-ms-client-principal-name",
    "x-ms-token-aad-access-token",
    "x-azure-clientip",
    "x-azure-fdid",
    // GCP IAP / Cloud Run / load balancer mTLS / App Engine
    "x-goog-authenticated-user-email",
    "x-goog-authenticated-user-id",
    "x-goog-iap-jwt-assertion",
    "x-serverless-authorization",
    "x-client-cert-present",
    "x-client-cert-spiffe",
    "x-appengine-user-email",
    // Cloudflare
    "cf-access-jwt-assertion",
    "cf-access-authenticated-user-email",
    "cf-connecting-ip",
    // oauth2-proxy
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-auth-request-access-token",
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-access-token",
    "x-forwarded-preferred-username",
    "gap-auth",
    // Kubernetes authenticating proxy, Pomerium, authentik, Kong
    "x-remote-user",
    "x-remote-group",
    "x-pomerium-jwt-assertion",
    "x-authentik-username",
    "x-consumer-username",
    // SPIFFE-aware proxies, actgate's own namespace
    "x-spiffe-id",
    "x-actgate-caller",
    // Method override
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// More of the same, sent in a request of their own (a request carries at
/// most 100 headers).
const SPOOFED_MORE: &[&str] = &[
    // Underscore spellings: CGI/WSGI servers read them as the dashed names.
    "x_http_method_override",
    "x_forwarded_client_cert",
    "remote_user",
    "x_spiffe_id",
    // Auth proxies and SSO setups (Grafana, Tailscale, Vouch, APISIX, WSO2,
    // Kubernetes impersonation, CDNs)
    "x-webauth-user",
    "tailscale-user-login",
    "x-vouch-user",
    "x-userinfo",
    "x-access-token",
    "x-id-token",
    "x-jwt-assertion",
    "x-auth-user",
    "x-authenticated-user",
    "impersonate-user",
    "fastly-client-ip",
    "fly-client-ip",
    "client-ip",
    "x-forwarded",
];

/// Every spoofed header (mixed case on the wire, to prove case does not
/// matter), plus `extra`, plus headers that must pass.
fn spoofing_headers(extra: &[&str]) -> HeaderMap {
    spoofing(SPOOFED, extra)
}

fn spoofing(list: &[&str], extra: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for name in list.iter().chain(extra) {
        h.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_static("spiffe://example.org/agent/admin"),
        );
    }
    h.insert("x-http-method-override", HeaderValue::from_static("DELETE"));
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("a2a-extensions", HeaderValue::from_static("urn:x"));
    h.insert("x-custom-app", HeaderValue::from_static("kept"));
    h
}

fn assert_none_reached(seen: &HeaderMap, extra: &[&str]) {
    assert_none_of_reached(SPOOFED, seen, extra)
}

fn assert_none_of_reached(list: &[&str], seen: &HeaderMap, extra: &[&str]) {
    let leaked: Vec<&str> = list
        .iter()
        .chain(extra)
        .copied()
        .filter(|n| seen.contains_key(*n))
        .collect();
    assert!(leaked.is_empty(), "reached the upstream: {leaked:?}");
    // Not a blanket strip: the ordinary headers are still there.
    assert_eq!(seen["a2a-extensions"], "urn:x");
    assert_eq!(seen["x-custom-app"], "kept");
    // The gateway's own token, not the caller's claim.
    assert!(seen["authorization"]
        .to_str()
        .unwrap()
        .starts_with("Bearer ey"));
}

async fn gateway(up: &upstream::TestUpstream, extra: &str) -> TestGateway {
    TestGateway::start(
        Options::new()
            .agent("target", &up.url())
            .allow("orchestrator", "target", &["calendar:read"], true)
            .gateway(extra),
    )
    .await
}

#[tokio::test]
async fn identity_headers_never_reach_the_upstream() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway(&up, "").await;
    let (s, _, b) = gw
        .send_message_with("orchestrator", "target", spoofing_headers(&[]))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    // The upstream executed the POST it was sent, not an overridden DELETE.
    assert_eq!(seen[0].method, Method::POST);
    assert_none_reached(&seen[0].headers, &[]);
}

/// Underscore spellings (which CGI/WSGI upstreams read as the dashed
/// names) and the headers of more auth proxies, SSO setups and CDNs.
#[tokio::test]
async fn underscore_spellings_and_more_auth_proxy_headers_never_reach_the_upstream() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway(&up, "").await;
    let (s, _, b) = gw
        .send_message_with("orchestrator", "target", spoofing(SPOOFED_MORE, &[]))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::POST);
    assert_none_of_reached(SPOOFED_MORE, &seen[0].headers, &[]);
}

/// `[gateway] strip_headers`: the site's own identity headers.
#[tokio::test]
async fn strip_headers_removes_site_specific_ones() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway(&up, "strip_headers = [\"X-Site-User\"]").await;
    let (s, _, b) = gw
        .send_message_with("orchestrator", "target", spoofing_headers(&["x-site-user"]))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_none_reached(&up.requests()[0].headers, &["x-site-user"]);
}

#[tokio::test]
async fn the_sidecar_strips_them_too() {
    let up = upstream::start(Behaviour::Echo).await;
    let gw = gateway(&up, "").await;
    // The gateway does not know this one; the sidecar's own list removes it.
    let eg = TestEgress::start(&gw, "orchestrator", "strip_headers = [\"x-pod-user\"]").await;
    let (s, _, b) = plain(
        &plain_client(),
        Method::POST,
        &format!("{}/agents/target/a2a/jsonrpc", eg.base),
        &spoofing_headers(&["x-pod-user"]),
        &send_message_body(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::POST);
    assert_none_reached(&seen[0].headers, &["x-pod-user"]);
}

#[test]
fn strip_headers_must_be_header_names() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let text = common::gateway::config_text(
        dir.path(),
        &Options::new().gateway("strip_headers = [\"x-ok\", \"bad header\"]"),
    );
    let cfg = actgate::config::ConfigFile::parse(&dir.path().join("actgate.toml"), &text).unwrap();
    let err = match actgate::snapshot::Snapshot::build(&cfg, Default::default()) {
        Ok(_) => panic!("a bad header name was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("gateway.strip_headers"), "{err}");
    assert!(
        err.contains("\"bad header\" is not an HTTP header name"),
        "{err}"
    );
}
