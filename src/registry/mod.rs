//! Agents and MCP servers reachable through the gateway: name → card,
//! upstream, identity; and route lookup for `/agents/NAME/...` paths.
//! MCP servers (`/mcp/NAME`) are kept apart from agents ([`mcp`]).
//!
//! - [`card_slot`]: each agent's card at run time (file, upstream fetch, the
//!   last good card).
//! - [`refresh`]: fetching the cards that come due, on the current snapshot.

pub mod card_slot;
pub mod mcp;
pub(crate) mod refresh;

pub(crate) mod build;

use std::collections::HashMap;
use std::sync::Arc;

use http::Uri;

use crate::identity::SpiffeId;
use card_slot::CardSlot;
pub use mcp::McpServer;

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
    pub card: CardSlot,
    /// This agent's decision counters (`actgate_decisions_total`) and
    /// latency histograms, shared across reloads so counts survive them.
    pub metrics: Arc<crate::metrics::TargetMetrics>,
}

/// Name and identity lookups over the registered agents.
#[derive(Debug, Default)]
pub struct Registry {
    by_name: HashMap<String, Arc<Agent>>,
    by_spiffe_id: HashMap<SpiffeId, Arc<Agent>>,
    /// MCP servers by route name (`/mcp/NAME`), apart from agents.
    mcp: HashMap<String, Arc<McpServer>>,
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

    /// The registry with `servers` as its MCP servers.
    pub fn with_mcp_servers(mut self, servers: Vec<McpServer>) -> Self {
        self.mcp = servers
            .into_iter()
            .map(|s| (s.name.clone(), Arc::new(s)))
            .collect();
        self
    }

    /// The MCP server routed at `/mcp/NAME`.
    pub fn mcp_server(&self, name: &str) -> Option<&Arc<McpServer>> {
        self.mcp.get(name)
    }

    pub fn mcp_servers(&self) -> impl Iterator<Item = &Arc<McpServer>> {
        self.mcp.values()
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

/// Split `/agents/NAME/REST` into its parts. `rest` is returned as sent:
/// it is decoded, normalised or refused by [`crate::a2a::canonical_path`]
/// (after the card paths, whose every spelling the gateway answers itself).
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
    Ok(Route { agent, rest })
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
            parse_route("/agents/s/a%2Fb"),
            Ok(Route {
                agent: "s",
                rest: "/a%2Fb"
            })
        );
        assert_eq!(parse_route("/agents/"), Err(RouteError::NotAgentRoute));
        assert_eq!(parse_route("/agents//x"), Err(RouteError::NotAgentRoute));
        assert_eq!(parse_route("/other"), Err(RouteError::NotAgentRoute));
    }
}
