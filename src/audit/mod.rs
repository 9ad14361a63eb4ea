//! The audit log: one hash-chained JSON line per request and per token
//! exchange, append-only, rotated by size, verifiable offline.
//!
//! - [`AuditRecord`] is what a caller fills in: who (SPIFFE ID, certificate
//!   thumbprint), for whom (subject, `act` chain), what (agent, operation),
//!   the decision and the rule that made it, the minted token's `jti` and
//!   scopes (never the token), approval id, statuses, latency.
//! - [`AuditLog`] is the cheap, cloneable handle the request path appends
//!   through; a dedicated writer thread owns the files (see `writer`).
//! - [`chain`] is the line format and hash chain; [`verify`] checks files;
//!   [`query`] filters them.
//! - [`recent`] is the in-memory ring of the latest decisions the console
//!   shows (bounded, not evidence).
//! - With `[state]` postgres, each replica's chain is also shipped to the
//!   shared `audit_records` table from this log (`state::audit_ship`; the
//!   file stays the record of evidence).
//!
//! Appending from anywhere (proxy, token endpoint, approvals):
//!
//! ```no_run
//! # async fn f(log: &actgate::audit::AuditLog) {
//! use actgate::audit::{AuditRecord, Decision, RecordKind};
//! let mut rec = AuditRecord::new(RecordKind::TokenExchange);
//! rec.request_id = "req-from-a-header".into(); // or keep the generated one
//! rec.caller = Some("spiffe://example.org/agent/a".into());
//! rec.refuse(Decision::Deny, "invalid_grant");
//! // Written (handed to the OS) before this returns, because it is a refusal;
//! // an `Allow` would be buffered and written within `flush_interval`.
//! log.submit(rec).await;
//! # }
//! ```
//!
//! In the proxy, `proxy::handle` creates one record per request in a
//! [`RecordGuard`] and passes `&mut AuditRecord` down the pipeline; a stage
//! sets what it decided (`rec.refuse(Decision::ApprovalRequired, ..)` and
//! `rec.approval_id`, `rec.request_id`, ...) and `handle` submits it once
//! the response is built. If the request's future is dropped first (the
//! caller hung up, a drain), the guard submits it from `Drop` with status
//! 499. Do not submit a second record for the same request.

pub(crate) mod build;
pub mod chain;
mod files;
mod guard;
pub mod query;
pub mod recent;
pub mod verify;
mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::token::{MintedToken, SubjectToken};

pub use guard::{RecordGuard, CLIENT_CLOSED_REASON, CLIENT_CLOSED_STATUS};
pub use writer::{AuditError, AuditLog, AuditSettings};

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A request on the mTLS listener (agent call, card, JWKS, ...).
    Proxy,
    /// A request on an MCP route (`/mcp/NAME`): `agent` is the MCP server,
    /// `operation` the JSON-RPC method, `mcp` what it named.
    Mcp,
    /// An RFC 8693 token exchange.
    TokenExchange,
    /// A person (or admin tool) approved or denied a pending approval:
    /// `caller` is the decider, `act` the chain of the request decided.
    ApprovalDecision,
    /// A person answered the consent page, or a remembered consent let an
    /// authorization request through (`reason` says which): `subject` is
    /// the person, `act` the agent that will act, `agent` the resource's
    /// agent or MCP server, `scopes` what was allowed, `grant` the grant.
    /// Written (synced) before the code leaves.
    Consent,
    /// A person revoked a grant on the grants page: `grant` names it. (A
    /// grant the token endpoint revokes on a reused refresh token or code
    /// is in that request's `token_exchange` record, its `reason`.)
    GrantRevocation,
    /// Written by the log itself as the first line of every file: the chain
    /// continues here from the previous file (or starts, for the first one).
    LogStart,
    /// Written by the log itself after write failures: records were lost
    /// just before this line (`reason` says how many). The chain stays
    /// intact across the gap, so without this line the loss would be
    /// invisible; `audit verify` reports the log as incomplete.
    RecordsLost,
}

/// The outcome recorded for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Allowed (and, for agent calls, forwarded; see `upstream_status`).
    Allow,
    /// Refused by policy, or for an unknown agent.
    Deny,
    /// Refused with an `insufficient_scope` step-up challenge.
    StepUp,
    /// Held for a human approval (the approval id is in `approval_id`).
    ApprovalRequired,
    /// The subject token (or another credential) was refused.
    Unauthenticated,
    /// The request itself was malformed (bad path, body too large, ...).
    Invalid,
    /// Allowed, but the gateway or the upstream failed (timeout, unreachable,
    /// signing failure).
    Error,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::StepUp => "step_up",
            Decision::ApprovalRequired => "approval_required",
            Decision::Unauthenticated => "unauthenticated",
            Decision::Invalid => "invalid",
            Decision::Error => "error",
        }
    }

    /// Refusals are written before the response leaves (a caller that was
    /// turned away can always be found in the log, even after `kill -9`);
    /// allowed and failed calls are buffered for at most `flush_interval`.
    pub fn written_before_response(self) -> bool {
        !matches!(self, Decision::Allow | Decision::Error)
    }
}

