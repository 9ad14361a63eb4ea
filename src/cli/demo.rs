//! `actgate demo`: the whole flow on one machine, with real sockets and real
//! certificates.
//!
//! 1. a development PKI under `certs/` (kept if present);
//! 2. two example A2A agents (scheduler, notifier) on loopback;
//! 3. the gateway with the cards in `agent-cards/`;
//! 4. the orchestrator agent calls the scheduler on behalf of a user
//!    (delegated: `sub` = user, `act` = orchestrator);
//! 5. the scheduler, holding the token it received, calls the notifier
//!    (the chain grows: `act` = scheduler, inside it orchestrator);
//! 6. a call no rule allows is refused (deny by default).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use actgate::client::MtlsClient;
use actgate::config::ConfigFile;
use actgate::identity::TrustDomain;
use actgate::token::{SigningAlgorithm, SigningKey};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Run the calls once and exit (0 when every step behaved as expected).
    #[arg(long)]
    pub once: bool,
    /// Gateway listen address; if busy, a free port is used instead.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: String,
    /// Where the development PKI lives.
    #[arg(long, default_value = "certs")]
    pub certs: PathBuf,
    /// Where the example Agent Cards live.
    #[arg(long, default_value = "agent-cards")]
    pub cards: PathBuf,
}

const TD: &str = "example.org";
const USER: &str = "alice@example.com";
const IDP: &str = "https://idp.example.com";
const ISSUER: &str = "https://gateway.example.org";

pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(run_async(a))
}

