//! Table-driven tests for `build_claims`.

use super::*;
use crate::identity::SpiffeId;

const ISS: &str = "https://gw.example.org";
const NOW: i64 = 1_700_000_000;
const ORCH: &str = "spiffe://example.org/ns/a/sa/orchestrator";
const SUBAGENT: &str = "spiffe://example.org/ns/b/sa/sub-agent";
const TOOL: &str = "spiffe://example.org/ns/c/sa/tool";

fn caller(id: &str) -> CallerIdentity {
    CallerIdentity {
        spiffe_id: SpiffeId::parse(id).unwrap(),
        thumbprint: format!("thumb-{id}"),
        not_after: NOW + 86_400,
    }
}

fn user_token(scope: Option<&str>, exp: i64) -> SubjectToken {
    SubjectToken {
        issuer: "https://idp.example.com".into(),
        sub: "alice@example.com".into(),
        scopes: scope.map(|s| s.split_whitespace().map(String::from).collect()),
        exp,
        act: None,
        may_act: None,
        own: false,
        aud: "https://gw.example.org".into(),
        cnf: None,
        grant: None,
    }
}

/// What the verifier yields for a token this gateway minted.
fn as_subject(c: &AccessTokenClaims) -> SubjectToken {
    SubjectToken {
        issuer: c.iss.as_str().into(),
        sub: c.sub.as_str().into(),
        scopes: c
            .scope
            .as_ref()
            .map(|s| s.split_whitespace().map(String::from).collect()),
        exp: c.exp,
        act: c.act.clone().map(std::sync::Arc::new),
        may_act: None,
        own: true,
        aud: c.aud.as_str().into(),
        cnf: None,
        grant: None,
    }
}

fn scopes(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

fn mint(
    caller: &CallerIdentity,
    subject: Option<&SubjectToken>,
    granted: &[String],
    max_depth: usize,
) -> Result<AccessTokenClaims, ClaimsError> {
    let req = MintRequest {
        caller,
        subject,
        audience: "https://agents.example.org/next",
        granted_scopes: granted,
        ttl_secs: 300,
        max_chain_depth: max_depth,
        allow_reentry: false,
    };
    build_claims(&req, ISS, NOW, "jti-1".into())
}

#[test]
fn app_only_token() {
    let c = caller(ORCH);
    let granted = scopes(&["write", "read", "read"]);
    let t = mint(&c, None, &granted, 4).unwrap();
    assert_eq!(t.iss, ISS);
    assert_eq!(t.sub, ORCH);
    assert_eq!(t.client_id, ORCH);
    assert_eq!(t.aud, "https://agents.example.org/next");
    assert_eq!(t.act, None);
    assert_eq!(t.scope.as_deref(), Some("read write"));
    assert_eq!((t.iat, t.exp), (NOW, NOW + 300));
    assert_eq!(t.jti, "jti-1");
    assert_eq!(t.cnf, None);
    // Serialized form: no act/cnf members at all.
    let json = serde_json::to_value(&t).unwrap();
    assert!(json.get("act").is_none() && json.get("cnf").is_none());
}

#[test]
fn delegated_token_scope_narrowing_table() {
    struct Case {
        name: &'static str,
        subject_scope: Option<&'static str>,
        granted: &'static [&'static str],
        want: Option<&'static str>,
    }
    let cases = [
        Case {
            name: "intersection",
            subject_scope: Some("read write"),
            granted: &["read", "admin"],
            want: Some("read"),
        },
        Case {
            name: "grant cannot widen the subject (scope widening)",
            subject_scope: Some("read"),
            granted: &["read", "write", "admin"],
            want: Some("read"),
        },
        Case {
            name: "subject cannot widen the grant",
            subject_scope: Some("read write admin"),
            granted: &["write"],
            want: Some("write"),
        },
        Case {
            name: "disjoint gives no scope",
            subject_scope: Some("read"),
            granted: &["write"],
            want: None,
        },
        Case {
            name: "subject without scope claim fails closed",
            subject_scope: None,
            granted: &["read", "write"],
            want: None,
        },
        Case {
            name: "sorted and deduplicated",
            subject_scope: Some("b a c"),
            granted: &["c", "a", "c", "b"],
            want: Some("a b c"),
        },
    ];
    let c = caller(ORCH);
    for case in cases {
        let subject = user_token(case.subject_scope, NOW + 3600);
        let granted = scopes(case.granted);
        let t = mint(&c, Some(&subject), &granted, 4).unwrap();
        assert_eq!(t.scope.as_deref(), case.want, "{}", case.name);
        assert_eq!(t.sub, "alice@example.com", "{}", case.name);
        assert_eq!(t.client_id, ORCH, "{}", case.name);
    }
}

