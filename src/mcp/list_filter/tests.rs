use serde_json::{json, Value};

use super::*;

/// Tools `echo` and `list_dir`, resources under `file:///shared/`, prompts
/// starting with `public_`.
fn policy(kind: ItemKind, name: &str) -> bool {
    match kind {
        ItemKind::Tool => name == "echo" || name == "list_dir",
        ItemKind::Resource | ItemKind::ResourceTemplate => name.starts_with("file:///shared/"),
        ItemKind::Prompt => name.starts_with("public_"),
    }
}

fn filter(method: &str, body: Value) -> Result<Value, ListFilterError> {
    let method = ListMethod::from_method(method).unwrap();
    filter_json_response(method, &json!(7), body.to_string().as_bytes(), &policy)
        .map(|b| serde_json::from_slice(&b).unwrap())
}

fn tools_answer() -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "result": {
        "tools": [
            {"name": "echo", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}},
            {"name": "delete_file", "inputSchema": {"type": "object"}, "annotations": {"destructiveHint": true}},
            {"name": "list_dir", "inputSchema": {"type": "object"}}
        ],
        "nextCursor": "page-2",
        "ttlMs": 60000,
        "cacheScope": "public",
        "_meta": {"x": 1}
    }})
}

#[test]
fn a_tools_list_keeps_only_the_allowed_tools_and_everything_else() {
    let out = filter("tools/list", tools_answer()).unwrap();
    let mut want = tools_answer();
    want["result"]["tools"].as_array_mut().unwrap().remove(1);
    // A filtered list is never shared between callers.
    want["result"]["cacheScope"] = json!("private");
    assert_eq!(out, want);
}

#[test]
fn an_unfiltered_page_is_private_too_and_an_absent_scope_stays_absent() {
    let mut answer = tools_answer();
    answer["result"]["tools"].as_array_mut().unwrap().remove(1);
    let out = filter("tools/list", answer.clone()).unwrap();
    assert_eq!(out["result"]["cacheScope"], "private");

    answer["result"]
        .as_object_mut()
        .unwrap()
        .remove("cacheScope");
    let out = filter("tools/list", answer.clone()).unwrap();
    assert_eq!(out, answer);
}

#[test]
fn resources_templates_and_prompts_are_filtered_by_their_own_member() {
    let out = filter(
        "resources/list",
        json!({"jsonrpc": "2.0", "id": 7, "result": {"resources": [
            {"uri": "file:///shared/a.txt", "name": "a"},
            {"uri": "file:///etc/passwd", "name": "file:///shared/x"}
        ]}}),
    )
    .unwrap();
    assert_eq!(
        out["result"]["resources"],
        json!([{"uri": "file:///shared/a.txt", "name": "a"}])
    );

    let out = filter(
        "resources/templates/list",
        json!({"jsonrpc": "2.0", "id": 7, "result": {"resourceTemplates": [
            {"uriTemplate": "file:///shared/{name}", "name": "shared"},
            {"uriTemplate": "file:///{path}", "name": "any", "uri": "file:///shared/x"}
        ], "nextCursor": ""}}),
    )
    .unwrap();
    assert_eq!(
        out["result"],
        json!({"resourceTemplates": [{"uriTemplate": "file:///shared/{name}", "name": "shared"}],
               "nextCursor": ""})
    );

    let out = filter(
        "prompts/list",
        json!({"jsonrpc": "2.0", "id": 7, "result": {"prompts": [
            {"name": "public_summary"}, {"name": "admin_reset"}
        ]}}),
    )
    .unwrap();
    assert_eq!(
        out["result"]["prompts"],
        json!([{"name": "public_summary"}])
    );
}

#[test]
fn the_predicate_is_asked_with_the_kind_of_each_list() {
    let asked = std::sync::Mutex::new(Vec::new());
    let record = |kind: ItemKind, name: &str| {
        asked.lock().unwrap().push((kind, name.to_string()));
        true
    };
    for (method, field, key, kind) in [
        ("tools/list", "tools", "name", ItemKind::Tool),
        ("resources/list", "resources", "uri", ItemKind::Resource),
        (
            "resources/templates/list",
            "resourceTemplates",
            "uriTemplate",
            ItemKind::ResourceTemplate,
        ),
        ("prompts/list", "prompts", "name", ItemKind::Prompt),
    ] {
        asked.lock().unwrap().clear();
        let m = ListMethod::from_method(method).unwrap();
        assert_eq!(
            (m.method(), m.field(), m.key(), m.kind()),
            (method, field, key, kind)
        );
        let body = json!({"jsonrpc": "2.0", "id": 7, "result": {field: [{key: "x"}]}});
        filter_json_response(m, &json!(7), body.to_string().as_bytes(), &record).unwrap();
        assert_eq!(*asked.lock().unwrap(), vec![(kind, "x".to_string())]);
    }
    assert_eq!(ListMethod::from_method("Tools/list"), None);
    assert_eq!(ListMethod::from_method("tools/call"), None);
}

#[test]
fn an_empty_page_with_a_cursor_is_a_legal_answer() {
    let out = filter(
        "tools/list",
        json!({"jsonrpc": "2.0", "id": 7, "result": {"tools": [{"name": "delete_file"}], "nextCursor": "c"}}),
    )
    .unwrap();
    assert_eq!(out["result"], json!({"tools": [], "nextCursor": "c"}));
}

