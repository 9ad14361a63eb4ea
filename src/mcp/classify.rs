//! The classifier: body and MCP headers → [`Message`], or [`Refused`].

use base64::Engine as _;
use http::HeaderMap;
use serde_json::{Map, Value};

use super::{Class, Message, Problem, Refused, KNOWN_VERSIONS, MODERN};

const PROTOCOL_VERSION: &str = "mcp-protocol-version";
const MCP_METHOD: &str = "mcp-method";
const MCP_NAME: &str = "mcp-name";
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// Methods any caller that may reach the server may use (their answers are
/// the caller's own session's, or filtered lists).
const SESSION_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "logging/setLevel",
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "prompts/list",
];

/// Classify one POST body with its headers.
pub fn classify(headers: &HeaderMap, body: &[u8]) -> Result<Message, Refused> {
    let refuse = |problem| Refused {
        problem,
        id: Value::Null,
        method: None,
    };
    let value: Value = serde_json::from_slice(body).map_err(|_| refuse(Problem::Parse))?;
    // Before anything is read from it: two readers must not see two requests.
    crate::cards::dupkeys::check(body).map_err(|e| {
        refuse(Problem::DuplicateMember(match e {
            crate::cards::CardError::Invalid { path, .. } => path,
            _ => "$".into(),
        }))
    })?;
    let obj = match value {
        Value::Object(o) => o,
        Value::Array(_) => return Err(refuse(Problem::Batch)),
        _ => return Err(refuse(Problem::Invalid("the body is not an object"))),
    };
    let id = match obj.get("id") {
        None => Value::Null,
        Some(v @ Value::String(_)) => v.clone(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n.clone()),
        Some(_) => {
            return Err(refuse(Problem::Invalid(
                "id must be a string or an integer",
            )))
        }
    };
    let method = match obj.get("method") {
        None => None,
        Some(Value::String(m)) => Some(m.clone()),
        Some(_) => return Err(refuse(Problem::Invalid("method must be a string"))),
    };
    let refuse = |problem| Refused {
        problem,
        id: id.clone(),
        method: method.clone(),
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(refuse(Problem::Invalid("jsonrpc must be \"2.0\"")));
    }
    let params = match obj.get("params") {
        None => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err(refuse(Problem::Params("params must be an object"))),
    };
    let version = version(headers, &params).map_err(refuse)?;
    // A request carrying `result` or `error` too could be read as the
    // client's answer to a server request (SDKs differ on which they test
    // first): refused rather than decided as one of the two.
    if method.is_some() && crate::mcp::list_filter::is_response(&obj) {
        return Err(refuse(Problem::Invalid(
            "a message is a request or a response, not both",
        )));
    }
    let class = match &method {
        None => response(&obj, &id).map_err(refuse)?,
        Some(m) => request_class(m, &id, &params).map_err(refuse)?,
    };
    check_headers(headers, method.as_deref(), &class, version.as_deref()).map_err(refuse)?;
    // What an approval binds: `params` without the `_meta` members that
    // carry per-request values (the progress token, the revision), which
    // differ between a call and its identical retry and which no tool
    // executes. Every other `_meta` member stays bound: a server may read
    // its own extension keys there, so a retry changing them is another
    // call.
    let mut bound = params.clone();
    if let Some(Value::Object(meta)) = bound.get_mut("_meta") {
        for per_request in PER_REQUEST_META {
            meta.remove(*per_request);
        }
        if meta.is_empty() {
            bound.remove("_meta");
        }
    }
    let canonical = serde_json::to_vec(&Value::Object(bound)).unwrap_or_default();
    let arguments_sha256 = match method.as_deref() {
        Some("tools/call" | "prompts/get") => Some(crate::audit::chain::line_hash(
            &serde_json::to_vec(params.get("arguments").unwrap_or(&Value::Null))
                .unwrap_or_default(),
        )),
        _ => None,
    };
    Ok(Message {
        id,
        method,
        class,
        version,
        arguments_sha256,
        params_sha256: crate::audit::chain::line_hash(&canonical),
        params: canonical,
    })
}

/// A client's JSON-RPC response: an `id`, exactly one of `result`/`error`.
fn response(obj: &Map<String, Value>, id: &Value) -> Result<Class, Problem> {
    if id.is_null() {
        return Err(Problem::Invalid("a message needs a method or an id"));
    }
    match (obj.get("result"), obj.get("error")) {
        (Some(_), None) | (None, Some(_)) => Ok(Class::Response),
        _ => Err(Problem::Invalid(
            "a response carries exactly one of result and error",
        )),
    }
}

