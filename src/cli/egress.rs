//! `actgate egress`: the sidecar; and `config check` for egress configs.

use std::path::Path;
use std::process::ExitCode;

use actgate::config::EgressConfigFile;

pub fn run(config: &Path, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    let cfg = match EgressConfigFile::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    actgate::logging::init(&cfg.raw.log);
    super::run_until_signal(threads, actgate::egress::start(&cfg), |r| r.shutdown())
}

/// Check an egress config: every field, and that the certificate, key and
/// bundle load into a working client configuration.
pub fn check(config: &Path, text: &str) -> anyhow::Result<ExitCode> {
    let cfg = match EgressConfigFile::parse(config, text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match actgate::egress::settings::build(&cfg) {
        Ok((s, m)) => {
            println!(
                "{}: ok (egress sidecar for {} calling {} at {})",
                config.display(),
                m.spiffe_id,
                s.gateway_id,
                s.gateway_base
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
