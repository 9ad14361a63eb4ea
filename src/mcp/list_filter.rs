//! MCP list answers filtered to what the caller may use (issue 16).
//!
//! `tools/list`, `resources/list`, `resources/templates/list` and
//! `prompts/list` answers pass through here on their way back from the
//! upstream: only the items the predicate allows stay, everything else of the
//! answer (`nextCursor`, `ttlMs`, `_meta`, …) is kept. This is what the model
//! sees, so it is least privilege the model can act on; the calls themselves
//! are still decided one by one (a client may call a name it never saw).
//!
//! What the client reads is exactly what was decided on: the upstream's
//! response is parsed and written anew, so duplicate members, escapes or
//! other spellings a client's parser might read differently never reach it.
//! (The price: numbers beyond `f64`/`u64` precision come back rounded, and
//! members come back in serde_json's order.)
//!
//! Anything that is not a list answer of the expected shape is an error, never
//! the unfiltered answer: the caller turns it into a JSON-RPC error
//! ([`error_response`]). The SSE form of the same answers is in [`sse`];
//! [`form::AnswerForm::of_response`] tells the two apart by the answer's
//! headers, and refuses any answer the filter could read otherwise than the
//! client (another media type or charset, a content coding).
//!
//! `cacheScope` is always made `"private"` on a filtered route, whether or
//! not this caller's page lost an item: the page reflects this caller's
//! rights, and a shared cache would hand it to a caller with fewer.

use bytes::Bytes;
use serde_json::{json, Map, Value};

pub mod form;
pub mod sse;

/// What the predicate is asked about, and by which member of the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// A tool, by its `name`.
    Tool,
    /// A resource, by its `uri`.
    Resource,
    /// A resource template, by its `uriTemplate` (RFC 6570). Kept apart from
    /// [`ItemKind::Resource`] because one template stands for many URIs: the
    /// rule that decides must know it is matching a template.
    ResourceTemplate,
    /// A prompt, by its `name`.
    Prompt,
}

/// The list methods whose answers are filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListMethod {
    Tools,
    Resources,
    ResourceTemplates,
    Prompts,
}

impl ListMethod {
    /// The list method named by a JSON-RPC `method`, exactly (MCP method
    /// names are case-sensitive).
    pub fn from_method(method: &str) -> Option<ListMethod> {
        Some(match method {
            "tools/list" => ListMethod::Tools,
            "resources/list" => ListMethod::Resources,
            "resources/templates/list" => ListMethod::ResourceTemplates,
            "prompts/list" => ListMethod::Prompts,
            _ => return None,
        })
    }

    /// The JSON-RPC method name.
    pub fn method(self) -> &'static str {
        match self {
            ListMethod::Tools => "tools/list",
            ListMethod::Resources => "resources/list",
            ListMethod::ResourceTemplates => "resources/templates/list",
            ListMethod::Prompts => "prompts/list",
        }
    }

    /// The member of `result` holding the items.
    pub fn field(self) -> &'static str {
        match self {
            ListMethod::Tools => "tools",
            ListMethod::Resources => "resources",
            ListMethod::ResourceTemplates => "resourceTemplates",
            ListMethod::Prompts => "prompts",
        }
    }

    /// The member of an item the predicate is asked about.
    pub fn key(self) -> &'static str {
        match self {
            ListMethod::Tools | ListMethod::Prompts => "name",
            ListMethod::Resources => "uri",
            ListMethod::ResourceTemplates => "uriTemplate",
        }
    }

    pub fn kind(self) -> ItemKind {
        match self {
            ListMethod::Tools => ItemKind::Tool,
            ListMethod::Resources => ItemKind::Resource,
            ListMethod::ResourceTemplates => ItemKind::ResourceTemplate,
            ListMethod::Prompts => ItemKind::Prompt,
        }
    }
}

/// Whether the caller may use an item: `allowed(kind, name_or_uri)`.
pub type Allowed = dyn Fn(ItemKind, &str) -> bool + Send + Sync;

