//! `[[mcp_server]]`: MCP servers reachable through the gateway (issue 16).

use schemars::JsonSchema;
use serde::Deserialize;

/// `[[mcp_server]]`: one MCP server behind the gateway, reached by callers
/// at `{public_url}/mcp/NAME` (Streamable HTTP: `POST` JSON-RPC, `GET` the
/// SSE stream, `DELETE` to end a session), over mTLS like every route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
    /// Other URLs callers reach this route by, whose user tokens the route
    /// accepts too: an egress sidecar's local URL
    /// (`http://127.0.0.1:PORT/mcp/NAME`), which the sidecar's metadata
    /// names as the `resource` so MCP clients ask their IdP for tokens with
    /// that audience (RFC 8707). Listed here, by the gateway's operator,
    /// because what a route accepts must never be up to the caller. The
    /// minted token's `aud` stays `resource`. Default: none.
    #[serde(default)]
    pub local_resources: Vec<String>,
    /// Browser origins (`scheme://host[:port]`) whose requests this route
    /// accepts. A request carrying an `Origin` header comes from a web page
    /// and is refused (403) unless its origin is listed: the MCP transport
    /// spec's defence against DNS rebinding. Requests without `Origin`
    /// (MCP SDK clients, agents) are unaffected. Default: none.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// What each tool needs (`[[mcp_server.tool]]`); tools not listed need
    /// no scopes.
    #[serde(default)]
    pub tool: Vec<McpToolSection>,
}

/// `[[mcp_server.tool]]`: the scopes one tool needs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
