//! From `[[rule]]` sections (in the config, or in the policy file
//! `gateway.policy` names) to [`Rule`]s. Every problem is reported with its
//! file and field; a rule with any problem is never kept, so a mistake can
//! only refuse calls, never allow them.

use std::path::{Path, PathBuf};

use super::TargetKind;
use super::{AgentMatch, CallerMatch, Effect, McpLists, Rule, SubjectMatch, SubjectPattern};
use crate::cards::AgentCard;
use crate::config::{parse_toml, ConfigFile, ConfigProblem, PolicyFileRaw, Problems};
use crate::config::{ApprovalSetting, RuleSection};
use crate::duration::parse as parse_duration;
use crate::identity::spiffe::SpiffePattern;
use crate::identity::{SpiffeId, TrustDomain};

/// What rules may refer to: one registered agent.
pub struct AgentInfo<'a> {
    pub name: &'a str,
    /// Its workload identity (for `caller_agent`), if configured and valid.
    pub spiffe_id: Option<SpiffeId>,
    /// Its card (for `skills`), if it loaded.
    pub card: Option<&'a AgentCard>,
}

/// What rules are checked against.
pub struct Context<'a> {
    pub agents: &'a [AgentInfo<'a>],
    /// Issuers a `subject_issuer` may name: the configured subject issuers
    /// and the gateway's own.
    pub subject_issuers: &'a [&'a str],
    /// The registered `[[mcp_server]]` names (for `mcp_server`).
    pub mcp_servers: &'a [&'a str],
}

/// The rules of `cfg`: its `[[rule]]` entries, or those of the file
/// `gateway.policy` names (which is added to `files`, so edits reload).
pub(crate) fn load(
    p: &mut Problems,
    cfg: &ConfigFile,
    ctx: &Context<'_>,
    files: &mut Vec<PathBuf>,
) -> Vec<Rule> {
    let mut found = Vec::new();
    let rules = match &cfg.raw.gateway.policy {
        None => build_rules(&cfg.path, &cfg.raw.rule, ctx, &mut found),
        Some(policy) => {
            let full = cfg.resolve(policy);
            files.push(full.clone());
            if !cfg.raw.rule.is_empty() {
                // Two places for rules would make their order (first allow wins)
                // depend on how the files are combined: refuse rather than guess.
                p.add(
                    "[[rule]]",
                    format!(
                        "rules are read from the policy file {} (gateway.policy); move these [[rule]] entries there",
                        full.display()
                    ),
                );
            }
            let text = match std::fs::read_to_string(&full) {
                Ok(t) => t,
                Err(e) => {
                    p.add(
                        "gateway.policy",
                        format!("{}: cannot read: {e}", full.display()),
                    );
                    return Vec::new();
                }
            };
            match parse_toml::<PolicyFileRaw>(&full, &text) {
                Ok(raw) => build_rules(&full, &raw.rule, ctx, &mut found),
                Err(problem) => {
                    found.push(problem);
                    Vec::new()
                }
            }
        }
    };
    p.extend(found);
    rules
}

/// Validate and convert `sections`, written in `file`.
pub fn build_rules(
    file: &Path,
    sections: &[RuleSection],
    ctx: &Context<'_>,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (i, r) in sections.iter().enumerate() {
        let origin = format!("{}: rule[{i}]", file.display());
        let before = problems.len();
        let mut bad = |field: &str, message: String| {
            problems.push(ConfigProblem {
                location: format!("{origin}.{field}"),
                message,
            })
        };
        let rule = build_one(r, ctx, &mut bad, origin.clone());
        if problems.len() == before {
            if let Some(rule) = rule {
                rules.push(rule);
            }
        }
    }
    rules
}

fn build_one(
    r: &RuleSection,
    ctx: &Context<'_>,
    bad: &mut impl FnMut(&str, String),
    origin: String,
) -> Option<Rule> {
    let caller = caller(r, ctx, bad);
    let (target, agents) = target(r, ctx, bad);
    check_scopes(&r.scopes, bad);
    check_operations(r.operations.as_deref(), bad);
    let mcp = mcp_lists(r, target, bad);
    let subject = subject(r, ctx, bad);
    check_grants(r, &subject, bad);
    let skills = match target {
        TargetKind::Agent => skills(r, ctx, agents.as_ref(), bad),
        TargetKind::Mcp => Vec::new(),
    };
    let max_token_lifetime_secs = match &r.max_token_lifetime {
        Some(s) => match parse_duration(s) {
            Ok(d) => Some(d.as_secs().max(1) as i64),
            Err(e) => {
                bad("max_token_lifetime", e.to_string());
                None
            }
        },
        None => None,
    };

    // Granted scopes are a set (claims sort and deduplicate them); kept
    // normalised so the token-cache key needs no sorting copy.
    let mut scopes = r.scopes.clone();
    scopes.sort_unstable();
    scopes.dedup();
    Some(Rule {
        effect: r.effect,
        caller: caller?,
        target,
        agents: agents?,
        mcp,
        scopes: scopes.into(),
        app_only: r.app_only,
        subject,
        operations: r.operations.clone(),
        skills: skills.into(),
        max_token_lifetime_secs,
        approval: r.approval.into(),
        allow_reentry: r.allow_reentry,
        origin,
    })
}

