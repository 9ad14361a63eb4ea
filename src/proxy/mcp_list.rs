//! The list filter stage of `/mcp/NAME`: `tools/list`, `resources/list`,
//! `resources/templates/list` and `prompts/list` answers reach the caller
//! only as re-written by [`crate::mcp::list_filter`], with the items the
//! caller may use; the legacy GET stream carries no response at all.
//!
//! An item is shown exactly when the per-name decision would let the caller
//! use it ([`item_allowed`] asks the one authorization core the call stage
//! asks), so the list and the call can never disagree. A tool that needs a
//! step-up is shown: the call is allowed once the user token holds the
//! scopes, and the client learns which from the 403 challenge.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;

use super::respond::{full, ResponseBody};
use crate::authorize::{authorize, Ask, Operation, Outcome};
use crate::identity::CallerIdentity;
use crate::mcp::list_filter::form::AnswerForm;
use crate::mcp::list_filter::sse::{FilteredSseBody, SseListFilter};
use crate::mcp::list_filter::{
    error_response, filter_json_response, Allowed, ItemKind, ListFilterError, ListMethod,
};
use crate::policy::McpWhat;
use crate::registry::McpServer;
use crate::snapshot::Snapshot;
use crate::token::SubjectToken;

/// The one question "may `caller` (for `subject`) use `what` at `server`?",
/// as the call stage asks it: the tool's scopes, the audit log's health,
/// now.
pub(super) fn ask<'a>(
    gw: &Snapshot,
    caller: &'a CallerIdentity,
    subject: Option<&'a SubjectToken>,
    server: &'a McpServer,
    what: McpWhat<'a>,
) -> Ask<'a> {
    let scopes = match what {
        McpWhat::Tool(t) => server.tool_scopes(t),
        _ => &[],
    };
    Ask {
        caller,
        subject,
        agent: &server.name,
        audience: &server.resource,
        card: None,
        operation: Operation::Mcp { what, scopes },
        requested_scopes: None,
        // Fail closed: while the audit log cannot be written, nothing is
        // forwarded.
        recordable: gw.audit.is_healthy(),
        now: crate::unix_now(),
    }
}

/// Whether a list item is shown: the call it stands for would be allowed,
/// or allowed after a step-up. A resource template is asked about by its
/// template text, so only a rule pattern covering the template itself (not
/// just some URI it expands to) shows it.
fn item_allowed(
    gw: &Snapshot,
    caller: &CallerIdentity,
    subject: Option<&SubjectToken>,
    server: &McpServer,
    kind: ItemKind,
    name: &str,
) -> bool {
    let what = match kind {
        ItemKind::Tool => McpWhat::Tool(name),
        ItemKind::Resource | ItemKind::ResourceTemplate => McpWhat::Resource(name),
        ItemKind::Prompt => McpWhat::Prompt(name),
    };
    let ask = ask(gw, caller, subject, server, what);
    matches!(
        authorize(&gw.core(), &ask),
        Outcome::Allow(_) | Outcome::StepUp { .. }
    )
}

/// How the answer to one request is filtered, decided from the request and
/// the upstream's headers before they are passed on (hop-by-hop headers,
/// `Transfer-Encoding` among them, are stripped after this).
pub(super) enum ListStage {
    /// Not a list answer, nor the GET stream: passed as it is.
    Pass,
    /// A list answer of the form named, filtered for this caller.
    List {
        method: ListMethod,
        id: serde_json::Value,
        form: AnswerForm,
        allowed: Arc<Predicate>,
    },
    /// The GET stream: every JSON-RPC response on it is refused.
    GetStream,
    /// An answer the filter cannot read as the client would.
    Unfilterable {
        id: serde_json::Value,
        err: ListFilterError,
    },
}

/// Who is asking, owned: an SSE body outlives the request's borrows.
pub(super) struct Predicate {
    gw: Arc<Snapshot>,
    caller: CallerIdentity,
    subject: Option<SubjectToken>,
    server: String,
}

impl Predicate {
    fn allows(&self, kind: ItemKind, name: &str) -> bool {
        self.gw.registry.mcp_server(&self.server).is_some_and(|s| {
            item_allowed(&self.gw, &self.caller, self.subject.as_ref(), s, kind, name)
        })
    }
}

/// The request's side of the decision.
pub(super) struct Asked<'a> {
    pub gw: &'a Arc<Snapshot>,
    pub caller: &'a CallerIdentity,
    pub subject: Option<&'a SubjectToken>,
    pub server: &'a McpServer,
    pub method: &'a Method,
    pub msg: Option<&'a crate::mcp::Message>,
}

