//! Classify an A2A request: which operation, over which binding, streaming or
//! not. Pure: looks at method, path (after the agent route) and, for JSON-RPC,
//! the body's `method` member.

use serde::Deserialize;

/// How the call is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    JsonRpc,
    Rest,
    /// A request the gateway does not recognise as A2A; forwarded as-is.
    Other,
}

/// A classified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The v1.0 operation name (`SendMessage`, `GetTask`, …), or for
    /// unrecognised requests the JSON-RPC method or `"unknown"`.
    pub name: String,
    pub binding: Binding,
    /// The response is an SSE stream.
    pub streaming: bool,
}

/// Every A2A v1.0 operation name (what rules may list).
pub const OPERATIONS: &[&str] = &[
    "SendMessage",
    "SendStreamingMessage",
    "GetTask",
    "ListTasks",
    "CancelTask",
    "SubscribeToTask",
    "CreateTaskPushNotificationConfig",
    "GetTaskPushNotificationConfig",
    "ListTaskPushNotificationConfigs",
    "DeleteTaskPushNotificationConfig",
    "GetExtendedAgentCard",
];

/// JSON-RPC method names, v1.0 and v0.3, mapped to the v1.0 operation name.
const JSONRPC_METHODS: &[(&str, &str)] = &[
    ("SendMessage", "SendMessage"),
    ("message/send", "SendMessage"),
    ("SendStreamingMessage", "SendStreamingMessage"),
    ("message/stream", "SendStreamingMessage"),
    ("GetTask", "GetTask"),
    ("tasks/get", "GetTask"),
    ("ListTasks", "ListTasks"),
    ("CancelTask", "CancelTask"),
    ("tasks/cancel", "CancelTask"),
    ("SubscribeToTask", "SubscribeToTask"),
    ("tasks/resubscribe", "SubscribeToTask"),
    (
        "CreateTaskPushNotificationConfig",
        "CreateTaskPushNotificationConfig",
    ),
    (
        "tasks/pushNotificationConfig/set",
        "CreateTaskPushNotificationConfig",
    ),
    (
        "GetTaskPushNotificationConfig",
        "GetTaskPushNotificationConfig",
    ),
    (
        "tasks/pushNotificationConfig/get",
        "GetTaskPushNotificationConfig",
    ),
    (
        "ListTaskPushNotificationConfigs",
        "ListTaskPushNotificationConfigs",
    ),
    (
        "tasks/pushNotificationConfig/list",
        "ListTaskPushNotificationConfigs",
    ),
    (
        "DeleteTaskPushNotificationConfig",
        "DeleteTaskPushNotificationConfig",
    ),
    (
        "tasks/pushNotificationConfig/delete",
        "DeleteTaskPushNotificationConfig",
    ),
    ("GetExtendedAgentCard", "GetExtendedAgentCard"),
    ("agent/getAuthenticatedExtendedCard", "GetExtendedAgentCard"),
];

fn streaming_op(name: &str) -> bool {
    matches!(name, "SendStreamingMessage" | "SubscribeToTask")
}

/// Classify from the HTTP method, the path after `/agents/NAME` and the body.
pub fn classify(method: &http::Method, rest: &str, body: &[u8]) -> Operation {
    if let Some(name) = classify_rest(method, rest) {
        return Operation {
            name: name.to_string(),
            binding: Binding::Rest,
            streaming: streaming_op(name),
        };
    }
    if method == http::Method::POST {
        if let Some(m) = jsonrpc_method(body) {
            let name = JSONRPC_METHODS
                .iter()
                .find(|(wire, _)| *wire == m)
                .map(|(_, op)| op.to_string());
            let known = name.is_some();
            let name = name.unwrap_or(m);
            return Operation {
                streaming: known && streaming_op(&name),
                name,
                binding: Binding::JsonRpc,
            };
        }
    }
    Operation {
        name: "unknown".into(),
        binding: Binding::Other,
        streaming: false,
    }
}

fn jsonrpc_method(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Envelope {
        jsonrpc: String,
        method: String,
    }
    let env: Envelope = serde_json::from_slice(body).ok()?;
    (env.jsonrpc == "2.0").then_some(env.method)
}