fn request_class(method: &str, id: &Value, params: &Map<String, Value>) -> Result<Class, Problem> {
    let notification = id.is_null();
    if let Some(_rest) = method.strip_prefix("notifications/") {
        // A notification is never answered; one with an id is malformed.
        return if notification {
            Ok(Class::Session)
        } else {
            Err(Problem::Invalid("a notification carries no id"))
        };
    }
    if notification {
        // A request sent as a notification would run with nobody told.
        return Err(Problem::Invalid("a request needs an id"));
    }
    let string = |key: &str, why: &'static str| match params.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(Problem::Params(why)),
    };
    match method {
        m if SESSION_METHODS.contains(&m) => Ok(Class::Session),
        "subscriptions/listen" => {
            let uris = params
                .get("notifications")
                .and_then(|n| n.get("resourceSubscriptions"));
            match uris {
                None => Ok(Class::Session),
                Some(Value::Array(a)) if a.is_empty() => Ok(Class::Session),
                // Each URI would need its own decision; not supported.
                Some(_) => Err(Problem::Method(
                    "subscriptions/listen with resourceSubscriptions".into(),
                )),
            }
        }
        "tools/call" => string("name", "tools/call needs params.name").map(Class::Tool),
        "prompts/get" => string("name", "prompts/get needs params.name").map(Class::Prompt),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            string("uri", "this method needs params.uri").map(Class::Resource)
        }
        "completion/complete" => completion(params),
        other => Err(Problem::Method(other.to_string())),
    }
}

/// `completion/complete` is decided as the prompt or resource it completes.
fn completion(params: &Map<String, Value>) -> Result<Class, Problem> {
    let r = params.get("ref").and_then(Value::as_object);
    let field = |k: &str| r.and_then(|r| r.get(k)).and_then(Value::as_str);
    match (field("type"), field("name"), field("uri")) {
        (Some("ref/prompt"), Some(n), _) if !n.is_empty() => Ok(Class::Prompt(n.into())),
        (Some("ref/resource"), _, Some(u)) if !u.is_empty() => Ok(Class::Resource(u.into())),
        _ => Err(Problem::Params(
            "completion/complete needs params.ref of type ref/prompt (name) or ref/resource (uri)",
        )),
    }
}

/// `name`'s value when sent once; sent twice is a mismatch (which would
/// an intermediary read?).
fn single<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Option<&'h str>, Problem> {
    let mut all = headers.get_all(name).iter();
    match (all.next(), all.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| Problem::HeaderMismatch(name)),
        _ => Err(Problem::HeaderMismatch(name)),
    }
}

/// The revision: `MCP-Protocol-Version` (a known one), equal to the body's
/// `_meta` members that differ between a call and its identical retry
/// (MCP 2025-11-25 `progressToken`; the revision a client may repeat
/// there), left out of what an approval binds.
const PER_REQUEST_META: &[&str] = &["progressToken", "io.modelcontextprotocol/protocolVersion"];

/// `_meta` revision when both are given.
fn version(headers: &HeaderMap, params: &Map<String, Value>) -> Result<Option<String>, Problem> {
    let header = single(headers, PROTOCOL_VERSION)?;
    if let Some(v) = header {
        if !KNOWN_VERSIONS.contains(&v) {
            return Err(Problem::Version(v.to_string()));
        }
    }
    let meta = params
        .get("_meta")
        .and_then(|m| m.get(META_VERSION))
        .and_then(Value::as_str);
    match (header, meta) {
        (Some(h), Some(m)) if h != m => Err(Problem::HeaderMismatch("MCP-Protocol-Version")),
        (Some(h), _) => Ok(Some(h.to_string())),
        (None, Some(m)) if m == MODERN => Err(Problem::HeaderMismatch("MCP-Protocol-Version")),
        (None, m) => Ok(m.map(str::to_string)),
    }
}

/// `Mcp-Method` and `Mcp-Name`: equal to the body whenever sent; required
/// in the stateless revision.
fn check_headers(
    headers: &HeaderMap,
    method: Option<&str>,
    class: &Class,
    version: Option<&str>,
) -> Result<(), Problem> {
    let modern = version == Some(MODERN);
    let sent_method = single(headers, MCP_METHOD)?;
    match (sent_method, method) {
        (Some(h), Some(m)) if h == m => {}
        (None, Some(_)) if !modern => {}
        (None, None) => {}
        _ => return Err(Problem::HeaderMismatch("Mcp-Method")),
    }
    let sent_name = single(headers, MCP_NAME)?
        .map(decode)
        .transpose()
        .map_err(|()| Problem::HeaderMismatch("Mcp-Name"))?;
    // The header names tools/call and prompts/get names and resources/read
    // URIs only (SEP-2243); anything else carrying it is a mismatch.
    let named = matches!(
        method,
        Some("tools/call" | "prompts/get" | "resources/read")
    );
    let body_name = match class {
        Class::Tool(n) | Class::Prompt(n) | Class::Resource(n) if named => Some(n.as_str()),
        _ => None,
    };
    match (sent_name.as_deref(), body_name) {
        (Some(h), Some(b)) if h == b => Ok(()),
        (None, Some(_)) if !modern => Ok(()),
        (None, None) => Ok(()),
        _ => Err(Problem::HeaderMismatch("Mcp-Name")),
    }
}

/// A header value as sent, or its `=?base64?…?=` form decoded.
fn decode(v: &str) -> Result<String, ()> {
    match v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| ())
            .and_then(|b| String::from_utf8(b).map_err(|_| ())),
        None => Ok(v.to_string()),
    }
}
