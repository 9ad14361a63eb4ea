//! `actgate demo`: the whole flow on one machine, with real sockets and real
//! certificates.
//!
//! Setup: a development PKI under `certs/` (kept if present), two example A2A
//! agents (scheduler, notifier) on loopback, the gateway with the cards in
//! `agent-cards/` (written from the binary's copies if missing: [`cards`];
//! config: [`config::demo_config`]), a demo identity provider
//! that signs user tokens. Then the steps of [`steps`]:
//!
//! 1. step-up (403 `insufficient_scope`), then a delegated call
//!    (`sub` = user, `act` = orchestrator);
//! 2. the scheduler calls the notifier with the token it received (the chain
//!    grows: `act` = scheduler, inside it orchestrator);
//! 3. a call no rule allows is refused (deny by default);
//! 4. RFC 8693 token exchange, certificate-bound (`cnf`), refused from
//!    another certificate;
//! 5. human approval through the admin API, single-use;
//! 6. MCP: a tool server behind the same gate (filtered list, minted token,
//!    a refused tool, a destructive tool held for approval);
//! 7. a person grants the orchestrator the right to act for them: login at
//!    the built-in demo IdP, the consent page, the code redeemed over mTLS,
//!    the grant revoked on the grants page;
//! 8. the audit log verified and queried.

mod calls;
pub mod cards;
mod config;
mod consent;
mod mcp;
mod steps;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context};
use serde_json::{json, Value};

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
    /// Where the example Agent Cards live. Default `agent-cards`, written
    /// from the copies built into actgate when it does not exist.
    #[arg(long)]
    pub cards: Option<PathBuf>,
}

const TD: &str = "example.org";
const USER: &str = "alice@example.com";
const IDP: &str = "https://idp.example.com";
const ISSUER: &str = "https://gateway.example.org";

/// The demo's log level unless `RUST_LOG` says otherwise: warnings only, so
/// the narrative on stdout is not drowned by a line per request.
pub const LOG_LEVEL: &str = "warn";

/// Scopes of the token alice signs in with: reading only. The scheduler's
/// card requires more, so the first call is a step-up.
const SIGN_IN_SCOPE: &str = "calendar:read";
/// Scopes after alice consented to booking (and notifying attendees).
const FULL_SCOPE: &str = "calendar:read calendar:write notify:send";

pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    // `RUST_LOG`, when set, still wins.
    actgate::logging::init(&actgate::config::LogSection {
        level: Some(LOG_LEVEL.to_string()),
        ..Default::default()
    });
    super::runtime()?.block_on(run_async(a))
}

