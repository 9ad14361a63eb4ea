//! `actgate approvals list|show|approve|deny`: a client of the admin
//! listener's approvals API (plain HTTP on loopback, or mTLS with an admin
//! SVID).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, Subcommand};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{json, Value};

use actgate::dev::client::MtlsClient;
use actgate::terminal::{escape, escape_json};

/// Where the admin listener is and how to authenticate to it.
#[derive(Args)]
pub struct AdminArgs {
    /// Admin listener URL (`gateway.admin_listen`); https for `[admin] mtls`.
    #[arg(long, default_value = "http://127.0.0.1:9901")]
    pub admin: String,
    /// PEM roots to verify the admin listener's certificate (https).
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Admin X509-SVID to present (https).
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Key of `--cert`.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum ApprovalsCommand {
    /// List approvals (pending ones unless --all).
    List {
        #[command(flatten)]
        admin: AdminArgs,
        /// Every kept approval, whatever its status.
        #[arg(long)]
        all: bool,
    },
    /// Show one approval as JSON.
    Show {
        id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Approve a pending approval: the caller's identical retry goes through once.
    Approve {
        id: String,
        /// Why (kept with the approval).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Deny a pending approval: the caller's retry is refused.
    Deny {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

pub fn run(cmd: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async move {
        match cmd {
            ApprovalsCommand::List { admin, all } => {
                let path = if all {
                    "/api/approvals"
                } else {
                    "/api/approvals?status=pending"
                };
                let v = call(&admin, Method::GET, path, None).await?;
                print_list(&v);
            }
            ApprovalsCommand::Show { id, admin } => {
                let v = call(
                    &admin,
                    Method::GET,
                    &format!("/api/approvals/{}", enc(&id)?),
                    None,
                )
                .await?;
                // JSON (scripts read it), with the body in `request.body`;
                // caller-chosen strings made terminal-safe.
                println!("{}", escape_json(&serde_json::to_string_pretty(&v)?));
            }
            ApprovalsCommand::Approve { id, reason, admin } => {
                decide(&admin, &id, "approve", reason).await?;
            }
            ApprovalsCommand::Deny { id, reason, admin } => {
                decide(&admin, &id, "deny", reason).await?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// IDs go into a URL path: refuse anything that is not an ID's alphabet
/// rather than escape it.
fn enc(id: &str) -> anyhow::Result<&str> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        bail!("\"{id}\" is not an approval ID (like ap-0123…)");
    }
    Ok(id)
}

async fn decide(
    admin: &AdminArgs,
    id: &str,
    verb: &str,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let body = json!({ "reason": reason });
    let v = call(
        admin,
        Method::POST,
        &format!("/api/approvals/{}/{verb}", enc(id)?),
        Some(body),
    )
    .await?;
    println!(
        "{} {} ({} → {}, {})",
        field(&v["status"]),
        escape(v["id"].as_str().unwrap_or(id)),
        field(&v["request"]["caller"]),
        field(&v["request"]["agent"]),
        field(&v["request"]["operation"]),
    );
    Ok(())
}

/// A stored string for the terminal: escaped, `?` when absent.
fn field(v: &Value) -> std::borrow::Cow<'_, str> {
    escape(v.as_str().unwrap_or("?"))
}

async fn call(
    admin: &AdminArgs,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let base = admin.admin.trim_end_matches('/');
    let client = if base.starts_with("https://") {
        let ca = admin
            .cacert
            .as_deref()
            .context("--cacert is needed to verify an https admin listener")?;
        let identity = admin.cert.as_deref().zip(admin.key.as_deref());
        MtlsClient::new(ca, identity, false).context("loading the admin TLS material")?
    } else if base.starts_with("http://") {
        if admin.cert.is_some() || admin.cacert.is_some() {
            bail!("--cacert/--cert/--key need an https:// admin URL");
        }
        let cfg = rustls::ClientConfig::builder_with_provider(actgate::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        MtlsClient::from_config(cfg, false)
    } else {
        bail!("--admin must be an http:// or https:// URL, not \"{base}\"");
    };
    let mut headers = HeaderMap::new();
    let bytes = match body {
        Some(b) => {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Bytes::from(b.to_string())
        }
        None => Bytes::new(),
    };
    let url = format!("{base}{path}");
    let (status, _, resp) = client
        .fetch(method, &url, &headers, bytes)
        .await
        .with_context(|| format!("calling {url}"))?;
    let v: Value = serde_json::from_slice(&resp)
        .with_context(|| format!("{url} answered {status} with a body that is not JSON"))?;
    if !status.is_success() {
        bail!(
            "{status}: {}",
            escape(v["error_description"].as_str().unwrap_or("request refused"))
        );
    }
    Ok(v)
}

fn print_list(v: &Value) {
    let empty = Vec::new();
    let list = v["approvals"].as_array().unwrap_or(&empty);
    if list.is_empty() {
        println!("no approvals");
        return;
    }
    let now = actgate::unix_now();
    println!(
        "{:<35}  {:<8}  {:<8}  {:<16}  {:<20}  CHAIN  BODY",
        "ID", "STATUS", "EXPIRES", "AGENT", "OPERATION"
    );
    for a in list {
        let r = &a["request"];
        let left = a["expires_at"].as_i64().unwrap_or(now) - now;
        let expires = if left > 0 {
            format!("{}m{:02}s", left / 60, left % 60)
        } else {
            "-".into()
        };
        let chain: Vec<&str> = r["chain"]
            .as_array()
            .map(|c| c.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        println!(
            "{:<35}  {:<8}  {:<8}  {:<16}  {:<20}  {}  {}",
            field(&a["id"]),
            field(&a["status"]),
            expires,
            field(&r["agent"]),
            field(&r["operation"]),
            escape(&chain.join(" → ")),
            body_line(&r["body"]),
        );
    }
}

/// The start of the body on one line, for the list (`show` prints it all).
fn body_line(body: &Value) -> String {
    const SHOWN: usize = 160;
    let text = body["text"].as_str().unwrap_or("");
    let mut line: String = text.chars().take(SHOWN).collect();
    if text.chars().nth(SHOWN).is_some() || body["truncated"].as_bool() == Some(true) {
        line.push('…');
    }
    format!("body={}", escape(&line))
}