/// REST operations (v1.0 paths; v0.3 `/v1` prefix; optional `/{tenant}`
/// prefix). The match is on the path's tail so a mount prefix such as
/// `/a2a/rest` does not matter.
fn classify_rest(method: &http::Method, rest: &str) -> Option<&'static str> {
    let path = rest.split('?').next().unwrap_or(rest);
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let last = *segs.last()?;
    let m = method.as_str();
    match (m, last) {
        ("POST", "message:send") => return Some("SendMessage"),
        ("POST", "message:stream") => return Some("SendStreamingMessage"),
        ("GET", "extendedAgentCard") => return Some("GetExtendedAgentCard"),
        ("GET", "card") if segs.len() >= 2 && segs[segs.len() - 2] == "v1" => {
            return Some("GetExtendedAgentCard")
        }
        _ => {}
    }
    if let Some(i) = segs.iter().rposition(|s| *s == "tasks") {
        let tail = &segs[i..];
        return match (m, tail) {
            ("GET", ["tasks"]) => Some("ListTasks"),
            ("POST" | "GET", ["tasks", id]) if id.ends_with(":subscribe") => {
                Some("SubscribeToTask")
            }
            ("POST", ["tasks", id]) if id.ends_with(":cancel") => Some("CancelTask"),
            ("GET", ["tasks", _]) => Some("GetTask"),
            ("POST", ["tasks", _, "pushNotificationConfigs"]) => {
                Some("CreateTaskPushNotificationConfig")
            }
            ("GET", ["tasks", _, "pushNotificationConfigs"]) => {
                Some("ListTaskPushNotificationConfigs")
            }
            ("GET", ["tasks", _, "pushNotificationConfigs", _]) => {
                Some("GetTaskPushNotificationConfig")
            }
            ("DELETE", ["tasks", _, "pushNotificationConfigs", _]) => {
                Some("DeleteTaskPushNotificationConfig")
            }
            _ => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn jsonrpc_v1_and_v03() {
        let op = classify(
            &Method::POST,
            "/a2a/jsonrpc",
            br#"{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{}}"#,
        );
        assert_eq!(op.name, "SendMessage");
        assert_eq!(op.binding, Binding::JsonRpc);
        assert!(!op.streaming);
        let op = classify(
            &Method::POST,
            "/",
            br#"{"jsonrpc":"2.0","id":"x","method":"message/stream","params":{}}"#,
        );
        assert_eq!(op.name, "SendStreamingMessage");
        assert!(op.streaming);
        let op = classify(
            &Method::POST,
            "/",
            br#"{"jsonrpc":"2.0","id":1,"method":"Nope"}"#,
        );
        assert_eq!((op.name.as_str(), op.binding), ("Nope", Binding::JsonRpc));
    }

    #[test]
    fn rest_paths() {
        let cases = [
            (Method::POST, "/a2a/rest/message:send", "SendMessage"),
            (Method::POST, "/v1/message:stream", "SendStreamingMessage"),
            (Method::GET, "/tenant1/tasks/abc", "GetTask"),
            (Method::GET, "/tasks", "ListTasks"),
            (Method::POST, "/tasks/abc:cancel", "CancelTask"),
            (Method::GET, "/tasks/abc:subscribe", "SubscribeToTask"),
            (
                Method::POST,
                "/tasks/abc/pushNotificationConfigs",
                "CreateTaskPushNotificationConfig",
            ),
            (
                Method::DELETE,
                "/tasks/a/pushNotificationConfigs/c",
                "DeleteTaskPushNotificationConfig",
            ),
            (Method::GET, "/extendedAgentCard", "GetExtendedAgentCard"),
            (Method::GET, "/v1/card", "GetExtendedAgentCard"),
        ];
        for (m, p, want) in cases {
            let op = classify(&m, p, b"");
            assert_eq!(op.name, want, "{m} {p}");
            assert_eq!(op.binding, Binding::Rest);
        }
    }

    #[test]
    fn garbage_is_other_not_a_panic() {
        for body in [
            &b""[..],
            b"{",
            b"[]",
            b"\xff\xfe",
            br#"{"jsonrpc":"1.0","method":"SendMessage"}"#,
        ] {
            assert_eq!(classify(&Method::POST, "/x", body).binding, Binding::Other);
        }
    }
}
