//! `[[mcp_server]]`: MCP servers reachable through the gateway (issue 16).

use serde::Deserialize;

/// `[[mcp_server]]`: one MCP server behind the gateway, reached by callers
/// at `{public_url}/mcp/NAME` (Streamable HTTP: `POST` JSON-RPC, `GET` the
/// SSE stream, `DELETE` to end a session), over mTLS like every route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerSection {
    /// Route name: the server is reached at `{public_url}/mcp/NAME`.
    /// Letters, digits, `.`, `_`, `-`; unique among MCP servers (an agent
    /// may have the same name: its route is `/agents/NAME`).
    pub name: String,
    /// The server's Streamable HTTP endpoint, e.g.
    /// `"http://127.0.0.1:9100/mcp"` (`http://` or `https://`, no query).
    /// For `https` the gateway presents `gateway.upstream_client_cert` and
    /// requires the server to present an X509-SVID for `spiffe_id`, as for
    /// agents.
    pub upstream: String,
    /// The server's workload identity (required for an `https` upstream).
    pub spiffe_id: Option<String>,
    /// The RFC 8707 / RFC 9728 resource identifier of the route: the `aud`
    /// of the tokens minted for this server, and the `resource` of its
    /// protected resource metadata. MCP clients check that it is the URL
    /// they dial. Default: `{public_url}/mcp/NAME`.
    pub resource: Option<String>,
    /// What each tool needs (`[[mcp_server.tool]]`); tools not listed need
    /// no scopes.
    #[serde(default)]
    pub tool: Vec<McpToolSection>,
}

/// `[[mcp_server.tool]]`: the scopes one tool needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpToolSection {
    /// The tool's name, as `tools/call` names it (`params.name`).
    pub name: String,
    /// Scopes a call of this tool needs: exactly what the token minted for
    /// the call carries (`scope`), what the deciding rule must grant, and,
    /// on a delegated call, what the user token must hold (otherwise 403
    /// `insufficient_scope` naming them, the step-up challenge).
    #[serde(default)]
    pub scopes: Vec<String>,
}