#[test]
fn lifetime_is_capped_by_subject() {
    let c = caller(ORCH);
    let g = scopes(&["read"]);
    // (subject exp, expected result)
    let table: [(i64, Result<i64, ClaimsError>); 4] = [
        (NOW + 3600, Ok(NOW + 300)),
        (NOW + 10, Ok(NOW + 10)),
        (NOW, Err(ClaimsError::SubjectExpired { exp: NOW, now: NOW })),
        (
            NOW - 5,
            Err(ClaimsError::SubjectExpired {
                exp: NOW - 5,
                now: NOW,
            }),
        ),
    ];
    for (subject_exp, want) in table {
        let s = user_token(Some("read"), subject_exp);
        let got = mint(&c, Some(&s), &g, 4).map(|t| t.exp);
        assert_eq!(got, want, "subject exp {subject_exp}");
    }
}

#[test]
fn non_positive_ttl_is_refused() {
    let c = caller(ORCH);
    let req = MintRequest {
        caller: &c,
        subject: None,
        audience: "a",
        granted_scopes: &[],
        ttl_secs: 0,
        max_chain_depth: 4,
        allow_reentry: false,
    };
    assert_eq!(
        build_claims(&req, ISS, NOW, "j".into()),
        Err(ClaimsError::InvalidTtl(0))
    );
}

/// User alice → orchestrator → sub-agent → tool → (downstream):
/// 1. the orchestrator presents alice's IdP token: T1 {sub alice, act {orch}}
/// 2. the sub-agent presents T1:                   T2 {sub alice, act {sub, act {orch}}}
/// 3. the tool presents T2:                        T3 {sub alice, act {tool, act {sub, act {orch}}}}
///
/// T3's `act` is nested three deep, the current actor outermost.
#[test]
fn three_level_chain() {
    let user = user_token(Some("read write"), NOW + 3600);
    let g = scopes(&["read", "write"]);
    let t1 = mint(&caller(ORCH), Some(&user), &g, 3).unwrap();
    let t2 = mint(&caller(SUBAGENT), Some(&as_subject(&t1)), &g, 3).unwrap();
    let t3 = mint(&caller(TOOL), Some(&as_subject(&t2)), &scopes(&["read"]), 3).unwrap();

    assert_eq!(t3.sub, "alice@example.com");
    assert_eq!(t3.client_id, TOOL);
    assert_eq!(t3.scope.as_deref(), Some("read"));
    let act = t3.act.clone().unwrap();
    let chain: Vec<&str> = act.chain().map(|a| a.sub.as_str()).collect();
    assert_eq!(chain, [TOOL, SUBAGENT, ORCH]);
    assert_eq!(
        serde_json::to_value(&t3).unwrap()["act"],
        serde_json::json!({"sub": TOOL, "act": {"sub": SUBAGENT, "act": {"sub": ORCH}}})
    );

    // A fourth hop exceeds a limit of 3.
    let other = "spiffe://example.org/ns/d/sa/other";
    assert_eq!(
        mint(&caller(other), Some(&as_subject(&t3)), &g, 3),
        Err(ClaimsError::ChainTooDeep { depth: 4, max: 3 })
    );
}

