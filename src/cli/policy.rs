//! `actgate policy check`: what the gateway would decide for one call, which
//! rule decided it, and which scopes the minted token would carry: the
//! question the proxy route asks the one authorization core
//! ([`actgate::authorize`]), answered by it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;

use actgate::authorize::{authorize, Ask, Denied, Operation, Outcome};
use actgate::config::ConfigFile;
use actgate::identity::{CallerIdentity, SpiffeId};
use actgate::metrics::Metrics;
use actgate::policy::McpWhat;
use actgate::snapshot::Snapshot;
use actgate::token::{build_claims, SubjectToken};

#[derive(Args)]
pub struct CheckArgs {
    /// Path to the TOML config.
    #[arg(long, short)]
    pub config: PathBuf,
    /// SPIFFE ID of the calling workload.
    #[arg(long)]
    pub caller: String,
    /// Target agent name (or give --mcp-server).
    #[arg(
        long,
        required_unless_present = "mcp_server",
        conflicts_with = "mcp_server"
    )]
    pub agent: Option<String>,
    /// A2A operation (v1.0 name).
    #[arg(long, default_value = "SendMessage", conflicts_with = "mcp_server")]
    pub operation: String,
    /// Target MCP server name (`[[mcp_server]]`); without --tool, --resource
    /// or --prompt the question is a session operation (initialize, lists).
    #[arg(long)]
    pub mcp_server: Option<String>,
    /// With --mcp-server: the tool called (`tools/call`).
    #[arg(long, requires = "mcp_server", conflicts_with_all = ["resource", "prompt"])]
    pub tool: Option<String>,
    /// With --mcp-server: the resource URI read (`resources/read`).
    #[arg(long, requires = "mcp_server", conflicts_with = "prompt")]
    pub resource: Option<String>,
    /// With --mcp-server: the prompt fetched (`prompts/get`).
    #[arg(long, requires = "mcp_server")]
    pub prompt: Option<String>,
    /// `sub` of the subject (user) token; without it the call is app-only.
    #[arg(long)]
    pub subject: Option<String>,
    /// `iss` of the subject token (default: the only [[subject_issuer]]).
    #[arg(long)]
    pub issuer: Option<String>,
    /// A scope the subject token carries (repeatable). With --subject and no
    /// --scope, the subject token has no `scope` claim and grants none.
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
}

