//! MCP (Model Context Protocol) requests, classified exactly or refused:
//! what one Streamable HTTP `POST` asks of an MCP server, as policy decides
//! it ([`crate::policy::McpWhat`]). Pure: no I/O, no tokens.
//!
//! The rules (after the fail-closed A2A classifier, issue 16):
//! - the body is one JSON object: no batch array (only 2025-03-26 had them;
//!   refused rather than decided element by element), no duplicate member
//!   names (two readers could see two different requests);
//! - `jsonrpc` is `"2.0"`; a request `id` is a string or an integer;
//! - the method decides the class:
//!   - session operations, allowed to any caller some rule lets reach the
//!     server: `initialize`, `ping`, `server/discover`, `logging/setLevel`
//!     (the caller's own session), `tools/list`, `resources/list`,
//!     `resources/templates/list`, `prompts/list` (their answers are
//!     filtered), `subscriptions/listen` without resource subscriptions,
//!     and notifications (`notifications/*`, no `id`);
//!   - decided per name: `tools/call` (`params.name`), `resources/read`,
//!     `resources/subscribe`, `resources/unsubscribe` (`params.uri`),
//!     `prompts/get` (`params.name`), `completion/complete` (the prompt or
//!     resource its `params.ref` names: completions can leak names and
//!     values of what they refer to);
//!   - a JSON-RPC *response* (the client answering a server's request:
//!     `result` or `error`, an `id`, no `method`): allowed only on the
//!     caller's own session (the route checks);
//!   - anything else (the tasks methods, `subscriptions/listen` with
//!     resource subscriptions, unknown methods) is refused (-32601).
//! - `Mcp-Method` and `Mcp-Name` must agree with the body whenever sent, and
//!   are required in 2026-07-28 (`-32020` otherwise); `MCP-Protocol-Version`
//!   must be a known revision (`-32022`) and equal the body's `_meta` one.

mod classify;
pub mod list_filter;
pub mod session;
#[cfg(test)]
mod tests;

pub use classify::classify;

use serde_json::Value;

/// The MCP revisions the gateway knows.
pub const KNOWN_VERSIONS: &[&str] = &[
    "2024-11-05",
    "2025-03-26",
    "2025-06-18",
    "2025-11-25",
    "2026-07-28",
];

/// The stateless revision: no sessions, `Mcp-Method`/`Mcp-Name` required.
pub const MODERN: &str = "2026-07-28";

/// What a message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// Session operations and notifications.
    Session,
    Tool(String),
    Resource(String),
    Prompt(String),
    /// A JSON-RPC response from the client (to a server's request).
    Response,
}

/// One classified message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The request's `id` (`Null` for notifications).
    pub id: Value,
    /// The method (`None` for a response).
    pub method: Option<String>,
    pub class: Class,
    /// The protocol revision (header, else the body's `_meta`), if known.
    pub version: Option<String>,
    /// SHA-256 (hex) of the canonical `params.arguments` of `tools/call` and
    /// `prompts/get`: what the audit records instead of the arguments.
    pub arguments_sha256: Option<String>,
    /// SHA-256 (hex) of the canonical `params` without `_meta`: what an
    /// approval binds.
    pub params_sha256: String,
    /// The canonical `params` (members sorted), for an approver's preview.
    pub params: Vec<u8>,
}

impl Message {
    /// What policy decides.
    pub fn what(&self) -> crate::policy::McpWhat<'_> {
        use crate::policy::McpWhat;
        match &self.class {
            Class::Session | Class::Response => McpWhat::Session,
            Class::Tool(n) => McpWhat::Tool(n),
            Class::Resource(u) => McpWhat::Resource(u),
            Class::Prompt(n) => McpWhat::Prompt(n),
        }
    }

    /// The tool, resource or prompt named, if any.
    pub fn name(&self) -> Option<&str> {
        match &self.class {
            Class::Tool(n) | Class::Resource(n) | Class::Prompt(n) => Some(n),
            Class::Session | Class::Response => None,
        }
    }

    pub fn is_initialize(&self) -> bool {
        self.method.as_deref() == Some("initialize")
    }
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("the body is not JSON")]
    Parse,
    #[error("JSON-RPC batches are not accepted; send one message per request")]
    Batch,
    #[error("duplicate member name at {0}")]
    DuplicateMember(String),
    #[error("not a JSON-RPC 2.0 message: {0}")]
    Invalid(&'static str),
    #[error("method \"{0}\" is not available through the gateway")]
    Method(String),
    #[error("invalid params: {0}")]
    Params(&'static str),
    #[error("header {0} does not match the body, or is missing")]
    HeaderMismatch(&'static str),
    #[error("unsupported MCP-Protocol-Version \"{0}\"")]
    Version(String),
}

/// A refused message: why, and the request `id` when it could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub problem: Problem,
    pub id: Value,
    /// The method, when one was named (for the record).
    pub method: Option<String>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.problem.fmt(f)
    }
}

impl Refused {
    /// The JSON-RPC error code (the spec's, per revision table).
    pub fn code(&self) -> i64 {
        match self.problem {
            Problem::Parse => -32700,
            Problem::Batch | Problem::DuplicateMember(_) | Problem::Invalid(_) => -32600,
            Problem::Method(_) => -32601,
            Problem::Params(_) => -32602,
            Problem::HeaderMismatch(_) => -32020,
            Problem::Version(_) => -32022,
        }
    }

    /// The JSON-RPC error's `data`, where the spec defines one.
    pub fn data(&self) -> Option<Value> {
        match &self.problem {
            Problem::Version(v) => Some(serde_json::json!({
                "supported": KNOWN_VERSIONS, "requested": v,
            })),
            _ => None,
        }
    }
}
