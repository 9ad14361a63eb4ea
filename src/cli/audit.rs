//! `actgate audit verify` and `actgate audit query`: of log files, or with
//! `--state URL_FILE` of every replica's chain in PostgreSQL.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use clap::Args;

use actgate::audit::query::{describe, expand_paths, parse_time, query_files, Filter};
use actgate::audit::verify::verify_files;
use actgate::audit::Decision;
use actgate::state::audit_table;

#[derive(Args)]
pub struct VerifyArgs {
    /// Log files, oldest first (`audit-*.jsonl` sorts that way), or a log
    /// directory (all its files, in order).
    #[arg(required_unless_present = "state", conflicts_with = "state")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub shared: SharedArgs,
}

/// Where the replicas' shipped chains are.
#[derive(Args)]
pub struct SharedArgs {
    /// Read every replica's shipped chain from PostgreSQL instead of files:
    /// a file holding the `postgresql://` URL (as `[state] url_file`).
    #[arg(long, value_name = "URL_FILE")]
    pub state: Option<PathBuf>,
    /// CA certificate (PEM) the database's TLS certificate is verified with
    /// (as `[state] ca`); without it only a loopback address is accepted.
    #[arg(long, value_name = "PEM", requires = "state")]
    pub state_ca: Option<PathBuf>,
}

impl SharedArgs {
    fn database(&self) -> anyhow::Result<Option<actgate::state::Database>> {
        let Some(file) = &self.state else {
            return Ok(None);
        };
        let s = actgate::state::settings::for_tool(file, self.state_ca.as_deref())
            .map_err(|e| anyhow::anyhow!("--state: {e}"))?;
        Ok(Some(actgate::state::Database::new(s)?))
    }
}

#[derive(Args)]
pub struct QueryArgs {
    /// Log files or a log directory.
    #[arg(required_unless_present = "state", conflicts_with = "state")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub shared: SharedArgs,
    /// The direct caller's SPIFFE ID.
    #[arg(long)]
    pub caller: Option<String>,
    /// A SPIFFE ID that acted anywhere in the call: the caller or any actor
    /// of the delegation chain.
    #[arg(long)]
    pub actor: Option<String>,
    /// The target agent's name.
    #[arg(long)]
    pub agent: Option<String>,
    /// The user the call was made for (`sub` of the subject token).
    #[arg(long)]
    pub subject: Option<String>,
    /// allow, deny, step_up, approval_required, unauthenticated, invalid, error.
    #[arg(long)]
    pub decision: Option<String>,
    /// Records at or after this time: RFC 3339 (2026-01-31T09:00:00Z) or a
    /// duration back from now (15m, 2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Records before this time (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
    /// Print the matching records as stored (JSON lines).
    #[arg(long)]
    pub json: bool,
}

