//! The demo's steps, in the order a reader meets the product: each prints
//! what happened (decision, relevant headers and claims) and returns whether
//! it behaved as it must, which is what `demo --once` exits with.

use std::path::Path;
use std::time::SystemTime;

use serde_json::Value;

use actgate::audit::query::{log_files, query_files, Filter};
use actgate::audit::verify::verify_files;
use actgate::audit::{AuditRecord, Decision, RecordKind};

use super::calls::{
    admin_url, check, field, heading, print_claims, print_outcome, say, spiffe, Answer, Demo,
};
use super::USER;

/// How many steps [`super::run_async`] runs (for the `[n/N]` headings).
pub const STEPS: usize = 8;

/// The message of the call that needs a person's approval.
const MAIL: &str = "Email bob@partner.example.net: meeting confirmed for Friday 10:00";

fn str_at<'a>(v: Option<&'a Value>, pointer: &str) -> Option<&'a str> {
    v.and_then(|c| c.pointer(pointer)).and_then(Value::as_str)
}

/// 1. The orchestrator calls the scheduler for alice with the token she
///    signed in with; the card needs more scopes, so 403 `insufficient_scope`
///    names them; with a token carrying them, the call is forwarded with a
///    delegated token (`sub` = alice, `act` = orchestrator).
///
/// Returns whether it behaved, and the token the scheduler received.
pub async fn step_up_and_delegation(
    d: &Demo,
    sign_in: &str,
    sign_in_scope: &str,
    full: &str,
    full_scope: &str,
) -> anyhow::Result<(bool, Option<String>)> {
    heading(
        1,
        STEPS,
        &format!("Step-up, then delegation: the orchestrator books a meeting for {USER}"),
    );
    say(&format!(
        "{USER} signed in with scope \"{sign_in_scope}\"; the orchestrator calls the scheduler with that token:"
    ));
    let text = "Book a meeting with Bob on Friday";
    let first = d
        .send_message("orchestrator", "scheduler", Some(sign_in), text, None)
        .await?;
    field(
        "caller",
        &format!("{} (its client certificate)", spiffe("orchestrator")),
    );
    print_outcome(&first);
    let challenge = first.header("www-authenticate").unwrap_or("");
    let mut ok = check(
        first.status.as_u16() == 403
            && first.error_code() == Some("insufficient_scope")
            && challenge.starts_with("Bearer error=\"insufficient_scope\", scope=\"")
            && challenge.contains("calendar:write"),
        "the scheduler's card requires scopes the token lacks: 403 insufficient_scope names them (step-up)",
    );

    say(&format!(
        "{USER} consents; the identity provider issues a token with scope \"{full_scope}\"; the orchestrator retries:"
    ));
    let second = d
        .send_message("orchestrator", "scheduler", Some(full), text, None)
        .await?;
    print_outcome(&second);
    if let Some(c) = &second.claims {
        print_claims(
            "token the scheduler received (sub = the user, act = the calling agent):",
            c,
        );
    }
    let c = second.claims.as_ref();
    ok &= check(
        second.status.is_success()
            && str_at(c, "/sub") == Some(USER)
            && str_at(c, "/act/sub") == Some(spiffe("orchestrator").as_str())
            && str_at(c, "/act/act/sub").is_none(),
        "allowed with the stepped-up token: sub = alice, act = orchestrator",
    );
    Ok((ok, second.received_token))
}

/// 2. The scheduler calls the notifier with the token it received: the
///    chain grows (`act` = scheduler, inside it the orchestrator).
pub async fn chain(d: &Demo, scheduler_token: Option<&str>) -> anyhow::Result<bool> {
    heading(
        2,
        STEPS,
        "Delegation chain: the scheduler calls the notifier with the token it received",
    );
    let Some(token) = scheduler_token else {
        return Ok(check(false, "the scheduler received no token in step 1"));
    };
    let a = d
        .send_message(
            "scheduler",
            "notifier",
            Some(token),
            "Tell Bob about Friday",
            None,
        )
        .await?;
    field("caller", &spiffe("scheduler"));
    print_outcome(&a);
    if let Some(c) = &a.claims {
        print_claims("token the notifier received (nested act):", c);
    }
    let c = a.claims.as_ref();
    Ok(check(
        a.status.is_success()
            && str_at(c, "/sub") == Some(USER)
            && str_at(c, "/act/sub") == Some(spiffe("scheduler").as_str())
            && str_at(c, "/act/act/sub") == Some(spiffe("orchestrator").as_str()),
        "allowed: act = scheduler, with the orchestrator nested inside",
    ))
}

/// 3. No rule lets the notifier call the scheduler: deny by default.
pub async fn deny_by_default(d: &Demo, user_token: &str) -> anyhow::Result<bool> {
    heading(
        3,
        STEPS,
        "Deny by default: the notifier tries to call the scheduler",
    );
    let a = d
        .send_message("notifier", "scheduler", Some(user_token), "hello", None)
        .await?;
    field("caller", &spiffe("notifier"));
    print_outcome(&a);
    Ok(check(
        a.status.as_u16() == 403 && a.error_code() == Some("forbidden"),
        "no rule allows it: 403, the same answer as for an agent that does not exist",
    ))
}

