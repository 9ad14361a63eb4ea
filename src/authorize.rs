//! The one authorization core, shared by every front door: the proxy route
//! (`/agents/NAME/…`, one A2A operation), the MCP route (`/mcp/NAME`, one
//! MCP request: a session operation, a tool, a resource or a prompt) and the
//! token endpoint (a token for direct use at the agent, "every operation").
//!
//! Given who calls (the verified certificate identity), for whom (the
//! verified subject token, or none), which agent with which verified card,
//! and what for, it returns a typed [`Outcome`]:
//!
//! ```text
//! policy decision ─▶ (audit can record?) ─▶ card + skill scopes ─▶ requested scopes ─▶ lifetime ─▶ chain
//!  Deny / ApprovalRequired   Unrecordable      StepUp / Deny           InvalidScope                 TokenRefused
//! ```
//!
//! No HTTP, no I/O: a front door turns the outcome into its own answer
//! (a 403 with a step-up challenge, an RFC 8693 error) and mints with the
//! [`Allowed::mint_request`] it gets. The token's lifetime cap, the scope
//! computation and the delegation-chain checks live here once.

use std::borrow::Cow;

use crate::cards::serve::ServedCard;
use crate::identity::CallerIdentity;
use crate::policy::scopes::{token_scopes, TokenScopes};
use crate::policy::{Approval, Decision, DenyReason, McpWhat, Policy, Rule, Subject};
use crate::token::claims::{self, ClaimsError, MintRequest};
use crate::token::verify::SubjectToken;

#[cfg(test)]
mod tests;

impl<'a> From<&'a SubjectToken> for Subject<'a> {
    fn from(t: &'a SubjectToken) -> Self {
        Subject {
            issuer: &t.issuer,
            sub: &t.sub,
            own: t.own,
        }
    }
}

/// What the core reads from the live snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Core<'a> {
    pub policy: &'a Policy,
    /// The gateway's token issuer (a subject's `may_act.iss` may name it).
    pub issuer: &'a str,
    /// `tokens.ttl`: the lifetime of a token no rule caps further.
    pub token_ttl_secs: i64,
    /// `tokens.max_chain_depth`: actors a token may carry.
    pub max_chain_depth: usize,
}

/// What the caller wants to do at the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation<'a> {
    /// One A2A operation, classified from the request (the proxy route).
    A2a(&'a str),
    /// Every operation: a token the caller uses directly at the agent, where
    /// the gateway cannot hold it to a list of operations (the token
    /// exchange, [`crate::token::exchange::POLICY_OPERATION`]).
    Every,
    /// One MCP request at the MCP server `Ask::agent` names: `what` is
    /// decided by the rules naming MCP servers, and `scopes` (the tool's
    /// `[[mcp_server.tool]] scopes`, none for anything else) are exactly
    /// what the token carries: the rule must grant them, and on a delegated
    /// call the subject token must hold them (the step-up challenge).
    Mcp {
        what: McpWhat<'a>,
        scopes: &'a [String],
    },
}

/// One question to the core.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub caller: &'a CallerIdentity,
    /// The verified subject token (user or upstream delegation), if any.
    pub subject: Option<&'a SubjectToken>,
    /// The agent's name, as policy knows it.
    pub agent: &'a str,
    /// `aud` of the token to mint (the agent's resource identifier).
    pub audience: &'a str,
    /// The agent's verified card in service; `None` when it has none.
    pub card: Option<&'a ServedCard>,
    pub operation: Operation<'a>,
    /// Scopes the caller asked for (token exchange); `None`: the card's.
    pub requested_scopes: Option<&'a [String]>,
    /// The audit log can record what happens next. When it cannot, nothing
    /// is granted (fail closed): an action nobody could trace must not
    /// happen. Looked at after the policy's own refusals, which are answered
    /// (and recorded as far as possible) either way.
    pub recordable: bool,
    pub now: i64,
}

/// The allow rule and what it says beyond scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Index of the deciding rule in [`Policy::rules`].
    pub rule: usize,
    /// `Approval::Human`: the proxy's gate holds the call for a person.
    pub approval: Approval,
    /// The caller may reappear in the delegation chain.
    pub allow_reentry: bool,
}

/// An allowed call: everything the token will say.
#[derive(Debug, Clone)]
pub struct Allowed<'a> {
    pub grant: Grant,
    /// The scopes to mint with (the minter narrows them to the subject
    /// token's, which every scope here already passed). Borrowed from the
    /// rule or the card on the common path: nothing allocated.
    pub scopes: Cow<'a, [String]>,
    /// `tokens.ttl`, capped by the rule's `max_token_lifetime`.
    pub lifetime_secs: i64,
    /// The `exp` the token will carry (also capped by the subject token and
    /// the caller certificate's notAfter).
    pub exp: i64,
    caller: &'a CallerIdentity,
    subject: Option<&'a SubjectToken>,
    audience: &'a str,
    max_chain_depth: usize,
}

