//! The card-paths stage: what the gateway answers itself below an agent's
//! route, whatever the method: every spelling of the Agent Card paths (the
//! upstream's own card never reaches a caller) and the agent's RFC 9728
//! protected-resource metadata. Reached only by callers some rule lets
//! reach the agent (the reach stage comes first).

use http::header;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::refusal::Refusal;
use super::respond::{card_response, ResponseBody};
use crate::a2a;
use crate::audit::{AuditRecord, Decision as AuditDecision};
use crate::registry::Agent;
use crate::snapshot::Snapshot;

/// The gateway's own answer at `rest`, or `None` for a path the proxy
/// classifies and forwards.
pub(super) fn own_answer(
    gw: &Snapshot,
    agent: &Agent,
    req: &Request<Incoming>,
    rest: &str,
    rec: &mut AuditRecord,
) -> Option<Result<Response<ResponseBody>, Refusal>> {
    if let Some(which) = a2a::card_path(rest) {
        return Some(agent_card(agent, req, which, rec));
    }
    if req.method() == Method::GET && rest == "/.well-known/oauth-protected-resource" {
        rec.operation = Some("GetProtectedResourceMetadata".into());
        rec.decision = AuditDecision::Allow;
        return Some(Ok(super::oauth::protected_resource(gw, agent)));
    }
    None
}

/// Any method on any spelling of the card paths: GET and HEAD get the
/// gateway's card, every other method 405 from the gateway.
fn agent_card(
    agent: &Agent,
    req: &Request<Incoming>,
    which: a2a::CardPath,
    rec: &mut AuditRecord,
) -> Result<Response<ResponseBody>, Refusal> {
    rec.operation = Some("GetAgentCard".into());
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(Refusal::CardMethod);
    }
    let live = agent.card.live().ok_or(Refusal::NoCard)?;
    rec.decision = AuditDecision::Allow;
    let mut resp = card_response(&live.served, which == a2a::CardPath::Legacy, req.headers());
    // HEAD gets the GET's headers and no body. HTTP/1.1 (hyper) drops the
    // body itself and keeps the length; on HTTP/2 that length would be
    // contradicted by the empty stream, which h2 refuses, so the body goes
    // here and with it the length.
    if req.method() == Method::HEAD && req.version() == http::Version::HTTP_2 {
        *resp.body_mut() = http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed();
        resp.headers_mut().remove(header::CONTENT_LENGTH);
    }
    Ok(resp)
}
