//! The most recent decisions, in memory, for the console's audit trail (the
//! durable, hash-chained audit log is a separate file-based record). A fixed
//! ring: old entries fall off, memory stays bounded whatever the traffic.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

use super::McpDetail;
use crate::identity::CallerIdentity;
use crate::token::verify::SubjectToken;

/// How many decisions the ring keeps.
pub const CAPACITY: usize = 200;

/// One decision as the console shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRecord {
    /// Seconds since the epoch.
    pub time: i64,
    pub caller: String,
    pub subject: Option<String>,
    /// User (if any) → earlier agents → caller.
    pub chain: Vec<String>,
    /// The agent, or the MCP server when `target` is `mcp_server`.
    pub agent: String,
    /// `agent` or `mcp_server`: what kind of target `agent` names.
    pub target: &'static str,
    /// The A2A operation, or the MCP JSON-RPC method.
    pub operation: String,
    /// MCP calls: the tool, resource or prompt named (never arguments).
    pub name: Option<String>,
    /// `allow`, `deny`, `approval_required` or an approval refusal code.
    pub decision: &'static str,
    /// The rule that decided (config order), when one did.
    pub rule: Option<usize>,
    pub approval_id: Option<String>,
    /// Upstream status when the call was forwarded.
    pub status: Option<u16>,
    /// The replica that decided, when the list comes from the cluster's
    /// shared audit table (`[state]` postgres); absent for this replica's
    /// own ring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

impl DecisionRecord {
    /// A decided agent or MCP call as its audit record (shipped by
    /// `replica`) tells it; `None` for what the console does not list
    /// (token exchanges, the log's own lines, gateway endpoints).
    pub fn from_audit(replica: &str, r: &super::AuditRecord) -> Option<DecisionRecord> {
        use super::RecordKind;
        let mcp_route = match r.kind {
            RecordKind::Proxy => false,
            RecordKind::Mcp => true,
            _ => return None,
        };
        let (caller, agent) = (r.caller.clone()?, r.agent.clone()?);
        let decision = r.decision.as_str();
        // The ring's order: the user, earlier agents oldest first, the
        // caller (`act` holds the current actor first).
        let mut chain: Vec<String> = r.subject.iter().cloned().collect();
        chain.extend(r.act.iter().skip(1).rev().cloned());
        chain.push(caller.clone());
        let time = r
            .time
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Some(DecisionRecord {
            time,
            caller,
            subject: r.subject.clone(),
            chain,
            agent,
            target: if mcp_route { "mcp_server" } else { "agent" },
            operation: r.operation.clone().unwrap_or_default(),
            name: r.mcp.as_ref().and_then(|m| {
                m.tool
                    .clone()
                    .or_else(|| m.resource.clone())
                    .or_else(|| m.prompt.clone())
            }),
            decision,
            rule: r
                .rule
                .as_deref()
                .and_then(|s| s.strip_prefix("rule[")?.strip_suffix(']')?.parse().ok()),
            approval_id: r.approval_id.clone(),
            status: r.upstream_status,
            replica: Some(replica.to_string()),
        })
    }
}

/// One decision about a call from `caller` (on behalf of `subject`'s user,
/// if any) to `agent`, as the request path hands it over: borrowed, so a
/// ring that is off costs nothing.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    pub caller: &'a CallerIdentity,
    pub subject: Option<&'a SubjectToken>,
    pub agent: &'a str,
    pub operation: &'a str,
    /// The call came on an MCP route (`agent` is then the MCP server).
    pub mcp_route: bool,
    /// MCP calls: what the request named, once classified.
    pub mcp: Option<&'a McpDetail>,
    /// `allow`, `deny`, `approval_required` or an approval refusal code.
    pub decision: &'static str,
    pub rule: Option<usize>,
    pub approval_id: Option<&'a str>,
    /// Upstream status when the call was forwarded.
    pub status: Option<u16>,
}

