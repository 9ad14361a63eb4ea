//! The card the gateway serves to its callers.
//!
//! Callers reach the agent through the gateway, authenticated the gateway's
//! way, so the served card points every interface at the gateway route and
//! declares the gateway's schemes instead of the upstream's (which the
//! gateway itself satisfies and enforces, see [`super::requirements`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::model::{
    AgentCard, HttpAuthSecurityScheme, MtlsSecurityScheme, SecurityRequirement, SecurityScheme,
};

/// Scheme name of the caller's mTLS (X.509-SVID) authentication.
pub const GATEWAY_MTLS_SCHEME: &str = "gateway-mtls";
/// Scheme name of the optional subject token for delegated calls.
pub const GATEWAY_TOKEN_SCHEME: &str = "gateway-token";

/// The card as served by the gateway:
/// - every `supportedInterfaces[].url` → `gateway_route_base` + the URL's
///   path below `upstream_base` (query kept); an interface on another host
///   keeps its path with the upstream base path stripped when it is a prefix;
/// - `securitySchemes` → `gateway-mtls` (its description names the accepted
///   trust domains, since a card cannot express certificate policy) and
///   `gateway-token` (HTTP Bearer);
/// - `securityRequirements` → `[{gateway-mtls}, {gateway-mtls AND gateway-token}]`:
///   mTLS alone, or mTLS plus a subject token when calling on someone's behalf;
/// - skill-level `securityRequirements` are dropped (they name upstream
///   schemes, which the gateway satisfies itself); skills are otherwise unchanged;
/// - upstream `signatures` are dropped: the rewritten card is no longer what
///   the upstream signed (re-sign with [`super::sign::sign_card`]).
pub fn for_callers(
    card: &AgentCard,
    gateway_route_base: &str,
    upstream_base: &str,
    trust_domains: &[String],
) -> AgentCard {
    let mut out = card.clone();
    for iface in &mut out.supported_interfaces {
        iface.url = gateway_url(&iface.url, gateway_route_base, upstream_base);
    }
    let domains = if trust_domains.is_empty() {
        "none configured".to_string()
    } else {
        trust_domains.join(", ")
    };
    let mut schemes = BTreeMap::new();
    schemes.insert(
        GATEWAY_MTLS_SCHEME.to_string(),
        SecurityScheme::Mtls(MtlsSecurityScheme {
            description: format!(
                "TLS client certificate: an X.509-SVID (SAN URI spiffe://<trust domain>/...) \
                 from an accepted trust domain: {domains}"
            ),
            extra: Map::new(),
        }),
    );
    schemes.insert(
        GATEWAY_TOKEN_SCHEME.to_string(),
        SecurityScheme::HttpAuth(HttpAuthSecurityScheme {
            description: format!(
                "Optional, together with {GATEWAY_MTLS_SCHEME}: a subject token (JWT) for calls \
                 made on behalf of a user or another agent"
            ),
            scheme: "Bearer".into(),
            bearer_format: "JWT".into(),
            extra: Map::new(),
        }),
    );
    out.security_schemes = schemes;
    out.security_requirements = vec![
        SecurityRequirement::of([(GATEWAY_MTLS_SCHEME, &[][..])]),
        SecurityRequirement::of([
            (GATEWAY_MTLS_SCHEME, &[][..]),
            (GATEWAY_TOKEN_SCHEME, &[][..]),
        ]),
    ];
    for skill in &mut out.skills {
        skill.security_requirements.clear();
    }
    out.signatures.clear();
    out
}

/// Map an upstream interface URL onto the gateway route.
/// The path (and query) below the agent's gateway route where callers reach
/// the interface at `url`: what [`for_callers`] appends to the route base.
pub(crate) fn route_path(url: &str, upstream_base: &str) -> String {
    gateway_url(url, "", upstream_base)
}

