//! Development tools, not production paths: the example A2A agent the demo,
//! tests and benches use as a real upstream, the example MCP server of the
//! demo's MCP step, and the mTLS client an agent
//! uses to call through the gateway.

pub mod client;
pub mod example_agent;
pub mod example_idp;
pub mod example_mcp;