async fn run_async(a: DemoArgs) -> anyhow::Result<ExitCode> {
    let td = TrustDomain::parse(TD)?;
    let pki = actgate::pki::init_dev_pki(&a.certs, &td, &super::certs::example_workloads(&td)?)
        .context("creating the development PKI")?;
    step(&format!(
        "development PKI in {}/ ({})",
        a.certs.display(),
        if pki.created.is_empty() {
            "reused".to_string()
        } else {
            format!("{} files written", pki.created.len())
        }
    ));

    // Example upstream agents.
    let mut upstreams = Vec::new();
    for name in ["scheduler", "notifier"] {
        let card_path = a.cards.join(format!("{name}.json"));
        let card: Value = serde_json::from_str(
            &std::fs::read_to_string(&card_path)
                .with_context(|| format!("reading {}", card_path.display()))?,
        )
        .with_context(|| format!("{} is not JSON", card_path.display()))?;
        let agent = actgate::example_agent::start("127.0.0.1:0".parse()?, name, card).await?;
        step(&format!(
            "example agent {name} listening on http://{}",
            agent.addr
        ));
        upstreams.push(agent);
    }

    // The gateway, from a config equivalent to actgate.example.toml.
    let listen: std::net::SocketAddr = a.listen.parse().context("--listen")?;
    let listen = match std::net::TcpListener::bind(listen) {
        Ok(l) => l.local_addr()?,
        Err(_) => std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?,
    };
    let text = demo_config(
        &a.certs,
        &a.cards,
        listen,
        upstreams[0].addr,
        upstreams[1].addr,
    );
    let cfg =
        ConfigFile::parse(Path::new("actgate-demo.toml"), &text).map_err(|e| anyhow!("{e}"))?;
    let running = actgate::server::start(&cfg)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let base = format!("https://localhost:{}", running.addr.port());
    step(&format!("gateway listening on {base} (mTLS, TLS 1.3)"));

    // A user token from the demo identity provider.
    let idp_key = SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(a.certs.join("idp.key")).context("reading the demo IdP key")?,
        SigningAlgorithm::Es256,
    )?;
    let now = actgate::unix_now();
    let user_token = actgate::token::mint::sign_jwt(
        &idp_key,
        "JWT",
        &json!({"iss": IDP, "sub": USER, "aud": ISSUER, "iat": now, "exp": now + 3600,
                "jti": format!("demo-{now}"), "scope": "calendar:read calendar:write notify:send"}),
    )?;
    step(&format!(
        "demo identity provider issued a user token for {USER}"
    ));

    let ca = a.certs.join(TD).join("bundle.pem");
    let client_for = |agent: &str| {
        MtlsClient::new(
            &ca,
            Some((
                &a.certs.join("agents").join(format!("{agent}.pem")),
                &a.certs.join("agents").join(format!("{agent}.key")),
            )),
            false,
        )
    };
    let mut ok = true;

    // Hop 1: orchestrator → scheduler, on behalf of the user.
    let orchestrator = client_for("orchestrator")?;
    println!();
    let hop1 = call(
        &orchestrator,
        &base,
        "scheduler",
        Some(&user_token),
        "Book a meeting with Bob on Friday",
    )
    .await?;
    ok &= report("orchestrator", "scheduler", &hop1, true);
    let scheduler_token = hop1.received_token.clone();

    // Hop 2: scheduler → notifier, presenting the token it was given.
    let scheduler = client_for("scheduler")?;
    println!();
    match &scheduler_token {
        Some(tok) => {
            let hop2 = call(
                &scheduler,
                &base,
                "notifier",
                Some(tok),
                "Tell Bob about Friday",
            )
            .await?;
            ok &= report("scheduler", "notifier", &hop2, true);
            let nested = hop2
                .claims
                .as_ref()
                .and_then(|c| c.pointer("/act/act/sub"))
                .and_then(Value::as_str);
            if nested != Some("spiffe://example.org/agent/orchestrator") {
                println!("  ✗ expected the orchestrator nested inside act");
                ok = false;
            }
        }
        None => {
            println!("  ✗ the scheduler did not receive a token; cannot run hop 2");
            ok = false;
        }
    }

    // Deny by default: the notifier may not call the scheduler.
    println!();
    let notifier = client_for("notifier")?;
    let denied = call(&notifier, &base, "scheduler", Some(&user_token), "hello").await?;
    ok &= report("notifier", "scheduler", &denied, false);

    // The curl line repeats hop 1 with the orchestrator's certificate.
    let header_file = a.certs.join("demo-user-token.header");
    write_private(
        &header_file,
        format!("Authorization: Bearer {user_token}\n").as_bytes(),
    )?;
    println!();
    println!("Repeat the first call yourself:");
    println!(
        "  curl --cacert {ca} --cert {cert} --key {key} \\\n    -H @{hdr} -H 'A2A-Version: 1.0' -H 'Content-Type: application/json' \\\n    -d '{body}' \\\n    {base}/agents/scheduler/a2a/jsonrpc",
        ca = ca.display(),
        cert = a.certs.join("agents/orchestrator.pem").display(),
        key = a.certs.join("agents/orchestrator.key").display(),
        hdr = header_file.display(),
        body = send_message_body("Book a meeting with Bob on Friday"),
    );
    println!("Public keys: {base}/.well-known/jwks.json (same certificate flags)");
    if let Some(admin) = running.admin_addr {
        println!("Metrics:     http://{admin}/metrics");
        println!("Console:     http://{admin}/console");
    }
    if let Some(dir) = running.current().audit.directory() {
        let d = dir.display();
        println!("Audit log:   actgate audit verify {d}");
        println!("             actgate audit query {d} --subject alice@example.com");
    }

    if a.once {
        running.shutdown().await;
        println!();
        println!(
            "{}",
            if ok {
                "demo: all steps succeeded"
            } else {
                "demo: SOME STEPS FAILED"
            }
        );
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    println!();
    println!("Serving; press Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    running.shutdown().await;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn step(s: &str) {
    println!("• {s}");
}

struct CallResult {
    status: StatusCode,
    received_token: Option<String>,
    claims: Option<Value>,
    answer: Option<String>,
    error: Option<String>,
}

fn send_message_body(text: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
        "messageId": "demo-1", "role": "ROLE_USER", "parts": [{"text": text}]}}})
    .to_string()
}

