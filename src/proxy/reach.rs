//! The route and reach stages: which agent the path names, and whether any
//! rule lets this caller reach it at all.

use super::refusal::Refusal;
use crate::audit::AuditRecord;
use crate::identity::CallerIdentity;
use crate::registry::{parse_route, Agent, Route, RouteError};
use crate::snapshot::Snapshot;

/// The agent `path` names (recorded as asked for) and the rest of the path.
pub(super) fn route<'p>(path: &'p str, rec: &mut AuditRecord) -> Result<Route<'p>, Refusal> {
    let route = match parse_route(path) {
        Ok(r) => r,
        Err(RouteError::NotAgentRoute) => return Err(Refusal::NotAgentRoute),
    };
    // The name as asked for (an unknown agent is evidence too).
    rec.agent = Some(route.agent.to_owned());
    Ok(route)
}

/// The registered agent of that name.
pub(super) fn agent<'g>(gw: &'g Snapshot, name: &str) -> Result<&'g Agent, Refusal> {
    // Unknown agents and denied agents get the same answer, so the gateway
    // never reveals which agents exist.
    gw.registry
        .get(name)
        .map(|a| &**a)
        .ok_or(Refusal::UnknownAgent)
}

/// Whether some rule lets `caller` reach `agent`.
pub(super) fn may_reach(
    gw: &Snapshot,
    caller: &CallerIdentity,
    agent: &Agent,
) -> Result<(), Refusal> {
    // A caller no rule lets reach the agent gets the unknown agent's answer
    // before anything else is looked at: a 401 for its token or a 413 for
    // its body would tell it that the agent exists (and the 401 would make
    // the gateway a token-validity oracle for callers without rights).
    // Every later stage relies on this: a caller that may not reach the
    // agent learns no more than it would about an agent that does not exist.
    if gw.policy.may_reach(&caller.spiffe_id, &agent.name) {
        return Ok(());
    }
    // The record names the deny rule that shut the caller out, if any.
    let why = gw
        .policy
        .decide_every_operation(&caller.spiffe_id, &agent.name, None);
    Err(Refusal::Unreachable { rule: why.rule() })
}
