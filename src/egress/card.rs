//! Cards for the local agent: the gateway's card, pointed at the egress
//! listener.
//!
//! The gateway serves each card with interfaces at its own route and the
//! schemes it requires (`gateway-mtls`, and the optional `gateway-token`
//! subject token). Through the sidecar:
//! - every interface URL `…/agents/NAME/REST` becomes `{local_url}/agents/NAME/REST`;
//!   an interface not under the agent's gateway route is dropped (it would
//!   bypass the sidecar and need a client certificate);
//! - the `gateway-mtls` scheme, and every requirement term naming it, is
//!   removed: the sidecar presents the certificate, so a plain-HTTP client
//!   needs none. What is left is "nothing" or "a bearer subject token"
//!   (`gateway-token`), which the agent sends as it would to the gateway;
//! - `signatures` are removed: they covered the gateway's form of the card,
//!   which the sidecar verified by the gateway's mTLS identity before
//!   rewriting, and the rewritten card is no longer what was signed.

use serde_json::Value;

use crate::cards::rewrite::{GATEWAY_MTLS_SCHEME, GATEWAY_TOKEN_SCHEME};

/// What the bearer scheme means through the sidecar.
const TOKEN_DESCRIPTION: &str = "Optional: a subject token (JWT) for calls made on behalf of a \
     user or another agent; the egress sidecar passes it on to the gateway";

/// `Some(v03)` when `rest` (the path below `/agents/NAME`) is a card path:
/// `agent-card.json` (v1.0) or `agent.json` (v0.3).
pub fn is_card_path(rest: &str) -> Option<bool> {
    match rest {
        "/.well-known/agent-card.json" => Some(false),
        "/.well-known/agent.json" => Some(true),
        _ => None,
    }
}

/// Rewrite a card served by the gateway for callers of the sidecar.
pub fn for_local(card: &mut Value, agent: &str, local_url: &str, v03: bool) {
    let Some(obj) = card.as_object_mut() else {
        return;
    };
    let local = |url: &str| local_interface_url(url, agent, local_url);
    if v03 {
        let main = obj.get("url").and_then(Value::as_str).and_then(local);
        match main {
            Some(u) => {
                obj.insert("url".into(), Value::String(u));
            }
            None => {
                obj.remove("url");
            }
        }
        rewrite_interfaces(obj.get_mut("additionalInterfaces"), &local);
        if let Some(reqs) = obj.get_mut("security") {
            drop_mtls_terms(reqs, |r| r.as_object_mut());
        }
    } else {
        rewrite_interfaces(obj.get_mut("supportedInterfaces"), &local);
        if let Some(reqs) = obj.get_mut("securityRequirements") {
            drop_mtls_terms(reqs, |r| {
                r.get_mut("schemes").and_then(Value::as_object_mut)
            });
        }
    }
    if let Some(schemes) = obj
        .get_mut("securitySchemes")
        .and_then(Value::as_object_mut)
    {
        schemes.remove(GATEWAY_MTLS_SCHEME);
        let token = schemes.get_mut(GATEWAY_TOKEN_SCHEME).and_then(|s| {
            if v03 {
                s.as_object_mut()
            } else {
                s.get_mut("httpAuthSecurityScheme")
                    .and_then(Value::as_object_mut)
            }
        });
        if let Some(t) = token {
            t.insert(
                "description".into(),
                Value::String(TOKEN_DESCRIPTION.into()),
            );
        }
    }
    obj.remove("signatures");
}

fn rewrite_interfaces(list: Option<&mut Value>, local: &impl Fn(&str) -> Option<String>) {
    let Some(list) = list.and_then(Value::as_array_mut) else {
        return;
    };
    list.retain_mut(|iface| {
        let Some(url) = iface.get("url").and_then(Value::as_str).and_then(local) else {
            return false;
        };
        iface["url"] = Value::String(url);
        true
    });
}

