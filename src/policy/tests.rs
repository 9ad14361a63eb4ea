//! Table-driven tests over every rule feature, through the same build step
//! the gateway uses (TOML `[[rule]]` text → validated rules → decisions).

use std::path::Path;

use super::build::{from_sections, AgentInfo, Context};
use super::*;
use crate::config::{parse_toml, PolicyFileRaw};

const IDP: &str = "https://idp.example.com";
const GATEWAY: &str = "https://gateway.example.org";

fn card() -> crate::cards::AgentCard {
    let json = serde_json::json!({
        "name": "Scheduler", "description": "d", "version": "1",
        "supportedInterfaces": [{"url": "http://127.0.0.1:1/a2a/jsonrpc",
            "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {}, "defaultInputModes": [], "defaultOutputModes": [],
        "skills": [
            {"id": "book-meeting", "name": "n", "description": "d", "tags": []},
            {"id": "cancel-meeting", "name": "n", "description": "d", "tags": []}
        ]
    });
    crate::cards::parse_card(json.to_string().as_bytes()).unwrap()
}

/// Build the rules in `toml` against agents scheduler (with a card and an
/// identity), notifier (identity) and billing (neither).
fn build(toml: &str) -> Result<Vec<Rule>, Vec<crate::config::ConfigProblem>> {
    let raw: PolicyFileRaw = parse_toml(Path::new("policy"), toml).map_err(|p| vec![p])?;
    let card = card();
    let agents = [
        AgentInfo {
            name: "scheduler",
            spiffe_id: Some(id("spiffe://example.org/agent/scheduler")),
            card: Some(&card),
        },
        AgentInfo {
            name: "notifier",
            spiffe_id: Some(id("spiffe://example.org/agent/notifier")),
            card: None,
        },
        AgentInfo {
            name: "billing",
            spiffe_id: None,
            card: None,
        },
    ];
    from_sections(
        &raw.rule,
        &Context {
            agents: &agents,
            subject_issuers: &[IDP, GATEWAY],
            mcp_servers: &["files"],
        },
    )
}

fn policy(toml: &str) -> Policy {
    Policy::new(build(toml).unwrap_or_else(|e| panic!("{e:?}")))
}

fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).unwrap()
}

/// Expected outcome: allowed by rule N, or denied for a reason.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Allow(usize),
    Deny(DenyReason),
}
use Want::*;

fn outcome(d: &Decision) -> Want {
    match d {
        Decision::Allow { rule, .. } => Allow(*rule),
        Decision::Deny(r) => Deny(*r),
    }
}

const ALICE: Option<(&str, &str)> = Some((IDP, "alice@example.com"));
const APP: Option<(&str, &str)> = None;

/// (rules, caller, agent, operation, subject (issuer, sub), expected)
type Row<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<(&'a str, &'a str)>,
    Want,
);

