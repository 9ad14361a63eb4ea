//! One table over the core's outcomes, run for both front doors: as the
//! proxy route asks (one A2A operation) and as the token exchange asks
//! (every operation). Where the two differ, they differ by design, and the
//! row says why.

use std::path::Path;

use serde_json::json;

use super::*;
use crate::config::{parse_toml, PolicyFileRaw};
use crate::identity::SpiffeId;
use crate::policy::build::{from_sections, AgentInfo, Context};
use crate::token::claims::Actor;

const ORCH: &str = "spiffe://example.org/agent/orchestrator";
const NOW: i64 = 1_700_000_000;
const TTL: i64 = 300;

/// The agent's card (built as the gateway builds it): card-level
/// requirement `cal:write`, or none.
fn card(requires_write: bool) -> ServedCard {
    crate::policy::scopes::tests::served(if requires_write {
        json!([{"schemes": {"gw": {"list": ["cal:write"]}}}])
    } else {
        json!([])
    })
}

fn policy(rules: &str) -> Policy {
    let raw: PolicyFileRaw = parse_toml(Path::new("policy"), rules).unwrap();
    let agents = [AgentInfo {
        name: "scheduler",
        spiffe_id: None,
        card: None,
    }];
    let ctx = Context {
        agents: &agents,
        subject_issuers: &["https://idp"],
        mcp_servers: &["files"],
    };
    Policy::new(from_sections(&raw.rule, &ctx).unwrap_or_else(|e| panic!("{e:?}")))
}

fn caller(not_after: i64) -> CallerIdentity {
    CallerIdentity {
        spiffe_id: SpiffeId::parse(ORCH).unwrap(),
        thumbprint: "t".into(),
        not_after,
    }
}

fn user(scopes: &[&str], act: Option<&str>) -> SubjectToken {
    SubjectToken {
        issuer: "https://idp".into(),
        sub: "alice".into(),
        scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
        exp: NOW + 3600,
        act: act.map(|sub| {
            std::sync::Arc::new(Actor {
                sub: sub.into(),
                act: None,
            })
        }),
        may_act: None,
        own: false,
        aud: "x".into(),
        cnf: None,
        grant: None,
    }
}

/// An outcome, reduced to what the table compares.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    Allow {
        rule: usize,
        scopes: Vec<String>,
        lifetime: i64,
        approval: Approval,
    },
    StepUp(Vec<String>),
    ApprovalRequired,
    Deny(Option<usize>),
    Unrecordable,
    NoCard,
    InvalidScope,
    TokenRefused,
}

fn reduce(o: &Outcome<'_>) -> Want {
    match o {
        Outcome::Allow(a) => Want::Allow {
            rule: a.grant.rule,
            scopes: a.scopes.to_vec(),
            lifetime: a.lifetime_secs,
            approval: a.grant.approval,
        },
        Outcome::StepUp { scopes, .. } => Want::StepUp(scopes.clone()),
        Outcome::ApprovalRequired { .. } => Want::ApprovalRequired,
        Outcome::Deny { rule, .. } => Want::Deny(*rule),
        Outcome::Unrecordable { .. } => Want::Unrecordable,
        Outcome::NoCard { .. } => Want::NoCard,
        Outcome::InvalidScope { .. } => Want::InvalidScope,
        Outcome::TokenRefused { .. } => Want::TokenRefused,
    }
}

fn v(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

fn allow(rule: usize, scopes: &[&str], lifetime: i64) -> Want {
    Want::Allow {
        rule,
        scopes: v(scopes),
        lifetime,
        approval: Approval::None,
    }
}

const OPEN: &str = r#"
[[rule]]
caller = "spiffe://example.org/agent/orchestrator"
agent = "scheduler"
scopes = ["cal:read", "cal:write"]
"#;

/// One question, and the answer for each front door.
struct Row {
    what: &'static str,
    rules: String,
    /// The subject's scopes, and an earlier actor in its chain.
    subject: (&'static [&'static str], Option<&'static str>),
    card: Option<bool>,
    requested: Option<&'static [&'static str]>,
    recordable: bool,
    not_after: i64,
    /// Asked about `SendMessage` (the proxy route).
    proxy: Want,
    /// Asked about every operation (the token exchange).
    exchange: Want,
}

fn row(what: &'static str, rules: &str, proxy: Want, exchange: Want) -> Row {
    Row {
        what,
        rules: rules.to_string(),
        subject: (&["cal:read", "cal:write"], None),
        card: Some(true),
        requested: None,
        recordable: true,
        not_after: NOW + 86_400,
        proxy,
        exchange,
    }
}

