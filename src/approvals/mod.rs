//! The human approval gate: what an approval is bound to, its states, and
//! the store that keeps approvals ([`ApprovalStore`]: on disk, or in the
//! shared PostgreSQL database).
//!
//! An approval is created by the first request a `approval = "human"` rule
//! allows, decided by a person (approve or deny), and consumed by the
//! caller's retry of the *identical* request. It is bound to everything that
//! makes the request what it is for the upstream — caller, subject and the
//! subject token's scopes, delegation chain, target agent, deciding rule,
//! operation, method and path, method-override headers, `Content-Type`,
//! `A2A-Extensions`, and the SHA-256 of the body — so an approval for one
//! request can never carry another, and it is single-use. The person is
//! shown the body itself ([`preview::BodyPreview`]), not only its digest.
//!
//! Knows nothing about HTTP: the proxy builds an [`ApprovalRequest`] and maps
//! each [`Refusal`] to its answer.

mod backend;
pub(crate) mod build;
mod lifecycle;
pub mod pg;
pub mod preview;
pub mod store;

use serde::{Deserialize, Serialize};

pub use backend::{ApprovalStore, Decision, Place};
pub use preview::BodyPreview;
pub use store::{DecideError, FileStore, StoreError};

/// The request an approval is for. Two requests with equal
/// `ApprovalRequest`s are the same request for the gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The calling workload's SPIFFE ID (verified at the handshake).
    pub caller: String,
    /// `sub` of the subject token, if the call is on a user's behalf.
    pub subject: Option<String>,
    /// `iss` of the subject token.
    pub subject_issuer: Option<String>,
    /// The delegation chain as a person reads it: the user (if any), then
    /// every earlier agent from the least recent, then the caller.
    pub chain: Vec<String>,
    /// Target agent (route name).
    pub agent: String,
    /// A2A operation (v1.0 name) the request was classified as.
    pub operation: String,
    /// HTTP method.
    pub method: String,
    /// Path after the agent route, with the query string.
    pub path: String,
    /// Hex SHA-256 of the request body.
    pub body_sha256: String,
    /// Index of the rule that allowed the call (config order).
    pub rule: usize,
    /// The subject token's scopes, sorted (`None`: no token, or no `scope`).
    /// A token with other scopes is another grant from the user.
    #[serde(default)]
    pub subject_scopes: Option<Vec<String>>,
    /// `Content-Type` as forwarded: the upstream parses the body by it.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The A2A protocol headers as forwarded (`name: value`):
    /// `A2A-Extensions`, v0.3's `X-A2A-Extensions` and `A2A-Version`.
    /// Extensions change what a call means to the agent, the version how it
    /// reads the body.
    #[serde(default)]
    pub a2a_extensions: Vec<String>,
    /// Method-override headers as forwarded (`name: value`): some servers
    /// execute those instead of the request method.
    #[serde(default)]
    pub method_override: Vec<String>,
    /// What the person deciding is shown of the body. Not compared:
    /// `body_sha256` binds the whole body.
    #[serde(default)]
    pub body: BodyPreview,
}

impl ApprovalRequest {
    /// The first part of `self` that differs from `other`, if any; named so
    /// the caller learns why its approval does not fit. The deciding rule is
    /// compared too: the person approved a call under that rule's grant, and
    /// a reload that renumbers rules fails closed (a new approval is needed).
    pub fn mismatch(&self, other: &ApprovalRequest) -> Option<&'static str> {
        if self.caller != other.caller {
            Some("caller")
        } else if self.subject != other.subject || self.subject_issuer != other.subject_issuer {
            Some("subject")
        } else if self.subject_scopes != other.subject_scopes {
            Some("subject token scopes")
        } else if self.chain != other.chain {
            // Same caller and user, but reached through other agents: the
            // person approved one delegation path, not any.
            Some("delegation chain")
        } else if self.agent != other.agent {
            Some("agent")
        } else if self.rule != other.rule {
            Some("deciding rule")
        } else if self.operation != other.operation {
            Some("operation")
        } else if self.method != other.method || self.path != other.path {
            Some("request path")
        } else if self.method_override != other.method_override {
            Some("method override")
        } else if self.content_type != other.content_type {
            Some("content type")
        } else if self.a2a_extensions != other.a2a_extensions {
            Some("A2A extensions or version")
        } else if self.body_sha256 != other.body_sha256 {
            Some("request body")
        } else {
            None
        }
    }
}

/// Hex SHA-256 of a request body (the audit chain's hex SHA-256).
pub fn body_digest(body: &[u8]) -> String {
    crate::audit::chain::line_hash(body)
}

/// Where an approval is in its life. `Expired` is never stored: it is what
/// a pending or approved approval is once its `expires_at` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Approved,
    Denied,
    Used,
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Denied => "denied",
            State::Used => "used",
            State::Expired => "expired",
        }
    }
}

