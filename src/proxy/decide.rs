//! The authorize stage of the proxy route: the one authorization core
//! ([`crate::authorize`]), asked about the classified A2A operation.

use super::refusal::Refusal;
use crate::audit::{AuditRecord, Decision as AuditDecision};
use crate::authorize::{authorize, Allowed, Ask, Denied, Outcome};
use crate::policy::DenyReason;
use crate::snapshot::Snapshot;
use crate::token::{MintError, MintedToken};

/// Decide `ask`; the deciding rule goes into the record and `rule`. In
/// the `authorize` span (telemetry), with the decision and the rule.
pub(super) fn decide<'a>(
    gw: &'a Snapshot,
    ask: &Ask<'a>,
    rec: &mut AuditRecord,
    rule: &mut Option<usize>,
) -> Result<Allowed<'a>, Refusal> {
    let span = crate::telemetry::stage_span!(
        "authorize",
        actgate.decision = tracing::field::Empty,
        actgate.rule = tracing::field::Empty,
    );
    let decided = span.in_scope(|| decide_unspanned(gw, ask, rec, rule));
    if !span.is_none() {
        let decision = match &decided {
            Ok(_) => "allow",
            Err(r) => r.decision_kind().map_or("refused", |k| k.as_str()),
        };
        span.record("actgate.decision", decision);
        if let Some(r) = rec.rule.as_deref() {
            span.record("actgate.rule", r);
        }
    }
    decided
}

fn decide_unspanned<'a>(
    gw: &'a Snapshot,
    ask: &Ask<'a>,
    rec: &mut AuditRecord,
    rule: &mut Option<usize>,
) -> Result<Allowed<'a>, Refusal> {
    let outcome = authorize(&gw.core(), ask);
    *rule = outcome.rule();
    rec.rule = rule.map(|i| format!("rule[{i}]"));
    match outcome {
        Outcome::Allow(a) => {
            tracing::debug!(caller = %ask.caller.spiffe_id, agent = ask.agent, operation = ?ask.operation, rule = a.grant.rule, "allowed");
            Ok(a)
        }
        Outcome::Deny { reason, .. } => Err(Refusal::Denied(reason)),
        Outcome::Unrecordable { .. } => Err(Refusal::AuditUnavailable),
        Outcome::NoCard { .. } => Err(Refusal::NoCard),
        Outcome::StepUp { scopes, .. } => Err(Refusal::StepUp(scopes)),
        // Allowed by policy, refused by the token rules (chain depth,
        // may_act, an expired subject): as the minter would refuse it, and
        // counted as a deny.
        Outcome::TokenRefused { error, .. } => Err(Refusal::Mint(MintError::Claims(error))),
        // Only every-operation asks (the token exchange) get these; were
        // one to come here, it is refused like a deny rule.
        Outcome::ApprovalRequired { rule } => Err(Refusal::Denied(Denied::Policy(
            DenyReason::ApprovalRequired { rule },
        ))),
        Outcome::InvalidScope { .. } => {
            Err(Refusal::Denied(Denied::Policy(DenyReason::NoMatchingRule)))
        }
    }
}

/// The mint stage: the token for an allowed call (from the cache when an
/// identical call got one recently), recorded by its `jti` and scopes.
pub(super) fn mint(
    gw: &Snapshot,
    allowed: &Allowed<'_>,
    rec: &mut AuditRecord,
) -> Result<MintedToken, Refusal> {
    // The token itself is never an attribute: whether the cache had it is.
    let span = crate::telemetry::stage_span!("mint", actgate.token.cached = tracing::field::Empty);
    let minted = span
        .in_scope(|| {
            gw.minter
                .token_for(&allowed.mint_request(), crate::unix_now())
        })
        .map_err(Refusal::Mint)?;
    span.record("actgate.token.cached", minted.cache_hit);
    rec.set_minted(&minted);
    // From here on the call is allowed; a failure below is an `error`.
    rec.decision = AuditDecision::Allow;
    Ok(minted)
}
