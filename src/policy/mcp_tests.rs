//! Rules naming MCP servers: target exclusivity, tools/resources/prompts
//! lists, session operations, deny and approval rules.

use std::path::Path;

use super::super::build::{from_sections, AgentInfo, Context};
use super::super::*;
use crate::config::{parse_toml, PolicyFileRaw};

const IDP: &str = "https://idp.example.com";
const ORCH: &str = "spiffe://example.org/agent/orchestrator";

fn build(toml: &str) -> Result<Vec<Rule>, Vec<crate::config::ConfigProblem>> {
    let raw: PolicyFileRaw = parse_toml(Path::new("policy"), toml).map_err(|p| vec![p])?;
    let agents = [AgentInfo {
        name: "files",
        spiffe_id: None,
        card: None,
    }];
    from_sections(
        &raw.rule,
        &Context {
            agents: &agents,
            subject_issuers: &[IDP],
            mcp_servers: &["files", "web"],
        },
    )
}

fn policy(toml: &str) -> Policy {
    Policy::new(build(toml).unwrap_or_else(|e| panic!("{e:?}")))
}

fn problems(toml: &str) -> Vec<String> {
    match build(toml) {
        Ok(r) => panic!("accepted: {r:?}"),
        Err(p) => p.iter().map(|p| p.to_string()).collect(),
    }
}

fn caller() -> SpiffeId {
    SpiffeId::parse(ORCH).unwrap()
}

fn allowed(p: &Policy, what: McpWhat<'_>) -> bool {
    matches!(
        p.decide_mcp(&caller(), "files", what, None),
        Decision::Allow { .. }
    )
}

#[test]
fn a_rule_names_exactly_one_kind_of_target() {
    let both = problems(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nagent = \"files\"\nmcp_server = \"files\"\n"
    ));
    assert!(
        both.iter()
            .any(|p| p.contains("rule[0].mcp_server") && p.contains("not both")),
        "{both:?}"
    );
    let neither = problems(&format!("[[rule]]\ncaller = \"{ORCH}\"\n"));
    assert!(
        neither
            .iter()
            .any(|p| p.contains("names no agent (or MCP server)")),
        "{neither:?}"
    );
    let unknown = problems(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nmcp_server = \"nope\"\n"
    ));
    assert!(
        unknown
            .iter()
            .any(|p| p.contains("no [[mcp_server]] is named \"nope\"")),
        "{unknown:?}"
    );
}

#[test]
fn lists_belong_to_their_kind() {
    let on_agent = problems(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nagent = \"files\"\ntools = [\"x\"]\n"
    ));
    assert!(
        on_agent
            .iter()
            .any(|p| p.contains("rule[0].tools") && p.contains("MCP servers")),
        "{on_agent:?}"
    );
    let on_mcp = problems(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nmcp_server = \"files\"\noperations = [\"GetTask\"]\n"
    ));
    assert!(
        on_mcp.iter().any(|p| p.contains("rule[0].operations")),
        "{on_mcp:?}"
    );
    let empty = problems(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nmcp_server = \"files\"\ntools = []\n"
    ));
    assert!(
        empty.iter().any(|p| p.contains("covers nothing")),
        "{empty:?}"
    );
}