/// Exit 0: the call would be forwarded; 1: it would not (deny, step-up,
/// approval needed); 2: the question or the config is wrong.
pub fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let cfg = match ConfigFile::load(&a.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let gw = match Snapshot::build(&cfg, Arc::new(Metrics::default())) {
        Ok(gw) => gw,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    match run(&cfg, &gw, &a) {
        Ok(forwarded) => Ok(if forwarded {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn run(cfg: &ConfigFile, gw: &Snapshot, a: &CheckArgs) -> anyhow::Result<bool> {
    let caller = SpiffeId::parse(&a.caller).with_context(|| format!("--caller {}", a.caller))?;
    if a.mcp_server.is_none() && !actgate::a2a::OPERATIONS.contains(&a.operation.as_str()) {
        bail!(
            "--operation {}: not an A2A operation (one of: {})",
            a.operation,
            actgate::a2a::OPERATIONS.join(", ")
        );
    }
    let subject = subject_token(cfg, gw, a)?;
    let identity = CallerIdentity {
        spiffe_id: caller,
        thumbprint: String::new(),
        not_after: i64::MAX,
    };
    let target = a
        .agent
        .as_deref()
        .or(a.mcp_server.as_deref())
        .unwrap_or_default();
    let agent = a.agent.as_deref().and_then(|n| gw.registry.get(n));
    let live = agent.and_then(|agent| agent.card.live());
    let now = actgate::unix_now();
    let (operation, mcp_resource) = operation(gw, a)?;
    let audience = match (mcp_resource, agent) {
        (Some(r), _) => r,
        (None, Some(agent)) => agent.resource.as_str(),
        (None, None) => "",
    };
    // The very question the proxy route asks the core for this call.
    let ask = Ask {
        caller: &identity,
        subject: subject.as_ref(),
        agent: target,
        audience,
        card: live.as_deref().map(|l| &l.served),
        operation,
        requested_scopes: None,
        recordable: true,
        now,
    };
    let outcome = authorize(&gw.core(), &ask);
    let rule_line = |i: usize| match gw.policy.rule(i) {
        Some(r) => format!("rule:     #{i} ({}): {r}", r.origin),
        None => format!("rule:     #{i}"),
    };
    let allowed = match outcome {
        Outcome::Allow(allowed) => allowed,
        Outcome::Deny {
            rule,
            reason: Denied::Policy(reason),
        } => {
            println!("decision: deny ({})", reason.as_str());
            match rule {
                Some(i) => println!("{}", rule_line(i)),
                None => println!("rule:     none (deny by default)"),
            }
            return Ok(false);
        }
        Outcome::Deny { rule, reason } => {
            println!("decision: deny ({})", reason.as_str());
            if let Some(i) = rule {
                println!("{}", rule_line(i));
            }
            return Ok(false);
        }
        // An allow rule names only configured agents (or "*"), so the agent
        // is registered; checked anyway rather than assumed.
        Outcome::NoCard { .. } if agent.is_none() => bail!("no [[agent]] is named {target}"),
        Outcome::NoCard { rule } => {
            // Only with fetch_card and no card file: the card exists once
            // the running gateway has fetched it.
            println!("decision: allow by the rules; the scopes depend on the agent's card, which is fetched from its upstream at run time");
            println!("{}", rule_line(rule));
            return Ok(false);
        }
        Outcome::StepUp { rule, scopes } => {
            println!("decision: step_up (the scopes available do not meet the agent's card (or the tool's) requirements: 403 insufficient_scope)");
            println!("{}", rule_line(rule));
            println!("needed:   {}", scopes.join(" "));
            return Ok(false);
        }
        Outcome::TokenRefused { error, .. } => {
            return Err(anyhow::Error::new(error).context("the token could not be built"))
        }
        // Asked only of every-operation questions, with requested scopes,
        // or while the audit log is down: never here.
        Outcome::ApprovalRequired { .. }
        | Outcome::Unrecordable { .. }
        | Outcome::InvalidScope { .. } => bail!("unexpected outcome {outcome:?}"),
    };
    // The claims the minter would sign (same narrowing to the subject
    // token's scopes), without signing anything.
    let claims = build_claims(&allowed.mint_request(), &gw.issuer, now, String::new())
        .context("the token could not be built")?;
    let forwarded = allowed.grant.approval == actgate::policy::Approval::None;
    if forwarded {
        println!("decision: allow");
    } else {
        println!("decision: approval_required (forwarded only after a person approves it)");
    }
    println!("{}", rule_line(allowed.grant.rule));
    println!("scopes:   {}", claims.scope.as_deref().unwrap_or("(none)"));
    println!("aud:      {}", claims.aud);
    println!("sub:      {}", claims.sub);
    println!("lifetime: {}s", claims.exp - now);
    Ok(forwarded)
}

/// What the question asks: the A2A operation, or the MCP request (the
/// very question the MCP route asks) with the server's resource.
fn operation<'a>(
    gw: &'a Snapshot,
    a: &'a CheckArgs,
) -> anyhow::Result<(Operation<'a>, Option<&'a str>)> {
    let Some(name) = &a.mcp_server else {
        return Ok((Operation::A2a(&a.operation), None));
    };
    let Some(m) = gw.registry.mcp_server(name) else {
        bail!("no [[mcp_server]] is named {name}");
    };
    let what = match (&a.tool, &a.resource, &a.prompt) {
        (Some(t), _, _) => McpWhat::Tool(t),
        (_, Some(r), _) => McpWhat::Resource(r),
        (_, _, Some(p)) => McpWhat::Prompt(p),
        _ => McpWhat::Session,
    };
    let scopes = a.tool.as_deref().map_or(&[][..], |t| m.tool_scopes(t));
    Ok((Operation::Mcp { what, scopes }, Some(m.resource.as_str())))
}

/// The subject token the question describes, as the verifier would have
/// produced it.
fn subject_token(
    cfg: &ConfigFile,
    gw: &Snapshot,
    a: &CheckArgs,
) -> anyhow::Result<Option<SubjectToken>> {
    let Some(sub) = &a.subject else {
        if a.issuer.is_some() || !a.scopes.is_empty() {
            bail!("--issuer and --scope describe the subject token; give --subject too");
        }
        return Ok(None);
    };
    let known: Vec<&str> = cfg
        .raw
        .subject_issuer
        .iter()
        .map(|s| s.issuer.as_str())
        .chain([gw.issuer.as_str()])
        .collect();
    let issuer = match &a.issuer {
        Some(i) if known.contains(&i.as_str()) => i.clone(),
        Some(i) => bail!(
            "--issuer {i}: the gateway accepts subject tokens only from {}",
            known.join(", ")
        ),
        None if cfg.raw.subject_issuer.len() == 1 => cfg.raw.subject_issuer[0].issuer.clone(),
        None => bail!("give --issuer (one of: {})", known.join(", ")),
    };
    Ok(Some(SubjectToken {
        own: issuer == gw.issuer,
        issuer: issuer.into(),
        sub: sub.as_str().into(),
        scopes: (!a.scopes.is_empty()).then(|| a.scopes.clone().into()),
        exp: i64::MAX,
        act: None,
        may_act: None,
        aud: gw.issuer.as_str().into(),
        cnf: None,
        grant: None,
    }))
}
