//! The Agent Card examples of the A2A specification itself (copied verbatim
//! into `testdata/spec/`, see its README): every complete card parses into
//! the model with the meaning the spec gives it, every fragment is refused
//! with the path and reason a card author needs, and the §8.4.1 canonical
//! form example comes out byte for byte.

use serde_json::{json, Value};

use super::canonical::canonicalize;
use super::model::*;
use super::parse::{parse_card, parse_card_value, CardError};
use super::requirements::{satisfiable_alternatives, Capabilities};

const SAMPLE_V101: &str = include_str!("testdata/spec/v1.0.1-s8.5-sample-agent-card.json");
const SAMPLE_MAIN: &str = include_str!("testdata/spec/v1-main-16ba526-s8.5-sample-agent-card.json");
const SAMPLE_V030: &str = include_str!("testdata/spec/v0.3.0-s5.7-sample-agent-card.json");
const EXTENSIONS: &str = include_str!("testdata/spec/v1.0.1-s4.6.1-extension-declaration.json");
const PRESENCE_IN: &str = include_str!("testdata/spec/v1.0.1-s8.4.1-default-value-removal.json");
const PRESENCE_OUT: &str = include_str!("testdata/spec/v1.0.1-s8.4.1-canonical-form.json");

fn scopes(card: &AgentCard, alt: usize, scheme: &str) -> Vec<String> {
    card.security_requirements[alt].schemes[scheme].list.clone()
}

#[test]
fn section_8_5_sample_card_parses_with_its_meaning() {
    let card = parse_card(SAMPLE_V101.as_bytes()).expect("spec sample parses");
    assert_eq!(card.name, "GeoSpatial Route Planner Agent");
    assert_eq!(card.version, "1.2.0");
    let bindings: Vec<&str> = card
        .supported_interfaces
        .iter()
        .map(|i| i.protocol_binding.as_str())
        .collect();
    assert_eq!(bindings, ["JSONRPC", "GRPC", "HTTP+JSON"]);
    assert!(card
        .supported_interfaces
        .iter()
        .all(|i| i.protocol_version == "1.0"));
    assert_eq!(card.capabilities.streaming, Some(true));
    assert_eq!(card.capabilities.push_notifications, Some(true));
    assert_eq!(card.capabilities.extended_agent_card, Some(true));
    let SecurityScheme::OpenIdConnect(oidc) = &card.security_schemes["google"] else {
        panic!("the sample's only scheme is OpenID Connect");
    };
    assert_eq!(
        oidc.open_id_connect_url,
        "https://accounts.google.com/.well-known/openid-configuration"
    );
    assert_eq!(card.security_requirements.len(), 1);
    assert_eq!(scopes(&card, 0, "google"), ["openid", "profile", "email"]);
    let skills: Vec<&str> = card.skills.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(skills, ["route-optimizer-traffic", "custom-map-generator"]);
    assert_eq!(card.signatures.len(), 1);
}

/// v1.0.1's sample spells the requirement with the v0.3 `security` member;
/// the spec's main branch later changed it to `securityRequirements`. Both
/// spellings must mean the same card, or requirements would silently vanish.
#[test]
fn section_8_5_sample_means_the_same_in_both_spellings() {
    let v101 = parse_card(SAMPLE_V101.as_bytes()).unwrap();
    let main = parse_card(SAMPLE_MAIN.as_bytes()).unwrap();
    assert_eq!(v101, main);
}

#[test]
fn v0_3_sample_card_normalises_to_the_v1_sample() {
    let v03 = parse_card(SAMPLE_V030.as_bytes()).expect("v0.3.0 sample parses");
    let v1 = parse_card(SAMPLE_MAIN.as_bytes()).unwrap();
    // url + preferredTransport + additionalInterfaces → supportedInterfaces,
    // deduplicated, at the card's protocol version (Major.Minor).
    let ifaces: Vec<(&str, &str, &str)> = v03
        .supported_interfaces
        .iter()
        .map(|i| {
            (
                i.url.as_str(),
                i.protocol_binding.as_str(),
                i.protocol_version.as_str(),
            )
        })
        .collect();
    assert_eq!(
        ifaces,
        [
            (
                "https://georoute-agent.example.com/a2a/v1",
                "JSONRPC",
                "0.2"
            ),
            ("https://georoute-agent.example.com/a2a/grpc", "GRPC", "0.2"),
            (
                "https://georoute-agent.example.com/a2a/json",
                "HTTP+JSON",
                "0.2"
            ),
        ]
    );
    // supportsAuthenticatedExtendedCard → capabilities.extendedAgentCard.
    assert_eq!(v03.capabilities.extended_agent_card, Some(true));
    // type-tagged scheme → the v1.0 oneof key; security → securityRequirements.
    assert_eq!(v03.security_schemes, v1.security_schemes);
    assert_eq!(v03.security_requirements, v1.security_requirements);
    assert_eq!(v03.skills, v1.skills);
}

