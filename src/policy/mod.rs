//! Authorization: deny by default. Rules name who calls (SPIFFE ID, pattern,
//! trust domain or registered agent), on whose behalf (app-only, delegated,
//! subject issuer and pattern), which agents, operations and skills, what is
//! granted (scopes, token lifetime) and whether a person must approve.
//!
//! Evaluation: a matching `deny` rule refuses the call whatever the allow
//! rules say; otherwise the first matching `allow` rule, in file order,
//! decides; nothing matching is a deny. Rules are indexed by agent at load so
//! a decision scans only the rules that can apply, and allocates nothing.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use crate::identity::spiffe::SpiffePattern;
use crate::identity::{SpiffeId, TrustDomain};
/// The counted decision labels live with the counters (moved, issue 13).
pub use crate::metrics::DecisionKind;

pub mod build;
mod mcp;
pub mod scopes;

use mcp::fmt_mcp_lists;
pub use mcp::{McpLists, McpWhat, TargetKind};

/// `effect` of a rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

/// `approval` of a rule: whether a person must approve each call it allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    #[default]
    None,
    Human,
}

/// Who a rule is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerMatch {
    /// An exact SPIFFE ID or a pattern; the trust domain is always literal.
    Pattern(SpiffePattern),
    /// Every workload of one trust domain (compared exactly, never as a
    /// suffix or prefix: `example.org` does not cover `example.org.evil`).
    TrustDomain(TrustDomain),
    /// A registered agent, by name, resolved to its `spiffe_id` at load.
    Agent { name: String, id: SpiffeId },
}

impl CallerMatch {
    pub fn matches(&self, caller: &SpiffeId) -> bool {
        match self {
            CallerMatch::Pattern(p) => p.matches(caller),
            CallerMatch::TrustDomain(td) => caller.trust_domain() == td.as_str(),
            CallerMatch::Agent { id, .. } => id == caller,
        }
    }
}

impl fmt::Display for CallerMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallerMatch::Pattern(p) => write!(f, "{p}"),
            CallerMatch::TrustDomain(td) => write!(f, "any workload of trust domain {td}"),
            CallerMatch::Agent { name, id } => write!(f, "agent {name} ({id})"),
        }
    }
}

/// Which agents a rule is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentMatch {
    /// `agent = "*"`: every registered agent.
    Any,
    Named(Vec<String>),
}

impl AgentMatch {
    pub fn matches(&self, agent: &str) -> bool {
        match self {
            AgentMatch::Any => true,
            AgentMatch::Named(names) => names.iter().any(|n| n == agent),
        }
    }
}

