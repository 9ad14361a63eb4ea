//! MCP support (issue 16).

pub mod list_filter;
