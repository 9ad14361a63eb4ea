//! `actgate serve` and `actgate config check`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use actgate::config::ConfigFile;
use actgate::metrics::Metrics;
use actgate::snapshot::Snapshot;

pub fn serve(config: &Path, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    let cfg = match ConfigFile::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    // A bad section is reported with every other problem by `start`.
    let env = |name: &str| std::env::var(name).ok();
    let telemetry = actgate::telemetry::Settings::resolve(&cfg.raw.telemetry, env)
        .ok()
        .flatten();
    if let Err(e) = actgate::logging::init_with_telemetry(&cfg.raw.log, telemetry.as_ref()) {
        eprintln!("{}: telemetry: {e}", config.display());
        return Ok(ExitCode::FAILURE);
    }
    let code = super::run_until_signal(threads, actgate::server::start(&cfg), |r| r.shutdown());
    // The spans of the last requests, after the drain.
    actgate::telemetry::shutdown(std::time::Duration::from_secs(5));
    code
}

/// `actgate config check`: every field and file, then (unless `offline`)
/// the keys of every fetched `[[subject_issuer]]`.
pub fn check(config: &Path, offline: bool) -> anyhow::Result<ExitCode> {
    let text = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: cannot read the config file: {e}", config.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    if actgate::config::is_egress_config(&text) {
        return super::egress::check(config, &text);
    }
    let cfg = match ConfigFile::parse(config, &text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match Snapshot::build(&cfg, Arc::new(Metrics::default())) {
        Ok(gw) => {
            if !super::issuers::check(config, &cfg, &gw, offline)? {
                return Ok(ExitCode::FAILURE);
            }
            println!(
                "{}: ok ({} trust domain(s), {} agent(s), {} rule(s))",
                config.display(),
                cfg.raw.trust_domain.len(),
                gw.registry.agents().count(),
                gw.policy.rules().len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn example_agent(
    listen: std::net::SocketAddr,
    card: Option<&Path>,
    stream_step_ms: u64,
    threads: Option<usize>,
) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let checkout = Path::new(super::demo::cards::DEFAULT_DIR).join("scheduler.json");
    let card = card.or_else(|| checkout.exists().then_some(checkout.as_path()));
    let (text, from) = match card {
        Some(card) => (
            std::fs::read_to_string(card).with_context(|| format!("reading {}", card.display()))?,
            card.display().to_string(),
        ),
        None => (
            super::demo::cards::example("scheduler")
                .context("no built-in scheduler card")?
                .to_string(),
            "the built-in scheduler card".to_string(),
        ),
    };
    let card: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{from} is not JSON"))?;
    let name = card["name"].as_str().unwrap_or("example").to_string();
    super::runtime_with(threads)?.block_on(async {
        let step = std::time::Duration::from_millis(stream_step_ms);
        let agent = actgate::dev::example_agent::start_with_step(listen, &name, card, step).await?;
        println!("example agent {name} listening on http://{}", agent.addr);
        let _ = tokio::signal::ctrl_c().await;
        Ok(ExitCode::SUCCESS)
    })
}
