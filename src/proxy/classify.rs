//! The classify stages: the one canonical spelling of the path, and the
//! exact A2A operation of the request, or a refusal (decided in
//! [`crate::a2a`]).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::refusal::Refusal;
use crate::a2a::{self, Endpoints, Operation};
use crate::audit::AuditRecord;

/// The path decoded and normalised once: this form is classified, shown to
/// an approver and forwarded; any other spelling is refused.
pub(super) fn canonical_path(rest: &str) -> Result<String, Refusal> {
    a2a::canonical_path(rest)
        .map(|p| p.into_owned())
        .map_err(|e| Refusal::Unclassified(e.into()))
}

/// The operation `parts` and `body` name at `rest`, against the verified
/// card's `endpoints` (recorded).
pub(super) fn operation(
    parts: &http::request::Parts,
    rest: &str,
    body: &[u8],
    endpoints: &Endpoints,
    rec: &mut AuditRecord,
) -> Result<Operation, Refusal> {
    let content_type = single_header(&parts.headers, &header::CONTENT_TYPE);
    let op = a2a::classify(&parts.method, rest, content_type, body, endpoints)
        .map_err(Refusal::Unclassified)?;
    rec.operation = Some(op.name.to_string());
    Ok(op)
}

/// The value of `name` when it is sent exactly once.
fn single_header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut all = headers.get_all(name).iter();
    match (all.next(), all.next()) {
        (Some(v), None) => Some(v),
        _ => None,
    }
}
