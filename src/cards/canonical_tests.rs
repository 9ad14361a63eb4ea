use super::*;
use serde_json::json;

fn jcs_str(v: &Value) -> String {
    String::from_utf8(jcs(v).unwrap()).unwrap()
}

#[test]
fn rfc8785_section_3_2_2_example() {
    let input = r#"{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"#;
    let v: Value = serde_json::from_str(input).unwrap();
    assert_eq!(
        jcs_str(&v),
        "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\
         \"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
    );
}

#[test]
fn rfc8785_section_3_2_3_sorting_by_utf16() {
    let input = r#"{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }"#;
    let v: Value = serde_json::from_str(input).unwrap();
    assert_eq!(
        jcs_str(&v),
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
         \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
         \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
    );
}

#[test]
fn rfc8785_appendix_b_numbers() {
    let table: &[(u64, &str)] = &[
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ];
    for &(bits, want) in table {
        let v = Value::from(f64::from_bits(bits));
        assert_eq!(jcs_str(&v), want, "{bits:#018x}");
    }
    // Integers are IEEE-754 doubles too.
    let v: Value = serde_json::from_str("[1.0, 9007199254740993, -0]").unwrap();
    assert_eq!(jcs_str(&v), "[1,9007199254740992,0]");
}

#[test]
fn presence_rules() {
    let card = json!({
        "name": "A", "description": "", "version": "1",
        "supportedInterfaces": [{"url": "u", "protocolBinding": "JSONRPC", "protocolVersion": "1.0", "tenant": ""}],
        "capabilities": {"streaming": false, "extensions": []},
        "securitySchemes": {
            "m": {"mtlsSecurityScheme": {"description": ""}},
            "o": {"oauth2SecurityScheme": {"flows": {"clientCredentials": {"tokenUrl": "t"}}, "oauth2MetadataUrl": ""}}
        },
        "securityRequirements": [{"schemes": {"m": {"list": []}, "o": {"list": ["s"]}}}],
        "defaultInputModes": [],
        "skills": [{"id": "i", "name": "n", "description": "", "tags": [], "examples": []}],
        "iconUrl": null,
        "x-vendor": "", "x-kept": {"a": ""},
        "signatures": [{"protected": "p", "signature": "s"}]
    });
    assert_eq!(
        presence_normalised(&card),
        json!({
            "name": "A", "description": "", "version": "1",
            "supportedInterfaces": [{"url": "u", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {"streaming": false},
            "securitySchemes": {
                "m": {"mtlsSecurityScheme": {}},
                "o": {"oauth2SecurityScheme": {"flows": {"clientCredentials": {"tokenUrl": "t", "scopes": {}}}}}
            },
            "securityRequirements": [{"schemes": {"m": {}, "o": {"list": ["s"]}}}],
            "defaultInputModes": [], "defaultOutputModes": [],
            "skills": [{"id": "i", "name": "n", "description": "", "tags": []}],
            "x-kept": {"a": ""}
        })
    );
    let bytes = String::from_utf8(canonicalize(&card).unwrap()).unwrap();
    assert!(bytes.contains(r#""description":"","name":"A""#), "{bytes}");
    assert!(
        bytes.contains(r#""schemes":{"m":{},"o":{"list":["s"]}}"#),
        "{bytes}"
    );
    // `{}` and `{"list": []}` are the same term.
    let mut sdk = card.clone();
    sdk["securityRequirements"][0]["schemes"]["m"] = json!({});
    assert_eq!(canonicalize(&sdk).unwrap(), canonicalize(&card).unwrap());
}
