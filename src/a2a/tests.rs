use super::*;
use http::Method;

fn ep() -> Endpoints {
    Endpoints::new([
        ("JSONRPC", "/a2a/jsonrpc"),
        ("HTTP+JSON", "/a2a/rest"),
        ("GRPC", "/grpc"),
    ])
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");

fn rpc(body: &[u8]) -> Result<Operation, Refused> {
    classify(&Method::POST, "/a2a/jsonrpc", Some(&JSON), body, &ep())
}

fn rpc_code(body: &[u8]) -> (i64, serde_json::Value) {
    match rpc(body) {
        Err(Refused::JsonRpc { code, id, .. }) => (code, id),
        other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
    }
}

#[test]
fn jsonrpc_v1_and_v03_names() {
    let op = rpc(br#"{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{}}"#).unwrap();
    assert_eq!(
        (op.name.as_str(), op.binding, op.streaming),
        ("SendMessage", Binding::JsonRpc, false)
    );
    let op = rpc(br#" {"jsonrpc":"2.0","id":"x","method":"message/stream"} "#).unwrap();
    assert_eq!(
        (op.name.as_str(), op.streaming),
        ("SendStreamingMessage", true)
    );
    let op = rpc(br#"{"method":"tasks/cancel","jsonrpc":"2.0"}"#).unwrap();
    assert_eq!(op.name, "CancelTask");
}

#[test]
fn jsonrpc_refusals_carry_standard_codes_and_the_id() {
    use serde_json::json;
    let cases: &[(&[u8], i64, serde_json::Value)] = &[
        (b"", -32600, json!(null)),
        (b"{", -32700, json!(null)),
        (b"\xEF\xBB\xBF{}", -32700, json!(null)),
        (b"{\x00\"\x00}\x00", -32700, json!(null)),
        (b"\xff\xfe{\x00}\x00", -32700, json!(null)),
        (b"\xc3\x28", -32700, json!(null)),
        (b"[]", -32600, json!(null)),
        (
            br#"[{"jsonrpc":"2.0","id":1,"method":"GetTask"}]"#,
            -32600,
            json!(null),
        ),
        (b"42", -32600, json!(null)),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"GetTask"} x"#,
            -32700,
            json!(1),
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"GetTask","method":"CancelTask"}"#,
            -32600,
            json!(1),
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"GetTask","\u006dethod":"x"}"#,
            -32600,
            json!(1),
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"a":[{"b":1,"b":2}]}}"#,
            -32600,
            json!(1),
        ),
        (
            br#"{"jsonrpc":"1.0","id":"a","method":"GetTask"}"#,
            -32600,
            json!("a"),
        ),
        (
            br#"{"jsonrpc":"2.0","id":{},"method":"GetTask"}"#,
            -32600,
            json!(null),
        ),
        (br#"{"jsonrpc":"2.0","id":2,"method":7}"#, -32600, json!(2)),
        (
            br#"{"jsonrpc":"2.0","id":3,"method":"gettask"}"#,
            -32601,
            json!(3),
        ),
        (
            br#"{"jsonrpc":"2.0","id":3,"method":"GetTask "}"#,
            -32601,
            json!(3),
        ),
        (
            br#"{"jsonrpc":"2.0","id":3,"method":"Nope"}"#,
            -32601,
            json!(3),
        ),
    ];
    for (body, code, id) in cases {
        assert_eq!(
            rpc_code(body),
            (*code, id.clone()),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn jsonrpc_needs_a_json_media_type() {
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"GetTask"}"#;
    for ct in [
        None,
        Some("text/plain"),
        Some("application/jsonx"),
        Some("application/json; charset=utf-16"),
    ] {
        let ct = ct.map(HeaderValue::from_static);
        let r = classify(&Method::POST, "/a2a/jsonrpc", ct.as_ref(), body, &ep());
        assert!(
            matches!(
                r,
                Err(Refused::JsonRpc {
                    code: -32600,
                    operation: Some("GetTask"),
                    ..
                })
            ),
            "{ct:?}: {r:?}"
        );
    }
    for ct in [
        "application/json",
        "Application/JSON; charset=UTF-8",
        "application/a2a+json",
        "application/json;charset=\"utf-8\"",
    ] {
        assert!(json_media_type(Some(&HeaderValue::from_static(ct))), "{ct}");
    }
}

#[test]
fn paths_are_routed_to_one_binding_or_refused() {
    let e = ep();
    let c = |m: Method, p: &str| classify(&m, p, None, b"", &e);
    assert_eq!(
        c(Method::GET, "/a2a/rest/tasks/t1").unwrap().binding,
        Binding::Rest
    );
    assert_eq!(c(Method::GET, "/tasks/t1").unwrap().name, "GetTask");
    assert_eq!(c(Method::GET, "/a2a/jsonrpc"), Err(Refused::NotPost));
    assert_eq!(c(Method::POST, "/other"), Err(Refused::NoRoute));
    assert_eq!(c(Method::POST, "/grpc"), Err(Refused::NoRoute));
    assert_eq!(c(Method::GET, "/tasks/tasks"), Err(Refused::Ambiguous));
    // JSON-RPC only where the card says.
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"GetTask"}"#;
    let r = classify(&Method::POST, "/", Some(&JSON), body, &e);
    assert_eq!(r, Err(Refused::NoRoute));
}

#[test]
fn rest_bodies_are_strict_json_too() {
    let e = ep();
    let send = |ct: Option<&HeaderValue>, body: &[u8]| {
        classify(&Method::POST, "/a2a/rest/message:send", ct, body, &e)
    };
    assert_eq!(
        send(Some(&JSON), br#"{"message":{}}"#).unwrap().name,
        "SendMessage"
    );
    assert!(send(None, b"").is_ok());
    for (ct, body) in [
        (None, &br#"{"message":{}}"#[..]),
        (Some(&JSON), br#"{"message":{},"message":{}}"#),
        (Some(&JSON), b"\xEF\xBB\xBF{}"),
        (Some(&JSON), b"[{}]"),
    ] {
        assert!(
            matches!(
                send(ct, body),
                Err(Refused::RestBody {
                    operation: "SendMessage",
                    ..
                })
            ),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn endpoints_from_interfaces() {
    let e = Endpoints::new([
        ("JSONRPC", ""),
        ("JSONRPC", "/rpc?x=1"),
        ("HTTP+JSON", "/"),
        ("HTTP+JSON", "/api/a2a"),
        ("JSONRPC", "/bad//path"),
    ]);
    assert_eq!(e.jsonrpc, ["/", "/rpc"]);
    assert_eq!(e.rest, ["/api/a2a"]);
}