fn run(rows: &[Row<'_>]) {
    for (n, (rules, caller, agent, op, subject, want)) in rows.iter().enumerate() {
        let p = policy(rules);
        let subject = subject.map(|(issuer, sub)| Subject {
            issuer,
            sub,
            own: false,
        });
        let got = p.decide(&id(caller), agent, op, subject);
        assert_eq!(
            &outcome(&got),
            want,
            "row {n}: {caller} → {agent} {op} {subject:?}\nrules:\n{rules}"
        );
    }
}

const ORCH: &str = "spiffe://example.org/agent/orchestrator";

/// A user of the trusted IdP, as a rule sees the subject.
fn user(sub: &'static str) -> Option<Subject<'static>> {
    Some(Subject {
        issuer: IDP,
        sub,
        own: false,
    })
}

/// One rule against callers: each asks `scheduler` for `SendMessage` on
/// Alice's behalf.
fn callers(rule: &str, rows: &[(&str, Want)]) {
    let rows: Vec<Row<'_>> = rows
        .iter()
        .map(|(caller, want)| (rule, *caller, "scheduler", "SendMessage", ALICE, *want))
        .collect();
    run(&rows);
}

const NONE: Want = Deny(DenyReason::NoMatchingRule);

#[test]
fn an_exact_caller_matches_itself_only() {
    let exact =
        "[[rule]]\ncaller = \"spiffe://example.org/agent/orchestrator\"\nagent = \"scheduler\"\n";
    callers(
        exact,
        &[
            (ORCH, Allow(0)),
            ("spiffe://example.org/agent/orchestrator2", NONE),
            ("spiffe://example.org/agent/orchestrator/x", NONE),
            ("spiffe://other.org/agent/orchestrator", NONE),
        ],
    );
}

#[test]
fn a_star_is_one_segment_in_the_patterns_own_trust_domain() {
    let one = "[[rule]]\ncaller = \"spiffe://example.org/*\"\nagent = \"scheduler\"\n";
    callers(
        one,
        &[
            ("spiffe://example.org/x", Allow(0)),
            ("spiffe://example.org.evil/x", NONE),
            ("spiffe://evil.example.org/x", NONE),
            ("spiffe://example.orgx/x", NONE),
            ("spiffe://example.org/x/y", NONE),
        ],
    );
}

#[test]
fn a_double_star_is_one_or_more_segments() {
    let deep = "[[rule]]\ncaller = \"spiffe://example.org/agent/**\"\nagent = \"scheduler\"\n";
    callers(
        deep,
        &[
            ("spiffe://example.org/agent/a/b/c", Allow(0)),
            ("spiffe://example.org/agentx/a", NONE),
            ("spiffe://example.org.evil/agent/a", NONE),
        ],
    );
}

#[test]
fn a_trust_domain_is_compared_whole() {
    let td = "[[rule]]\ncaller_trust_domain = \"example.org\"\nagent = \"scheduler\"\n";
    callers(
        td,
        &[
            ("spiffe://example.org/anything/at/all", Allow(0)),
            ("spiffe://example.org.evil/x", NONE),
            ("spiffe://sub.example.org/x", NONE),
            ("spiffe://xexample.org/x", NONE),
        ],
    );
}

#[test]
fn a_registered_agent_matches_by_its_own_spiffe_id_only() {
    let by_agent = "[[rule]]\ncaller_agent = \"notifier\"\nagent = \"scheduler\"\n";
    callers(
        by_agent,
        &[
            ("spiffe://example.org/agent/notifier", Allow(0)),
            ("spiffe://example.org/agent/notifier/x", NONE),
            ("spiffe://example.org.evil/agent/notifier", NONE),
        ],
    );
}

#[test]
fn on_whose_behalf() {
    let delegated =
        "[[rule]]\ncaller = \"spiffe://example.org/agent/orchestrator\"\nagent = \"scheduler\"\n";
    let app_only = "[[rule]]\ncaller = \"spiffe://example.org/agent/orchestrator\"\nagent = \"scheduler\"\napp_only = true\n";
    let issuer = format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nagent = \"scheduler\"\nsubject_issuer = \"{IDP}\"\n"
    );
    let own = format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nagent = \"scheduler\"\nsubject_issuer = \"{GATEWAY}\"\n"
    );
    let pattern = format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nagent = \"scheduler\"\nsubject = \"*@example.com\"\n"
    );
    let bad_subject = Deny(DenyReason::SubjectNotAllowed);
    let app_refused = Deny(DenyReason::AppOnlyNotAllowed);
    run(&[
        (delegated, ORCH, "scheduler", "SendMessage", ALICE, Allow(0)),
        (
            delegated,
            ORCH,
            "scheduler",
            "SendMessage",
            APP,
            Deny(DenyReason::AppOnlyNotAllowed),
        ),
        (app_only, ORCH, "scheduler", "SendMessage", APP, Allow(0)),
        (app_only, ORCH, "scheduler", "SendMessage", ALICE, Allow(0)),
        (&issuer, ORCH, "scheduler", "SendMessage", ALICE, Allow(0)),
        (
            &issuer,
            ORCH,
            "scheduler",
            "SendMessage",
            Some((GATEWAY, "alice@example.com")),
            bad_subject,
        ),
        (&issuer, ORCH, "scheduler", "SendMessage", APP, app_refused),
        (
            &own,
            ORCH,
            "scheduler",
            "SendMessage",
            Some((GATEWAY, "alice@example.com")),
            Allow(0),
        ),
        (&own, ORCH, "scheduler", "SendMessage", ALICE, bad_subject),
        (&pattern, ORCH, "scheduler", "SendMessage", ALICE, Allow(0)),
        (
            &pattern,
            ORCH,
            "scheduler",
            "SendMessage",
            Some((IDP, "bob@example.com")),
            Allow(0),
        ),
        (
            &pattern,
            ORCH,
            "scheduler",
            "SendMessage",
            Some((IDP, "alice@example.com.evil")),
            bad_subject,
        ),
        (
            &pattern,
            ORCH,
            "scheduler",
            "SendMessage",
            Some((IDP, "alice@evil.com")),
            bad_subject,
        ),
        (&pattern, ORCH, "scheduler", "SendMessage", APP, app_refused),
    ]);
}