/// Policy's decisions as each front door reads them.
fn policy_rows() -> Vec<Row> {
    let both = |what, rules: &str, want: Want| row(what, rules, want.clone(), want);
    vec![
        both(
            "allowed: the card's alternative within the grant, tokens.ttl",
            OPEN,
            allow(0, &["cal:write"], TTL),
        ),
        both(
            "the rule's max_token_lifetime caps tokens.ttl",
            &format!("{OPEN}max_token_lifetime = \"1m\"\n"),
            allow(0, &["cal:write"], 60),
        ),
        both(
            "a cap above tokens.ttl does not raise it",
            &format!("{OPEN}max_token_lifetime = \"1h\"\n"),
            allow(0, &["cal:write"], TTL),
        ),
        Row {
            card: Some(false),
            ..both(
                "a card without requirements: every grant",
                OPEN,
                allow(0, &["cal:read", "cal:write"], TTL),
            )
        },
        Row {
            subject: (&["cal:read"], None),
            ..both(
                "the subject token lacks the card's scope: step-up",
                OPEN,
                Want::StepUp(v(&["cal:write"])),
            )
        },
        both(
            "no rule names the caller: deny by default",
            &OPEN.replace("orchestrator", "other"),
            Want::Deny(None),
        ),
        both(
            "a deny rule wins over an earlier allow, with its rule",
            &format!(
                "{OPEN}\n[[rule]]\neffect = \"deny\"\ncaller = \"{ORCH}\"\nagent = \"scheduler\"\n"
            ),
            Want::Deny(Some(1)),
        ),
        // By design: a token used directly at the agent could call any
        // operation, so only a rule allowing every operation grants one.
        row(
            "a rule for some operations only",
            &format!("{OPEN}operations = [\"SendMessage\"]\n"),
            allow(0, &["cal:write"], TTL),
            Want::Deny(None),
        ),
        // By design: the proxy holds the call at its gate (last); a token
        // for direct use would skip the gate, so none is issued.
        row(
            "a rule that needs a person's approval",
            &format!("{OPEN}approval = \"human\"\n"),
            Want::Allow {
                rule: 0,
                scopes: v(&["cal:write"]),
                lifetime: TTL,
                approval: Approval::Human,
            },
            Want::ApprovalRequired,
        ),
    ]
}

/// The core's own refusals after the policy allowed: audit, card, scopes, chain.
fn after_policy_rows() -> Vec<Row> {
    let both = |what, rules: &str, want: Want| row(what, rules, want.clone(), want);
    vec![
        Row {
            recordable: false,
            ..both(
                "the audit log cannot record: nothing granted",
                OPEN,
                Want::Unrecordable,
            )
        },
        Row {
            recordable: false,
            ..both(
                "a policy deny is answered as a deny even then",
                &OPEN.replace("orchestrator", "other"),
                Want::Deny(None),
            )
        },
        Row {
            card: None,
            ..both("no verified card: nothing granted", OPEN, Want::NoCard)
        },
        Row {
            requested: Some(&["cal:read"]),
            ..both(
                "requested scopes: fewer than the card's",
                OPEN,
                allow(0, &["cal:read"], TTL),
            )
        },
        Row {
            requested: Some(&["cal:admin"]),
            ..both(
                "requested scopes: not granted by policy",
                OPEN,
                Want::InvalidScope,
            )
        },
        Row {
            requested: Some(&["cal:read"]),
            subject: (&["cal:write"], None),
            ..both(
                "requested scopes: not held by the subject token",
                OPEN,
                Want::InvalidScope,
            )
        },
        Row {
            subject: (&["cal:read", "cal:write"], Some(ORCH)),
            ..both(
                "the caller is already in the chain: a cycle",
                OPEN,
                Want::TokenRefused,
            )
        },
        Row {
            subject: (&["cal:read", "cal:write"], Some(ORCH)),
            ..both(
                "allow_reentry lets it act again",
                &format!("{OPEN}allow_reentry = true\n"),
                allow(0, &["cal:write"], TTL),
            )
        },
        Row {
            not_after: NOW,
            ..both(
                "the caller's certificate has expired",
                OPEN,
                Want::TokenRefused,
            )
        },
    ]
}