/// 4. RFC 8693 at `POST /oauth2/token`: the orchestrator swaps alice's token
///    for a narrower one for the scheduler, bound to its own certificate;
///    that token from another certificate is refused on the proxy route.
pub async fn token_exchange(d: &Demo, user_token: &str) -> anyhow::Result<bool> {
    heading(
        4,
        STEPS,
        "Token exchange (RFC 8693): the orchestrator swaps alice's token for a scheduler token",
    );
    say("POST /oauth2/token over mTLS; the client is the orchestrator's certificate (no secret):");
    field(
        "request",
        "grant_type=token-exchange, subject_token=<alice's token>, audience=scheduler, scope=calendar:read",
    );
    let a = d
        .exchange("orchestrator", user_token, "scheduler", "calendar:read")
        .await?;
    field(
        "answer",
        &format!(
            "HTTP {}, token_type {}, expires_in {}, Cache-Control {}",
            a.status.as_u16(),
            a.body["token_type"].as_str().unwrap_or("-"),
            a.body["expires_in"],
            a.header("cache-control").unwrap_or("-"),
        ),
    );
    if let Some(e) = a.error_code() {
        field("error", e);
    }
    let c = a.claims.as_ref();
    let expected_thumbprint = d.thumbprint("orchestrator")?;
    if let Some(c) = c {
        field("sub", c["sub"].as_str().unwrap_or("-"));
        field("act", &c["act"].to_string());
        field("scope", c["scope"].as_str().unwrap_or("-"));
        field("aud", c["aud"].as_str().unwrap_or("-"));
        field(
            "cnf.x5t#S256",
            str_at(Some(c), "/cnf/x5t#S256").unwrap_or("-"),
        );
    }
    field(
        "its certificate",
        &format!("x5t#S256 {expected_thumbprint} (the orchestrator's, computed here)"),
    );
    let mut ok = check(
        a.status.is_success()
            && str_at(c, "/sub") == Some(USER)
            && str_at(c, "/act/sub") == Some(spiffe("orchestrator").as_str())
            && str_at(c, "/scope") == Some("calendar:read")
            && str_at(c, "/cnf/x5t#S256") == Some(expected_thumbprint.as_str()),
        "issued: act = orchestrator, scope narrowed to calendar:read, bound to the orchestrator's certificate",
    );

    let Some(token) = a.received_token.as_deref() else {
        return Ok(check(false, "no access_token to present"));
    };
    say("The scheduler (the token's audience) presents it on the proxy route over its own certificate:");
    let stolen = d
        .send_message(
            "scheduler",
            "notifier",
            Some(token),
            "Tell Bob about Friday",
            None,
        )
        .await?;
    print_outcome(&stolen);
    ok &= check(
        refused_as_invalid_token(&stolen),
        "refused 401 invalid_token: a certificate-bound token only works over its certificate",
    );
    Ok(ok)
}

fn refused_as_invalid_token(a: &Answer) -> bool {
    a.status.as_u16() == 401
        && a.error_code() == Some("invalid_token")
        && a.header("www-authenticate")
            .is_some_and(|w| w.contains("invalid_token"))
}

/// 5. A rule with `approval = "human"`: the first call is held with an
///    approval ID, a person approves it through the admin API, the identical
///    retry carrying the ID goes through once, a replay is refused.
pub async fn human_approval(d: &Demo, user_token: &str) -> anyhow::Result<bool> {
    heading(
        5,
        STEPS,
        "Human approval: the orchestrator asks the notifier to email a partner",
    );
    say("rule: orchestrator → notifier, approval = \"human\" (external mail cannot be undone)");
    let first = d
        .send_message("orchestrator", "notifier", Some(user_token), MAIL, None)
        .await?;
    print_outcome(&first);
    let id = first
        .body
        .pointer("/error/data/approval_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    field("approval id", id.as_deref().unwrap_or("-"));
    let mut ok = check(
        first.status.as_u16() == 403
            && first.error_code() == Some("approval_required")
            && id.is_some(),
        "held: 403 approval_required with an approval ID; nothing reached the notifier",
    );
    let Some(id) = id else {
        return Ok(ok);
    };

    let admin = d.admin.map(admin_url).unwrap_or_default();
    say("An operator approves it (or clicks Approve in the console):");
    println!(
        "      actgate approvals approve {id} --admin {admin} --reason \"alice asked for it\""
    );
    let (status, approval) = d.approve(&id, "alice asked for it").await?;
    field(
        "admin API",
        &format!(
            "HTTP {}: {} by {} (chain {})",
            status.as_u16(),
            approval["status"].as_str().unwrap_or("-"),
            approval["decided_by"].as_str().unwrap_or("-"),
            approval["request"]["chain"]
                .as_array()
                .map(|c| c
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" → "))
                .unwrap_or_default(),
        ),
    );
    ok &= check(
        status.is_success() && approval["status"] == "approved",
        "approved through the admin API",
    );

    say(&format!(
        "The orchestrator retries the identical request with Actgate-Approval: {id}"
    ));
    let retry = d
        .send_message(
            "orchestrator",
            "notifier",
            Some(user_token),
            MAIL,
            Some(&id),
        )
        .await?;
    print_outcome(&retry);
    let c = retry.claims.as_ref();
    field(
        "token act",
        &c.map(|c| c["act"].to_string()).unwrap_or_default(),
    );
    field("token scope", str_at(c, "/scope").unwrap_or("-"));
    ok &= check(
        retry.status.is_success() && str_at(c, "/act/sub") == Some(spiffe("orchestrator").as_str()),
        "the approved request goes through",
    );

    say("The same request with the same approval again (a replay):");
    let replay = d
        .send_message(
            "orchestrator",
            "notifier",
            Some(user_token),
            MAIL,
            Some(&id),
        )
        .await?;
    print_outcome(&replay);
    ok &= check(
        replay.status.as_u16() == 403 && replay.error_code() == Some("approval_used"),
        "replay refused: an approval is single-use (approval_used)",
    );
    Ok(ok)
}

