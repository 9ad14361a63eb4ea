//! `/agents/NAME/…`: the A2A front door, one stage per line in the order
//! that is itself a security property (reach before token or body, so
//! unknown and unreachable agents look the same; the human gate last, so an
//! approval exists only for a call that would otherwise be forwarded).
//! Each stage decides in its own module; a refusal is a typed value, booked
//! once at the end ([`super::refusal`]).

use http::{Request, Response};
use hyper::body::Incoming;

use super::approval::{self, Call};
use super::body::body_within;
use super::context::ConnContext;
use super::forward::{self, Forwarded};
use super::headers::presented_approval;
use super::refusal::{Booking, Refusal};
use super::respond::ResponseBody;
use super::{card, classify, decide, extended_card, reach, subject};
use crate::audit::AuditRecord;
use crate::authorize::{Ask, Operation};
use crate::policy::{Approval, DecisionKind};
use crate::registry::Agent;
use crate::snapshot::Snapshot;
use crate::token::SubjectToken;
use crate::trace::RequestMeta;

/// What the stages learned that booking needs (the subject token is kept
/// apart: the stages borrow it).
#[derive(Default)]
struct Seen<'g> {
    agent: Option<&'g Agent>,
    rule: Option<usize>,
}

/// How the stages ended, short of a refusal.
enum Done {
    /// Answered by the gateway itself (the card, the resource metadata).
    Answered(Response<ResponseBody>),
    Forwarded(Forwarded),
}

pub(super) async fn agent_call(
    gw: &Snapshot,
    conn: &ConnContext,
    req: Request<Incoming>,
    rec: &mut AuditRecord,
    meta: &RequestMeta,
    started: std::time::Instant,
) -> Response<ResponseBody> {
    let mut seen = Seen::default();
    let mut subject = None;
    let done = stages(gw, conn, req, rec, meta, &mut seen, &mut subject).await;
    let booking = Booking {
        metrics: &gw.metrics,
        recent: &gw.recent,
        caller: &conn.identity,
        subject: subject.as_ref(),
        agent: seen.agent,
        rule: seen.rule,
    };
    let resp = match done {
        Ok(Done::Answered(resp)) => resp,
        Ok(Done::Forwarded(f)) => forward::respond(f, &booking, rec).await,
        Err(refusal) => refusal.book(&booking, rec),
    };
    super::observe_request(gw, seen.agent.map(|a| &*a.metrics), rec, started);
    resp
}

/// The stages, in order.
async fn stages<'g>(
    gw: &'g Snapshot,
    conn: &ConnContext,
    req: Request<Incoming>,
    rec: &mut AuditRecord,
    meta: &RequestMeta,
    seen: &mut Seen<'g>,
    subject_slot: &mut Option<SubjectToken>,
) -> Result<Done, Refusal> {
    let caller = &conn.identity;
    let route = reach::route(req.uri().path(), rec)?;
    let agent = *seen.agent.insert(reach::agent(gw, route.agent)?);
    reach::may_reach(gw, caller, agent)?;
    if let Some(answer) = card::own_answer(gw, agent, &req, route.rest, rec) {
        return answer.map(Done::Answered);
    }
    let rest = classify::canonical_path(route.rest)?;
    *subject_slot =
        subject::verify_recorded(gw, caller, req.headers(), (&[], &agent.resource), rec).await?;
    let subject = subject_slot.as_ref();
    // The body is read (up to the limit) and classified before the decision:
    // rules may allow some operations and not others, and nothing may reach
    // the upstream before the decision.
    let (parts, body) = req.into_parts();
    let body = body_within(body, &parts, gw.limits.max_request_body)
        .await
        .map_err(Refusal::Body)?;
    // Only a verified card may decide how the agent is called (and where
    // its interfaces are): without one the agent is unavailable, never
    // called on an unchecked contract.
    let live = agent.card.live().ok_or(Refusal::NoCard)?;
    let op = classify::operation(&parts, &rest, &body, &live.endpoints, rec)?;
    let ask = Ask {
        caller,
        subject,
        agent: &agent.name,
        audience: &agent.resource,
        card: Some(&live.served),
        operation: Operation::A2a(&op.name),
        requested_scopes: None,
        // Fail closed: while the audit log cannot be written, nothing is
        // forwarded (an action nobody could trace must not happen).
        recordable: gw.audit.is_healthy(),
        now: crate::unix_now(),
    };
    let allowed = decide::decide(gw, &ask, rec, &mut seen.rule)?;
    let minted = decide::mint(gw, &allowed, rec)?;
    let client = gw
        .upstreams
        .get(&agent.name)
        .ok_or(Refusal::NoUpstreamClient)?;
    let uri = forward::upstream_uri(&agent.upstream, &rest, parts.uri.query())
        .map_err(|_| Refusal::Unforwardable)?;
    // The gate reads the caller's Actgate-Approval header; the upstream never
    // sees it (sanitising removes it).
    let presented = presented_approval(&parts.headers);
    let headers = forward::upstream_headers(
        parts.headers,
        &gw.limits,
        conn.remote,
        minted.authorization,
        meta,
        &live,
    );
    // The human gate comes last, after every other refusal.
    let approval_id = match allowed.grant.approval {
        Approval::Human => {
            let call = Call {
                caller,
                subject,
                agent: &agent.name,
                op: &op,
                method: &parts.method,
                rest: &rest,
                query: parts.uri.query(),
                forwarded: &headers,
                body: &body,
                rule: allowed.grant.rule,
            };
            let gate = approval::gate(gw.approvals.as_ref(), &gw.metrics, &presented, call);
            Some(gate.await.map_err(|h| Refusal::Approval(Box::new(h)))?)
        }
        Approval::None => None,
    };
    rec.approval_id.clone_from(&approval_id);
    agent.metrics.count(DecisionKind::Allow);
    let extended_card =
        (op.name == "GetExtendedAgentCard").then(|| extended_card::wants_v03(&rest, &body));
    let upstream = (parts.method, uri, headers);
    let timeout = gw.limits.upstream_timeout;
    let resp = forward::send(client, timeout, upstream, body, &agent.metrics).await?;
    Ok(Done::Forwarded(Forwarded {
        resp,
        extended_card,
        binding: op.binding,
        approval_id,
        token_cached: minted.cache_hit,
    }))
}