/// The delegation chain as a person reads it: the user (if any), every
/// earlier agent from the least recent, then the caller.
pub fn delegation_chain(caller: &CallerIdentity, subject: Option<&SubjectToken>) -> Vec<String> {
    let earlier = subject
        .and_then(|st| st.act.as_ref())
        .map_or(0, |a| a.depth());
    let mut v = Vec::with_capacity(earlier + 2);
    if let Some(st) = subject {
        v.push(st.sub.to_string());
        if let Some(act) = &st.act {
            // `act` nests the current actor outermost: reversed in place,
            // not through a second vector.
            let at = v.len();
            v.extend(act.chain().map(|a| a.sub.clone()));
            v[at..].reverse();
        }
    }
    v.push(caller.spiffe_id.as_str().to_owned());
    v
}

#[derive(Debug, Default)]
pub struct RecentDecisions {
    ring: Mutex<VecDeque<DecisionRecord>>,
    /// Nothing to show it to (no admin listener): `record` does nothing,
    /// so a gateway without a console pays no lock or copies per request.
    off: bool,
}

impl RecentDecisions {
    /// A ring that keeps nothing (no admin listener, so no console).
    pub fn disabled() -> Self {
        RecentDecisions {
            off: true,
            ..Self::default()
        }
    }

    pub fn push(&self, r: DecisionRecord) {
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() >= CAPACITY {
            ring.pop_front();
        }
        ring.push_back(r);
    }

    /// Record one decision (nothing when the ring is off: no lock, no copies).
    pub fn record(&self, d: Decided<'_>) {
        if self.off {
            return;
        }
        self.push(DecisionRecord {
            time: crate::unix_now(),
            caller: d.caller.spiffe_id.as_str().to_owned(),
            subject: d.subject.map(|s| s.sub.to_string()),
            chain: delegation_chain(d.caller, d.subject),
            agent: d.agent.to_string(),
            target: if d.mcp_route { "mcp_server" } else { "agent" },
            operation: d.operation.to_string(),
            name: d
                .mcp
                .and_then(|m| {
                    m.tool
                        .as_ref()
                        .or(m.resource.as_ref())
                        .or(m.prompt.as_ref())
                })
                .cloned(),
            decision: d.decision,
            rule: d.rule,
            approval_id: d.approval_id.map(str::to_owned),
            status: d.status,
            replica: None,
        });
    }

    /// Newest first.
    pub fn snapshot(&self) -> Vec<DecisionRecord> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_capacity_records() {
        let r = RecentDecisions::default();
        for i in 0..(CAPACITY as i64 + 5) {
            r.push(DecisionRecord {
                time: i,
                caller: String::new(),
                subject: None,
                chain: vec![],
                agent: String::new(),
                target: "agent",
                operation: String::new(),
                name: None,
                decision: "allow",
                rule: None,
                approval_id: None,
                status: None,
                replica: None,
            });
        }
        let s = r.snapshot();
        assert_eq!(s.len(), CAPACITY);
        assert_eq!(s[0].time, CAPACITY as i64 + 4);
        assert_eq!(s[CAPACITY - 1].time, 5);
    }

    #[test]
    fn the_chain_reads_user_then_earlier_agents_oldest_first_then_caller() {
        use crate::identity::SpiffeId;
        use crate::token::Actor;
        let id = |n: &str| format!("spiffe://example.org/agent/{n}");
        let caller = CallerIdentity {
            spiffe_id: SpiffeId::parse(&id("c")).unwrap(),
            thumbprint: "t".into(),
            not_after: i64::MAX,
        };
        // `act` nests the most recent actor outermost: b acted after a.
        let subject = SubjectToken {
            issuer: "https://idp.example.com".into(),
            sub: "alice".into(),
            scopes: None,
            exp: i64::MAX,
            act: Some(std::sync::Arc::new(Actor {
                sub: id("b"),
                act: Some(Box::new(Actor {
                    sub: id("a"),
                    act: None,
                })),
            })),
            may_act: None,
            own: true,
            aud: "https://agents.example.org/c".into(),
            cnf: None,
            grant: None,
        };
        assert_eq!(
            delegation_chain(&caller, Some(&subject)),
            ["alice".to_string(), id("a"), id("b"), id("c")]
        );
        assert_eq!(delegation_chain(&caller, None), [id("c")]);
    }
}
