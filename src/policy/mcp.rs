//! What rules naming MCP servers (`mcp_server = …`) add: the target kind,
//! what an MCP request asks for, and the `tools`/`resources`/`prompts`
//! lists that decide it.

use std::fmt;

use super::{Effect, SubjectPattern};

/// What kind of target a rule names: agents (`agent`) or MCP servers
/// (`mcp_server`); a rule names exactly one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TargetKind {
    #[default]
    Agent,
    Mcp,
}

/// What a caller asks of an MCP server, as classified by [`crate::mcp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpWhat<'a> {
    /// `initialize`, `ping`, notifications, `*/list`, … (any caller some
    /// rule lets reach the server).
    Session,
    Tool(&'a str),
    Resource(&'a str),
    Prompt(&'a str),
}

/// `tools`, `resources`, `prompts` of an MCP rule. All `None`: every tool,
/// resource and prompt; otherwise only the kinds listed, by pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpLists {
    pub tools: Option<Vec<SubjectPattern>>,
    pub resources: Option<Vec<SubjectPattern>>,
    pub prompts: Option<Vec<SubjectPattern>>,
}

impl McpLists {
    pub fn is_empty(&self) -> bool {
        self.tools.is_none() && self.resources.is_none() && self.prompts.is_none()
    }

    /// Whether the lists cover `what`, for a rule of `effect`. Session
    /// operations are covered by every allow rule (any caller that may reach
    /// the server may open a session and list), but only by deny rules that
    /// restrict nothing (a deny rule about one tool must not shut the
    /// caller out of the server).
    pub(super) fn covers(&self, effect: Effect, what: McpWhat<'_>) -> bool {
        let one = |l: &Option<Vec<SubjectPattern>>, n: &str| {
            l.as_ref().is_some_and(|l| l.iter().any(|p| p.matches(n)))
        };
        match what {
            McpWhat::Session => effect == Effect::Allow || self.is_empty(),
            _ if self.is_empty() => true,
            McpWhat::Tool(n) => one(&self.tools, n),
            McpWhat::Resource(n) => one(&self.resources, n),
            McpWhat::Prompt(n) => one(&self.prompts, n),
        }
    }
}

pub(super) fn fmt_mcp_lists(f: &mut fmt::Formatter<'_>, l: &McpLists) -> fmt::Result {
    if l.is_empty() {
        return write!(f, ", any tool, resource and prompt");
    }
    for (kind, list) in [
        ("tools", &l.tools),
        ("resources", &l.resources),
        ("prompts", &l.prompts),
    ] {
        if let Some(list) = list {
            let names: Vec<&str> = list.iter().map(SubjectPattern::as_str).collect();
            write!(f, ", {kind} {}", names.join(", "))?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "mcp_tests.rs"]
mod tests;