/// `scopes`: each an RFC 6749 scope token.
fn check_scopes(scopes: &[String], bad: &mut impl FnMut(&str, String)) {
    for s in scopes {
        if !crate::scope_token::is_scope_token(s) {
            bad(
                "scopes",
                format!("\"{s}\" is not a valid OAuth scope token"),
            );
        }
    }
}

/// `operations`: a non-empty list of A2A operation names.
fn check_operations(ops: Option<&[String]>, bad: &mut impl FnMut(&str, String)) {
    let Some(ops) = ops else {
        return;
    };
    if ops.is_empty() {
        bad(
            "operations",
            "an empty list covers no operation; list operations, or drop the key to cover all"
                .into(),
        );
    }
    for op in ops {
        if !crate::a2a::OPERATIONS.contains(&op.as_str()) {
            bad(
                "operations",
                format!(
                    "\"{op}\" is not an A2A operation (one of: {})",
                    crate::a2a::OPERATIONS.join(", ")
                ),
            );
        }
    }
}

/// `subject_issuer` and `subject`: what a delegated call's subject must be.
fn subject(r: &RuleSection, ctx: &Context<'_>, bad: &mut impl FnMut(&str, String)) -> SubjectMatch {
    let mut subject = SubjectMatch::default();
    if let Some(iss) = &r.subject_issuer {
        let iss = iss.trim_end_matches('/');
        match ctx
            .subject_issuers
            .iter()
            .find(|k| k.trim_end_matches('/') == iss)
        {
            // Kept as configured: the subject token's `iss` is compared exactly.
            Some(known) => subject.issuer = Some(known.to_string()),
            None => bad(
                "subject_issuer",
                format!(
                    "\"{iss}\" is neither a [[subject_issuer]], the gateway's issuer nor [authorize.login]'s (known: {})",
                    ctx.subject_issuers.join(", ")
                ),
            ),
        }
    }
    if let Some(p) = &r.subject {
        if p.is_empty() || p.chars().any(char::is_control) {
            bad(
                "subject",
                "must be a non-empty pattern without control characters".into(),
            );
        } else {
            subject.sub = Some(SubjectPattern::new(p));
        }
    }
    subject
}

/// What a rule grants must fit its effect and its subject restriction.
fn check_grants(r: &RuleSection, subject: &SubjectMatch, bad: &mut impl FnMut(&str, String)) {
    // Deny rules refuse; anything that grants is meaningless on them and
    // would suggest a grant that does not exist.
    if r.effect == Effect::Deny {
        let grants = [
            ("scopes", !r.scopes.is_empty()),
            ("app_only", r.app_only),
            ("skills", r.skills.is_some()),
            ("max_token_lifetime", r.max_token_lifetime.is_some()),
            ("approval", r.approval != ApprovalSetting::None),
            ("allow_reentry", r.allow_reentry),
        ];
        for (field, set) in grants {
            if set {
                bad(
                    field,
                    "a deny rule grants nothing; remove this key (deny rules apply with and without a subject token)"
                        .into(),
                );
            }
        }
    } else if r.app_only && !subject.is_empty() {
        bad(
            "app_only",
            "subject_issuer/subject restrict the rule to delegated calls; app_only = true contradicts them (write a separate app-only rule)"
                .into(),
        );
    }
}

fn caller(
    r: &RuleSection,
    ctx: &Context<'_>,
    bad: &mut impl FnMut(&str, String),
) -> Option<CallerMatch> {
    match (&r.caller, &r.caller_trust_domain, &r.caller_agent) {
        (Some(c), None, None) => match SpiffePattern::parse(c) {
            Ok(p) => Some(CallerMatch::Pattern(p)),
            Err(e) => {
                bad("caller", format!("\"{c}\": {e}"));
                None
            }
        },
        (None, Some(td), None) => match TrustDomain::parse(td) {
            Ok(td) => Some(CallerMatch::TrustDomain(td)),
            Err(e) => {
                bad("caller_trust_domain", format!("\"{td}\": {e}"));
                None
            }
        },
        (None, None, Some(name)) => match ctx.agents.iter().find(|a| a.name == name) {
            Some(AgentInfo {
                spiffe_id: Some(id),
                ..
            }) => Some(CallerMatch::Agent {
                name: name.clone(),
                id: id.clone(),
            }),
            Some(_) => {
                bad(
                    "caller_agent",
                    format!("agent \"{name}\" has no (valid) spiffe_id to recognise it by"),
                );
                None
            }
            None => {
                bad("caller_agent", format!("no [[agent]] is named \"{name}\""));
                None
            }
        },
        _ => {
            bad(
                "caller",
                "give exactly one of caller, caller_trust_domain and caller_agent".into(),
            );
            None
        }
    }
}

