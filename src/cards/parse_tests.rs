use super::*;
use crate::cards::model::*;

const V1: &str = include_str!("testdata/invoice-v1.json");
const V03: &str = include_str!("testdata/invoice-v03.json");

fn err(json: &str) -> String {
    parse_card(json.as_bytes()).unwrap_err().to_string()
}

fn minimal() -> serde_json::Value {
    serde_json::json!({
        "name": "A", "description": "", "version": "1",
        "supportedInterfaces": [{"url": "https://a/x", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {}, "defaultInputModes": [], "defaultOutputModes": [], "skills": []
    })
}

#[test]
fn reference_v1_card_parses() {
    let card = parse_card(V1.as_bytes()).unwrap();
    assert_eq!(card.name, "Invoice Agent");
    assert_eq!(card.supported_interfaces.len(), 2);
    assert_eq!(card.supported_interfaces[1].protocol_binding, "HTTP+JSON");
    assert_eq!(card.capabilities.extended_agent_card, Some(true));
    assert!(matches!(
        card.security_schemes["workload-mtls"],
        SecurityScheme::Mtls(_)
    ));
    let SecurityScheme::OAuth2(o) = &card.security_schemes["corp-oauth"] else {
        panic!("oauth2 expected")
    };
    let cc = o.flows.client_credentials.as_ref().unwrap();
    assert_eq!(cc.token_url, "https://auth.example.com/oauth2/token");
    let req = &card.security_requirements[0].schemes;
    assert_eq!(req["workload-mtls"].list, Vec::<String>::new());
    assert_eq!(req["corp-oauth"].list, vec!["invoices.read"]);
    assert_eq!(card.skills[0].security_requirements.len(), 1);
}

#[test]
fn reference_v03_card_normalises_to_the_v1_model() {
    let v1 = parse_card(V1.as_bytes()).unwrap();
    let mut v03 = parse_card(V03.as_bytes()).unwrap();
    // v0.3 interfaces carry the card's protocol version, Major.Minor.
    for i in &mut v03.supported_interfaces {
        assert_eq!(i.protocol_version, "0.3");
        i.protocol_version = "1.0".into();
    }
    assert_eq!(v03, v1);
}

#[test]
fn v1_round_trips_through_the_model_without_loss() {
    let mut v = minimal();
    v["x-vendor"] = serde_json::json!({"k": [1, 2]});
    v["supportedInterfaces"][0]["x-iface"] = "kept".into();
    v["capabilities"]["streaming"] = false.into();
    let card = parse_card_value(v.clone()).unwrap();
    assert_eq!(card.extra["x-vendor"], v["x-vendor"]);
    assert_eq!(card.to_value(), v);
}

#[test]
fn sdk_empty_string_list_is_an_empty_list() {
    let mut v = minimal();
    v["securitySchemes"] = serde_json::json!({"m": {"mtlsSecurityScheme": {}}});
    v["securityRequirements"] = serde_json::json!([{"schemes": {"m": {}}}]);
    let card = parse_card_value(v).unwrap();
    assert!(card.security_requirements[0].schemes["m"].list.is_empty());
}

#[test]
fn v03_details() {
    let v03 = serde_json::json!({
        "protocolVersion": "0.3.0", "name": "B", "description": "d", "version": "2",
        "url": "https://b/rpc",
        "capabilities": {"stateTransitionHistory": true},
        "supportsExtendedAgentCard": false,
        "securitySchemes": {
            "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
            "bearer": {"type": "http", "scheme": "Bearer", "bearerFormat": "JWT"},
            "oidc": {"type": "openIdConnect", "openIdConnectUrl": "https://id/.well-known/openid-configuration"}
        },
        "security": [{"key": []}, {"bearer": [], "oidc": ["openid"]}],
        "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "s", "name": "S", "description": "", "tags": [], "security": [{"oidc": ["x"]}]}]
    });
    let card = parse_card_value(v03).unwrap();
    let i = &card.supported_interfaces;
    assert_eq!(i.len(), 1);
    assert_eq!(
        (i[0].url.as_str(), i[0].protocol_binding.as_str()),
        ("https://b/rpc", "JSONRPC")
    );
    assert_eq!(card.capabilities.extended_agent_card, Some(false));
    assert!(card.capabilities.extra.is_empty());
    let SecurityScheme::ApiKey(k) = &card.security_schemes["key"] else {
        panic!()
    };
    assert_eq!((k.location.as_str(), k.name.as_str()), ("header", "X-Key"));
    assert!(
        matches!(&card.security_schemes["bearer"], SecurityScheme::HttpAuth(h) if h.bearer_format == "JWT")
    );
    assert_eq!(card.security_requirements.len(), 2);
    assert_eq!(
        card.security_requirements[1].schemes["oidc"].list,
        vec!["openid"]
    );
    assert_eq!(
        card.skills[0].security_requirements[0].schemes["oidc"].list,
        vec!["x"]
    );
}

#[test]
fn errors_name_the_path() {
    let mut v = minimal();
    v.as_object_mut().unwrap().remove("supportedInterfaces");
    assert_eq!(
        parse_card_value(v).unwrap_err().to_string(),
        "$.supportedInterfaces: required field missing"
    );

    let mut v = minimal();
    v["supportedInterfaces"][0]
        .as_object_mut()
        .unwrap()
        .remove("url");
    assert_eq!(
        parse_card_value(v).unwrap_err().to_string(),
        "$.supportedInterfaces[0].url: required field missing"
    );

    let mut v = minimal();
    v["securityRequirements"] = serde_json::json!([{"schemes": {"corp": {"list": []}}}]);
    assert_eq!(
        parse_card_value(v).unwrap_err().to_string(),
        "$.securityRequirements[0].schemes.corp: references unknown security scheme \"corp\""
    );

    let mut v = minimal();
    let skill = serde_json::json!({"id": "a", "name": "a", "description": "", "tags": []});
    let mut bad = skill.clone();
    bad["securityRequirements"] = serde_json::json!([{"schemes": {"nope": {}}}]);
    v["skills"] = serde_json::json!([skill, bad]);
    assert_eq!(
        parse_card_value(v).unwrap_err().to_string(),
        "$.skills[1].securityRequirements[0].schemes.nope: references unknown security scheme \"nope\""
    );

    let mut v = minimal();
    v["skills"] = serde_json::json!([{"id": "a", "name": 5, "description": "", "tags": []}]);
    let e = parse_card_value(v).unwrap_err().to_string();
    assert!(e.starts_with("$.skills[0].name: invalid type"), "{e}");

    let mut v = minimal();
    v["supportedInterfaces"] = serde_json::json!([]);
    let e = parse_card_value(v).unwrap_err().to_string();
    assert_eq!(e, "$.supportedInterfaces: must list at least one interface");

    let mut v = minimal();
    v["securitySchemes"] = serde_json::json!({"k": {"type": "kerberos"}});
    let e = parse_card_value(v).unwrap_err().to_string();
    assert_eq!(
        e,
        "$.securitySchemes.k.type: unknown security scheme type \"kerberos\""
    );

    assert_eq!(err("[1]"), "$: an Agent Card must be a JSON object");
}

#[test]
fn invalid_json_reports_line_and_column() {
    let e = parse_card(b"{\n  \"name\": \"x\",\n  oops\n}").unwrap_err();
    assert!(
        matches!(
            e,
            CardError::Json {
                line: 3,
                column: 3,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn duplicate_members_are_refused() {
    let e = err(r#"{"name": "a", "skills": [{"id": "x", "id": "y"}], "name": "b"}"#);
    assert_eq!(e, "$.skills[0].id: duplicate member name");
    let e = err(r#"{"name": "a", "name": "b"}"#);
    assert_eq!(e, "$.name: duplicate member name");
}

#[test]
fn v03_reference_errors_use_v03_paths() {
    let mut v: serde_json::Value = serde_json::from_str(V03).unwrap();
    v["skills"][0]["security"] = serde_json::json!([{"corp": ["x"]}]);
    assert_eq!(
        parse_card_value(v).unwrap_err().to_string(),
        "$.skills[0].security[0].corp: references unknown security scheme \"corp\""
    );
    let mut v: serde_json::Value = serde_json::from_str(V03).unwrap();
    v["security"] = serde_json::json!([{"workload-mtls": "x"}]);
    assert_eq!(
        parse_card_value(v).unwrap_err().to_string(),
        "$.security[0].workload-mtls: scopes must be an array of strings"
    );
}