/// One approval as stored and as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    /// The stored state (see [`Approval::status`] for the effective one).
    pub state: State,
    pub request: ApprovalRequest,
    /// Seconds since the epoch.
    pub created_at: i64,
    pub expires_at: i64,
    #[serde(default)]
    pub decided_at: Option<i64>,
    /// The admin identity that decided (SPIFFE ID, or `local-operator`).
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub used_at: Option<i64>,
}

impl Approval {
    /// The effective state at `now`: pending and approved approvals past
    /// their expiry are expired.
    pub fn status(&self, now: i64) -> State {
        match self.state {
            State::Pending | State::Approved if now >= self.expires_at => State::Expired,
            s => s,
        }
    }

    /// When the approval stopped mattering (for pruning), if it has.
    fn finished_at(&self, now: i64) -> Option<i64> {
        match self.status(now) {
            State::Pending | State::Approved => None,
            State::Expired => Some(self.expires_at),
            State::Denied => Some(self.decided_at.unwrap_or(self.created_at)),
            State::Used => Some(self.used_at.unwrap_or(self.created_at)),
        }
    }
}

/// Why a retry carrying `Actgate-Approval` is not let through. Each has its
/// own code and message, so a caller can tell "wait" from "give up".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no such approval")]
    Unknown,
    #[error("approval {0} was granted for a different {1}")]
    Mismatch(String, &'static str),
    #[error("approval {0} has not been decided yet")]
    Pending(String),
    #[error("approval {id} was denied{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Denied { id: String, reason: Option<String> },
    #[error("approval {0} has expired")]
    Expired(String),
    #[error("approval {0} has already been used")]
    Used(String),
    #[error("the approval store cannot record the use of this approval")]
    Storage,
}

impl Refusal {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unknown => "approval_unknown",
            Refusal::Mismatch(..) => "approval_mismatch",
            Refusal::Pending(_) => "approval_pending",
            Refusal::Denied { .. } => "approval_denied",
            Refusal::Expired(_) => "approval_expired",
            Refusal::Used(_) => "approval_used",
            Refusal::Storage => "approval_store_unavailable",
        }
    }
}

/// Approval IDs: `ap-` and 32 lowercase hex digits (128 random bits).
pub fn valid_id(id: &str) -> bool {
    id.len() == 35
        && id.starts_with("ap-")
        && id[3..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn new_id() -> Result<String, aws_lc_rs::error::Unspecified> {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut bytes)?;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(35);
    s.push_str("ap-");
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_validated() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_ne!(a, b);
        assert!(valid_id(&a), "{a}");
        for bad in [
            "",
            "ap-",
            "../../etc/passwd",
            "ap-0123456789abcdef0123456789abcdeF",
            "ap-0123456789abcdef0123456789abcde/",
            "xx-0123456789abcdef0123456789abcdef",
        ] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn every_bound_part_counts() {
        let base = ApprovalRequest {
            caller: "spiffe://example.org/a".into(),
            subject: Some("alice".into()),
            subject_issuer: Some("https://idp".into()),
            chain: vec!["alice".into(), "spiffe://example.org/a".into()],
            agent: "bank".into(),
            operation: "SendMessage".into(),
            method: "POST".into(),
            path: "/a2a/jsonrpc".into(),
            body_sha256: body_digest(b"x"),
            rule: 0,
            subject_scopes: Some(vec!["pay".into()]),
            content_type: Some("application/json".into()),
            a2a_extensions: vec![],
            method_override: vec![],
            body: BodyPreview::of(b"x"),
        };
        type Change = fn(&mut ApprovalRequest);
        let cases: Vec<(Change, &str)> = vec![
            (|r| r.caller = "spiffe://example.org/b".into(), "caller"),
            (|r| r.subject = None, "subject"),
            (
                |r| r.subject_issuer = Some("https://other".into()),
                "subject",
            ),
            (
                |r| r.chain.insert(1, "spiffe://example.org/c".into()),
                "delegation chain",
            ),
            (|r| r.agent = "mail".into(), "agent"),
            (|r| r.operation = "CancelTask".into(), "operation"),
            (|r| r.method = "PUT".into(), "request path"),
            (|r| r.path = "/a2a/jsonrpc?x=1".into(), "request path"),
            (|r| r.body_sha256 = body_digest(b"y"), "request body"),
            (
                |r| r.subject_scopes = Some(vec!["pay".into(), "admin".into()]),
                "subject token scopes",
            ),
            (|r| r.rule = 3, "deciding rule"),
            (
                |r| r.method_override = vec!["x-http-method-override: DELETE".into()],
                "method override",
            ),
            (
                |r| r.content_type = Some("text/plain".into()),
                "content type",
            ),
            (
                |r| r.a2a_extensions = vec!["x-a2a-extensions: urn:x".into()],
                "A2A extensions or version",
            ),
        ];
        for (change, what) in cases {
            let mut other = base.clone();
            change(&mut other);
            assert_eq!(base.mismatch(&other), Some(what));
        }
        // What is only shown is not compared (the digest binds the body).
        let mut shown = base.clone();
        shown.body = BodyPreview::of(b"something else");
        assert_eq!(base.mismatch(&shown), None);
    }

    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(
            body_digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