/// `agent` or `mcp_server`: exactly one kind of target.
fn target(
    r: &RuleSection,
    ctx: &Context<'_>,
    bad: &mut impl FnMut(&str, String),
) -> (TargetKind, Option<AgentMatch>) {
    match &r.mcp_server {
        None => {
            let known = |n: &str| ctx.agents.iter().any(|a| a.name == n);
            (
                TargetKind::Agent,
                names("agent", "[[agent]]", &r.agent.0, known, bad),
            )
        }
        Some(_) if !r.agent.0.is_empty() => {
            bad(
                "mcp_server",
                "a rule names agents (agent) or MCP servers (mcp_server), not both; write two rules"
                    .into(),
            );
            (TargetKind::Mcp, None)
        }
        Some(servers) => {
            let known = |n: &str| ctx.mcp_servers.contains(&n);
            let m = names("mcp_server", "[[mcp_server]]", &servers.0, known, bad);
            (TargetKind::Mcp, m)
        }
    }
}

/// The names of `field`: `"*"` alone, or each one a `section` that exists.
fn names(
    field: &str,
    section: &str,
    names: &[String],
    known: impl Fn(&str) -> bool,
    bad: &mut impl FnMut(&str, String),
) -> Option<AgentMatch> {
    if names.is_empty() {
        bad(
            field,
            "names no agent (or MCP server); give agent = ... or mcp_server = ...".into(),
        );
        return None;
    }
    if names.iter().any(|n| n == "*") {
        if names.len() > 1 {
            bad(field, "\"*\" (every one) stands alone".into());
            return None;
        }
        return Some(AgentMatch::Any);
    }
    let mut ok = true;
    for n in names {
        if !known(n) {
            bad(field, format!("no {section} is named \"{n}\""));
            ok = false;
        }
    }
    ok.then(|| AgentMatch::Named(names.to_vec()))
}

/// `tools`, `resources`, `prompts`: only on rules naming MCP servers (and
/// `operations`, `skills` only on rules naming agents).
fn mcp_lists(r: &RuleSection, target: TargetKind, bad: &mut impl FnMut(&str, String)) -> McpLists {
    let lists = [
        ("tools", &r.tools),
        ("resources", &r.resources),
        ("prompts", &r.prompts),
    ];
    if target == TargetKind::Agent {
        for (field, list) in lists {
            if list.is_some() {
                bad(
                    field,
                    "applies only to rules naming MCP servers (mcp_server = ...)".into(),
                );
            }
        }
        return McpLists::default();
    }
    for (field, set) in [
        ("operations", r.operations.is_some()),
        ("skills", r.skills.is_some()),
    ] {
        if set {
            bad(
                field,
                "applies only to rules naming agents; MCP rules use tools, resources and prompts"
                    .into(),
            );
        }
    }
    let mut patterns = |field: &str, list: &Option<Vec<String>>| {
        let list = list.as_ref()?;
        if list.is_empty() {
            bad(
                field,
                "an empty list covers nothing; list names, or drop the key".into(),
            );
        }
        for p in list {
            if p.is_empty() || p.chars().any(char::is_control) {
                bad(
                    field,
                    "each must be a non-empty pattern without control characters".into(),
                );
            }
        }
        Some(list.iter().map(|p| SubjectPattern::new(p)).collect())
    };
    McpLists {
        tools: patterns("tools", &r.tools),
        resources: patterns("resources", &r.resources),
        prompts: patterns("prompts", &r.prompts),
    }
}

/// `skills`: each must be on the card of every agent the rule names, since
/// its requirements decide the token's scopes.
fn skills(
    r: &RuleSection,
    ctx: &Context<'_>,
    agents: Option<&AgentMatch>,
    bad: &mut impl FnMut(&str, String),
) -> Vec<String> {
    let Some(skills) = &r.skills else {
        return Vec::new();
    };
    match agents {
        Some(AgentMatch::Any) => {
            bad(
                "skills",
                "skills are ids on one agent's card; name the agents (not \"*\")".into(),
            );
        }
        Some(AgentMatch::Named(names)) => {
            for name in names {
                // An agent whose card failed to load has its own problem.
                let Some(card) = ctx
                    .agents
                    .iter()
                    .find(|a| a.name == name)
                    .and_then(|a| a.card)
                else {
                    continue;
                };
                for s in skills {
                    if card.skill(s).is_none() {
                        let declared: Vec<&str> =
                            card.skills.iter().map(|k| k.id.as_str()).collect();
                        bad(
                            "skills",
                            format!(
                                "the card of agent \"{name}\" declares no skill \"{s}\" (it declares: {})",
                                if declared.is_empty() { "none".to_string() } else { declared.join(", ") }
                            ),
                        );
                    }
                }
            }
        }
        None => {}
    }
    let mut v = skills.clone();
    v.sort_unstable();
    v.dedup();
    v
}

/// Shared with tests: rules without a file (origin `rule[N]`).
pub fn from_sections(
    sections: &[RuleSection],
    ctx: &Context<'_>,
) -> Result<Vec<Rule>, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let rules = build_rules(Path::new("policy"), sections, ctx, &mut problems);
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}