/// Exit 0: chain intact and complete (a torn final line is reported, not a
/// break); 1: a break, named at the first record it affects, or a gap the
/// gateway recorded itself (`records_lost`: the log is not complete).
pub fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    if let Some(db) = a.shared.database()? {
        return verify_shared(&db);
    }
    let files = expand_paths(&a.files)?;
    if files.is_empty() {
        anyhow::bail!("no audit log files in {}", show(&a.files));
    }
    let r = verify_files(&files)?;
    for f in &r.files {
        let seqs = match (f.first_seq, f.last_seq) {
            (Some(a), Some(b)) => format!(" (seq {a}..={b})"),
            _ => String::new(),
        };
        println!("{}: {} line(s){seqs}", f.path.display(), f.lines);
    }
    for t in &r.truncated_tails {
        println!(
            "{}: line {}: truncated tail: {} byte(s) of a record whose write was interrupted (a crash, not tampering); not counted",
            t.path.display(),
            t.line,
            t.bytes
        );
    }
    if let Some(s) = r.starts_at {
        println!("note: the log starts at seq {s}; the files before it were not given, so its first link is unchecked");
    }
    for l in &r.lost {
        println!("INCOMPLETE: {}", actgate::terminal::escape(&l.to_string()));
    }
    match (&r.broken, &r.head) {
        (None, Some(h)) if !r.lost.is_empty() => {
            println!(
                "NOT COMPLETE: {} line(s), chain intact, but the gateway recorded {} gap(s) of lost records; head seq {} sha256 {}",
                r.lines,
                r.lost.len(),
                h.seq,
                h.hash
            );
            Ok(ExitCode::FAILURE)
        }
        (Some(b), _) => {
            println!("BROKEN: {}", actgate::terminal::escape(&b.to_string()));
            Ok(ExitCode::FAILURE)
        }
        (None, Some(h)) => {
            println!(
                "ok: {} line(s), chain intact; head seq {} sha256 {}",
                r.lines, h.seq, h.hash
            );
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => {
            println!("ok: no complete records");
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn query(a: QueryArgs) -> anyhow::Result<ExitCode> {
    let now = SystemTime::now();
    let time = |s: &Option<String>, flag: &str| -> anyhow::Result<Option<SystemTime>> {
        s.as_deref()
            .map(|s| parse_time(s, now).map_err(|e| anyhow::anyhow!("--{flag}: {e}")))
            .transpose()
    };
    let decision = a
        .decision
        .as_deref()
        .map(|d| {
            serde_json::from_value::<Decision>(serde_json::Value::String(d.into())).map_err(|_| {
                anyhow::anyhow!("--decision: \"{d}\" is not one of allow, deny, step_up, approval_required, unauthenticated, invalid, error")
            })
        })
        .transpose()?;
    let filter = Filter {
        caller: a.caller,
        actor: a.actor,
        agent: a.agent,
        subject: a.subject,
        decision,
        since: time(&a.since, "since")?,
        until: time(&a.until, "until")?,
    };
    if let Some(db) = a.shared.database()? {
        return query_shared(&db, &filter, a.json);
    }
    let files = expand_paths(&a.files)?;
    if files.is_empty() {
        anyhow::bail!("no audit log files in {}", show(&a.files));
    }
    let (matches, unreadable) = query_files(&files, &filter).context("reading the audit log")?;
    for m in &matches {
        if a.json {
            // Valid JSON, but its strings may hold bidi or C1 controls.
            println!("{}", actgate::terminal::escape_json(&m.raw));
        } else {
            println!("{}", describe(&m.record));
        }
    }
    if !a.json {
        eprintln!("{} record(s)", matches.len());
    }
    if unreadable > 0 {
        eprintln!("warning: {unreadable} line(s) could not be read as records; run `actgate audit verify`");
    }
    Ok(ExitCode::SUCCESS)
}

fn show(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Exit 0 when every replica's chain in the table is intact, complete and
/// without gaps; 1 otherwise, naming the replica and the seq.
fn verify_shared(db: &actgate::state::Database) -> anyhow::Result<ExitCode> {
    let rt = super::runtime()?;
    let checks = rt
        .block_on(audit_table::verify_all(db))
        .context("reading audit_records")?;
    if checks.is_empty() {
        println!("ok: no audit records in the database");
        return Ok(ExitCode::SUCCESS);
    }
    let esc = |s: &str| actgate::terminal::escape(s).into_owned();
    let mut ok = true;
    for c in &checks {
        let name = format!("replica {} chain {}", esc(&c.replica), esc(&c.chain));
        let range = match (c.first_seq, c.last_seq) {
            (Some(a), Some(b)) => format!("seq {a}..={b}"),
            _ => "no records".into(),
        };
        for (seq, what) in &c.broken {
            println!("BROKEN: {name}: seq {seq}: {}", esc(what));
        }
        for (from, to) in &c.gaps {
            let which = if from == to {
                format!("seq {from} is")
            } else {
                format!("seq {from}..={to} are")
            };
            println!("GAP: {name}: {which} missing (not shipped yet, or removed from the table)");
        }
        for seq in &c.lost {
            println!("INCOMPLETE: {name}: seq {seq}: the replica recorded lost records here");
        }
        let verdict = if c.ok() { "ok" } else { "NOT OK" };
        println!("{verdict}: {name}: {} record(s), {range}", c.rows);
        ok &= c.ok();
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn query_shared(
    db: &actgate::state::Database,
    filter: &Filter,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let rt = super::runtime()?;
    let (matches, unreadable) = rt
        .block_on(audit_table::query_all(db, filter))
        .context("reading audit_records")?;
    for m in &matches {
        if json {
            println!("{}", actgate::terminal::escape_json(&m.raw));
        } else {
            let replica = actgate::terminal::escape(&m.replica);
            println!("[{replica} seq {}] {}", m.seq, describe(&m.record));
        }
    }
    if !json {
        eprintln!("{} record(s)", matches.len());
    }
    if unreadable > 0 {
        eprintln!("warning: {unreadable} row(s) could not be read as records; run `actgate audit verify --state`");
    }
    Ok(ExitCode::SUCCESS)
}