#[test]
fn agents_and_operations() {
    let list = format!("[[rule]]\ncaller = \"{ORCH}\"\nagent = [\"scheduler\", \"notifier\"]\n");
    let any = format!("[[rule]]\ncaller = \"{ORCH}\"\nagent = \"*\"\n");
    let ops = format!("[[rule]]\ncaller = \"{ORCH}\"\nagent = \"scheduler\"\noperations = [\"GetTask\", \"SendMessage\"]\n");
    let none = Deny(DenyReason::NoMatchingRule);
    let op = Deny(DenyReason::OperationNotAllowed);
    run(&[
        (&list, ORCH, "scheduler", "SendMessage", ALICE, Allow(0)),
        (&list, ORCH, "notifier", "SendMessage", ALICE, Allow(0)),
        (&list, ORCH, "billing", "SendMessage", ALICE, none),
        (&list, ORCH, "nonexistent", "SendMessage", ALICE, none),
        (&any, ORCH, "billing", "SendMessage", ALICE, Allow(0)),
        (&any, ORCH, "scheduler", "CancelTask", ALICE, Allow(0)),
        (&ops, ORCH, "scheduler", "GetTask", ALICE, Allow(0)),
        (&ops, ORCH, "scheduler", "CancelTask", ALICE, op),
        // Unclassified requests match only rules without a list.
        (&ops, ORCH, "scheduler", "unknown", ALICE, op),
        (&any, ORCH, "scheduler", "unknown", ALICE, Allow(0)),
    ]);
}

#[test]
fn explicit_deny_overrides_allow_wherever_it_is_written() {
    let allow_all =
        "[[rule]]\ncaller_trust_domain = \"example.org\"\nagent = \"*\"\napp_only = true\n";
    let deny_cancel = format!("[[rule]]\neffect = \"deny\"\ncaller = \"{ORCH}\"\nagent = \"scheduler\"\noperations = [\"CancelTask\"]\n");
    let deny_intruder = "[[rule]]\neffect = \"deny\"\ncaller = \"spiffe://example.org/agent/intruder\"\nagent = \"*\"\n";
    let deny_mallory = "[[rule]]\neffect = \"deny\"\ncaller_trust_domain = \"example.org\"\nagent = \"scheduler\"\nsubject = \"mallory@*\"\n";
    let before = format!("{deny_cancel}{allow_all}");
    let after = format!("{allow_all}{deny_cancel}{deny_intruder}{deny_mallory}");
    let explicit = |rule| Deny(DenyReason::ExplicitDeny { rule });
    let intruder = "spiffe://example.org/agent/intruder";
    run(&[
        (&before, ORCH, "scheduler", "CancelTask", ALICE, explicit(0)),
        (&before, ORCH, "scheduler", "GetTask", ALICE, Allow(1)),
        (&after, ORCH, "scheduler", "CancelTask", ALICE, explicit(1)),
        (&after, ORCH, "scheduler", "CancelTask", APP, explicit(1)),
        (&after, ORCH, "notifier", "CancelTask", ALICE, Allow(0)),
        (&after, intruder, "scheduler", "GetTask", APP, explicit(2)),
        (&after, intruder, "billing", "GetTask", ALICE, explicit(2)),
        (
            &after,
            ORCH,
            "scheduler",
            "GetTask",
            Some((IDP, "mallory@example.com")),
            explicit(3),
        ),
        // A deny rule about subjects does not touch app-only calls.
        (&after, ORCH, "scheduler", "GetTask", APP, Allow(0)),
        (
            &after,
            ORCH,
            "notifier",
            "GetTask",
            Some((IDP, "mallory@example.com")),
            Allow(0),
        ),
    ]);
}