/// 8. The audit log: verify its hash chain (what `actgate audit verify`
///    does) and ask who acted for alice since the demo started.
pub fn audit(dir: Option<&Path>, since: SystemTime) -> anyhow::Result<bool> {
    heading(
        STEPS,
        STEPS,
        "Audit: verify the hash-chained log, then ask who acted for alice",
    );
    let Some(dir) = dir else {
        return Ok(check(false, "the audit log is off"));
    };
    let files = log_files(dir)?;
    say(&format!(
        "actgate audit verify {}   (the same code, run in-process)",
        dir.display()
    ));
    let report = verify_files(&files)?;
    field("files", &files.len().to_string());
    field(
        "lines",
        &format!("{} (each file starts with a log_start line)", report.lines),
    );
    if let Some(h) = &report.head {
        field("head", &format!("seq {} sha256 {}", h.seq, h.hash));
    }
    if let Some(b) = &report.broken {
        field("BROKEN", &b.to_string());
    }
    let mut ok = check(
        report.ok() && report.head.is_some(),
        "chain intact: every record carries the SHA-256 of the one before",
    );

    say(&format!(
        "actgate audit query {} --subject {USER}   (this run's records)",
        dir.display()
    ));
    let filter = Filter {
        subject: Some(USER.to_string()),
        since: Some(since),
        ..Filter::default()
    };
    let (matches, _) = query_files(&files, &filter)?;
    for m in &matches {
        println!("      {}", describe_short(&m.record));
    }
    let has = |f: &dyn Fn(&AuditRecord) -> bool| matches.iter().any(|m| f(&m.record));
    let orchestrator = spiffe("orchestrator");
    let scheduler = spiffe("scheduler");
    ok &= check(
        has(&|r| r.decision == Decision::StepUp)
            && has(&|r| {
                r.decision == Decision::Allow
                    && r.agent.as_deref() == Some("notifier")
                    && r.act == [scheduler.as_str(), orchestrator.as_str()]
            })
            && has(&|r| r.kind == RecordKind::TokenExchange && r.decision == Decision::Allow)
            && has(&|r| r.decision == Decision::ApprovalRequired)
            && has(&|r| r.decision == Decision::Allow && r.approval_id.is_some())
            && has(&|r| r.kind == RecordKind::Mcp && r.decision == Decision::Allow)
            && has(&|r| r.kind == RecordKind::Consent && r.decision == Decision::Allow)
            && has(&|r| r.kind == RecordKind::GrantRevocation),
        "the log holds the step-up, the two-hop chain, the exchange, the approval, the MCP calls, the consent and its revocation",
    );
    Ok(ok)
}

/// One record as a line: decision, what, the chain drawn user → agents →
/// target, and the status.
fn describe_short(r: &AuditRecord) -> String {
    let mut path: Vec<String> = vec![r.subject.clone().unwrap_or_default()];
    let short = |id: &str| id.rsplit('/').next().unwrap_or(id).to_string();
    if r.act.is_empty() {
        path.extend(r.caller.as_deref().map(short));
    } else {
        // `act` lists the current actor first; draw it in the order it happened.
        path.extend(r.act.iter().rev().map(|a| short(a)));
    }
    path.extend(r.agent.clone());
    let what = match r.kind {
        RecordKind::TokenExchange => "token exchange".to_string(),
        _ => r.operation.clone().unwrap_or_else(|| "-".into()),
    };
    let mut out = format!(
        "{:<17} {:<15} {}",
        r.decision.as_str(),
        what,
        path.join(" → ")
    );
    if let Some(s) = r.status {
        out.push_str(&format!("  [{s}]"));
    }
    if let Some(id) = &r.approval_id {
        out.push_str(&format!("  approval {id}"));
    }
    if !r.scopes.is_empty() {
        out.push_str(&format!("  scopes {}", r.scopes.join(",")));
    }
    out
}