fn gateway_url(url: &str, route_base: &str, upstream_base: &str) -> String {
    let route = route_base.trim_end_matches('/');
    let upstream = upstream_base.trim_end_matches('/');
    let rest = match url.strip_prefix(upstream) {
        Some(rest) if rest.is_empty() || rest.starts_with(['/', '?']) => rest.to_string(),
        // Another host or a path outside the upstream base: keep the path
        // (and query), minus the upstream base path where it is a prefix.
        _ => {
            let path_of = |u: &str| {
                u.parse::<http::Uri>()
                    .ok()
                    .and_then(|u| u.path_and_query().map(|p| p.as_str().to_string()))
            };
            let full = path_of(url).unwrap_or_default();
            let base = path_of(upstream).unwrap_or_default();
            let base = base.trim_end_matches('/');
            match full.strip_prefix(base) {
                Some(r) if !base.is_empty() && (r.is_empty() || r.starts_with(['/', '?'])) => {
                    r.to_string()
                }
                _ => full,
            }
        }
    };
    let rest = if rest == "/" { "" } else { rest.as_str() };
    format!("{route}{rest}")
}

/// The card in v0.3 form, for `/.well-known/agent.json` and v0.3 clients
/// (the reverse of reference §1.3). The first interface becomes `url` +
/// `preferredTransport` and every interface is listed in
/// `additionalInterfaces`, as v0.3 cards conventionally do. `tenant` has no
/// v0.3 equivalent and is dropped, as are `signatures` (v1.0 signatures do not
/// cover this rendering).
pub fn to_v03(card: &AgentCard) -> Value {
    let mut v = card.to_value();
    let Value::Object(obj) = &mut v else {
        return v;
    };
    obj.remove("signatures");
    obj.remove("supportedInterfaces");
    if let Some(first) = card.supported_interfaces.first() {
        obj.insert("url".into(), first.url.clone().into());
        obj.insert(
            "preferredTransport".into(),
            first.protocol_binding.clone().into(),
        );
    }
    obj.insert("protocolVersion".into(), "0.3.0".into());
    let additional: Vec<Value> = card
        .supported_interfaces
        .iter()
        .map(|i| {
            let mut m = i.extra.clone();
            m.insert("url".into(), i.url.clone().into());
            m.insert("transport".into(), i.protocol_binding.clone().into());
            Value::Object(m)
        })
        .collect();
    obj.insert("additionalInterfaces".into(), Value::Array(additional));
    if let Some(Value::Object(caps)) = obj.get_mut("capabilities") {
        if let Some(flag) = caps.remove("extendedAgentCard") {
            obj.insert("supportsAuthenticatedExtendedCard".into(), flag);
        }
    }
    if let Some(Value::Object(schemes)) = obj.get_mut("securitySchemes") {
        for scheme in schemes.values_mut() {
            scheme_to_v03(scheme);
        }
    }
    if let Some(reqs) = obj.remove("securityRequirements") {
        obj.insert("security".into(), requirements_to_v03(reqs));
    }
    if let Some(Value::Array(skills)) = obj.get_mut("skills") {
        for skill in skills {
            if let Value::Object(s) = skill {
                if let Some(reqs) = s.remove("securityRequirements") {
                    s.insert("security".into(), requirements_to_v03(reqs));
                }
            }
        }
    }
    v
}

fn scheme_to_v03(scheme: &mut Value) {
    let Value::Object(m) = scheme else { return };
    let Some((key, inner)) = m.iter().next().map(|(k, v)| (k.clone(), v.clone())) else {
        return;
    };
    let ty = match key.as_str() {
        "apiKeySecurityScheme" => "apiKey",
        "httpAuthSecurityScheme" => "http",
        "oauth2SecurityScheme" => "oauth2",
        "openIdConnectSecurityScheme" => "openIdConnect",
        "mtlsSecurityScheme" => "mutualTLS",
        _ => return,
    };
    let Value::Object(mut inner) = inner else {
        return;
    };
    if let Some(loc) = inner.remove("location") {
        inner.insert("in".into(), loc);
    }
    inner.insert("type".into(), ty.into());
    *m = inner;
}

/// `[{"schemes": {name: {"list": [..]}}}]` → `[{name: [..]}]`.
fn requirements_to_v03(reqs: Value) -> Value {
    let Value::Array(reqs) = reqs else {
        return reqs;
    };
    let out = reqs
        .into_iter()
        .map(|r| {
            let schemes = r
                .get("schemes")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let terms: Map<String, Value> = schemes
                .into_iter()
                .map(|(name, list)| {
                    let scopes = list
                        .get("list")
                        .cloned()
                        .unwrap_or_else(|| Value::Array(vec![]));
                    (name, scopes)
                })
                .collect();
            Value::Object(terms)
        })
        .collect();
    Value::Array(out)
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