/// One audit record, as the request path fills it in. The writer adds the
/// chain fields (`v`, `seq`, `prev`) and formats `time`.
///
/// Never put a token, key or certificate in any field: the log is meant to
/// be read widely (it is evidence), so it holds identifiers only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the request arrived (RFC 3339 UTC in the file).
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    pub kind: RecordKind,
    /// Correlates the record with logs; see [`new_request_id`].
    pub request_id: String,
    /// The caller's SPIFFE ID (from its verified X509-SVID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// RFC 8705 `x5t#S256` of the caller's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<String>,
    /// The user the call is made for (`sub` of the subject token); `None` for
    /// app-only calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Issuer of the subject token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_issuer: Option<String>,
    /// The delegation chain the minted token carries (or would have carried),
    /// current actor first, as in nested `act` claims.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub act: Vec<String>,
    /// Target agent name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// A2A operation (`SendMessage`, ...) or gateway endpoint (`GetJwks`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// HTTP method and path (no query string: it may carry secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub decision: Decision,
    /// The rule that decided, e.g. `rule[0]` (config order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why, for anything but a plain allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `jti` and scopes of the token minted for the upstream (never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The human approval this call needed or used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// The status the caller received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The status the upstream answered with, when the call was forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<u16>,
    /// From request arrival to response headers, in microseconds (a stream
    /// may run on after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// The person's grant (`gr-…`) a consent, revocation or token from a
    /// grant concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// MCP requests: the tool, resource or prompt named, and a digest of
    /// the arguments (never the arguments: they may hold secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpDetail>,
}

/// What an MCP request named, for its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// SHA-256 (hex) of the canonical JSON of `params.arguments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments_sha256: Option<String>,
    /// The `Mcp-Session-Id` the request named (an upstream's identifier,
    /// not a credential here: sessions are bound to their caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl AuditRecord {
    /// An empty record stamped now, with a fresh request id. `decision`
    /// starts as [`Decision::Error`] so a path that forgets to set it is
    /// visible rather than reported as allowed.
    pub fn new(kind: RecordKind) -> Self {
        let mut r = Self::blank(kind);
        r.request_id = new_request_id();
        r
    }

    /// A record with no request id yet (allocates nothing), for a caller
    /// that sets its own id.
    pub(crate) fn blank(kind: RecordKind) -> Self {
        AuditRecord {
            time: SystemTime::now(),
            kind,
            request_id: String::new(),
            caller: None,
            thumbprint: None,
            subject: None,
            subject_issuer: None,
            act: Vec::new(),
            agent: None,
            operation: None,
            method: None,
            path: None,
            decision: Decision::Error,
            rule: None,
            reason: None,
            jti: None,
            scopes: Vec::new(),
            approval_id: None,
            status: None,
            upstream_status: None,
            latency_us: None,
            grant: None,
            mcp: None,
        }
    }

    /// Set `latency_us` to the time since `started`.
    pub fn finish(&mut self, started: Instant) {
        self.latency_us = Some(started.elapsed().as_micros().min(u64::MAX as u128) as u64);
    }

    /// Record a refusal (or failure) and why.
    pub fn refuse(&mut self, decision: Decision, reason: impl Into<String>) {
        self.decision = decision;
        self.reason = Some(reason.into());
    }

    /// The user and the delegation chain of a call by `caller` on behalf of
    /// `subject`: the chain a token minted for it carries (the caller, then
    /// the subject token's actors, current first).
    pub fn set_delegation(&mut self, caller: &str, subject: &SubjectToken) {
        self.subject = Some(subject.sub.to_string());
        self.subject_issuer = Some(subject.issuer.to_string());
        self.act.clear();
        self.act.push(caller.to_owned());
        self.act.extend(
            subject
                .act
                .iter()
                .flat_map(|a| a.chain())
                .map(|a| a.sub.clone()),
        );
    }

    /// The `jti` and scopes of the token minted for this call (never the token).
    pub fn set_minted(&mut self, minted: &MintedToken) {
        self.jti = Some(minted.jti.to_string());
        self.scopes = minted
            .scope
            .as_deref()
            .map(|s| s.split(' ').map(str::to_owned).collect())
            .unwrap_or_default();
    }
}

/// A request id unique within this process and, with high probability,
/// across processes: a random per-process prefix and a counter (no syscall
/// or lock per request). Code that receives an id from elsewhere (a request
/// header) sets `AuditRecord::request_id` instead.
pub fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        let mut b = [0u8; 8];
        // Without randomness the ids stay unique within the process; the
        // time-based fallback keeps restarts apart.
        if aws_lc_rs::rand::fill(&mut b).is_err() {
            return SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
        }
        u64::from_le_bytes(b)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:012x}-{n:x}", prefix & 0xffff_ffff_ffff)
}

/// `SystemTime` as an RFC 3339 UTC string (microsecond precision).
pub(crate) mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    pub fn format(t: SystemTime) -> String {
        let dt = OffsetDateTime::from(t);
        // Truncate to microseconds: enough to order records, shorter lines.
        let dt = dt
            .replace_nanosecond(dt.nanosecond() / 1000 * 1000)
            .unwrap_or(dt);
        dt.format(&Rfc3339)
            .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
    }

    pub fn parse(s: &str) -> Option<SystemTime> {
        OffsetDateTime::parse(s, &Rfc3339)
            .ok()
            .map(SystemTime::from)
    }

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| serde::de::Error::custom(format!("\"{s}\" is not RFC 3339")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(
            a.split('-').next(),
            b.split('-').next(),
            "same process prefix"
        );
    }

    #[test]
    fn refusals_are_written_before_the_response() {
        for d in [
            Decision::Deny,
            Decision::StepUp,
            Decision::ApprovalRequired,
            Decision::Unauthenticated,
            Decision::Invalid,
        ] {
            assert!(d.written_before_response(), "{d:?}");
        }
        assert!(!Decision::Allow.written_before_response());
        assert!(!Decision::Error.written_before_response());
    }

    #[test]
    fn times_round_trip() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_764_331_523_123_456);
        let s = rfc3339::format(t);
        assert_eq!(s, "2025-11-28T12:05:23.123456Z");
        assert_eq!(rfc3339::parse(&s), Some(t));
    }
}