#[test]
fn items_without_their_key_as_a_string_are_dropped() {
    let out = filter(
        "tools/list",
        json!({"jsonrpc": "2.0", "id": 7, "result": {"tools": [
            {"title": "echo"}, {"name": 5}, {"name": ["echo"]}, "echo", null, {"name": "echo"}
        ]}}),
    )
    .unwrap();
    assert_eq!(out["result"]["tools"], json!([{"name": "echo"}]));
}

#[test]
fn an_error_answer_is_passed_on() {
    let err =
        json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32602, "message": "bad cursor"}});
    assert_eq!(filter("tools/list", err.clone()).unwrap(), err);
}

#[test]
fn shapes_that_are_not_a_list_answer_are_refused() {
    use ListFilterError::*;
    let m = "tools/list";
    let cases = [
        (json!([tools_answer()]), NotAnObject),
        (json!("tools"), NotAnObject),
        (
            json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {}}),
            NotAResponse,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 8, "result": {"tools": []}}),
            ForeignResponse,
        ),
        (
            json!({"jsonrpc": "2.0", "id": "7", "result": {"tools": []}}),
            ForeignResponse,
        ),
        (
            json!({"jsonrpc": "2.0", "result": {"tools": []}}),
            ForeignResponse,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 7, "result": {"tools": []}, "error": {"code": 1}}),
            ResultAndError,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 7, "result": [{"name": "delete_file"}]}),
            ResultNotAnObject { method: m },
        ),
        (
            json!({"jsonrpc": "2.0", "id": 7, "result": {"prompts": []}}),
            MissingList {
                method: m,
                field: "tools",
            },
        ),
        (
            json!({"jsonrpc": "2.0", "id": 7, "result": {"tools": {"name": "delete_file"}}}),
            MissingList {
                method: m,
                field: "tools",
            },
        ),
        (
            json!({"jsonrpc": "2.0", "id": 7, "result": {"resultType": "input_required", "tools": []}}),
            NotComplete { method: m },
        ),
    ];
    for (body, want) in cases {
        assert_eq!(filter(m, body.clone()), Err(want), "{body}");
    }
    let m = ListMethod::Tools;
    for bad in [
        &b""[..],
        b"{",
        b"\xEF\xBB\xBF{}",
        b"{\"id\":7,\"result\":{\"tools\":[]},\"x\":NaN}",
    ] {
        assert!(
            matches!(
                filter_json_response(m, &json!(7), bad, &policy),
                Err(NotJson { .. })
            ),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn a_complete_result_type_is_a_list() {
    let out = filter(
        "tools/list",
        json!({"jsonrpc": "2.0", "id": 7, "result": {"resultType": "complete", "tools": [{"name": "echo"}]}}),
    )
    .unwrap();
    assert_eq!(out["result"]["tools"], json!([{"name": "echo"}]));
}

/// Duplicate members: the client reads the one answer that was decided on,
/// whichever duplicate its own parser would have picked.
#[test]
fn duplicate_members_reach_the_client_as_the_one_decided_on() {
    let body =
        br#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"delete_file","name":"echo"}]},
        "result":{"tools":[{"name":"echo","name":"delete_file"}]}}"#;
    let out = filter_json_response(ListMethod::Tools, &json!(7), body, &policy).unwrap();
    let text = std::str::from_utf8(&out).unwrap();
    assert_eq!(text.matches("\"result\"").count(), 1, "{text}");
    assert!(!text.contains("delete_file"), "{text}");
    // An escaped spelling of a member is the member.
    let body = br#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"n\u0061me":"delete_file"}]}}"#;
    let out = filter_json_response(ListMethod::Tools, &json!(7), body, &policy).unwrap();
    assert!(!String::from_utf8_lossy(&out).contains("delete_file"));
}

#[test]
fn the_error_response_keeps_the_id_and_says_why() {
    let err = ListFilterError::MissingList {
        method: "tools/list",
        field: "tools",
    };
    let body: Value = serde_json::from_slice(&error_response(&json!("req-1"), &err)).unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], "req-1");
    assert_eq!(body["error"]["code"], -32603);
    assert_eq!(
        body["error"]["message"],
        "actgate: the upstream's list answer was refused: the tools/list result's `tools` is missing or not an array"
    );
}

proptest::proptest! {
    /// Arbitrary bytes never panic, and whatever comes out holds no tool the
    /// policy refuses.
    #[test]
    fn arbitrary_bodies_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = filter_json_response(ListMethod::Tools, &json!(7), &bytes, &policy);
    }

    #[test]
    fn no_refused_name_survives(names in proptest::collection::vec("[a-z_]{1,10}", 0..12)) {
        let tools: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
        let body = json!({"jsonrpc": "2.0", "id": 7, "result": {"tools": tools}});
        let out = filter_json_response(ListMethod::Tools, &json!(7), body.to_string().as_bytes(), &policy).unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        let kept: Vec<&str> = out["result"]["tools"].as_array().unwrap().iter()
            .map(|t| t["name"].as_str().unwrap()).collect();
        let want: Vec<&str> = names.iter().map(String::as_str)
            .filter(|n| policy(ItemKind::Tool, n)).collect();
        proptest::prop_assert_eq!(kept, want);
    }
}