async fn run_async(a: DemoArgs) -> anyhow::Result<ExitCode> {
    // Records of earlier runs stay in the log; the query shows this run's.
    let started = SystemTime::now()
        .checked_sub(Duration::from_secs(1))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let td = TrustDomain::parse(TD)?;
    let pki = actgate::pki::init_dev_pki(&a.certs, &td, &super::certs::example_workloads(&td)?)
        .context("creating the development PKI")?;
    setup(&format!(
        "development PKI in {}/ ({})",
        a.certs.display(),
        if pki.created.is_empty() {
            "reused".to_string()
        } else {
            format!("{} files written", pki.created.len())
        }
    ));

    let (cards, written) = cards::dir(a.cards.clone())?;
    if written {
        setup(&format!(
            "example Agent Cards written to {}/ (built into actgate)",
            cards.display()
        ));
    }
    let upstreams = example_agents(&cards).await?;
    let tool_server = actgate::dev::example_mcp::start("127.0.0.1:0".parse()?).await?;
    setup(&format!(
        "example MCP server (files: read_file, write_file, delete_file) on {}",
        tool_server.url()
    ));

    // The gateway, from a config equivalent to actgate.example.toml.
    let listen: std::net::SocketAddr = a.listen.parse().context("--listen")?;
    let listen = match std::net::TcpListener::bind(listen) {
        Ok(l) => l.local_addr()?,
        Err(_) => std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?,
    };
    let people = people_side(&a.certs).await?;
    let text = config::demo_config(
        &a.certs,
        &cards,
        &config::Addresses {
            listen,
            scheduler: upstreams[0].addr,
            notifier: upstreams[1].addr,
            mcp: tool_server.addr,
            authorize: people.authorize,
            login_issuer: people.idp.issuer.clone(),
            login_secret: people.secret.clone(),
            login_ca: a.certs.join(format!("{TD}/bundle.pem")),
            client_redirect: people.redirect_uri.clone(),
        },
    );
    let cfg =
        ConfigFile::parse(Path::new("actgate-demo.toml"), &text).map_err(|e| anyhow!("{e}"))?;
    let running = actgate::server::start(&cfg)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let base = format!("https://localhost:{}", running.addr.port());
    setup(&format!("gateway listening on {base} (mTLS, TLS 1.3)"));
    if let Some(admin) = running.admin_addr {
        setup(&format!(
            "admin listener (approvals API, console, metrics) on {}",
            calls::admin_url(admin)
        ));
    }

    let (sign_in_token, full_token, files_token) = user_tokens(&a.certs)?;

    let demo = calls::Demo {
        base: base.clone(),
        admin: running.admin_addr,
        certs: a.certs.clone(),
    };
    let (mut ok, scheduler_token) = steps::step_up_and_delegation(
        &demo,
        &sign_in_token,
        SIGN_IN_SCOPE,
        &full_token,
        FULL_SCOPE,
    )
    .await?;
    ok &= steps::chain(&demo, scheduler_token.as_deref()).await?;
    ok &= steps::deny_by_default(&demo, &full_token).await?;
    ok &= steps::token_exchange(&demo, &full_token).await?;
    ok &= steps::human_approval(&demo, &full_token).await?;
    ok &= mcp::tools(&demo, &files_token).await?;
    let bundle = demo.bundle();
    let person = consent::People {
        authorize: format!("https://localhost:{}", people.authorize.port()),
        redirect_uri: people.redirect_uri.clone(),
        ca: &bundle,
    };
    ok &= consent::grant(&demo, &person, &people.idp.issuer).await?;
    // Allowed calls' records are buffered for up to flush_interval: write
    // them out before reading the log.
    let gw = running.current();
    if let Err(e) = gw.audit.flush().await {
        println!("  ✗ the audit log could not be flushed: {e}");
        ok = false;
    }
    ok &= steps::audit(gw.audit.directory(), started)?;
    drop(gw);

    hints(&a, &demo, &running, &full_token)?;
    println!(
        "Consent:     open {} in a browser (sign in as anyone at the demo IdP; the page is served with the demo CA's certificate: {})",
        person.authorization_url(&format!("{base}/agents/scheduler")),
        bundle.display()
    );
    finish(a.once, running, ok).await
}

/// The example upstream agents, each serving its card from `cards/`.
/// The person's side of the demo: the demo IdP, the gateway's client
/// secret there, the `[authorize]` listener's address, the client app's
/// redirect URI.
struct PeopleSide {
    idp: actgate::dev::example_idp::ExampleIdp,
    secret: PathBuf,
    authorize: std::net::SocketAddr,
    redirect_uri: String,
}

async fn people_side(certs: &Path) -> anyhow::Result<PeopleSide> {
    let authorize = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let secret_value = actgate::user_auth::session::random_token()
        .map_err(|_| anyhow!("the system random source failed"))?;
    let secret = certs.join("demo-login-secret");
    calls::write_private(&secret, secret_value.as_bytes())?;
    let idp = actgate::dev::example_idp::start(
        "127.0.0.1:0".parse()?,
        actgate::dev::example_idp::IdpClient {
            client_id: consent::LOGIN_CLIENT_ID.into(),
            client_secret: secret_value,
            redirect_uri: format!(
                "https://localhost:{}/oauth2/login/callback",
                authorize.port()
            ),
        },
    )
    .await?;
    setup(&format!(
        "demo identity provider (people sign in here) on {}",
        idp.issuer
    ));
    Ok(PeopleSide {
        idp,
        secret,
        authorize,
        redirect_uri: "http://127.0.0.1:8765/callback".into(),
    })
}