#[test]
fn first_matching_allow_decides_and_carries_its_grant() {
    let p = policy(&format!(
        r#"
[[rule]]
caller = "{ORCH}"
agent = "scheduler"
operations = ["CancelTask"]
scopes = ["calendar:write", "calendar:admin", "calendar:write"]
skills = ["cancel-meeting"]
max_token_lifetime = "1m"
approval = "human"

[[rule]]
caller = "spiffe://example.org/agent/*"
agent = "scheduler"
scopes = ["calendar:read"]
app_only = true
"#
    ));
    let orch = id(ORCH);
    let alice = user("alice@example.com");
    let d = p.decide(&orch, "scheduler", "CancelTask", alice);
    assert_eq!(
        d,
        Decision::Allow {
            rule: 0,
            scopes: vec!["calendar:admin".to_string(), "calendar:write".to_string()].into(),
            skills: vec!["cancel-meeting".to_string()].into(),
            max_token_lifetime_secs: Some(60),
            approval: Approval::Human,
            allow_reentry: false,
        }
    );
    assert!(d.approval_required());
    assert_eq!(d.kind(), DecisionKind::ApprovalRequired);
    assert_eq!(d.rule(), Some(0));
    let d = p.decide(&orch, "scheduler", "GetTask", None);
    assert_eq!(
        d,
        Decision::Allow {
            rule: 1,
            scopes: vec!["calendar:read".to_string()].into(),
            skills: Arc::from([]),
            max_token_lifetime_secs: None,
            approval: Approval::None,
            allow_reentry: false,
        }
    );
    assert_eq!((d.kind(), d.rule()), (DecisionKind::Allow, Some(1)));
    let d = p.decide(&orch, "billing", "GetTask", None);
    assert_eq!((d.kind(), d.rule()), (DecisionKind::Deny, None));
    // The description names what the rule does.
    let text = p.rules()[0].to_string();
    for needle in [
        "allow spiffe://example.org/agent/orchestrator to call scheduler",
        "operations CancelTask",
        "grants [calendar:admin calendar:write]",
        "skills cancel-meeting",
        "tokens at most 60s",
        "needs human approval",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text:?}");
    }
    assert_eq!(p.rules()[0].origin, "policy: rule[0]");
}

#[test]
fn may_reach_follows_allow_rules_and_unconditional_denies() {
    let p = policy(&format!(
        r#"
[[rule]]
caller_trust_domain = "example.org"
agent = ["scheduler", "notifier"]
[[rule]]
effect = "deny"
caller = "spiffe://example.org/agent/intruder"
agent = "scheduler"
[[rule]]
effect = "deny"
caller = "{ORCH}"
agent = "notifier"
operations = ["CancelTask"]
"#
    ));
    assert!(p.may_reach(&id(ORCH), "scheduler"));
    // A deny for one operation leaves the agent reachable.
    assert!(p.may_reach(&id(ORCH), "notifier"));
    assert!(!p.may_reach(&id("spiffe://example.org/agent/intruder"), "scheduler"));
    assert!(p.may_reach(&id("spiffe://example.org/agent/intruder"), "notifier"));
    assert!(!p.may_reach(&id(ORCH), "billing"));
    assert!(!p.may_reach(&id("spiffe://example.org.evil/agent/x"), "scheduler"));
}

#[test]
fn every_operation_needs_an_unrestricted_allow_and_yields_to_any_deny() {
    let p = policy(&format!(
        r#"
[[rule]]
caller = "{ORCH}"
agent = "scheduler"
operations = ["GetTask"]
[[rule]]
caller = "{ORCH}"
agent = "notifier"
[[rule]]
caller = "{ORCH}"
agent = "billing"
[[rule]]
effect = "deny"
caller = "{ORCH}"
agent = "billing"
operations = ["CancelTask"]
"#
    ));
    let alice = user("alice@example.com");
    let o = id(ORCH);
    assert_eq!(
        outcome(&p.decide_every_operation(&o, "scheduler", alice)),
        Deny(DenyReason::OperationNotAllowed)
    );
    assert_eq!(
        outcome(&p.decide_every_operation(&o, "notifier", alice)),
        Allow(1)
    );
    // A deny for one operation refuses a token usable for all of them.
    assert_eq!(
        outcome(&p.decide_every_operation(&o, "billing", alice)),
        Deny(DenyReason::ExplicitDeny { rule: 3 })
    );
    assert_eq!(
        outcome(&p.decide(&o, "billing", "GetTask", alice)),
        Allow(2)
    );
}