/// What a decision is about: one A2A operation (`Some`) or every one
/// (`None`, a token for direct use), or one MCP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked<'a> {
    A2a(Option<&'a str>),
    Mcp(McpWhat<'a>),
}

/// A pattern over a subject token's `sub`: `*` matches any run of
/// characters (including none); everything else is literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectPattern(String);

impl SubjectPattern {
    pub fn new(pattern: &str) -> Self {
        SubjectPattern(pattern.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Glob match with backtracking to the last `*` (linear in practice, no
    /// allocation).
    pub fn matches(&self, sub: &str) -> bool {
        let (p, s) = (self.0.as_bytes(), sub.as_bytes());
        let (mut pi, mut si) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            if pi < p.len() && p[pi] == b'*' {
                star = Some((pi, si));
                pi += 1;
            } else if pi < p.len() && p[pi] == s[si] {
                pi += 1;
                si += 1;
            } else if let Some((sp, ss)) = star {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == b'*')
    }
}

/// Constraints on the subject of a delegated call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectMatch {
    /// The subject token's `iss` must be exactly this.
    pub issuer: Option<String>,
    /// The subject token's `sub` must match.
    pub sub: Option<SubjectPattern>,
}

impl SubjectMatch {
    pub fn is_empty(&self) -> bool {
        self.issuer.is_none() && self.sub.is_none()
    }

    fn matches(&self, effect: Effect, s: &Subject<'_>) -> bool {
        // A token minted here names this gateway as `iss`; the issuer its
        // user came from is not in it. A restricting rule's issuer condition
        // therefore counts as met for it (fail closed): otherwise a deny
        // rule for an IdP's users would stop applying one hop later, when
        // the next agent presents the gateway's token instead of the IdP's.
        let issuer_ok = match self.issuer.as_deref() {
            None => true,
            Some(i) => i == s.issuer || (effect == Effect::Deny && s.own),
        };
        issuer_ok && self.sub.as_ref().is_none_or(|p| p.matches(s.sub))
    }
}

/// The subject of a delegated call, as policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    /// `iss` of the verified subject token.
    pub issuer: &'a str,
    /// `sub` of the verified subject token.
    pub sub: &'a str,
    /// Minted by this gateway (so `issuer` is the gateway, not the user's IdP).
    pub own: bool,
}

/// One rule, parsed and validated.
#[derive(Debug, Clone)]
pub struct Rule {
    pub effect: Effect,
    pub caller: CallerMatch,
    /// Whether `agents` names agents or MCP servers.
    pub target: TargetKind,
    /// The agents (or MCP servers, see `target`) the rule is about.
    pub agents: AgentMatch,
    /// MCP rules: the tools, resources and prompts they cover.
    pub mcp: McpLists,
    /// Granted scopes, sorted and deduplicated. Shared with every
    /// [`Decision`] this rule makes: allowing costs a reference-count
    /// increment, not a copy.
    pub scopes: Arc<[String]>,
    /// Calls with no subject token (`sub` = the caller) match this rule.
    /// Allow rules only; deny rules match with and without a subject.
    pub app_only: bool,
    /// Constraints on the subject; a rule with any matches delegated calls only.
    pub subject: SubjectMatch,
    /// A2A operations (v1.0 names, e.g. `GetTask`) this rule covers; `None`
    /// covers every operation. Requests the gateway cannot classify never
    /// get here: they are refused before the decision.
    pub operations: Option<Vec<String>>,
    /// Skills (card skill ids) whose skill-level security requirements the
    /// minted token must also meet. Empty: none (only card-level scopes).
    pub skills: Arc<[String]>,
    /// Cap on the minted token's lifetime, in seconds (`tokens.ttl` otherwise).
    pub max_token_lifetime_secs: Option<i64>,
    pub approval: Approval,
    /// The caller may reappear in the delegation chain (no cycle check).
    pub allow_reentry: bool,
    /// Where the rule was written: `FILE: rule[N]`.
    pub origin: String,
}

impl Rule {
    /// An allow rule for `caller` to `agent` with `scopes` and defaults
    /// elsewhere (delegated calls only, every operation).
    pub fn allow(caller: CallerMatch, agent: &str, scopes: &[&str]) -> Rule {
        let mut scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        scopes.sort_unstable();
        scopes.dedup();
        Rule {
            effect: Effect::Allow,
            caller,
            target: TargetKind::Agent,
            agents: AgentMatch::Named(vec![agent.to_string()]),
            mcp: McpLists::default(),
            scopes: scopes.into(),
            app_only: false,
            subject: SubjectMatch::default(),
            operations: None,
            skills: Arc::from([]),
            max_token_lifetime_secs: None,
            approval: Approval::None,
            allow_reentry: false,
            origin: String::new(),
        }
    }

    /// Whether the rule names `agent` (an agent, not an MCP server).
    pub fn names_agent(&self, agent: &str) -> bool {
        self.target == TargetKind::Agent && self.agents.matches(agent)
    }

    /// Whether the rule names the MCP server `server`.
    pub fn names_mcp_server(&self, server: &str) -> bool {
        self.target == TargetKind::Mcp && self.agents.matches(server)
    }

    /// Whether this rule's caller, agent, operation and subject conditions
    /// cover the call.
    ///
    /// `operation` `None` asks about every operation at once (a token used
    /// directly at the agent): an allow rule must then cover every
    /// operation, and a deny rule covering any operation applies.
    fn covers(
        &self,
        caller: &SpiffeId,
        asked: Asked<'_>,
        subject: Option<&Subject<'_>>,
    ) -> Coverage {
        self.covers_as(self.effect, caller, asked, subject)
    }

    /// [`Rule::covers`] as if the rule's effect were `effect`: an approval
    /// rule asked about every operation is read as a deny rule.
    fn covers_as(
        &self,
        effect: Effect,
        caller: &SpiffeId,
        asked: Asked<'_>,
        subject: Option<&Subject<'_>>,
    ) -> Coverage {
        if !self.caller.matches(caller) {
            return Coverage::No;
        }
        match (self.target, asked) {
            (TargetKind::Agent, Asked::A2a(operation)) => {
                if let Some(ops) = &self.operations {
                    let covered = match operation {
                        Some(op) => ops.iter().any(|o| o == op),
                        None => effect == Effect::Deny,
                    };
                    if !covered {
                        return Coverage::WrongOperation;
                    }
                }
            }
            (TargetKind::Mcp, Asked::Mcp(what)) => {
                if !self.mcp.covers(effect, what) {
                    return Coverage::WrongOperation;
                }
            }
            // The indexes keep the kinds apart; checked again here.
            _ => return Coverage::No,
        }
        match subject {
            Some(s) if !self.subject.matches(effect, s) => Coverage::WrongSubject,
            Some(_) => Coverage::Yes,
            // A deny rule about subjects does not touch calls without one.
            None if effect == Effect::Deny && !self.subject.is_empty() => Coverage::No,
            None if effect == Effect::Deny => Coverage::Yes,
            // An allow rule constraining the subject is for delegated calls
            // only (build refuses `app_only` next to it; checked again here).
            None if self.app_only && self.subject.is_empty() => Coverage::Yes,
            None => Coverage::AppOnlyRefused,
        }
    }
}

enum Coverage {
    Yes,
    No,
    WrongOperation,
    WrongSubject,
    AppOnlyRefused,
}

/// The human description `policy check` and the logs print.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let effect = match self.effect {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        };
        write!(f, "{effect} {} to call ", self.caller)?;
        let kind = match self.target {
            TargetKind::Agent => "agent",
            TargetKind::Mcp => "MCP server",
        };
        match &self.agents {
            AgentMatch::Any => write!(f, "any {kind}")?,
            AgentMatch::Named(n) if self.target == TargetKind::Mcp => {
                write!(f, "MCP server {}", n.join(", "))?
            }
            AgentMatch::Named(n) => write!(f, "{}", n.join(", "))?,
        }
        if self.target == TargetKind::Mcp {
            fmt_mcp_lists(f, &self.mcp)?;
        } else {
            match &self.operations {
                None => write!(f, ", any operation")?,
                Some(ops) => write!(f, ", operations {}", ops.join(", "))?,
            }
        }
        match (self.effect, self.app_only) {
            (Effect::Deny, _) if self.subject.is_empty() => {}
            (Effect::Deny, _) => write!(f, ", on behalf of")?,
            (Effect::Allow, true) => write!(f, ", for itself or on behalf of")?,
            (Effect::Allow, false) => write!(f, ", on behalf of")?,
        }
        if self.effect == Effect::Allow || !self.subject.is_empty() {
            match &self.subject.sub {
                Some(p) => write!(f, " subjects {}", p.as_str())?,
                None => write!(f, " any user")?,
            }
            if let Some(i) = &self.subject.issuer {
                write!(f, " from {i}")?;
            }
        }
        if self.effect == Effect::Allow {
            write!(f, "; grants [{}]", self.scopes.join(" "))?;
            if !self.skills.is_empty() {
                write!(f, "; skills {}", self.skills.join(", "))?;
            }
            if let Some(t) = self.max_token_lifetime_secs {
                write!(f, "; tokens at most {t}s")?;
            }
            if self.approval == Approval::Human {
                write!(f, "; needs human approval")?;
            }
            if self.allow_reentry {
                write!(f, "; may act again in a chain it is already in")?;
            }
        }
        Ok(())
    }
}