impl Allowed<'_> {
    /// What the minter signs for this call.
    pub fn mint_request(&self) -> MintRequest<'_> {
        MintRequest {
            caller: self.caller,
            subject: self.subject,
            audience: self.audience,
            granted_scopes: &self.scopes,
            ttl_secs: self.lifetime_secs,
            max_chain_depth: self.max_chain_depth,
            allow_reentry: self.grant.allow_reentry,
        }
    }
}

/// Why a call is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Policy: no rule allows it, or a deny rule forbids it.
    Policy(DenyReason),
    /// Allowed by a rule, but the card's requirements cannot be evaluated
    /// for it (too many combinations, or a skill the card does not declare);
    /// fail closed.
    Card(&'static str),
    /// Allowed by a rule that does not grant the scopes an MCP tool needs.
    ToolScopes,
}

impl Denied {
    pub fn as_str(self) -> &'static str {
        match self {
            Denied::Policy(r) => r.as_str(),
            Denied::Card(why) => why,
            Denied::ToolScopes => "the deciding rule does not grant the scopes this tool needs",
        }
    }
}

/// A requested scope the token cannot carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeProblem {
    /// Policy does not grant it to this caller at this agent.
    NotGranted(String),
    /// The subject token does not hold it.
    NotHeld(String),
}

/// What the core decided.
#[derive(Debug, Clone)]
pub enum Outcome<'a> {
    Allow(Allowed<'a>),
    /// Allowed by `rule`, but the scopes available do not meet the card's
    /// requirements: these would (the step-up challenge).
    StepUp {
        rule: usize,
        scopes: Vec<String>,
    },
    /// Every-operation asks only: a rule needs a person's approval for some
    /// operation, and a token used directly at the agent would skip the
    /// gate, so none is issued. (On the proxy route an approval rule allows,
    /// with [`Grant::approval`] set, and the gate comes last.)
    ApprovalRequired {
        rule: usize,
    },
    Deny {
        rule: Option<usize>,
        reason: Denied,
    },
    /// Allowed by `rule`, but the audit log cannot record it.
    Unrecordable {
        rule: usize,
    },
    /// Allowed by `rule`, but the agent has no verified card: nothing is
    /// granted on an unchecked contract.
    NoCard {
        rule: usize,
    },
    /// A requested scope is not grantable (token exchange).
    InvalidScope {
        rule: usize,
        problem: ScopeProblem,
    },
    /// The token rules refuse the subject for this caller (chain depth, a
    /// cycle, `may_act`, an expired subject token or caller certificate).
    TokenRefused {
        rule: usize,
        error: ClaimsError,
    },
}

impl Outcome<'_> {
    /// The rule that decided, if one did.
    pub fn rule(&self) -> Option<usize> {
        match self {
            Outcome::Allow(a) => Some(a.grant.rule),
            Outcome::Deny { rule, .. } => *rule,
            Outcome::StepUp { rule, .. }
            | Outcome::ApprovalRequired { rule }
            | Outcome::Unrecordable { rule }
            | Outcome::NoCard { rule }
            | Outcome::InvalidScope { rule, .. }
            | Outcome::TokenRefused { rule, .. } => Some(*rule),
        }
    }
}

