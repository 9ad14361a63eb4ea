//! Authorization (the minimal rule set of the gateway spine): deny by default;
//! rules name callers, an agent, granted scopes and whether app-only calls are
//! allowed.

use std::sync::Arc;

use crate::identity::spiffe::SpiffePattern;
use crate::identity::SpiffeId;

/// One allow rule, parsed.
#[derive(Debug, Clone)]
pub struct Rule {
    pub caller: SpiffePattern,
    pub agent: String,
    /// Shared with every [`Decision`] this rule makes: allowing a request
    /// costs a reference-count increment, not a copy of the scope list.
    pub scopes: Arc<[String]>,
    pub app_only: bool,
    /// A2A operations (v1.0 names, e.g. `GetTask`) this rule allows; `None`
    /// allows every operation. Requests the gateway cannot classify as an
    /// A2A operation match only rules without a list.
    pub operations: Option<Vec<String>>,
    /// Whether an allowed call must also be approved by a person before it
    /// is forwarded (`approval = "human"`).
    pub approval: Approval,
}

/// What an allowed call needs besides the rule: nothing, or a person's
/// approval of this exact request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Approval {
    #[default]
    None,
    Human,
}

/// The outcome of [`Policy::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by rule `rule` (index in config order) with these scopes.
    Allow {
        rule: usize,
        scopes: Arc<[String]>,
    },
    Deny(DenyReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// No rule names this caller and agent (or the agent does not exist).
    NoMatchingRule,
    /// Rules match, but none allows calls without a subject token.
    AppOnlyNotAllowed,
    /// Rules match caller and agent, but none allows this operation.
    OperationNotAllowed,
}

impl DenyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::NoMatchingRule => "no rule allows this caller to call this agent",
            DenyReason::AppOnlyNotAllowed => {
                "this caller may call this agent only on behalf of a user (send a subject token)"
            }
            DenyReason::OperationNotAllowed => "this operation is not allowed for this caller",
        }
    }
}

#[derive(Debug, Default)]
pub struct Policy {
    rules: Vec<Rule>,
}

impl Policy {
    pub fn new(rules: Vec<Rule>) -> Self {
        Policy { rules }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Decide whether `caller` may perform `operation` at `agent`, on a
    /// user's behalf (`delegated`) or for itself. The first rule, in config
    /// order, that matches caller, agent, operation and mode decides.
    pub fn decide(
        &self,
        caller: &SpiffeId,
        agent: &str,
        operation: &str,
        delegated: bool,
    ) -> Decision {
        let mut matched_but_not_app_only = false;
        let mut matched_but_not_operation = false;
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.agent != agent || !rule.caller.matches(caller) {
                continue;
            }
            if let Some(ops) = &rule.operations {
                if !ops.iter().any(|o| o == operation) {
                    matched_but_not_operation = true;
                    continue;
                }
            }
            if !delegated && !rule.app_only {
                matched_but_not_app_only = true;
                continue;
            }
            return Decision::Allow {
                rule: i,
                scopes: Arc::clone(&rule.scopes),
            };
        }
        Decision::Deny(if matched_but_not_app_only {
            DenyReason::AppOnlyNotAllowed
        } else if matched_but_not_operation {
            DenyReason::OperationNotAllowed
        } else {
            DenyReason::NoMatchingRule
        })
    }

    /// Whether any rule lets `caller` reach `agent` at all (used to decide who
    /// may read the agent's card).
    pub fn may_reach(&self, caller: &SpiffeId, agent: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.agent == agent && r.caller.matches(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SpiffeId {
        SpiffeId::parse(s).unwrap()
    }
    fn rule(caller: &str, agent: &str, scopes: &[&str], app_only: bool) -> Rule {
        Rule {
            caller: SpiffePattern::parse(caller).unwrap(),
            agent: agent.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            app_only,
            operations: None,
            approval: Approval::None,
        }
    }

    #[test]
    fn deny_by_default() {
        let p = Policy::new(vec![]);
        assert_eq!(
            p.decide(&id("spiffe://example.org/a"), "x", "SendMessage", true),
            Decision::Deny(DenyReason::NoMatchingRule)
        );
    }

    #[test]
    fn first_matching_rule_decides_and_app_only_is_opt_in() {
        let p = Policy::new(vec![
            rule(
                "spiffe://example.org/agent/orchestrator",
                "scheduler",
                &["calendar:write"],
                false,
            ),
            rule(
                "spiffe://example.org/agent/*",
                "scheduler",
                &["calendar:read"],
                true,
            ),
        ]);
        let orch = id("spiffe://example.org/agent/orchestrator");
        assert_eq!(
            p.decide(&orch, "scheduler", "SendMessage", true),
            Decision::Allow {
                rule: 0,
                scopes: vec!["calendar:write".to_string()].into()
            }
        );
        // App-only skips rule 0 and lands on the wildcard rule.
        assert_eq!(
            p.decide(&orch, "scheduler", "SendMessage", false),
            Decision::Allow {
                rule: 1,
                scopes: vec!["calendar:read".to_string()].into()
            }
        );
        assert_eq!(
            p.decide(&orch, "billing", "SendMessage", true),
            Decision::Deny(DenyReason::NoMatchingRule)
        );
        // Same path, other trust domain: no match.
        assert_eq!(
            p.decide(
                &id("spiffe://other.org/agent/orchestrator"),
                "scheduler",
                "SendMessage",
                true
            ),
            Decision::Deny(DenyReason::NoMatchingRule)
        );
    }

    #[test]
    fn app_only_refused_when_only_delegated_rules_match() {
        let p = Policy::new(vec![rule("spiffe://example.org/a", "s", &[], false)]);
        assert_eq!(
            p.decide(&id("spiffe://example.org/a"), "s", "SendMessage", false),
            Decision::Deny(DenyReason::AppOnlyNotAllowed)
        );
        assert!(p.may_reach(&id("spiffe://example.org/a"), "s"));
    }

    #[test]
    fn operations_are_allowed_per_rule() {
        let mut get_only = rule("spiffe://example.org/a", "s", &[], true);
        get_only.operations = Some(vec!["GetTask".into(), "SendMessage".into()]);
        let p = Policy::new(vec![get_only]);
        let a = id("spiffe://example.org/a");
        assert!(matches!(
            p.decide(&a, "s", "GetTask", false),
            Decision::Allow { .. }
        ));
        assert_eq!(
            p.decide(&a, "s", "CancelTask", false),
            Decision::Deny(DenyReason::OperationNotAllowed)
        );
        // Requests that are not a recognised operation match only rules
        // without a list.
        assert_eq!(
            p.decide(&a, "s", "unknown", false),
            Decision::Deny(DenyReason::OperationNotAllowed)
        );
    }
}
