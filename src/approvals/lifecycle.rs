//! The rules of an approval's life, shared by both backends: what a new
//! approval is, when a retry may use one, who may decide one. The backends
//! only keep the result (and make each change atomic and durable).

use super::store::{DecideError, StoreError, StoreLimits};
use super::{new_id, Approval, ApprovalRequest, Refusal, State};

impl Approval {
    /// A new pending approval for `req`, if the limits leave room:
    /// `pending` approvals are pending in all, `mine` of them `req`'s
    /// caller's.
    pub(crate) fn new_pending(
        req: ApprovalRequest,
        now: i64,
        limits: &StoreLimits,
        pending: usize,
        mine: usize,
    ) -> Result<Approval, StoreError> {
        // The caller's own cap first: one agent's backlog must not use up
        // the room every other caller needs.
        if mine >= limits.max_pending_per_caller {
            return Err(StoreError::CallerFull(limits.max_pending_per_caller));
        }
        if pending >= limits.max_pending {
            return Err(StoreError::Full(limits.max_pending));
        }
        Ok(Approval {
            id: new_id().map_err(|_| StoreError::Random)?,
            state: State::Pending,
            request: req,
            created_at: now,
            expires_at: now.saturating_add(limits.ttl_secs),
            decided_at: None,
            decided_by: None,
            reason: None,
            used_at: None,
        })
    }

    /// Whether `req` may go through on this approval at `now`: it must be
    /// for this very request, approved, unexpired and unused.
    pub(crate) fn check_use(&self, req: &ApprovalRequest, now: i64) -> Result<(), Refusal> {
        let id = &self.id;
        // The binding is checked before the state: someone else's approval
        // ID tells this caller nothing about that approval.
        if let Some(what) = self.request.mismatch(req) {
            return Err(Refusal::Mismatch(id.to_string(), what));
        }
        match self.status(now) {
            State::Approved => Ok(()),
            State::Pending => Err(Refusal::Pending(id.to_string())),
            State::Denied => Err(Refusal::Denied {
                id: id.to_string(),
                reason: self.reason.clone(),
            }),
            State::Expired => Err(Refusal::Expired(id.to_string())),
            State::Used => Err(Refusal::Used(id.to_string())),
        }
    }

    /// This approval used at `now`.
    pub(crate) fn used(&self, now: i64) -> Approval {
        let mut used = self.clone();
        used.state = State::Used;
        used.used_at = Some(now);
        used
    }

    /// This approval approved or denied by `by`, if `by` may decide it and
    /// it is still pending.
    pub(crate) fn decided(
        &self,
        approve: bool,
        by: &str,
        reason: Option<String>,
        now: i64,
    ) -> Result<Approval, DecideError> {
        if self.request.caller == by || self.request.chain.iter().any(|c| c == by) {
            return Err(DecideError::SelfDecision { by: by.to_string() });
        }
        let state = self.status(now);
        if state != State::Pending {
            return Err(DecideError::NotPending {
                id: self.id.clone(),
                state,
            });
        }
        let mut decided = self.clone();
        decided.state = if approve {
            State::Approved
        } else {
            State::Denied
        };
        decided.decided_at = Some(now);
        decided.decided_by = Some(by.to_string());
        decided.reason = reason;
        Ok(decided)
    }

    /// When the approval stopped mattering (pruning), if it has, as the
    /// database keeps it: denied and used approvals only (pending and
    /// approved ones are pruned by their expiry).
    pub(crate) fn finished_column(&self) -> Option<i64> {
        match self.state {
            State::Denied => Some(self.decided_at.unwrap_or(self.created_at)),
            State::Used => Some(self.used_at.unwrap_or(self.created_at)),
            _ => None,
        }
    }
}
