//! `/api/mcp_servers`: the registered MCP servers, the scopes their tools
//! need, and the allow rules that let callers reach them (what the console
//! shows next to the agents).

use serde_json::{json, Value};

use crate::policy::{Effect, McpLists, SubjectPattern};
use crate::snapshot::Snapshot;

/// A rule's `tools`/`resources`/`prompts` list as JSON: `null` when the
/// rule does not restrict that kind (every name is covered).
fn patterns(l: &Option<Vec<SubjectPattern>>) -> Value {
    l.as_ref().map_or(Value::Null, |l| {
        l.iter().map(|p| Value::from(p.as_str())).collect()
    })
}

fn lists(l: &McpLists) -> Value {
    json!({
        "tools": patterns(&l.tools),
        "resources": patterns(&l.resources),
        "prompts": patterns(&l.prompts),
    })
}

pub(super) fn mcp_servers_json(gw: &Snapshot) -> Value {
    let mut servers: Vec<_> = gw.registry.mcp_servers().collect();
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    let list: Vec<Value> = servers
        .iter()
        .map(|s| {
            let mut tools: Vec<_> = s.tools.iter().collect();
            tools.sort();
            let tools: Vec<Value> = tools
                .into_iter()
                .map(|(name, scopes)| json!({ "name": name, "scopes": scopes }))
                .collect();
            let callers: Vec<Value> = gw
                .policy
                .rules()
                .iter()
                .enumerate()
                // Allow rules only, as for agents: deny rules narrow them per
                // call (`policy check --mcp-server` explains one call).
                .filter(|(_, r)| r.effect == Effect::Allow && r.names_mcp_server(&s.name))
                .map(|(i, r)| super::caller_json(i, r, ("lists", lists(&r.mcp))))
                .collect();
            json!({
                "name": s.name,
                "upstream": s.upstream.to_string(),
                "spiffe_id": s.spiffe_id.as_ref().map(|id| id.to_string()),
                "resource": s.resource,
                "tools": tools,
                "callers": callers,
            })
        })
        .collect();
    json!({ "mcp_servers": list })
}
