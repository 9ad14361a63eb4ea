//! Classify an A2A request exactly — which operation, over which binding,
//! streaming or not — or refuse it. Pure: looks at the method, the canonical
//! path (after the agent route), the `Content-Type` and the body.
//!
//! One rule: the gateway decides on exactly what the agent will execute. A
//! request is forwarded only when it was named as one A2A operation, so a
//! restricting rule (deny, human approval) can never be skipped by a request
//! the gateway could not classify. There is no pass-through mode.

use std::borrow::Cow;

use http::{HeaderValue, Method, StatusCode};

pub mod body;
pub mod path;
mod rest;

pub use path::{canonical as canonical_path, card_path, CardPath, PathError};
use rest::RestMatch;

/// How the call is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    JsonRpc,
    Rest,
}

/// A classified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The v1.0 operation name (`SendMessage`, `GetTask`, …): always one of
    /// [`OPERATIONS`].
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

/// Where an agent serves each binding, below its route: the paths of the
/// `JSONRPC` and `HTTP+JSON` interfaces on its card (canonical). REST is
/// also accepted at the root (the spec's own paths).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Exact paths JSON-RPC calls are POSTed to (`/` for the root).
    jsonrpc: Vec<String>,
    /// REST mount paths other than the root, without a trailing `/`.
    rest: Vec<String>,
}

impl Endpoints {
    /// From `(protocolBinding, path below the agent route)` pairs. A path
    /// that is not canonical is left out: no request could reach it anyway.
    pub fn new<'a>(interfaces: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut ep = Endpoints::default();
        for (binding, p) in interfaces {
            let p = p.split('?').next().unwrap_or(p);
            let p = if p.is_empty() { "/" } else { p };
            let Ok(p) = canonical_path(p) else { continue };
            let list = if binding.eq_ignore_ascii_case("JSONRPC") {
                &mut ep.jsonrpc
            } else if binding.eq_ignore_ascii_case("HTTP+JSON") {
                if p == "/" {
                    continue;
                }
                &mut ep.rest
            } else {
                continue;
            };
            if !list.iter().any(|q| *q == p) {
                list.push(p.into_owned());
            }
        }
        ep
    }
}

/// Why a request was refused. Every variant is answered with a 4xx by the
/// gateway and audited as `invalid`; nothing reaches the upstream.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("no A2A operation is served at this path for this method")]
    NoRoute,
    #[error("the JSON-RPC endpoint accepts only POST")]
    NotPost,
    #[error("the path names different A2A operations depending on how it is read")]
    Ambiguous,
    /// A JSON-RPC request that cannot be named; answered as a JSON-RPC error.
    #[error("{reason}")]
    JsonRpc {
        /// -32700 parse error, -32600 invalid request, -32601 method not found.
        code: i64,
        reason: Cow<'static, str>,
        /// The request's `id` when it could be read, else `null`.
        id: serde_json::Value,
        operation: Option<&'static str>,
    },
    /// A REST call whose body or media type is not strict JSON.
    #[error("{reason}")]
    RestBody {
        reason: Cow<'static, str>,
        operation: &'static str,
    },
}