#[test]
fn tools_are_decided_by_name_and_session_operations_by_reach() {
    let p = policy(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nmcp_server = \"files\"\napp_only = true\ntools = [\"read_*\", \"list_dir\"]\n"
    ));
    assert!(allowed(&p, McpWhat::Tool("read_file")));
    assert!(allowed(&p, McpWhat::Tool("list_dir")));
    assert!(!allowed(&p, McpWhat::Tool("delete_file")));
    assert!(!allowed(&p, McpWhat::Tool("list_dirs")));
    // Only tools are listed: no resource and no prompt is covered.
    assert!(!allowed(&p, McpWhat::Resource("file:///x")));
    assert!(!allowed(&p, McpWhat::Prompt("p")));
    assert!(allowed(&p, McpWhat::Session));
    assert!(p.may_reach_mcp(&caller(), "files"));
    // Another server, another caller, or an agent of the same name: nothing.
    assert!(!p.may_reach_mcp(&caller(), "web"));
    assert!(!p.may_reach(&caller(), "files"));
    let other = SpiffeId::parse("spiffe://example.org/agent/intruder").unwrap();
    assert!(!p.may_reach_mcp(&other, "files"));
    assert!(matches!(
        p.decide_mcp(&other, "files", McpWhat::Session, None),
        Decision::Deny(DenyReason::NoMatchingRule)
    ));
    assert!(matches!(
        p.decide(&caller(), "files", "SendMessage", None),
        Decision::Deny(DenyReason::NoMatchingRule)
    ));
}

#[test]
fn a_rule_without_lists_covers_everything() {
    let p = policy(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nmcp_server = \"*\"\napp_only = true\n"
    ));
    assert!(allowed(&p, McpWhat::Tool("delete_file")));
    assert!(allowed(&p, McpWhat::Resource("file:///etc/passwd")));
    assert!(allowed(&p, McpWhat::Prompt("x")));
}

#[test]
fn deny_rules_about_a_tool_do_not_shut_the_caller_out() {
    let p = policy(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nmcp_server = \"files\"\napp_only = true\n\
         [[rule]]\neffect = \"deny\"\ncaller = \"{ORCH}\"\nmcp_server = \"files\"\ntools = [\"delete_*\"]\n"
    ));
    assert!(matches!(
        p.decide_mcp(&caller(), "files", McpWhat::Tool("delete_file"), None),
        Decision::Deny(DenyReason::ExplicitDeny { rule: 1 })
    ));
    assert!(allowed(&p, McpWhat::Tool("read_file")));
    assert!(allowed(&p, McpWhat::Session));
    assert!(p.may_reach_mcp(&caller(), "files"));
    // An unconditional deny shuts the caller out of the server.
    let p = policy(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nmcp_server = \"files\"\napp_only = true\n\
         [[rule]]\neffect = \"deny\"\ncaller = \"{ORCH}\"\nmcp_server = \"files\"\n"
    ));
    assert!(!p.may_reach_mcp(&caller(), "files"));
    assert!(!allowed(&p, McpWhat::Session));
}

#[test]
fn delegated_rules_need_a_subject_and_approval_rules_gate_tools_only() {
    let p = policy(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nmcp_server = \"files\"\nsubject_issuer = \"{IDP}\"\nscopes = [\"files:delete\"]\n\
         [[rule]]\ncaller = \"{ORCH}\"\nmcp_server = \"files\"\ntools = [\"delete_file\"]\napproval = \"human\"\n"
    ));
    assert!(matches!(
        p.decide_mcp(&caller(), "files", McpWhat::Session, None),
        Decision::Deny(DenyReason::AppOnlyNotAllowed)
    ));
    let alice = Subject {
        issuer: IDP,
        sub: "alice",
        own: false,
    };
    let d = p.decide_mcp(
        &caller(),
        "files",
        McpWhat::Tool("delete_file"),
        Some(alice),
    );
    assert!(d.approval_required(), "{d:?}");
    let d = p.decide_mcp(&caller(), "files", McpWhat::Tool("read_file"), Some(alice));
    assert!(matches!(d, Decision::Allow { rule: 0, .. }) && !d.approval_required());
    let d = p.decide_mcp(&caller(), "files", McpWhat::Session, Some(alice));
    assert!(matches!(d, Decision::Allow { .. }) && !d.approval_required());
}

#[test]
fn rules_describe_their_mcp_target() {
    let r = build(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nmcp_server = \"files\"\ntools = [\"read_*\"]\n"
    ))
    .unwrap();
    let text = r[0].to_string();
    assert!(
        text.contains("MCP server files") && text.contains("tools read_*"),
        "{text}"
    );
}