/// Remove the `gateway-mtls` term from each requirement alternative
/// (`terms` finds an alternative's scheme map), then drop duplicates.
fn drop_mtls_terms(
    reqs: &mut Value,
    terms: impl Fn(&mut Value) -> Option<&mut serde_json::Map<String, Value>>,
) {
    let Some(list) = reqs.as_array_mut() else {
        return;
    };
    for r in list.iter_mut() {
        if let Some(m) = terms(r) {
            m.remove(GATEWAY_MTLS_SCHEME);
        }
    }
    let mut seen: Vec<Value> = Vec::new();
    list.retain(|r| {
        if seen.contains(r) {
            false
        } else {
            seen.push(r.clone());
            true
        }
    });
}

/// `…/agents/AGENT{rest}` → `{local_url}/agents/AGENT{rest}`; `None` when the
/// URL is not under the agent's route.
fn local_interface_url(url: &str, agent: &str, local_url: &str) -> Option<String> {
    let marker = format!("/agents/{agent}");
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let path_start = after_scheme.find('/')?;
    let path = &after_scheme[path_start..];
    let rest = path.strip_prefix(&marker)?;
    if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
        return None;
    }
    Some(format!("{}{marker}{rest}", local_url.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v1_card_points_at_the_sidecar_without_mtls() {
        let mut card = json!({
            "name": "pyagent",
            "supportedInterfaces": [
                {"url": "https://gw.example:8443/agents/pyagent/a2a/jsonrpc", "protocolBinding": "JSONRPC"},
                {"url": "https://gw.example:8443/agents/pyagent/a2a/rest?x=1", "protocolBinding": "HTTP+JSON"},
                {"url": "https://elsewhere.example/a2a", "protocolBinding": "GRPC"},
                {"url": "https://gw.example:8443/agents/pyagentx/a2a", "protocolBinding": "GRPC"}],
            "securitySchemes": {
                "gateway-mtls": {"mtlsSecurityScheme": {"description": "x"}},
                "gateway-token": {"httpAuthSecurityScheme": {"scheme": "Bearer"}}},
            "securityRequirements": [
                {"schemes": {"gateway-mtls": {"list": []}}},
                {"schemes": {"gateway-mtls": {"list": []}, "gateway-token": {"list": []}}}],
            "signatures": [{"protected": "x", "signature": "y"}]
        });
        for_local(&mut card, "pyagent", "http://127.0.0.1:15001/", false);
        assert_eq!(
            card["supportedInterfaces"],
            json!([
                {"url": "http://127.0.0.1:15001/agents/pyagent/a2a/jsonrpc", "protocolBinding": "JSONRPC"},
                {"url": "http://127.0.0.1:15001/agents/pyagent/a2a/rest?x=1", "protocolBinding": "HTTP+JSON"}])
        );
        assert_eq!(
            card["securitySchemes"],
            json!({"gateway-token": {"httpAuthSecurityScheme": {"scheme": "Bearer",
                "description": TOKEN_DESCRIPTION}}})
        );
        assert_eq!(
            card["securityRequirements"],
            json!([{"schemes": {}}, {"schemes": {"gateway-token": {"list": []}}}])
        );
        assert!(card.get("signatures").is_none());
    }

    #[test]
    fn v03_card_is_rewritten_too() {
        let mut card = json!({
            "url": "https://gw:1/agents/a/a2a/jsonrpc",
            "additionalInterfaces": [{"url": "https://gw:1/agents/a/a2a/rest", "transport": "HTTP+JSON"}],
            "securitySchemes": {"gateway-mtls": {"type": "mutualTLS"}, "gateway-token": {"type": "http"}},
            "security": [{"gateway-mtls": []}, {"gateway-mtls": [], "gateway-token": []}]
        });
        for_local(&mut card, "a", "http://localhost", true);
        assert_eq!(card["url"], "http://localhost/agents/a/a2a/jsonrpc");
        assert_eq!(
            card["additionalInterfaces"][0]["url"],
            "http://localhost/agents/a/a2a/rest"
        );
        assert_eq!(card["security"], json!([{}, {"gateway-token": []}]));
        assert!(card["securitySchemes"].get("gateway-mtls").is_none());
    }

    #[test]
    fn card_paths() {
        assert_eq!(is_card_path("/.well-known/agent-card.json"), Some(false));
        assert_eq!(is_card_path("/.well-known/agent.json"), Some(true));
        assert_eq!(is_card_path("/a2a/jsonrpc"), None);
    }
}