/// The outcome of [`Policy::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by rule `rule` (index into [`Policy::rules`]).
    Allow {
        rule: usize,
        /// Scopes the rule grants (before the card and the subject token
        /// narrow them).
        scopes: Arc<[String]>,
        /// Skills whose skill-level requirements the token must also meet.
        skills: Arc<[String]>,
        /// Cap on the token lifetime, in seconds.
        max_token_lifetime_secs: Option<i64>,
        /// `Approval::Human`: not to be forwarded until a person approves.
        approval: Approval,
        /// The caller may reappear in the delegation chain.
        allow_reentry: bool,
    },
    Deny(DenyReason),
}

impl Decision {
    /// The rule that decided, if one did (an allow, or an explicit deny).
    pub fn rule(&self) -> Option<usize> {
        match self {
            Decision::Allow { rule, .. } => Some(*rule),
            Decision::Deny(r) => r.rule(),
        }
    }

    pub fn approval_required(&self) -> bool {
        matches!(
            self,
            Decision::Allow {
                approval: Approval::Human,
                ..
            }
        )
    }

    /// The kind for metrics and audit, as far as policy knows it (a later
    /// stage may still turn an allow into [`DecisionKind::StepUp`]).
    pub fn kind(&self) -> DecisionKind {
        match self {
            _ if self.approval_required() => DecisionKind::ApprovalRequired,
            Decision::Allow { .. } => DecisionKind::Allow,
            Decision::Deny(_) => DecisionKind::Deny,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// No rule names this caller and agent (or the agent does not exist).
    NoMatchingRule,
    /// Rules match, but none allows calls without a subject token.
    AppOnlyNotAllowed,
    /// Rules match caller and agent, but none allows this operation.
    OperationNotAllowed,
    /// Rules match caller and agent, but none accepts this subject.
    SubjectNotAllowed,
    /// Deny rule `rule` covers the call (deny rules override allow rules).
    ExplicitDeny { rule: usize },
    /// Asked about every operation (a token for direct use), rule `rule`
    /// needs a person's approval for some operation: the gate would be
    /// skipped, so it refuses like a deny rule.
    ApprovalRequired { rule: usize },
}

impl DenyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::NoMatchingRule => "no rule allows this caller to call this agent",
            DenyReason::AppOnlyNotAllowed => {
                "this caller may call this agent only on behalf of a user (send a subject token)"
            }
            DenyReason::OperationNotAllowed => "this operation is not allowed for this caller",
            DenyReason::SubjectNotAllowed => {
                "no rule allows this caller to act for this subject (or its issuer)"
            }
            DenyReason::ExplicitDeny { .. } => "a deny rule forbids this call",
            DenyReason::ApprovalRequired { .. } => {
                "calls to this agent need a person's approval; no token is issued for direct use"
            }
        }
    }

    /// A stable machine label (logs, audit).
    pub fn label(self) -> &'static str {
        match self {
            DenyReason::NoMatchingRule => "no_matching_rule",
            DenyReason::AppOnlyNotAllowed => "app_only_not_allowed",
            DenyReason::OperationNotAllowed => "operation_not_allowed",
            DenyReason::SubjectNotAllowed => "subject_not_allowed",
            DenyReason::ExplicitDeny { .. } => "explicit_deny",
            DenyReason::ApprovalRequired { .. } => "approval_required",
        }
    }

    pub fn rule(self) -> Option<usize> {
        match self {
            DenyReason::ExplicitDeny { rule } | DenyReason::ApprovalRequired { rule } => Some(rule),
            _ => None,
        }
    }
}