#[test]
fn section_4_6_1_fragment_is_refused_with_line_and_then_path() {
    // Verbatim, the example has a trailing comma: invalid JSON, reported
    // with line and column so the author can find it.
    match parse_card(EXTENSIONS.as_bytes()) {
        Err(CardError::Json { line, .. }) => assert_eq!(line, 9),
        other => panic!("expected a JSON error, got {other:?}"),
    }
    // With the comma fixed it is still a fragment: `version` is required.
    let fixed = EXTENSIONS.replace("\"0.3\",\n", "\"0.3\"\n");
    let err = parse_card(fixed.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "$.version: required field missing");
    // Completed, it parses with both extensions and the declared binding.
    let mut v: Value = serde_json::from_str(&fixed).unwrap();
    v["version"] = "1.0.0".into();
    let card = parse_card_value(v).unwrap();
    let uris: Vec<&str> = card
        .capabilities
        .extensions
        .iter()
        .map(|e| e.uri.as_str())
        .collect();
    assert_eq!(
        uris,
        [
            "https://standards.org/extensions/citations/v1",
            "https://example.com/extensions/geolocation/v1"
        ]
    );
    assert_eq!(card.supported_interfaces[0].protocol_version, "0.3");
}

/// §8.4.1's worked example. The spec shows a fragment, so it leaves out the
/// REQUIRED members the fragment lacks; a proto-based signer emits those
/// with their defaults (the rule the spec states for `description` and
/// `skills` in the same example), and so do we. Removing exactly the members
/// the fragment never had gives the spec's bytes.
#[test]
fn section_8_4_1_canonical_form() {
    let input: Value = serde_json::from_str(PRESENCE_IN).unwrap();
    let ours = String::from_utf8(canonicalize(&input).unwrap()).unwrap();
    assert_eq!(
        ours,
        r#"{"capabilities":{"pushNotifications":false,"streaming":false},"defaultInputModes":[],"defaultOutputModes":[],"description":"","name":"Example Agent","skills":[],"supportedInterfaces":[],"version":""}"#
    );
    let mut ours: Value = serde_json::from_str(&ours).unwrap();
    for absent in [
        "defaultInputModes",
        "defaultOutputModes",
        "supportedInterfaces",
        "version",
    ] {
        assert!(input.get(absent).is_none());
        ours.as_object_mut().unwrap().remove(absent);
    }
    assert_eq!(
        String::from_utf8(super::canonical::jcs(&ours).unwrap()).unwrap(),
        PRESENCE_OUT.trim_end()
    );
}

/// §12.7: a custom binding is a URI in `protocolBinding`; the card parses and
/// the binding is kept as written (the gateway forwards only what it knows).
#[test]
fn section_12_7_custom_binding_in_a_complete_card() {
    let mut v: Value = serde_json::from_str(SAMPLE_MAIN).unwrap();
    v["supportedInterfaces"] = json!([{
        "url": "wss://agent.example.com/a2a/websocket",
        "protocolBinding": "https://example.com/bindings/websocket/v1"
    }]);
    let err = parse_card_value(v.clone()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "$.supportedInterfaces[0].protocolVersion: required field missing"
    );
    v["supportedInterfaces"][0]["protocolVersion"] = "1.0".into();
    let card = parse_card_value(v).unwrap();
    assert_eq!(
        card.supported_interfaces[0].protocol_binding,
        "https://example.com/bindings/websocket/v1"
    );
}

#[test]
fn both_requirement_spellings_at_once_are_refused() {
    let mut v: Value = serde_json::from_str(SAMPLE_MAIN).unwrap();
    v["security"] = json!([{ "google": ["openid"] }]);
    assert_eq!(
        parse_card_value(v).unwrap_err().to_string(),
        "$.security: both \"security\" (v0.3) and \"securityRequirements\" (v1.0) are present; keep one"
    );
}

/// The sample requires Google-issued OIDC tokens: the gateway cannot mint
/// those unless configuration says the agent accepts gateway tokens under
/// that scheme, and then the token must carry exactly the listed scopes.
#[test]
fn section_8_5_sample_requirements_against_the_gateway() {
    let card = parse_card(SAMPLE_V101.as_bytes()).unwrap();
    let err = satisfiable_alternatives(&card, &Capabilities::default()).unwrap_err();
    assert!(
        err.to_string().contains(
            "alternative 0: \"google\" needs OpenID Connect tokens from an issuer that is not the gateway"
        ),
        "{err}"
    );
    let caps = Capabilities {
        accept_gateway_token_schemes: ["google".to_string()].into(),
        ..Capabilities::default()
    };
    let alts = satisfiable_alternatives(&card, &caps).unwrap();
    assert_eq!(alts.len(), 1);
    assert_eq!(alts[0].terms[0].scopes, ["openid", "profile", "email"]);
}
