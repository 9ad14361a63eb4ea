use super::*;
use crate::cards::parse::parse_card_value;
use serde_json::json;

const V1: &str = include_str!("testdata/invoice-v1.json");
const V03: &str = include_str!("testdata/invoice-v03.json");

/// A card with every scheme kind and the given requirements.
fn card(reqs: serde_json::Value, skills: serde_json::Value) -> AgentCard {
    parse_card_value(json!({
        "name": "Agent X", "description": "", "version": "1",
        "supportedInterfaces": [{"url": "https://x/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {},
        "securitySchemes": {
            "mtls": {"mtlsSecurityScheme": {}},
            "bearer": {"httpAuthSecurityScheme": {"scheme": "bearer"}},
            "basic": {"httpAuthSecurityScheme": {"scheme": "Basic"}},
            "gw-oauth": {"oauth2SecurityScheme": {"flows": {"clientCredentials": {
                "tokenUrl": "https://gw.example/token", "scopes": {}}}}},
            "corp-oauth": {"oauth2SecurityScheme": {"flows": {"clientCredentials": {
                "tokenUrl": "https://corp.example/token", "scopes": {}}}}},
            "gw-oidc": {"openIdConnectSecurityScheme": {"openIdConnectUrl": "https://gw.example/.well-known/openid-configuration"}},
            "corp-oidc": {"openIdConnectSecurityScheme": {"openIdConnectUrl": "https://corp.example/.well-known/openid-configuration"}},
            "key": {"apiKeySecurityScheme": {"location": "header", "name": "X-Key"}},
            "other-key": {"apiKeySecurityScheme": {"location": "header", "name": "X-Other"}}
        },
        "securityRequirements": reqs,
        "defaultInputModes": [], "defaultOutputModes": [], "skills": skills
    }))
    .unwrap()
}

fn caps(mtls: bool) -> Capabilities {
    Capabilities {
        mtls_to_upstream: mtls,
        gateway_token_issuers: vec!["https://gw.example/".into()],
        accept_gateway_token_schemes: HashSet::new(),
        api_keys: ["key".to_string()].into(),
    }
}

#[test]
fn satisfiability_table() {
    // (requirements, gateway has mTLS, indexes of satisfiable alternatives or None)
    let table: Vec<(serde_json::Value, bool, Option<Vec<usize>>)> = vec![
        (json!([]), false, Some(vec![0])),
        (json!([{"schemes": {"mtls": {}}}]), true, Some(vec![0])),
        (json!([{"schemes": {"mtls": {}}}]), false, None),
        (json!([{"schemes": {"bearer": {}}}]), false, Some(vec![0])),
        (json!([{"schemes": {"basic": {}}}]), true, None),
        (
            json!([{"schemes": {"gw-oauth": {"list": ["a"]}}}]),
            false,
            Some(vec![0]),
        ),
        (
            json!([{"schemes": {"corp-oauth": {"list": ["a"]}}}]),
            true,
            None,
        ),
        (json!([{"schemes": {"gw-oidc": {}}}]), false, Some(vec![0])),
        (json!([{"schemes": {"corp-oidc": {}}}]), false, None),
        (json!([{"schemes": {"key": {}}}]), false, Some(vec![0])),
        (json!([{"schemes": {"other-key": {}}}]), false, None),
        // AND: every term must be met.
        (
            json!([{"schemes": {"mtls": {}, "gw-oauth": {}}}]),
            true,
            Some(vec![0]),
        ),
        (
            json!([{"schemes": {"mtls": {}, "gw-oauth": {}}}]),
            false,
            None,
        ),
        (
            json!([{"schemes": {"mtls": {}, "corp-oauth": {}}}]),
            true,
            None,
        ),
        // OR: any alternative will do; unsatisfiable ones are dropped.
        (
            json!([{"schemes": {"corp-oauth": {}}}, {"schemes": {"mtls": {}, "key": {}}}]),
            true,
            Some(vec![1]),
        ),
        (
            json!([{"schemes": {"corp-oauth": {}}}, {"schemes": {"mtls": {}}}, {"schemes": {"bearer": {}}}]),
            false,
            Some(vec![2]),
        ),
        (
            json!([{"schemes": {"corp-oauth": {}}}, {"schemes": {"other-key": {}}}]),
            true,
            None,
        ),
    ];
    for (i, (reqs, mtls, want)) in table.into_iter().enumerate() {
        let c = card(reqs.clone(), json!([]));
        let got = satisfiable_alternatives(&c, &caps(mtls))
            .map(|alts| alts.iter().map(|a| a.index).collect::<Vec<_>>())
            .ok();
        assert_eq!(got, want, "row {i}: {reqs}");
    }
}

#[test]
fn configured_scheme_names_accept_gateway_tokens() {
    let c = card(
        json!([{"schemes": {"corp-oauth": {}, "corp-oidc": {}}}]),
        json!([]),
    );
    let mut caps = caps(false);
    assert!(satisfiable_alternatives(&c, &caps).is_err());
    caps.accept_gateway_token_schemes = ["corp-oauth".to_string(), "corp-oidc".to_string()].into();
    let alts = satisfiable_alternatives(&c, &caps).unwrap();
    assert!(alts[0]
        .terms
        .iter()
        .all(|t| t.how == Satisfied::GatewayToken));
}

#[test]
fn unsatisfiable_names_the_agent_and_each_alternative() {
    let c = card(
        json!([{"schemes": {"corp-oauth": {}}}, {"schemes": {"mtls": {}, "other-key": {}}}]),
        json!([]),
    );
    let e = satisfiable_alternatives(&c, &caps(false)).unwrap_err();
    assert_eq!(e.agent, "Agent X");
    assert_eq!(e.alternatives.len(), 2);
    let msg = e.to_string();
    assert!(msg.starts_with("agent \"Agent X\""), "{msg}");
    assert!(
        msg.contains("alternative 0: \"corp-oauth\" needs OAuth 2"),
        "{msg}"
    );
    assert!(msg.contains("alternative 1: \"mtls\" needs mTLS"), "{msg}");
    assert!(msg.contains("\"other-key\" needs an API key"), "{msg}");
}

#[test]
fn reference_cards_need_mtls_and_a_gateway_oauth_issuer() {
    for text in [V1, V03] {
        let c = crate::cards::parse_card(text.as_bytes()).unwrap();
        let mut caps = Capabilities {
            mtls_to_upstream: true,
            gateway_token_issuers: vec!["https://auth.example.com/".into()],
            ..Default::default()
        };
        let alts = satisfiable_alternatives(&c, &caps).unwrap();
        assert_eq!(alts.len(), 1);
        let hows: Vec<_> = alts[0]
            .terms
            .iter()
            .map(|t| (t.scheme.as_str(), t.how))
            .collect();
        assert_eq!(
            hows,
            [
                ("corp-oauth", Satisfied::GatewayToken),
                ("workload-mtls", Satisfied::Mtls)
            ]
        );
        caps.mtls_to_upstream = false;
        assert!(satisfiable_alternatives(&c, &caps).is_err());
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn scope_decision_table() {
    let reqs = json!([
        {"schemes": {"mtls": {}, "gw-oauth": {"list": ["read", "write"]}}},
        {"schemes": {"gw-oidc": {"list": ["admin"]}}}
    ]);
    let skills = json!([
        {"id": "plain", "name": "p", "description": "", "tags": []},
        {"id": "pay", "name": "p", "description": "", "tags": [],
         "securityRequirements": [{"schemes": {"gw-oauth": {"list": ["pay"]}}},
                                  {"schemes": {"gw-oauth": {"list": ["pay.small", "read"]}}}]}
    ]);
    let c = card(reqs, skills);
    type Row<'a> = (&'a [&'a str], &'a [&'a str], ScopeDecision);
    let ok = |v: &[&str]| ScopeDecision::Ok { scopes: s(v) };
    let insufficient = |needed: &[&str], alternative: &[&str]| ScopeDecision::InsufficientScope {
        needed: s(needed),
        alternative: s(alternative),
    };
    let table: Vec<Row> = vec![
        (&[], &["read", "write"], ok(&["read", "write"])),
        (&[], &["admin", "read", "write"], ok(&["read", "write"])),
        (&[], &["admin"], ok(&["admin"])),
        (&[], &["read"], insufficient(&["write"], &["read", "write"])),
        (&[], &[], insufficient(&["admin"], &["admin"])),
        (&["plain"], &["admin"], ok(&["admin"])),
        (
            &["pay"],
            &["read", "write", "pay"],
            ok(&["pay", "read", "write"]),
        ),
        (
            &["pay"],
            &["read", "write", "pay.small"],
            ok(&["pay.small", "read", "write"]),
        ),
        // A tie (one scope missing either way): the first combination wins.
        (
            &["pay"],
            &["admin", "pay.small"],
            insufficient(&["pay"], &["admin", "pay"]),
        ),
        (
            &["pay"],
            &["admin"],
            insufficient(&["pay"], &["admin", "pay"]),
        ),
        (&["plain", "pay"], &["admin", "pay"], ok(&["admin", "pay"])),
        (
            &["ghost"],
            &["admin"],
            ScopeDecision::UnknownSkill("ghost".into()),
        ),
    ];
    for (i, (skills, granted, want)) in table.into_iter().enumerate() {
        assert_eq!(required_scopes(&c, skills, &s(granted)), want, "row {i}");
    }
}

#[test]
fn no_requirements_need_no_scopes() {
    let c = card(json!([]), json!([]));
    assert_eq!(
        required_scopes(&c, &[], &[]),
        ScopeDecision::Ok { scopes: vec![] }
    );
}

#[test]
fn combinatorial_cards_are_refused() {
    let alts: Vec<serde_json::Value> = (0..20)
        .map(|i| json!({"schemes": {"gw-oauth": {"list": [format!("s{i}")]}}}))
        .collect();
    let skills: Vec<serde_json::Value> = (0..3)
        .map(|i| json!({"id": format!("k{i}"), "name": "k", "description": "", "tags": [], "securityRequirements": alts}))
        .collect();
    let c = card(json!(alts), json!(skills));
    // 20 × 20 × 20 = 8000 combinations.
    assert_eq!(
        required_scopes(&c, &["k0", "k1"], &[]),
        ScopeDecision::TooManyCombinations
    );
    // 20 × 20 = 400 is fine.
    assert_eq!(
        required_scopes(&c, &["k0"], &s(&["s3"])),
        ScopeDecision::Ok { scopes: s(&["s3"]) }
    );
}
