use super::*;
use crate::cards::parse::{parse_card, parse_card_value};
use crate::cards::requirements::{satisfiable_alternatives, Capabilities};
use serde_json::json;

const V1: &str = include_str!("testdata/invoice-v1.json");
const V03: &str = include_str!("testdata/invoice-v03.json");

fn td() -> Vec<String> {
    vec!["example.org".into(), "partner.org".into()]
}

#[test]
fn urls_point_at_the_gateway_route() {
    let table = [
        // (interface url, upstream base, expected)
        (
            "https://up:8443/a2a/jsonrpc",
            "https://up:8443/a2a",
            "https://gw/agents/inv/jsonrpc",
        ),
        (
            "https://up:8443/a2a/jsonrpc",
            "https://up:8443/a2a/",
            "https://gw/agents/inv/jsonrpc",
        ),
        (
            "https://up:8443/a2a",
            "https://up:8443/a2a",
            "https://gw/agents/inv",
        ),
        (
            "https://up:8443/a2a/",
            "https://up:8443/a2a",
            "https://gw/agents/inv",
        ),
        (
            "https://up:8443/rest?x=1",
            "https://up:8443",
            "https://gw/agents/inv/rest?x=1",
        ),
        // Upstream advertises its public name; the configured upstream differs.
        (
            "https://invoices.example.com/a2a/rest",
            "https://10.0.0.5:8443/a2a",
            "https://gw/agents/inv/rest",
        ),
        (
            "https://invoices.example.com/other",
            "https://10.0.0.5:8443/a2a",
            "https://gw/agents/inv/other",
        ),
        // A prefix of a path segment is not the base path.
        (
            "https://up/a2abc",
            "https://up/a2a",
            "https://gw/agents/inv/a2abc",
        ),
    ];
    for (url, upstream, want) in table {
        assert_eq!(
            gateway_url(url, "https://gw/agents/inv/", upstream),
            want,
            "{url} under {upstream}"
        );
    }
}

#[test]
fn for_callers_replaces_auth_and_keeps_the_rest() {
    let mut upstream = parse_card(V1.as_bytes()).unwrap();
    upstream.extra.insert("x-vendor".into(), json!(1));
    upstream.signatures.push(Default::default());
    let card = for_callers(
        &upstream,
        "https://gw:8443/agents/invoices",
        "https://invoices.example.com/a2a",
        &td(),
    );

    let urls: Vec<_> = card
        .supported_interfaces
        .iter()
        .map(|i| i.url.as_str())
        .collect();
    assert_eq!(
        urls,
        [
            "https://gw:8443/agents/invoices/jsonrpc",
            "https://gw:8443/agents/invoices/rest"
        ]
    );
    assert!(card.signatures.is_empty());
    assert_eq!(card.extra["x-vendor"], json!(1));
    assert_eq!(card.capabilities, upstream.capabilities);
    assert_eq!(card.skills[0].id, "invoice-lookup");
    assert!(card.skills[0].security_requirements.is_empty());

    let v = card.to_value();
    assert_eq!(
        v["securityRequirements"],
        json!([
            {"schemes": {"gateway-mtls": {"list": []}}},
            {"schemes": {"gateway-mtls": {"list": []}, "gateway-token": {"list": []}}}
        ])
    );
    let desc = v["securitySchemes"]["gateway-mtls"]["mtlsSecurityScheme"]["description"]
        .as_str()
        .unwrap();
    assert!(desc.contains("example.org, partner.org"), "{desc}");
    assert_eq!(
        v["securitySchemes"]["gateway-token"]["httpAuthSecurityScheme"]["scheme"],
        "Bearer"
    );
    assert!(v["securitySchemes"].get("corp-oauth").is_none());

    // The served card is itself a valid card, and a caller holding only an
    // SVID can satisfy it.
    let reparsed = parse_card_value(v).unwrap();
    assert_eq!(reparsed, card);
    let caller = Capabilities {
        mtls_to_upstream: true,
        ..Default::default()
    };
    let alts = satisfiable_alternatives(&card, &caller).unwrap();
    assert_eq!(alts[0].index, 0);
}

#[test]
fn to_v03_renders_the_reference_v03_card() {
    let v1 = parse_card(V1.as_bytes()).unwrap();
    let want: Value = serde_json::from_str(V03).unwrap();
    assert_eq!(to_v03(&v1), want);
}

#[test]
fn to_v03_round_trips_through_the_parser() {
    let mut card = parse_card(V1.as_bytes()).unwrap();
    card.security_schemes.insert(
        "key".into(),
        serde_json::from_value(json!({"apiKeySecurityScheme": {"location": "query", "name": "k"}}))
            .unwrap(),
    );
    let served = for_callers(
        &card,
        "https://gw/agents/a",
        "https://invoices.example.com/a2a",
        &td(),
    );
    for c in [card, served] {
        let v03 = to_v03(&c);
        if let Some(k) = v03["securitySchemes"].get("key") {
            assert_eq!(k, &json!({"type": "apiKey", "in": "query", "name": "k"}));
        }
        let mut back = parse_card_value(v03).unwrap();
        for i in &mut back.supported_interfaces {
            assert_eq!(i.protocol_version, "0.3");
            i.protocol_version = "1.0".into();
        }
        assert_eq!(back, c);
    }
}
