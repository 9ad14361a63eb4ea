//! Find records: "who acted for user X", "what did agent Y do".

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::chain::{parse_chain_fields, split_lines};
use super::{rfc3339, AuditRecord, Decision, RecordKind};

/// Conditions a record must all meet; `None` matches anything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The direct caller's SPIFFE ID, exactly.
    pub caller: Option<String>,
    /// A SPIFFE ID anywhere in the call: the caller or any actor of the
    /// `act` chain (what an agent did, directly or further down a delegation).
    pub actor: Option<String>,
    /// The target agent's name.
    pub agent: Option<String>,
    /// The user the call was made for.
    pub subject: Option<String>,
    pub decision: Option<Decision>,
    /// Records at or after this time.
    pub since: Option<SystemTime>,
    /// Records before this time.
    pub until: Option<SystemTime>,
}

impl Filter {
    pub fn matches(&self, r: &AuditRecord) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref()
                .is_none_or(|w| have.as_deref() == Some(w.as_str()))
        };
        eq(&self.caller, &r.caller)
            && eq(&self.agent, &r.agent)
            && eq(&self.subject, &r.subject)
            && self.actor.as_ref().is_none_or(|a| {
                r.caller.as_deref() == Some(a.as_str()) || r.act.iter().any(|x| x == a)
            })
            && self.decision.is_none_or(|d| r.decision == d)
            && self.since.is_none_or(|t| r.time >= t)
            && self.until.is_none_or(|t| r.time < t)
    }
}

/// A matching record and where it is.
#[derive(Debug, Clone)]
pub struct Match {
    pub path: PathBuf,
    pub line: usize,
    pub record: AuditRecord,
    /// The line as stored.
    pub raw: String,
}

/// Records of `paths` (oldest first) that `filter` accepts, in log order,
/// and how many complete lines could not be read as records (a damaged
/// log; `verify` says where). `log_start` lines are skipped.
pub fn query_files(paths: &[PathBuf], filter: &Filter) -> std::io::Result<(Vec<Match>, usize)> {
    let mut out = Vec::new();
    let mut unreadable = 0;
    for path in paths {
        let bytes = std::fs::read(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        for (i, line) in split_lines(&bytes).complete.iter().enumerate() {
            match parse_chain_fields(line) {
                Some(f) if f.kind == RecordKind::LogStart => continue,
                Some(_) => {}
                None => {
                    unreadable += 1;
                    continue;
                }
            }
            let Ok(record) = serde_json::from_slice::<AuditRecord>(line) else {
                unreadable += 1;
                continue;
            };
            if filter.matches(&record) {
                out.push(Match {
                    path: path.clone(),
                    line: i + 1,
                    record,
                    raw: String::from_utf8_lossy(line).into_owned(),
                });
            }
        }
    }
    Ok((out, unreadable))
}

/// Files given on a command line: a directory stands for its log files
/// (`audit-NNNNNN.jsonl`, oldest first); files are taken as given.
pub fn expand_paths(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let files = super::writer::log_files(p)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// A `--since` / `--until` value that names no time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error(
        "\"{0}\" is neither an RFC 3339 time (2026-01-31T09:00:00Z) nor a duration (15m, 2h, 7d)"
    )]
    Unreadable(String),
    #[error("\"{0}\" reaches before the epoch")]
    BeforeEpoch(String),
}

/// `--since` / `--until`: an RFC 3339 time, or a duration meaning "that long
/// before `now`" (`90s`, `15m`, `2h`, `7d`).
pub fn parse_time(s: &str, now: SystemTime) -> Result<SystemTime, TimeError> {
    if let Some(t) = rfc3339::parse(s) {
        return Ok(t);
    }
    let d = crate::duration::parse(s).map_err(|_| TimeError::Unreadable(s.to_string()))?;
    now.checked_sub(d)
        .ok_or_else(|| TimeError::BeforeEpoch(s.to_string()))
}

/// One line for a person: time, decision, operation, the delegation path
/// drawn user → agent → … → target, statuses and ids. Terminal controls in
/// the stored values are escaped (see [`crate::terminal`]).
pub fn describe(r: &AuditRecord) -> String {
    crate::terminal::escape(&describe_raw(r)).into_owned()
}

