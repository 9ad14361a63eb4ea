//! MCP servers reachable through the gateway (`[[mcp_server]]`): each one's
//! upstream endpoint, resource identifier, per-tool scopes and upstream
//! client. A server with any problem is left out (its problems are
//! recorded), so a mistake can only refuse calls, never allow them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use http::Uri;

use super::build::{route_name, tls_client, upstream_uri, Shared};
use crate::config::{McpServerSection, Problems};
use crate::identity::SpiffeId;
use crate::upstream::UpstreamClient;

/// One registered MCP server, fully resolved at load time.
pub struct McpServer {
    pub name: String,
    /// The Streamable HTTP endpoint, exactly as configured (no trailing `/`).
    pub upstream: Uri,
    pub spiffe_id: Option<SpiffeId>,
    /// `aud` of tokens minted for this server; `resource` of its metadata.
    pub resource: String,
    /// The audiences a user token may name on this route: `resource`
    /// first, then `[[mcp_server]] local_resources`.
    pub audiences: Vec<String>,
    /// `[[mcp_server]] allowed_origins`, lower-cased.
    pub allowed_origins: Vec<String>,
    /// Scopes per tool name (`[[mcp_server.tool]]`), each sorted and
    /// deduplicated; a tool not listed needs none.
    pub tools: HashMap<String, Vec<String>>,
    pub client: UpstreamClient,
    /// Decision counters and latency histograms (`agent="mcp:NAME"` in
    /// `actgate_decisions_total` and the duration histograms), shared
    /// across reloads.
    pub metrics: Arc<crate::metrics::TargetMetrics>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("name", &self.name)
            .field("upstream", &self.upstream)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl McpServer {
    /// May a request with this `Origin` header value use the route? Only a
    /// listed origin, compared case-insensitively (RFC 6454 serialisation).
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// The scopes `tool` needs (none for a tool the config does not list).
    pub fn tool_scopes(&self, tool: &str) -> &[String] {
        self.tools.get(tool).map_or(&[], Vec::as_slice)
    }
}

/// The metric label of an MCP server's decisions: apart from an agent of
/// the same name.
pub fn metric_label(name: &str) -> String {
    format!("mcp:{name}")
}

/// Load every `[[mcp_server]]`.
pub(super) fn servers(
    p: &mut Problems,
    sections: &[McpServerSection],
    shared: &Shared<'_>,
) -> Vec<McpServer> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    for (i, s) in sections.iter().enumerate() {
        let kind = ("mcp_server", "MCP server");
        let Some(field) = route_name(p, kind, i, &s.name, &mut names) else {
            continue;
        };
        if let Some(server) = server(p, shared, &field, s) {
            out.push(server);
        }
    }
    out
}

fn server(
    p: &mut Problems,
    shared: &Shared<'_>,
    field: &str,
    s: &McpServerSection,
) -> Option<McpServer> {
    let ctx = shared.ctx;
    let upstream = upstream_uri(p, field, &s.upstream);
    let spiffe_id = match &s.spiffe_id {
        Some(id) => p.take(format!("{field}.spiffe_id"), SpiffeId::parse(id)),
        None => None,
    };
    let resource = s
        .resource
        .clone()
        .unwrap_or_else(|| format!("{}/mcp/{}", ctx.public_url, s.name));
    if !(resource.starts_with("https://") || resource.starts_with("http://")) {
        p.add(
            format!("{field}.resource"),
            format!("\"{resource}\" is not an absolute http(s) URL (RFC 8707 resource)"),
        );
    }
    let mut audiences = vec![resource.clone()];
    for (j, r) in s.local_resources.iter().enumerate() {
        if !(r.starts_with("https://") || r.starts_with("http://")) || r.contains(['?', '#']) {
            p.add(
                format!("{field}.local_resources[{j}]"),
                format!("\"{r}\" is not an absolute http(s) URL without query or fragment"),
            );
        } else if !audiences.contains(r) {
            audiences.push(r.clone());
        }
    }
    let allowed_origins = origins(p, field, &s.allowed_origins);
    let tools = tools(p, field, s);
    let upstream = upstream?;
    let client = if upstream.scheme_str() == Some("https") {
        tls_client(p, field, spiffe_id.clone(), shared)?
    } else {
        UpstreamClient::plain(ctx.connect_timeout)
    };
    Some(McpServer {
        name: s.name.clone(),
        upstream,
        spiffe_id,
        resource,
        audiences,
        allowed_origins,
        tools: tools?,
        client,
        metrics: ctx.metrics.target(&metric_label(&s.name)),
    })
}

/// `allowed_origins`: each an origin as browsers send it
/// (`scheme://host[:port]`, no path, no trailing `/`).
fn origins(p: &mut Problems, field: &str, list: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (j, o) in list.iter().enumerate() {
        let rest = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"));
        let ok = rest.is_some_and(|r| {
            !r.is_empty()
                && r.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        });
        if ok {
            out.push(o.to_ascii_lowercase());
        } else {
            p.add(
                format!("{field}.allowed_origins[{j}]"),
                format!("\"{o}\" is not an origin like \"https://app.example.com\" (scheme, host and optional port; no path)"),
            );
        }
    }
    out
}

/// `[[mcp_server.tool]]`: unique names, valid scope tokens.
fn tools(
    p: &mut Problems,
    field: &str,
    s: &McpServerSection,
) -> Option<HashMap<String, Vec<String>>> {
    let mut out = HashMap::new();
    let mut ok = true;
    for (j, t) in s.tool.iter().enumerate() {
        let at = format!("{field}.tool[{j}]");
        if t.name.is_empty() || t.name.chars().any(char::is_control) {
            p.add(
                format!("{at}.name"),
                "must be a non-empty tool name without control characters",
            );
            ok = false;
            continue;
        }
        for sc in &t.scopes {
            if !crate::scope_token::is_scope_token(sc) {
                p.add(
                    format!("{at}.scopes"),
                    format!("\"{sc}\" is not a valid OAuth scope token"),
                );
                ok = false;
            }
        }
        let mut scopes = t.scopes.clone();
        scopes.sort_unstable();
        scopes.dedup();
        if out.insert(t.name.clone(), scopes).is_some() {
            p.add(
                format!("{at}.name"),
                format!("tool \"{}\" is listed twice", t.name),
            );
            ok = false;
        }
    }
    ok.then_some(out)
}