impl ListStage {
    pub(super) fn of(
        asked: &Asked<'_>,
        headers: &http::HeaderMap,
        status: StatusCode,
    ) -> ListStage {
        if *asked.method == Method::GET {
            return if status.is_success() {
                ListStage::GetStream
            } else {
                ListStage::Pass
            };
        }
        let Some(msg) = asked.msg else {
            return ListStage::Pass;
        };
        let Some(method) = msg.method.as_deref().and_then(ListMethod::from_method) else {
            return ListStage::Pass;
        };
        let id = msg.id.clone();
        match AnswerForm::of_response(headers) {
            Ok(form) => ListStage::List {
                method,
                id,
                form,
                allowed: Arc::new(Predicate {
                    gw: Arc::clone(asked.gw),
                    caller: asked.caller.clone(),
                    subject: asked.subject.cloned(),
                    server: asked.server.name.clone(),
                }),
            },
            Err(err) => ListStage::Unfilterable { id, err },
        }
    }

    /// The answer as the caller gets it, and why the upstream's answer was
    /// refused when it was (known before the answer leaves: a JSON list, a
    /// list or stream of the wrong form; an SSE list's later events are
    /// refused one by one as they come). `limit` bounds a JSON answer and
    /// one SSE event (the request body limit: a list answer is no reason to
    /// hold more in memory than a request).
    pub(super) async fn apply(
        self,
        resp: Response<ResponseBody>,
        limit: usize,
    ) -> (Response<ResponseBody>, Option<String>) {
        let (mut parts, body) = resp.into_parts();
        let mut why = None;
        let body = match self {
            ListStage::Pass => body,
            ListStage::GetStream => {
                if !matches!(
                    AnswerForm::of_response(&parts.headers),
                    Ok(AnswerForm::EventStream)
                ) {
                    tracing::warn!("MCP GET stream answer not a plain event stream; refused");
                    parts.status = StatusCode::BAD_GATEWAY;
                    parts.headers.remove(CONTENT_TYPE);
                    parts.headers.remove(CONTENT_ENCODING);
                    parts.headers.remove(CONTENT_LENGTH);
                    let why = "the upstream's GET stream is not an event stream".to_owned();
                    return (Response::from_parts(parts, full(Bytes::new())), Some(why));
                }
                // Filtering changes the length.
                parts.headers.remove(CONTENT_LENGTH);
                let filter = SseListFilter::without_responses(limit);
                FilteredSseBody::new(body, filter).boxed()
            }
            ListStage::Unfilterable { id, err } => {
                why = Some(format!("list answer refused: {err}"));
                refused(&mut parts, &id, &err)
            }
            ListStage::List {
                method,
                id,
                form: AnswerForm::EventStream,
                allowed,
            } => {
                parts.headers.remove(CONTENT_LENGTH);
                sse_list(body, method, id, allowed, limit)
            }
            ListStage::List {
                method,
                id,
                form: AnswerForm::Json,
                allowed,
            } => {
                let filtered = match read_bounded(body, limit).await {
                    Some(b) => json_list(method, &id, &b, &allowed),
                    None => Err(ListFilterError::EventTooLarge {
                        stream: method.method(),
                        limit,
                    }),
                };
                match filtered {
                    Ok(b) => {
                        parts.headers.remove(CONTENT_LENGTH);
                        full(b)
                    }
                    Err(err) => {
                        why = Some(format!("list answer refused: {err}"));
                        refused(&mut parts, &id, &err)
                    }
                }
            }
        };
        (Response::from_parts(parts, body), why)
    }
}

/// The whole body, if it ends within `limit` bytes and without an error.
async fn read_bounded(mut body: ResponseBody, limit: usize) -> Option<Bytes> {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.ok()?.into_data() {
            if out.len() + data.len() > limit {
                return None;
            }
            out.extend_from_slice(&data);
        }
    }
    Some(out.freeze())
}

fn sse_list(
    body: ResponseBody,
    method: ListMethod,
    id: serde_json::Value,
    allowed: Arc<Predicate>,
    limit: usize,
) -> ResponseBody {
    let pred: Box<Allowed> = Box::new(move |k, n| allowed.allows(k, n));
    FilteredSseBody::new(body, SseListFilter::new(method, id, pred, limit)).boxed()
}

fn json_list(
    method: ListMethod,
    id: &serde_json::Value,
    body: &[u8],
    allowed: &Predicate,
) -> Result<Bytes, ListFilterError> {
    filter_json_response(method, id, body, &|k, n| allowed.allows(k, n))
}

/// The JSON-RPC error instead of a list that could not be filtered: never
/// the unfiltered list. The upstream's status is kept.
fn refused(
    parts: &mut http::response::Parts,
    id: &serde_json::Value,
    err: &ListFilterError,
) -> ResponseBody {
    tracing::warn!(error = %err, "MCP list answer refused");
    parts.headers.remove(CONTENT_ENCODING);
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    full(error_response(id, err))
}