async fn call(
    client: &MtlsClient,
    base: &str,
    agent: &str,
    token: Option<&str>,
    text: &str,
) -> anyhow::Result<CallResult> {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("a2a-version", HeaderValue::from_static("1.0"));
    if let Some(t) = token {
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {t}"))?,
        );
    }
    let url = format!("{base}/agents/{agent}/a2a/jsonrpc");
    let (status, _, body) = client
        .fetch(Method::POST, &url, &h, Bytes::from(send_message_body(text)))
        .await
        .with_context(|| format!("POST {url}"))?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let received = v
        .pointer("/result/task/metadata/receivedAuthorization")
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix("Bearer "))
        .map(str::to_string);
    let claims = received.as_deref().and_then(|t| decode_claims(t).ok());
    Ok(CallResult {
        status,
        claims,
        received_token: received,
        answer: v
            .pointer("/result/task/artifacts/0/parts/0/text")
            .and_then(Value::as_str)
            .map(str::to_string),
        error: v
            .get("error_description")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn decode_claims(token: &str) -> anyhow::Result<Value> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| anyhow!("not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Print one call; return whether it went as expected.
fn report(caller: &str, agent: &str, r: &CallResult, expect_allowed: bool) -> bool {
    println!("{caller} → {agent}");
    println!("  caller      spiffe://{TD}/agent/{caller} (from its client certificate)");
    println!("  target      {agent}");
    let allowed = r.status == StatusCode::OK;
    println!(
        "  decision    {} (HTTP {})",
        if allowed { "allowed" } else { "denied" },
        r.status.as_u16()
    );
    if let Some(e) = &r.error {
        println!("  reason      {e}");
    }
    if let Some(a) = &r.answer {
        println!("  agent said  {a}");
    }
    if let Some(c) = &r.claims {
        println!("  token the agent received (claims):");
        for line in serde_json::to_string_pretty(c).unwrap_or_default().lines() {
            println!("    {line}");
        }
    }
    let as_expected = allowed == expect_allowed && (!expect_allowed || r.claims.is_some());
    if !as_expected {
        println!("  ✗ unexpected outcome");
    }
    as_expected
}

fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(data)?;
    Ok(())
}

/// The demo's configuration: the same shape as `actgate.example.toml`, with
/// the upstream ports the example agents actually got.
fn demo_config(
    certs: &Path,
    cards: &Path,
    listen: std::net::SocketAddr,
    scheduler: std::net::SocketAddr,
    notifier: std::net::SocketAddr,
) -> String {
    let c = |p: &str| certs.join(p).display().to_string();
    let card = |p: &str| cards.join(p).display().to_string();
    format!(
        r#"
[gateway]
listen = "{listen}"
issuer = "{ISSUER}"
public_url = "https://localhost:{port}"
server_cert = "{gw_cert}"
server_key = "{gw_key}"
admin_listen = "127.0.0.1:0"

[[trust_domain]]
name = "{TD}"
bundle = "{bundle}"

[tokens]
signing_key = "{signing}"
algorithm = "ES256"
ttl = "5m"

[[subject_issuer]]
issuer = "{IDP}"
jwks = "{idp_jwks}"
audience = "{ISSUER}"

[[agent]]
name = "scheduler"
card = "{sched_card}"
upstream = "http://{scheduler}"
spiffe_id = "spiffe://{TD}/agent/scheduler"

[[agent]]
name = "notifier"
card = "{notif_card}"
upstream = "http://{notifier}"
spiffe_id = "spiffe://{TD}/agent/notifier"

[[rule]]
caller = "spiffe://{TD}/agent/orchestrator"
agent = "scheduler"
scopes = ["calendar:read", "calendar:write", "notify:send"]

[[rule]]
caller = "spiffe://{TD}/agent/scheduler"
agent = "notifier"
scopes = ["notify:send"]
"#,
        port = listen.port(),
        gw_cert = c("gateway.pem"),
        gw_key = c("gateway.key"),
        bundle = c(&format!("{TD}/bundle.pem")),
        signing = c("token-signing.key"),
        idp_jwks = c("idp-jwks.json"),
        sched_card = card("scheduler.json"),
        notif_card = card("notifier.json"),
    )
}