#[test]
fn every_operation_refuses_where_an_approval_rule_covers_any_operation() {
    let p = policy(&format!(
        r#"
[[rule]]
caller = "{ORCH}"
agent = "notifier"
[[rule]]
caller = "{ORCH}"
agent = "notifier"
operations = ["CancelTask"]
approval = "human"
[[rule]]
caller = "{ORCH}"
agent = "scheduler"
[[rule]]
caller = "{ORCH}"
agent = "scheduler"
subject = "bob@*"
approval = "human"
"#
    ));
    let alice = user("alice@example.com");
    let bob = user("bob@example.com");
    let o = id(ORCH);
    // Listed after the allow-all rule, the approval rule still refuses a
    // token usable for CancelTask without the gate.
    assert_eq!(
        outcome(&p.decide_every_operation(&o, "notifier", alice)),
        Deny(DenyReason::ApprovalRequired { rule: 1 })
    );
    assert_eq!(
        DenyReason::ApprovalRequired { rule: 1 }.label(),
        "approval_required"
    );
    // Per operation, nothing changes.
    assert_eq!(
        outcome(&p.decide(&o, "notifier", "SendMessage", alice)),
        Allow(0)
    );
    // An approval rule for another subject does not touch this one.
    assert_eq!(
        outcome(&p.decide_every_operation(&o, "scheduler", alice)),
        Allow(2)
    );
    assert_eq!(
        outcome(&p.decide_every_operation(&o, "scheduler", bob)),
        Deny(DenyReason::ApprovalRequired { rule: 3 })
    );
}

#[test]
fn an_approval_rule_gates_calls_an_earlier_broader_allow_rule_grants() {
    let p = policy(&format!(
        r#"
[[rule]]
caller = "{ORCH}"
agent = "notifier"
app_only = true
[[rule]]
caller = "{ORCH}"
agent = "notifier"
operations = ["CancelTask"]
subject = "bob@*"
approval = "human"
"#
    ));
    let o = id(ORCH);
    let who = |sub| {
        Some(Subject {
            issuer: IDP,
            sub,
            own: false,
        })
    };
    let approval = |d: &Decision| match d {
        Decision::Allow { rule, approval, .. } => Some((*rule, *approval)),
        Decision::Deny(_) => None,
    };
    // Rule 0 decides (and grants), rule 1 still holds the call for a person.
    assert_eq!(
        approval(&p.decide(&o, "notifier", "CancelTask", who("bob@example.com"))),
        Some((0, Approval::Human))
    );
    assert!(p
        .decide(&o, "notifier", "CancelTask", who("bob@example.com"))
        .approval_required());
    // Not covered by the approval rule: no gate.
    assert_eq!(
        approval(&p.decide(&o, "notifier", "GetTask", who("bob@example.com"))),
        Some((0, Approval::None))
    );
    assert_eq!(
        approval(&p.decide(&o, "notifier", "CancelTask", who("alice@example.com"))),
        Some((0, Approval::None))
    );
}

#[test]
fn a_deny_rules_issuer_condition_holds_for_the_gateways_own_tokens() {
    let p = policy(&format!(
        r#"
[[rule]]
caller = "{ORCH}"
agent = "notifier"
[[rule]]
effect = "deny"
caller = "{ORCH}"
agent = "notifier"
subject_issuer = "{IDP}"
subject = "*@suspended.example.com"
"#
    ));
    let o = id(ORCH);
    let subject = |issuer, own| {
        Some(Subject {
            issuer,
            sub: "mallory@suspended.example.com",
            own,
        })
    };
    // The IdP's token, and the gateway's token minted from it one hop
    // earlier (which names the gateway as issuer), are both refused.
    for (issuer, own) in [(IDP, false), (GATEWAY, true)] {
        assert_eq!(
            outcome(&p.decide(&o, "notifier", "SendMessage", subject(issuer, own))),
            Deny(DenyReason::ExplicitDeny { rule: 1 }),
            "{issuer}"
        );
    }
    // Another issuer's token for the same name is not this rule's business.
    assert_eq!(
        outcome(&p.decide(
            &o,
            "notifier",
            "SendMessage",
            subject("https://other-idp.example", false)
        )),
        Allow(0)
    );
}

#[test]
fn deny_by_default() {
    let p = Policy::new(vec![]);
    assert_eq!(
        p.decide(&id(ORCH), "x", "SendMessage", None),
        Decision::Deny(DenyReason::NoMatchingRule)
    );
    assert!(!p.may_reach(&id(ORCH), "x"));
}

#[test]
fn subject_patterns() {
    for (pattern, sub, want) in [
        ("*@example.com", "alice@example.com", true),
        ("*@example.com", "@example.com", true),
        ("*@example.com", "alice@example.com.evil", false),
        ("*@example.com", "alice@example.co", false),
        ("alice", "alice", true),
        ("alice", "alice2", false),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXbYbZc", true),
        ("a*b*c", "aXbYc2", false),
        ("*", "", true),
        ("**", "anything", true),
        ("user-*-prod", "user-42-prod", true),
        ("user-*-prod", "user-42-prod-x", false),
    ] {
        assert_eq!(
            SubjectPattern::new(pattern).matches(sub),
            want,
            "{pattern} vs {sub}"
        );
    }
}

