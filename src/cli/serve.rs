//! `actgate serve` and `actgate config check`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use actgate::config::ConfigFile;
use actgate::gateway::Gateway;
use actgate::metrics::Metrics;

pub fn serve(config: &Path) -> anyhow::Result<ExitCode> {
    let cfg = match ConfigFile::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let rt = super::runtime()?;
    rt.block_on(async {
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        match actgate::server::run_until(&cfg, shutdown).await {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::FAILURE)
            }
        }
    })
}

pub fn check(config: &Path) -> anyhow::Result<ExitCode> {
    let cfg = match ConfigFile::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match Gateway::build(&cfg, Arc::new(Metrics::default())) {
        Ok(gw) => {
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
