//! Agents reachable through the gateway: name → card, upstream, identity; and
//! route lookup for `/agents/NAME/...` paths.

use std::collections::HashMap;
use std::sync::Arc;

use http::Uri;

use crate::identity::SpiffeId;

/// One registered agent, fully resolved at load time.
#[derive(Debug)]
pub struct Agent {
    pub name: String,
    /// Upstream base URL, without a trailing `/`.
    pub upstream: Uri,
    /// Upstream scheme is `https` (the gateway presents its workload certificate).
    pub upstream_tls: bool,
    /// The agent's own workload identity, if it also calls through the gateway.
    pub spiffe_id: Option<SpiffeId>,
    /// `aud` of tokens minted for this agent (RFC 8707 resource).
    pub resource: String,
    /// The agent's card in service (as published, for scope decisions; the
    /// signed card served to callers; the upstream credentials it implies),
    /// swapped in place when a fetched card changes.
    pub card: crate::card_source::CardSlot,
    /// This agent's decision counters (`actgate_decisions_total`), shared
    /// across reloads so counts survive them.
    pub decisions: Arc<crate::metrics::DecisionCounters>,
}

/// Name and identity lookups over the registered agents.
#[derive(Debug, Default)]
pub struct Registry {
    by_name: HashMap<String, Arc<Agent>>,
    by_spiffe_id: HashMap<SpiffeId, Arc<Agent>>,
}

/// A request path split into the agent name and the path to forward.
#[derive(Debug, PartialEq, Eq)]
pub struct Route<'a> {
    pub agent: &'a str,
    /// The rest of the path, starting with `/` (just `/` when empty).
    pub rest: &'a str,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("not an agent route; agents are reached at /agents/NAME/...")]
    NotAgentRoute,
    #[error("path contains an empty, '.' or '..' segment or an encoded separator")]
    UnsafePath,
}

impl Registry {
    pub fn new(agents: Vec<Agent>) -> Self {
        let mut reg = Registry::default();
        for a in agents {
            let a = Arc::new(a);
            if let Some(id) = &a.spiffe_id {
                reg.by_spiffe_id.insert(id.clone(), a.clone());
            }
            reg.by_name.insert(a.name.clone(), a);
        }
        reg
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Agent>> {
        self.by_name.get(name)
    }

    /// The agent whose workload identity is `id`, if registered.
    pub fn by_identity(&self, id: &SpiffeId) -> Option<&Arc<Agent>> {
        self.by_spiffe_id.get(id)
    }

    pub fn agents(&self) -> impl Iterator<Item = &Arc<Agent>> {
        self.by_name.values()
    }
}

/// Split `/agents/NAME/REST` into its parts.
///
/// Dot segments and encoded slashes or dots are refused: the gateway decides
/// per agent, and a path that could be normalised into another route (by us or
/// by an upstream framework) must not get through.
pub fn parse_route(path: &str) -> Result<Route<'_>, RouteError> {
    let after = path
        .strip_prefix("/agents/")
        .ok_or(RouteError::NotAgentRoute)?;
    let (agent, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    if agent.is_empty() {
        return Err(RouteError::NotAgentRoute);
    }
    if has_encoded_separator(rest) || rest.contains('\\') {
        return Err(RouteError::UnsafePath);
    }
    if rest.split('/').skip(1).any(|seg| seg == "." || seg == "..")
        || (rest.len() > 1 && rest.contains("//"))
    {
        return Err(RouteError::UnsafePath);
    }
    Ok(Route { agent, rest })
}

/// `%2F`, `%2E` or `%5C` in any case (an encoded `/`, `.` or `\\`), checked
/// without a lower-cased copy of the path.
fn has_encoded_separator(path: &str) -> bool {
    path.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'f') | (b'2', b'e') | (b'5', b'c')
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            parse_route("/agents/scheduler/a2a/jsonrpc"),
            Ok(Route {
                agent: "scheduler",
                rest: "/a2a/jsonrpc"
            })
        );
        assert_eq!(
            parse_route("/agents/scheduler"),
            Ok(Route {
                agent: "scheduler",
                rest: "/"
            })
        );
        assert_eq!(
            parse_route("/agents/s/message:send"),
            Ok(Route {
                agent: "s",
                rest: "/message:send"
            })
        );
        assert_eq!(parse_route("/agents/"), Err(RouteError::NotAgentRoute));
        assert_eq!(parse_route("/other"), Err(RouteError::NotAgentRoute));
        for bad in [
            "/agents/s/../t/x",
            "/agents/s/a/./b",
            "/agents/s/%2e%2e/x",
            "/agents/s/a%2Fb",
            "/agents/s/a%2fb",
            "/agents/s/%2E%2e/x",
            "/agents/s/a%5Cb",
            "/agents/s/a%5cb",
            "/agents/s//x",
            "/agents/s/a\\b",
        ] {
            assert_eq!(parse_route(bad), Err(RouteError::UnsafePath), "{bad}");
        }
    }
}