#[test]
fn invalid_rules_are_config_errors_naming_the_field() {
    let rows: &[(&str, &str, &str)] = &[
        ("agent = \"scheduler\"", "rule[0].caller", "exactly one of"),
        (
            "caller = \"spiffe://example.org/a\"\ncaller_trust_domain = \"example.org\"\nagent = \"scheduler\"",
            "rule[0].caller",
            "exactly one of",
        ),
        ("caller = \"spiffe://example.org/a*\"\nagent = \"scheduler\"", "rule[0].caller", "wildcard"),
        ("caller = \"spiffe://example.org\"\nagent = \"scheduler\"", "rule[0].caller", "no path"),
        ("caller_trust_domain = \"Example.org\"\nagent = \"scheduler\"", "rule[0].caller_trust_domain", "uppercase"),
        ("caller_agent = \"ghost\"\nagent = \"scheduler\"", "rule[0].caller_agent", "no [[agent]] is named \"ghost\""),
        ("caller_agent = \"billing\"\nagent = \"scheduler\"", "rule[0].caller_agent", "no (valid) spiffe_id"),
        ("caller = \"spiffe://example.org/a\"\nagent = \"ghost\"", "rule[0].agent", "no [[agent]] is named \"ghost\""),
        ("caller = \"spiffe://example.org/a\"\nagent = []", "rule[0].agent", "names no agent"),
        ("caller = \"spiffe://example.org/a\"\nagent = [\"*\", \"scheduler\"]", "rule[0].agent", "stands alone"),
        ("caller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\nscopes = [\"a b\"]", "rule[0].scopes", "not a valid OAuth scope"),
        ("caller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\noperations = [\"Hack\"]", "rule[0].operations", "not an A2A operation"),
        ("caller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\noperations = []", "rule[0].operations", "covers no operation"),
        ("caller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\nsubject_issuer = \"https://evil\"", "rule[0].subject_issuer", "neither a [[subject_issuer]]"),
        ("caller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\nsubject = \"\"", "rule[0].subject", "non-empty"),
        ("caller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\nsubject = \"*@x\"\napp_only = true", "rule[0].app_only", "contradicts"),
        ("effect = \"deny\"\ncaller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\nscopes = [\"x\"]", "rule[0].scopes", "grants nothing"),
        ("effect = \"deny\"\ncaller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\napp_only = true", "rule[0].app_only", "grants nothing"),
        ("effect = \"deny\"\ncaller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\napproval = \"human\"", "rule[0].approval", "grants nothing"),
        ("effect = \"deny\"\ncaller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\nmax_token_lifetime = \"1m\"", "rule[0].max_token_lifetime", "grants nothing"),
        ("caller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\nskills = [\"fly\"]", "rule[0].skills", "declares no skill \"fly\" (it declares: book-meeting, cancel-meeting)"),
        ("caller = \"spiffe://example.org/a\"\nagent = \"*\"\nskills = [\"book-meeting\"]", "rule[0].skills", "not \"*\""),
        ("caller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\nmax_token_lifetime = \"soon\"", "rule[0].max_token_lifetime", "whole number"),
        // Shape errors come from the parser, with the line.
        ("effect = \"perhaps\"\ncaller = \"spiffe://example.org/a\"\nagent = \"scheduler\"", "policy:2", "perhaps"),
        ("approval = \"maybe\"\ncaller = \"spiffe://example.org/a\"\nagent = \"scheduler\"", "policy:2", "maybe"),
        ("caller = \"spiffe://example.org/a\"\nagent = \"scheduler\"\nalow = true", "policy:", "alow"),
        ("caller = \"spiffe://example.org/a\"\nagent = 3", "policy:", "agent name"),
    ];
    for (body, location, message) in rows {
        let text = format!("[[rule]]\n{body}\n");
        let problems = build(&text).expect_err(body);
        assert!(
            problems
                .iter()
                .any(|p| p.location.contains(location) && p.message.contains(message)),
            "{body}: want {location}: …{message}…, got {problems:?}"
        );
    }
    // A valid rule next to an invalid one is not kept on its own either:
    // the whole policy is refused.
    assert!(build(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nagent = \"scheduler\"\n[[rule]]\ncaller = \"x\"\nagent = \"scheduler\"\n"
    ))
    .is_err());
}
