//! The classifier, table-driven: what each message is, and every refusal
//! with its JSON-RPC code and the request id kept.

use http::{HeaderMap, HeaderValue};
use serde_json::{json, Value};

use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn class_of(body: Value) -> Class {
    classify(&HeaderMap::new(), body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{body}: {e}"))
        .class
}

fn refused(h: &HeaderMap, body: &str) -> Refused {
    match classify(h, body.as_bytes()) {
        Ok(m) => panic!("{body}: classified as {m:?}"),
        Err(e) => e,
    }
}

#[test]
fn methods_are_classified() {
    let table = [
        (
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}),
            Class::Session,
        ),
        (
            json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
            Class::Session,
        ),
        (
            json!({"jsonrpc":"2.0","id":"a","method":"tools/list"}),
            Class::Session,
        ),
        (
            json!({"jsonrpc":"2.0","id":1,"method":"resources/templates/list"}),
            Class::Session,
        ),
        (
            json!({"jsonrpc":"2.0","id":1,"method":"server/discover"}),
            Class::Session,
        ),
        (
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            Class::Session,
        ),
        (
            json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"p":"x"}}}),
            Class::Tool("read_file".into()),
        ),
        (
            json!({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a"}}),
            Class::Resource("file:///a".into()),
        ),
        (
            json!({"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"file:///a"}}),
            Class::Resource("file:///a".into()),
        ),
        (
            json!({"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"p"}}),
            Class::Prompt("p".into()),
        ),
        (
            json!({"jsonrpc":"2.0","id":2,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":"b"}}}),
            Class::Prompt("p".into()),
        ),
        (
            json!({"jsonrpc":"2.0","id":2,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"file:///{x}"}}}),
            Class::Resource("file:///{x}".into()),
        ),
        (json!({"jsonrpc":"2.0","id":9,"result":{}}), Class::Response),
        (
            json!({"jsonrpc":"2.0","id":9,"error":{"code":1,"message":"no"}}),
            Class::Response,
        ),
    ];
    for (body, want) in table {
        assert_eq!(class_of(body.clone()), want, "{body}");
    }
}

#[test]
fn refusals_keep_the_id_and_carry_the_spec_code() {
    let none = HeaderMap::new();
    let table: [(&str, i64, Value); 16] = [
        ("not json", -32700, Value::Null),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            -32600,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping"}"#,
            -32600,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#,
            -32600,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#,
            -32600,
            json!(3),
        ),
        (
            r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            -32600,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
            -32600,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#,
            -32600,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":"notifications/cancelled"}"#,
            -32600,
            json!(4),
        ),
        (
            r#"{"jsonrpc":"2.0","id":"t","method":"tasks/get","params":{"taskId":"x"}}"#,
            -32601,
            json!("t"),
        ),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{}}"#,
            -32602,
            json!(5),
        ),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":7}}"#,
            -32602,
            json!(5),
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"method":"completion/complete","params":{"ref":{"type":"ref/x"}}}"#,
            -32602,
            json!(6),
        ),
        (
            r#"{"jsonrpc":"2.0","id":7,"result":{},"error":{}}"#,
            -32600,
            json!(7),
        ),
        // A request that is also a response could be read as either.
        (
            r#"{"jsonrpc":"2.0","id":8,"method":"ping","result":{}}"#,
            -32600,
            json!(8),
        ),
        (
            r#"{"jsonrpc":"2.0","id":9,"method":"ping","error":{"code":1,"message":"x"}}"#,
            -32600,
            json!(9),
        ),
    ];
    for (body, code, id) in table {
        let r = refused(&none, body);
        assert_eq!((r.code(), &r.id), (code, &id), "{body}: {r}");
    }
}