/// The rules that can apply to one agent, by effect, in file order.
#[derive(Debug, Default)]
struct AgentRules {
    deny: Vec<usize>,
    allow: Vec<usize>,
}

/// The rules of one target kind, indexed by target name.
#[derive(Debug, Default)]
struct Index {
    /// Per target named by some rule: the indices of the rules naming it or
    /// `*`. Targets no rule names use `any`.
    by_name: HashMap<String, AgentRules>,
    any: AgentRules,
}

impl Index {
    fn new(rules: &[Rule], kind: TargetKind) -> Index {
        let mut by_agent: HashMap<String, AgentRules> = HashMap::new();
        let mut any_agent = AgentRules::default();
        let of_kind = |r: &&Rule| r.target == kind;
        for r in rules.iter().filter(of_kind) {
            if let AgentMatch::Named(names) = &r.agents {
                for n in names {
                    by_agent.entry(n.clone()).or_default();
                }
            }
        }
        for (i, r) in rules.iter().enumerate().filter(|(_, r)| r.target == kind) {
            let mut push = |a: &mut AgentRules| match r.effect {
                Effect::Allow => a.allow.push(i),
                Effect::Deny => a.deny.push(i),
            };
            match &r.agents {
                AgentMatch::Any => {
                    push(&mut any_agent);
                    by_agent.values_mut().for_each(&mut push);
                }
                AgentMatch::Named(names) => {
                    for n in names {
                        if let Some(a) = by_agent.get_mut(n) {
                            // A name listed twice in one rule is indexed once.
                            if a.allow.last() != Some(&i) && a.deny.last() != Some(&i) {
                                push(a);
                            }
                        }
                    }
                }
            }
        }
        Index {
            by_name: by_agent,
            any: any_agent,
        }
    }