impl Refused {
    pub fn status(&self) -> StatusCode {
        match self {
            Refused::NoRoute => StatusCode::NOT_FOUND,
            Refused::NotPost => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The operation the request named, when it could be read.
    pub fn operation(&self) -> Option<&'static str> {
        match self {
            Refused::JsonRpc { operation, .. } => *operation,
            Refused::RestBody { operation, .. } => Some(operation),
            _ => None,
        }
    }
}

/// Classify a request from its method, canonical path (see
/// [`canonical_path`]), `Content-Type` (`None` when absent or repeated) and
/// body, against the agent's endpoints.
pub fn classify(
    method: &Method,
    path: &str,
    content_type: Option<&HeaderValue>,
    body: &[u8],
    endpoints: &Endpoints,
) -> Result<Operation, Refused> {
    let is_rpc = endpoints.jsonrpc.iter().any(|p| p == path);
    match (is_rpc, rest::classify(method, path, &endpoints.rest)) {
        // A path both bindings claim has no single meaning.
        (_, RestMatch::Ambiguous) | (true, RestMatch::One(_)) => Err(Refused::Ambiguous),
        (false, RestMatch::One(name)) => {
            rest_body(content_type, body, name)?;
            Ok(Operation {
                name: name.to_owned(),
                binding: Binding::Rest,
                streaming: streaming_op(name),
            })
        }
        (true, RestMatch::None) if method == Method::POST => jsonrpc(content_type, body),
        (true, RestMatch::None) => Err(Refused::NotPost),
        (false, RestMatch::None) => Err(Refused::NoRoute),
    }
}

fn jsonrpc(content_type: Option<&HeaderValue>, raw: &[u8]) -> Result<Operation, Refused> {
    use body::Scalar;
    let (env, res) = body::read(raw);
    let id = match &env.id {
        Some(Scalar::Str(s)) => serde_json::Value::String(s.clone()),
        Some(Scalar::Num(n)) => serde_json::Value::Number(n.clone()),
        _ => serde_json::Value::Null,
    };
    let refuse = |code, reason: Cow<'static, str>, operation| Refused::JsonRpc {
        code,
        reason,
        id: id.clone(),
        operation,
    };
    if let Err(e) = res {
        return Err(refuse(e.jsonrpc_code(), e.to_string().into(), None));
    }
    if !matches!(&env.jsonrpc, Some(Scalar::Str(v)) if v == "2.0") {
        return Err(refuse(-32600, "\"jsonrpc\" must be \"2.0\"".into(), None));
    }
    if matches!(env.id, Some(Scalar::Other)) {
        return Err(refuse(
            -32600,
            "\"id\" must be a string, a number or null".into(),
            None,
        ));
    }
    let Some(Scalar::Str(method)) = &env.method else {
        return Err(refuse(-32600, "\"method\" must be a string".into(), None));
    };
    // Exact match only: the upstream dispatches on the exact name, and a
    // name the gateway does not know is one it cannot decide on.
    let Some(name) = JSONRPC_METHODS
        .iter()
        .find(|(wire, _)| wire == method)
        .map(|(_, op)| *op)
    else {
        return Err(refuse(
            -32601,
            "method not found: not an A2A method name (names are exact and case-sensitive)".into(),
            None,
        ));
    };
    if !json_media_type(content_type) {
        return Err(refuse(
            -32600,
            "Content-Type must be a JSON media type (application/json)".into(),
            Some(name),
        ));
    }
    Ok(Operation {
        name: name.to_owned(),
        binding: Binding::JsonRpc,
        streaming: streaming_op(name),
    })
}

/// A REST call's body, when it has one, is held to the same rules as a
/// JSON-RPC body: what the agent reads must be what an approver is shown.
fn rest_body(
    content_type: Option<&HeaderValue>,
    raw: &[u8],
    operation: &'static str,
) -> Result<(), Refused> {
    if raw.is_empty() {
        return Ok(());
    }
    if !json_media_type(content_type) {
        return Err(Refused::RestBody {
            reason:
                "Content-Type must be a JSON media type (application/json or application/a2a+json)"
                    .into(),
            operation,
        });
    }
    body::read(raw).1.map_err(|e| Refused::RestBody {
        reason: e.to_string().into(),
        operation,
    })
}

/// `application/json` or `application/*+json`, with no charset other than
/// UTF-8 (the only encoding the body check accepts).
pub fn json_media_type(ct: Option<&HeaderValue>) -> bool {
    let Some(s) = ct.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut parts = s.split(';');
    let essence = parts.next().unwrap_or("").trim();
    let Some((ty, sub)) = essence.split_once('/') else {
        return false;
    };
    let sub = sub.as_bytes();
    let json = sub.eq_ignore_ascii_case(b"json")
        || (sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case(b"+json"));
    ty.eq_ignore_ascii_case("application")
        && json
        && parts.all(|p| match p.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
                v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            Some(_) => true,
            None => p.trim().is_empty(),
        })
}

#[cfg(test)]
mod tests;