#[test]
fn one_table_for_both_front_doors() {
    let card_with = card(true);
    let card_without = card(false);
    for r in policy_rows().into_iter().chain(after_policy_rows()) {
        let policy = policy(&r.rules);
        let core = Core {
            policy: &policy,
            issuer: "https://gw.example",
            token_ttl_secs: TTL,
            max_chain_depth: 4,
        };
        let caller = caller(r.not_after);
        let subject = user(r.subject.0, r.subject.1);
        let requested: Option<Vec<String>> = r
            .requested
            .map(|v| v.iter().map(|s| s.to_string()).collect());
        let card = r.card.map(|w| if w { &card_with } else { &card_without });
        for (operation, want) in [
            (Operation::A2a("SendMessage"), &r.proxy),
            (Operation::Every, &r.exchange),
        ] {
            let ask = Ask {
                caller: &caller,
                subject: Some(&subject),
                agent: "scheduler",
                audience: "https://gw/agents/scheduler",
                card,
                operation,
                requested_scopes: requested.as_deref(),
                recordable: r.recordable,
                now: NOW,
            };
            let got = authorize(&core, &ask);
            assert_eq!(&reduce(&got), want, "{} ({operation:?})", r.what);
            if let Outcome::Allow(a) = &got {
                let m = a.mint_request();
                assert_eq!(m.ttl_secs, a.lifetime_secs, "{}", r.what);
                assert_eq!(
                    a.exp,
                    (NOW + a.lifetime_secs).min(subject.exp),
                    "{}",
                    r.what
                );
            }
        }
    }
}

#[test]
fn app_only_calls_are_decided_too() {
    let policy = policy(&format!("{OPEN}app_only = true\n"));
    let core = Core {
        policy: &policy,
        issuer: "https://gw.example",
        token_ttl_secs: TTL,
        max_chain_depth: 4,
    };
    let caller = caller(NOW + 60);
    let card = card(false);
    let ask = Ask {
        caller: &caller,
        subject: None,
        agent: "scheduler",
        audience: "https://gw/agents/scheduler",
        card: Some(&card),
        operation: Operation::A2a("SendMessage"),
        requested_scopes: None,
        recordable: true,
        now: NOW,
    };
    let Outcome::Allow(a) = authorize(&core, &ask) else {
        panic!("app-only call refused")
    };
    // Never outliving the caller's certificate.
    assert_eq!(a.exp, NOW + 60);
    assert!(matches!(a.scopes, Cow::Borrowed(_)), "no copy of the grant");
}

/// The MCP route's questions: the tool's scopes are exactly the token's,
/// the rule must grant them, a user token must hold them (step-up), and no
/// card is involved.
#[test]
fn mcp_asks_mint_exactly_the_tools_scopes() {
    let p = policy(&format!(
        "[[rule]]\ncaller = \"{ORCH}\"\nmcp_server = \"files\"\napp_only = true\nscopes = [\"files:delete\", \"files:read\"]\n\
         [[rule]]\ncaller = \"{ORCH}\"\nmcp_server = \"files\"\ntools = [\"admin\"]\nsubject_issuer = \"https://idp\"\n"
    ));
    let core = Core {
        policy: &p,
        issuer: "https://gw",
        token_ttl_secs: TTL,
        max_chain_depth: 5,
    };
    let c = caller(NOW + 3600);
    let delete = v(&["files:delete"]);
    let ask = |subject, what, scopes| Ask {
        caller: &c,
        subject,
        agent: "files",
        audience: "https://gw/mcp/files",
        card: None,
        operation: Operation::Mcp { what, scopes },
        requested_scopes: None,
        recordable: true,
        now: NOW,
    };
    let allow = |rule, scopes: &[&str]| Want::Allow {
        rule,
        scopes: v(scopes),
        lifetime: TTL,
        approval: Approval::None,
    };
    let tool = McpWhat::Tool("delete_file");
    let (holder, lacker, admin) = (
        user(&["files:delete"], None),
        user(&["files:read"], None),
        user(&["files:admin"], None),
    );
    let admin_scopes = v(&["files:admin"]);
    let table = [
        (ask(None, McpWhat::Session, &[]), allow(0, &[])),
        (ask(None, tool, &delete), allow(0, &["files:delete"])),
        (ask(None, McpWhat::Tool("read"), &[]), allow(0, &[])),
        (
            ask(Some(&holder), tool, &delete),
            allow(0, &["files:delete"]),
        ),
        (
            ask(Some(&lacker), tool, &delete),
            Want::StepUp(v(&["files:delete"])),
        ),
        // Rule 0 (first match) does not grant the tool's scope: denied, not
        // a step-up (no user token could change that).
        (
            ask(Some(&admin), McpWhat::Tool("admin"), &admin_scopes),
            Want::Deny(Some(0)),
        ),
    ];
    for (a, want) in table {
        assert_eq!(reduce(&authorize(&core, &a)), want, "{:?}", a.operation);
    }
}