#[test]
fn depth_limit_table() {
    let user = user_token(Some("read"), NOW + 3600);
    let g = scopes(&["read"]);
    // max 0 forbids any delegation; max 1 allows exactly one actor.
    assert_eq!(
        mint(&caller(ORCH), Some(&user), &g, 0),
        Err(ClaimsError::ChainTooDeep { depth: 1, max: 0 })
    );
    let t1 = mint(&caller(ORCH), Some(&user), &g, 1).unwrap();
    assert_eq!(
        mint(&caller(SUBAGENT), Some(&as_subject(&t1)), &g, 1),
        Err(ClaimsError::ChainTooDeep { depth: 2, max: 1 })
    );
    // App-only tokens carry no chain and are unaffected by the limit.
    assert!(mint(&caller(ORCH), None, &g, 0).is_ok());
}

#[test]
fn cycles_are_rejected() {
    let user = user_token(Some("read"), NOW + 3600);
    let g = scopes(&["read"]);
    let t1 = mint(&caller(ORCH), Some(&user), &g, 8).unwrap();
    let t2 = mint(&caller(SUBAGENT), Some(&as_subject(&t1)), &g, 8).unwrap();
    // orchestrator → sub-agent → orchestrator
    assert_eq!(
        mint(&caller(ORCH), Some(&as_subject(&t2)), &g, 8),
        Err(ClaimsError::ActorCycle {
            caller: ORCH.into()
        })
    );
    // The current actor presenting its own delegated token again.
    assert!(matches!(
        mint(&caller(SUBAGENT), Some(&as_subject(&t2)), &g, 8),
        Err(ClaimsError::ActorCycle { .. })
    ));
    // An app-only token about the orchestrator coming back to it.
    let app = mint(&caller(ORCH), None, &g, 8).unwrap();
    let back = mint(&caller(SUBAGENT), Some(&as_subject(&app)), &g, 8).unwrap();
    assert!(matches!(
        mint(&caller(ORCH), Some(&as_subject(&back)), &g, 8),
        Err(ClaimsError::ActorCycle { .. })
    ));
}

#[test]
fn reentry_skips_only_the_cycle_check() {
    let user = user_token(Some("read"), NOW + 3600);
    let g = scopes(&["read"]);
    let t1 = mint(&caller(ORCH), Some(&user), &g, 8).unwrap();
    let t2 = mint(&caller(SUBAGENT), Some(&as_subject(&t1)), &g, 8).unwrap();
    let again = |max| {
        let orch = caller(ORCH);
        let subject = as_subject(&t2);
        build_claims(
            &MintRequest {
                caller: &orch,
                subject: Some(&subject),
                audience: "https://agents.example.org/next",
                granted_scopes: &g,
                ttl_secs: 300,
                max_chain_depth: max,
                allow_reentry: true,
            },
            ISS,
            NOW,
            "jti-2".into(),
        )
    };
    let t3 = again(8).unwrap();
    let chain: Vec<&str> = t3
        .act
        .as_ref()
        .unwrap()
        .chain()
        .map(|a| a.sub.as_str())
        .collect();
    assert_eq!(chain, [ORCH, SUBAGENT, ORCH]);
    assert_eq!(
        again(2),
        Err(ClaimsError::ChainTooDeep { depth: 3, max: 2 })
    );
}