async fn example_agents(
    cards: &Path,
) -> anyhow::Result<Vec<actgate::dev::example_agent::ExampleAgent>> {
    let mut upstreams = Vec::new();
    for name in ["scheduler", "notifier"] {
        let card_path = cards.join(format!("{name}.json"));
        let card: Value = serde_json::from_str(
            &std::fs::read_to_string(&card_path)
                .with_context(|| format!("reading {}", card_path.display()))?,
        )
        .with_context(|| format!("{} is not JSON", card_path.display()))?;
        let agent = actgate::dev::example_agent::start("127.0.0.1:0".parse()?, name, card).await?;
        setup(&format!(
            "example agent {name} listening on http://{}",
            agent.addr
        ));
        upstreams.push(agent);
    }
    Ok(upstreams)
}

/// User tokens from the demo identity provider: one for signing in, one
/// with the full scope, one for the files tool server.
fn user_tokens(certs: &Path) -> anyhow::Result<(String, String, String)> {
    let idp_key = SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(certs.join("idp.key")).context("reading the demo IdP key")?,
        SigningAlgorithm::Es256,
    )?;
    let user_token = |scope: &str, n: u32| {
        let now = actgate::unix_now();
        actgate::token::mint::sign_jwt(
            &idp_key,
            "JWT",
            &json!({"iss": IDP, "sub": USER, "aud": ISSUER, "iat": now, "exp": now + 3600,
                    "jti": format!("demo-{now}-{n}"), "scope": scope}),
        )
    };
    let sign_in_token = user_token(SIGN_IN_SCOPE, 1)?;
    let full_token = user_token(FULL_SCOPE, 2)?;
    let files_token = user_token("files:read files:delete", 3)?;
    setup(&format!(
        "demo identity provider ({IDP}) signs user tokens for {USER}"
    ));
    Ok((sign_in_token, full_token, files_token))
}

/// With `--once`, stop and say how it went; else serve until Ctrl-C.
async fn finish(
    once: bool,
    running: actgate::server::RunningGateway,
    ok: bool,
) -> anyhow::Result<ExitCode> {
    if once {
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

fn setup(s: &str) {
    println!("• {s}");
}

/// How to go on by hand: a `curl` repeating the delegated call, and where
/// the keys, metrics, console and audit log are.
fn hints(
    a: &DemoArgs,
    demo: &calls::Demo,
    running: &actgate::server::RunningGateway,
    user_token: &str,
) -> anyhow::Result<()> {
    let header_file = a.certs.join("demo-user-token.header");
    calls::write_private(
        &header_file,
        format!("Authorization: Bearer {user_token}\n").as_bytes(),
    )?;
    let base = &demo.base;
    println!();
    println!("Repeat the delegated call yourself:");
    println!(
        "  curl --cacert {ca} --cert {cert} --key {key} \\\n    -H @{hdr} -H 'A2A-Version: 1.0' -H 'Content-Type: application/json' \\\n    -d '{body}' \\\n    {base}/agents/scheduler/a2a/jsonrpc",
        ca = demo.bundle().display(),
        cert = a.certs.join("agents/orchestrator.pem").display(),
        key = a.certs.join("agents/orchestrator.key").display(),
        hdr = header_file.display(),
        body = calls::send_message_body("Book a meeting with Bob on Friday"),
    );
    println!("Public keys: {base}/.well-known/jwks.json (tokens), {base}/.well-known/agent-card-jwks.json (cards; same certificate flags)");
    if let Some(admin) = running.admin_addr {
        let admin = calls::admin_url(admin);
        println!("Approvals:   actgate approvals list --all --admin {admin}");
        println!("Metrics:     {admin}/metrics");
        println!("Console:     {admin}/console");
    }
    if let Some(dir) = running.current().audit.directory() {
        let d = dir.display();
        println!("Audit log:   actgate audit verify {d}");
        println!("             actgate audit query {d} --subject {USER}");
    }
    Ok(())
}