fn describe_raw(r: &AuditRecord) -> String {
    let mut path: Vec<&str> = Vec::new();
    if let Some(s) = &r.subject {
        path.push(s);
    }
    if r.act.is_empty() {
        if let Some(c) = &r.caller {
            path.push(c);
        }
    } else {
        // `act` lists the current actor first; draw it in the order it happened.
        path.extend(r.act.iter().rev().map(String::as_str));
    }
    if let Some(a) = &r.agent {
        path.push(a);
    }
    let mut out = format!(
        "{} {:<17} {:<20} {}",
        rfc3339::format(r.time),
        r.decision.as_str(),
        r.operation.as_deref().unwrap_or("-"),
        path.join(" → ")
    );
    let mut kv = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.push_str(&format!(" {k}={v}"));
        }
    };
    kv("status", r.status.map(|s| s.to_string()));
    kv("upstream", r.upstream_status.map(|s| s.to_string()));
    kv("rule", r.rule.clone());
    kv("scopes", (!r.scopes.is_empty()).then(|| r.scopes.join(",")));
    kv("jti", r.jti.clone());
    kv("approval", r.approval_id.clone());
    kv("reason", r.reason.as_ref().map(|s| format!("{s:?}")));
    kv("request", Some(r.request_id.clone()));
    out
}

/// Files of the log in `dir`, oldest first.
pub fn log_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    super::writer::log_files(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(caller: &str, subject: Option<&str>, act: &[&str], agent: &str) -> AuditRecord {
        let mut r = AuditRecord::new(RecordKind::Proxy);
        r.caller = Some(caller.into());
        r.subject = subject.map(Into::into);
        r.act = act.iter().map(|s| s.to_string()).collect();
        r.agent = Some(agent.into());
        r.decision = Decision::Allow;
        r
    }

    #[test]
    fn filters_combine() {
        let r = rec(
            "spiffe://td/b",
            Some("alice"),
            &["spiffe://td/b", "spiffe://td/a"],
            "notifier",
        );
        let f = |f: Filter| f.matches(&r);
        assert!(f(Filter::default()));
        assert!(f(Filter {
            subject: Some("alice".into()),
            ..Default::default()
        }));
        assert!(!f(Filter {
            subject: Some("bob".into()),
            ..Default::default()
        }));
        assert!(f(Filter {
            actor: Some("spiffe://td/a".into()),
            ..Default::default()
        }));
        assert!(!f(Filter {
            caller: Some("spiffe://td/a".into()),
            ..Default::default()
        }));
        assert!(f(Filter {
            agent: Some("notifier".into()),
            caller: Some("spiffe://td/b".into()),
            ..Default::default()
        }));
        assert!(!f(Filter {
            decision: Some(Decision::Deny),
            ..Default::default()
        }));
        let later = r.time + std::time::Duration::from_secs(1);
        assert!(!f(Filter {
            since: Some(later),
            ..Default::default()
        }));
        assert!(f(Filter {
            until: Some(later),
            ..Default::default()
        }));
    }

    #[test]
    fn times_are_absolute_or_relative() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10_000);
        assert_eq!(
            parse_time("1h", now).unwrap(),
            now - std::time::Duration::from_secs(3600)
        );
        assert_eq!(
            parse_time("1970-01-01T00:00:10Z", now).unwrap(),
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10)
        );
        assert!(parse_time("yesterday", now)
            .unwrap_err()
            .to_string()
            .contains("RFC 3339"));
    }

    #[test]
    fn descriptions_draw_the_delegation_path() {
        let r = rec(
            "spiffe://td/b",
            Some("alice"),
            &["spiffe://td/b", "spiffe://td/a"],
            "notifier",
        );
        let d = describe(&r);
        assert!(
            d.contains("alice → spiffe://td/a → spiffe://td/b → notifier"),
            "{d}"
        );
        let r = rec("spiffe://td/a", None, &[], "scheduler");
        assert!(describe(&r).contains(" spiffe://td/a → scheduler"));
    }
}