/// Why an upstream's list answer was not passed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListFilterError {
    #[error("the answer is not JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("the answer is not one JSON-RPC message object (a batch, or another JSON value)")]
    NotAnObject,
    #[error("the answer is not a JSON-RPC response")]
    NotAResponse,
    #[error("the answer is a JSON-RPC response to another request")]
    ForeignResponse,
    #[error("the answer has both `result` and `error`")]
    ResultAndError,
    #[error("a second response to the {method} request")]
    DuplicateResponse { method: &'static str },
    #[error("the {method} result is not an object")]
    ResultNotAnObject { method: &'static str },
    #[error("the {method} result's `resultType` is not \"complete\"")]
    NotComplete { method: &'static str },
    #[error("the {method} result's `{field}` is missing or not an array")]
    MissingList {
        method: &'static str,
        field: &'static str,
    },
    #[error("the answer's Content-Type is missing, repeated, or not application/json or text/event-stream in UTF-8")]
    UnfilterableMedia,
    #[error(
        "the answer has a content coding (Content-Encoding or a Transfer-Encoding besides chunked)"
    )]
    Encoded,
    #[error("an SSE event of the {stream} stream exceeds {limit} bytes")]
    EventTooLarge { stream: &'static str, limit: usize },
    #[error("a JSON-RPC response on a stream that must carry none")]
    UnexpectedResponse,
}

/// Filter one `application/json` answer to a list request with id
/// `request_id`: the JSON-RPC response with only the allowed items. An error
/// response (no list) is passed on, re-serialized like every answer.
pub fn filter_json_response(
    method: ListMethod,
    request_id: &Value,
    body: &[u8],
    allowed: &dyn Fn(ItemKind, &str) -> bool,
) -> Result<Bytes, ListFilterError> {
    let mut message = parse_message(body)?;
    if !is_response(&message) {
        return Err(ListFilterError::NotAResponse);
    }
    filter_response(method, request_id, &mut message, allowed)?;
    Ok(Bytes::from(Value::Object(message).to_string()))
}

/// The JSON-RPC error a caller gets instead of a list that could not be
/// filtered (`-32603`, internal error: the upstream's answer was unusable,
/// not the request). The message says why, without any of the answer.
pub fn error_response(request_id: &Value, err: &ListFilterError) -> Bytes {
    Bytes::from(
        json!({
            "jsonrpc": "2.0",
            "id": request_id,
            "error": {
                "code": -32603,
                "message": format!("actgate: the upstream's list answer was refused: {err}"),
            }
        })
        .to_string(),
    )
}

/// One JSON-RPC message: a JSON object. A batch (array) is refused, since
/// no revision after 2025-03-26 has them and a list answer is never one.
pub(crate) fn parse_message(bytes: &[u8]) -> Result<Map<String, Value>, ListFilterError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ListFilterError::NotAnObject),
        Err(e) => Err(ListFilterError::NotJson {
            line: e.line(),
            column: e.column(),
        }),
    }
}

/// A response is whatever carries `result` or `error`, whether or not it
/// also says `method`: a client may read such a message as a response, so it
/// is decided on as one.
pub(crate) fn is_response(message: &Map<String, Value>) -> bool {
    message.contains_key("result") || message.contains_key("error")
}

/// Filter `message`, a response, in place. It must answer `request_id`
/// (compared as JSON values: `1` is not `"1"`).
pub(crate) fn filter_response(
    method: ListMethod,
    request_id: &Value,
    message: &mut Map<String, Value>,
    allowed: &dyn Fn(ItemKind, &str) -> bool,
) -> Result<(), ListFilterError> {
    if message.get("id") != Some(request_id) {
        return Err(ListFilterError::ForeignResponse);
    }
    if message.contains_key("error") {
        return if message.contains_key("result") {
            Err(ListFilterError::ResultAndError)
        } else {
            Ok(())
        };
    }
    match message.get_mut("result") {
        Some(result) => filter_result(method, result, allowed),
        None => Err(ListFilterError::NotAResponse),
    }
}

fn filter_result(
    method: ListMethod,
    result: &mut Value,
    allowed: &dyn Fn(ItemKind, &str) -> bool,
) -> Result<(), ListFilterError> {
    let name = method.method();
    let result = result
        .as_object_mut()
        .ok_or(ListFilterError::ResultNotAnObject { method: name })?;
    // 2026-07-28 results say `complete` or `input_required`; a list is never
    // the latter (MRTR is for calls), and a shape we do not know is refused.
    if result
        .get("resultType")
        .is_some_and(|t| t.as_str() != Some("complete"))
    {
        return Err(ListFilterError::NotComplete { method: name });
    }
    let items = result
        .get_mut(method.field())
        .and_then(Value::as_array_mut)
        .ok_or(ListFilterError::MissingList {
            method: name,
            field: method.field(),
        })?;
    let (kind, key) = (method.kind(), method.key());
    // An item without its key as a string cannot be matched by any rule, so
    // it is dropped (deny by default) rather than failing the whole page.
    items.retain(|item| {
        item.get(key)
            .and_then(Value::as_str)
            .is_some_and(|n| allowed(kind, n))
    });
    // Always private on a filtered route, even when nothing was dropped:
    // the page reflects this caller's rights, and a shared ("public") cache
    // would hand it to a caller with fewer. Absent stays absent (legacy
    // revisions have no such member; clients read absent as private).
    if let Some(scope) = result.get_mut("cacheScope") {
        *scope = Value::from("private");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