    fn get(&self, name: &str) -> &AgentRules {
        self.by_name.get(name).unwrap_or(&self.any)
    }
}

#[derive(Debug, Default)]
pub struct Policy {
    rules: Vec<Rule>,
    /// Rules naming agents, and rules naming MCP servers: never mixed, so an
    /// agent and an MCP server of the same name share no rule.
    agents: Index,
    mcp: Index,
}

impl Policy {
    pub fn new(rules: Vec<Rule>) -> Self {
        Policy {
            agents: Index::new(&rules, TargetKind::Agent),
            mcp: Index::new(&rules, TargetKind::Mcp),
            rules,
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule at `index` (as in a [`Decision`]).
    pub fn rule(&self, index: usize) -> Option<&Rule> {
        self.rules.get(index)
    }

    fn for_agent(&self, agent: &str) -> &AgentRules {
        self.agents.get(agent)
    }

    /// Decide whether `caller` may perform `operation` at `agent`, on behalf
    /// of `subject` (the verified subject token) or, with `None`, for itself.
    pub fn decide(
        &self,
        caller: &SpiffeId,
        agent: &str,
        operation: &str,
        subject: Option<Subject<'_>>,
    ) -> Decision {
        self.decide_for(caller, agent, Asked::A2a(Some(operation)), subject)
    }

    /// Decide whether `caller` may do `what` at the MCP server `server`, on
    /// behalf of `subject` or for itself. The same evaluation as for agents
    /// (deny rules first, approval rules gate, first allow decides), over
    /// the rules naming MCP servers.
    pub fn decide_mcp(
        &self,
        caller: &SpiffeId,
        server: &str,
        what: McpWhat<'_>,
        subject: Option<Subject<'_>>,
    ) -> Decision {
        self.decide_for(caller, server, Asked::Mcp(what), subject)
    }

    /// Whether `caller` can reach the MCP server `server` at all (the
    /// session operations, the protected resource metadata): as
    /// [`Policy::may_reach`], over the rules naming MCP servers.
    pub fn may_reach_mcp(&self, caller: &SpiffeId, server: &str) -> bool {
        reachable(&self.rules, self.mcp.get(server), caller)
    }

    /// Decide for a token the caller will use directly at `agent` (the
    /// token exchange), where the gateway cannot hold it to a list of
    /// operations: only an allow rule covering every operation allows it,
    /// and a deny rule covering any operation refuses it.
    pub fn decide_every_operation(
        &self,
        caller: &SpiffeId,
        agent: &str,
        subject: Option<Subject<'_>>,
    ) -> Decision {
        self.decide_for(caller, agent, Asked::A2a(None), subject)
    }

    fn decide_for(
        &self,
        caller: &SpiffeId,
        agent: &str,
        asked: Asked<'_>,
        subject: Option<Subject<'_>>,
    ) -> Decision {
        let subject = subject.as_ref();
        let idx = match asked {
            Asked::A2a(_) => self.for_agent(agent),
            Asked::Mcp(_) => self.mcp.get(agent),
        };
        let every = asked == Asked::A2a(None);
        // Deny rules first, whatever their position: an explicit deny must
        // not be shadowed by an earlier, broader allow.
        for &i in &idx.deny {
            if let Some(r) = self.rules.get(i) {
                if matches!(r.covers(caller, asked, subject), Coverage::Yes) {
                    return Decision::Deny(DenyReason::ExplicitDeny { rule: i });
                }
            }
        }
        // A token used directly at the agent never passes the approval
        // gate, so an approval rule for any of its operations refuses it,
        // exactly like a deny rule: whatever its position, and whatever
        // broader allow rule would otherwise grant the token.
        if every {
            for &i in &idx.allow {
                let Some(r) = self.rules.get(i) else { continue };
                if r.approval != Approval::None
                    && matches!(
                        r.covers_as(Effect::Deny, caller, asked, subject),
                        Coverage::Yes
                    )
                {
                    return Decision::Deny(DenyReason::ApprovalRequired { rule: i });
                }
            }
        }
        // On the proxy route an approval rule restricts like a deny rule
        // does, whatever its position: if one covers the call, the call
        // waits for a person even when an earlier, broader allow rule is the
        // one that grants it (first match would silently skip the gate).
        // (An MCP approval rule gates what it lists; asked as a deny rule it
        // would also cover session operations when it lists nothing, so
        // those are left out: a session operation is never held.)
        let gate = (!every && asked != Asked::Mcp(McpWhat::Session)).then(|| {
            idx.allow.iter().copied().find(|&i| {
                self.rules.get(i).is_some_and(|r| {
                    r.approval != Approval::None
                        && matches!(
                            r.covers_as(Effect::Deny, caller, asked, subject),
                            Coverage::Yes
                        )
                })
            })
        });
        let gate = gate.flatten();
        let mut reason = DenyReason::NoMatchingRule;
        for &i in &idx.allow {
            let Some(r) = self.rules.get(i) else { continue };
            let why = match r.covers(caller, asked, subject) {
                Coverage::Yes => {
                    let approval = match gate.and_then(|g| self.rules.get(g)) {
                        Some(g) if r.approval == Approval::None => g.approval,
                        // A session operation is never held for a person.
                        _ if asked == Asked::Mcp(McpWhat::Session) => Approval::None,
                        _ => r.approval,
                    };
                    return Decision::Allow {
                        rule: i,
                        scopes: Arc::clone(&r.scopes),
                        skills: Arc::clone(&r.skills),
                        max_token_lifetime_secs: r.max_token_lifetime_secs,
                        approval,
                        allow_reentry: r.allow_reentry,
                    };
                }
                Coverage::No => continue,
                Coverage::AppOnlyRefused => DenyReason::AppOnlyNotAllowed,
                Coverage::WrongSubject => DenyReason::SubjectNotAllowed,
                Coverage::WrongOperation => DenyReason::OperationNotAllowed,
            };
            // Report the most specific near miss.
            if rank(why) > rank(reason) {
                reason = why;
            }
        }
        Decision::Deny(reason)
    }

    /// Whether `caller` can reach `agent` at all: some allow rule names the
    /// pair and no unconditional deny rule (every operation, any subject)
    /// shuts it out. Decides who may read the agent's card.
    pub fn may_reach(&self, caller: &SpiffeId, agent: &str) -> bool {
        reachable(&self.rules, self.for_agent(agent), caller)
    }
}

/// Some allow rule of `idx` names `caller`, and no unconditional deny rule
/// (every operation, tool, resource and prompt; any subject) shuts it out.
fn reachable(rules: &[Rule], idx: &AgentRules, caller: &SpiffeId) -> bool {
    let shut_out = idx.deny.iter().filter_map(|&i| rules.get(i)).any(|r| {
        r.operations.is_none()
            && r.mcp.is_empty()
            && r.subject.is_empty()
            && r.caller.matches(caller)
    });
    !shut_out
        && idx
            .allow
            .iter()
            .filter_map(|&i| rules.get(i))
            .any(|r| r.caller.matches(caller))
}

fn rank(r: DenyReason) -> u8 {
    match r {
        DenyReason::NoMatchingRule => 0,
        DenyReason::OperationNotAllowed => 1,
        DenyReason::SubjectNotAllowed => 2,
        DenyReason::AppOnlyNotAllowed => 3,
        DenyReason::ExplicitDeny { .. } => 4,
        DenyReason::ApprovalRequired { .. } => 4,
    }
}

#[cfg(test)]
mod tests;