#[test]
fn may_act_table() {
    use serde_json::json;
    let cases: [(&str, serde_json::Value, Result<(), ClaimsError>); 7] = [
        ("names the caller", json!({"sub": ORCH}), Ok(())),
        (
            "names the caller, iss = gateway",
            json!({"sub": ORCH, "iss": ISS}),
            Ok(()),
        ),
        (
            "names the caller, iss = trust domain",
            json!({"sub": ORCH, "iss": "spiffe://example.org"}),
            Ok(()),
        ),
        (
            "names another agent",
            json!({"sub": SUBAGENT}),
            Err(ClaimsError::MayActMismatch {
                caller: ORCH.into(),
            }),
        ),
        (
            "right sub, foreign iss",
            json!({"sub": ORCH, "iss": "https://evil.example"}),
            Err(ClaimsError::MayActMismatch {
                caller: ORCH.into(),
            }),
        ),
        (
            "no sub",
            json!({"iss": ISS}),
            Err(ClaimsError::MayActMalformed),
        ),
        (
            "not an object",
            json!(ORCH),
            Err(ClaimsError::MayActMalformed),
        ),
    ];
    let g = scopes(&["read"]);
    for (name, may_act, want) in cases {
        let mut s = user_token(Some("read"), NOW + 3600);
        s.may_act = Some(std::sync::Arc::new(may_act));
        let got = mint(&caller(ORCH), Some(&s), &g, 4).map(|_| ());
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn act_deserialization_drops_non_identity_members() {
    let a: Actor = serde_json::from_value(serde_json::json!({
        "sub": ORCH, "exp": 1, "aud": "x", "act": {"sub": SUBAGENT, "scope": "admin"}
    }))
    .unwrap();
    assert_eq!(
        serde_json::to_value(&a).unwrap(),
        serde_json::json!({"sub": ORCH, "act": {"sub": SUBAGENT}})
    );
}

#[test]
fn exp_never_passes_the_callers_certificate() {
    let granted = scopes(&["read"]);
    let user = user_token(Some("read"), NOW + 3_600);
    // (notAfter, subject) → exp, or refused.
    let cases: [(i64, Option<&SubjectToken>, Option<i64>); 5] = [
        (NOW + 60, None, Some(NOW + 60)),
        (NOW + 60, Some(&user), Some(NOW + 60)),
        (NOW + 10_000, Some(&user), Some(NOW + 300)),
        (NOW, None, None),
        (NOW - 1, Some(&user), None),
    ];
    for (not_after, subject, want) in cases {
        let mut c = caller(ORCH);
        c.not_after = not_after;
        match (mint(&c, subject, &granted, 4), want) {
            (Ok(t), Some(exp)) => assert_eq!(t.exp, exp, "notAfter {not_after}"),
            (Err(ClaimsError::CallerCertificateExpired { .. }), None) => {}
            (got, want) => panic!("notAfter {not_after}: {got:?}, wanted {want:?}"),
        }
    }
}

#[test]
fn the_minters_borrowed_claims_serialise_as_build_claims_does() {
    // The minter signs the JSON of `claims_view`; it must be byte for byte
    // the JSON of `build_claims`' claim set (same members, same order).
    let orch = caller(ORCH);
    let sub = caller(SUBAGENT);
    let granted = scopes(&["write", "read", "read", ""]);
    let user = user_token(Some("read write admin"), NOW + 600);
    let first = mint(&orch, Some(&user), &granted, 4).unwrap();
    let hop = as_subject(&first);
    let no_scope = user_token(None, NOW + 600);
    for (who, subject) in [
        (&orch, None),
        (&orch, Some(&user)),
        (&orch, Some(&no_scope)),
        (&sub, Some(&hop)),
    ] {
        let req = MintRequest {
            caller: who,
            subject,
            audience: "https://agents.example.org/next",
            granted_scopes: &granted,
            ttl_secs: 300,
            max_chain_depth: 4,
            allow_reentry: false,
        };
        let mut owned = build_claims(&req, ISS, NOW, "jti-1".into()).unwrap();
        let mut view = claims_view(&req, ISS, NOW, "jti-1").unwrap();
        assert_eq!(
            serde_json::to_string(&view).unwrap(),
            serde_json::to_string(&owned).unwrap()
        );
        // With a certificate binding too (the token endpoint's tokens).
        let cnf = Cnf::for_caller(who);
        owned.cnf = Some(cnf.clone());
        view.cnf = Some(&cnf);
        let json = serde_json::to_string(&view).unwrap();
        assert_eq!(json, serde_json::to_string(&owned).unwrap());
        assert!(json.ends_with(&format!(
            ",\"cnf\":{{\"x5t#S256\":\"thumb-{}\"}}}}",
            who.spiffe_id
        )));
    }
}