#[test]
fn headers_must_agree_with_the_body() {
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file"}}"#;
    let ok = |h: &[(&'static str, &str)]| classify(&headers(h), call.as_bytes()).is_ok();
    assert!(ok(&[]));
    assert!(ok(&[
        ("mcp-method", "tools/call"),
        ("mcp-name", "read_file")
    ]));
    assert!(ok(&[("mcp-name", "=?base64?cmVhZF9maWxl?=")]));
    for bad in [
        vec![("mcp-method", "tools/list")],
        vec![("mcp-name", "delete_file")],
        vec![("mcp-name", "=?base64?ZGVsZXRlX2ZpbGU=?=")],
        vec![("mcp-name", "read_file"), ("mcp-name", "read_file")],
    ] {
        let r = refused(&headers(&bad), call);
        assert_eq!((r.code(), r.id.clone()), (-32020, json!(1)), "{bad:?}");
    }
    // Mcp-Name on a method without a name is a mismatch too.
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    assert_eq!(refused(&headers(&[("mcp-name", "x")]), list).code(), -32020);
}

#[test]
fn the_stateless_revision_requires_the_headers() {
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
    let v = ("mcp-protocol-version", "2026-07-28");
    assert_eq!(refused(&headers(&[v]), call).code(), -32020);
    assert_eq!(
        refused(&headers(&[v, ("mcp-method", "tools/call")]), call).code(),
        -32020
    );
    // The header is required when the body says 2026-07-28.
    assert_eq!(refused(&HeaderMap::new(), call).code(), -32020);
    let m = classify(
        &headers(&[v, ("mcp-method", "tools/call"), ("mcp-name", "a")]),
        call.as_bytes(),
    )
    .unwrap();
    assert_eq!(m.version.as_deref(), Some(MODERN));
    // Header and _meta disagree.
    let h = headers(&[
        ("mcp-protocol-version", "2025-11-25"),
        ("mcp-method", "tools/call"),
    ]);
    assert_eq!(refused(&h, call).code(), -32020);
}

#[test]
fn unknown_revisions_are_refused_with_the_supported_list() {
    let r = refused(
        &headers(&[("mcp-protocol-version", "1999-01-01")]),
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    );
    assert_eq!(r.code(), -32022);
    assert_eq!(r.data().unwrap()["requested"], "1999-01-01");
}

#[test]
fn digests_cover_the_arguments_not_the_id() {
    let a = classify(
        &HeaderMap::new(),
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"x":1,"y":2}}}"#,
    )
    .unwrap();
    let b = classify(
        &HeaderMap::new(),
        br#"{"id":2,"method":"tools/call","jsonrpc":"2.0","params":{"arguments":{"y":2,"x":1},"name":"t"}}"#,
    )
    .unwrap();
    let c = classify(
        &HeaderMap::new(),
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"x":1,"y":3}}}"#,
    )
    .unwrap();
    assert_eq!(a.arguments_sha256, b.arguments_sha256);
    assert_eq!(a.params_sha256, b.params_sha256);
    assert_ne!(a.arguments_sha256, c.arguments_sha256);
    assert_eq!(a.arguments_sha256.as_deref().map(str::len), Some(64));
}

#[test]
fn an_approval_binds_meta_except_its_per_request_members() {
    let with = |meta: &str| {
        classify(
            &HeaderMap::new(),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t","arguments":{{}}{meta}}}}}"#).as_bytes(),
        )
        .unwrap()
        .params_sha256
    };
    let plain = with("");
    // A progress token (and a repeated revision) differs per request.
    assert_eq!(with(r#","_meta":{"progressToken":7}"#), plain);
    assert_eq!(
        with(
            r#","_meta":{"progressToken":"p","io.modelcontextprotocol/protocolVersion":"2025-11-25"}"#
        ),
        plain
    );
    // A server's own extension key is part of the call.
    assert_ne!(with(r#","_meta":{"com.example/target":"prod"}"#), plain);
    assert_ne!(
        with(r#","_meta":{"progressToken":1,"com.example/target":"prod"}"#),
        with(r#","_meta":{"progressToken":2,"com.example/target":"dev"}"#)
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Members a message may be made of, some well formed, some not.
    fn member() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(r#""jsonrpc":"2.0""#.to_string()),
            Just(r#""id":1"#.to_string()),
            Just(r#""id":null"#.to_string()),
            proptest::sample::select(vec![
                "tools/call",
                "tools/list",
                "resources/read",
                "prompts/get",
                "completion/complete",
                "notifications/x",
                "initialize",
                "tasks/get",
                "",
            ])
            .prop_map(|m| format!(r#""method":"{m}""#)),
            "[a-z_]{0,8}".prop_map(|n| format!(r#""params":{{"name":"{n}","uri":"{n}"}}"#)),
            Just(r#""params":{"ref":{"type":"ref/prompt","name":"p"}}"#.to_string()),
            Just(r#""result":{}"#.to_string()),
            Just(r#""params":[]"#.to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary bytes never panic, and whatever is classified names a
        /// tool, resource or prompt only for the methods decided per name.
        #[test]
        fn classification_never_panics_and_is_exact(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            members in proptest::collection::vec(member(), 0..6),
            name in proptest::option::of("[ -~]{0,12}"),
        ) {
            let mut h = HeaderMap::new();
            if let Some(n) = name.as_deref().and_then(|n| HeaderValue::from_str(n).ok()) {
                h.insert("mcp-name", n);
            }
            let _ = classify(&h, &bytes);
            let body = format!("{{{}}}", members.join(","));
            if let Ok(m) = classify(&h, body.as_bytes()) {
                let per_name = matches!(
                    m.method.as_deref(),
                    Some("tools/call" | "resources/read" | "prompts/get" | "completion/complete")
                );
                prop_assert_eq!(m.name().is_some(), per_name, "{}", body);
                if let (Some(sent), true) = (name.as_deref(), per_name && m.method.as_deref() != Some("completion/complete")) {
                    prop_assert_eq!(Some(sent.trim()), m.name(), "{}", body);
                }
            }
        }
    }
}