/// Decide `ask`.
pub fn authorize<'a>(core: &Core<'a>, ask: &Ask<'a>) -> Outcome<'a> {
    let subject = ask.subject.map(Subject::from);
    let caller = &ask.caller.spiffe_id;
    let decision = match ask.operation {
        Operation::A2a(op) => core.policy.decide(caller, ask.agent, op, subject),
        Operation::Every => core
            .policy
            .decide_every_operation(caller, ask.agent, subject),
        Operation::Mcp { what, .. } => core.policy.decide_mcp(caller, ask.agent, what, subject),
    };
    let every = ask.operation == Operation::Every;
    let (rule, max_ttl, approval, allow_reentry) = match decision {
        // A token used at the agent without the gateway in between could
        // not be held for an approval: a rule that needs one, for any
        // operation, never hands out a token (policy reads it as a deny).
        Decision::Allow {
            approval: Approval::Human,
            rule,
            ..
        }
        | Decision::Deny(DenyReason::ApprovalRequired { rule })
            if every =>
        {
            return Outcome::ApprovalRequired { rule }
        }
        Decision::Deny(reason) => {
            return Outcome::Deny {
                rule: reason.rule(),
                reason: Denied::Policy(reason),
            }
        }
        Decision::Allow {
            rule,
            max_token_lifetime_secs,
            approval,
            allow_reentry,
            ..
        } => (rule, max_token_lifetime_secs, approval, allow_reentry),
    };
    if !ask.recordable {
        return Outcome::Unrecordable { rule };
    }
    // The rule's grant, borrowed from the policy (the decision holds the
    // same lists), so the scopes can be lent out without a copy.
    let Some(r) = core.policy.rule(rule) else {
        return Outcome::Deny {
            rule: Some(rule),
            reason: Denied::Policy(DenyReason::NoMatchingRule),
        };
    };
    let scopes = match ask.operation {
        Operation::Mcp { scopes, .. } => match mcp_scopes(r, scopes, ask.subject) {
            Ok(()) => Cow::Borrowed(scopes),
            Err(ScopeRefusal::NotGranted) => {
                return Outcome::Deny {
                    rule: Some(rule),
                    reason: Denied::ToolScopes,
                }
            }
            Err(ScopeRefusal::NotHeld) => {
                return Outcome::StepUp {
                    rule,
                    scopes: scopes.to_vec(),
                }
            }
        },
        _ => match agent_scopes(ask, r, rule) {
            Ok(s) => s,
            Err(outcome) => return outcome,
        },
    };
    let mut allowed = Allowed {
        grant: Grant {
            rule,
            approval,
            allow_reentry,
        },
        scopes,
        lifetime_secs: max_ttl.map_or(core.token_ttl_secs, |cap| cap.min(core.token_ttl_secs)),
        exp: 0,
        caller: ask.caller,
        subject: ask.subject,
        audience: ask.audience,
        max_chain_depth: core.max_chain_depth,
    };
    // The checks the minter makes, made here so a refused chain is a
    // decision both front doors see alike (the minter makes them again).
    match claims::check(&allowed.mint_request(), core.issuer, ask.now) {
        Ok(exp) => {
            allowed.exp = exp;
            Outcome::Allow(allowed)
        }
        Err(error) => Outcome::TokenRefused { rule, error },
    }
}

/// Why an MCP tool's scopes cannot be minted.
enum ScopeRefusal {
    /// The rule does not grant them: no user token could change that.
    NotGranted,
    /// The subject token lacks some: one that holds them would do.
    NotHeld,
}

/// An MCP tool's `needed` scopes, checked against the rule's grant and the
/// subject token's scopes.
fn mcp_scopes(
    r: &Rule,
    needed: &[String],
    subject: Option<&SubjectToken>,
) -> Result<(), ScopeRefusal> {
    if !needed.iter().all(|s| r.scopes.contains(s)) {
        return Err(ScopeRefusal::NotGranted);
    }
    let held =
        |s: &String| subject.is_none_or(|st| st.scopes.as_ref().is_some_and(|h| h.contains(s)));
    if needed.iter().all(held) {
        Ok(())
    } else {
        Err(ScopeRefusal::NotHeld)
    }
}

/// The scopes of a token for an agent: the card's requirements within what
/// the rule grants, then the scopes asked for.
fn agent_scopes<'a>(
    ask: &Ask<'a>,
    r: &'a Rule,
    rule: usize,
) -> Result<Cow<'a, [String]>, Outcome<'a>> {
    // Only a verified card may decide the scopes: without one, no grant.
    let Some(card) = ask.card else {
        return Err(Outcome::NoCard { rule });
    };
    // The card's requirements (and those of the skills the rule allows)
    // decide which scopes the token carries, within what policy grants and,
    // on a delegated call, what the subject token carries.
    let scopes = match token_scopes(card, &r.scopes, &r.skills, ask.subject) {
        TokenScopes::Borrowed(s) => Cow::Borrowed(s),
        TokenScopes::Owned(s) => Cow::Owned(s),
        TokenScopes::StepUp(scopes) => return Err(Outcome::StepUp { rule, scopes }),
        TokenScopes::Refused(why) => {
            return Err(Outcome::Deny {
                rule: Some(rule),
                reason: Denied::Card(why),
            })
        }
    };
    // Asked-for scopes: never wider than policy grants or the subject token
    // holds; a caller may ask for fewer than the card's.
    let scopes = match ask.requested_scopes {
        None => scopes,
        Some(requested) => {
            let held = ask.subject.and_then(|s| s.scopes.as_deref()).unwrap_or(&[]);
            for s in requested {
                let problem = if !r.scopes.contains(s) {
                    ScopeProblem::NotGranted(s.clone())
                } else if !held.contains(s) {
                    ScopeProblem::NotHeld(s.clone())
                } else {
                    continue;
                };
                return Err(Outcome::InvalidScope { rule, problem });
            }
            Cow::Owned(requested.to_vec())
        }
    };
    Ok(scopes)
}
