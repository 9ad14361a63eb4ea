//! `actgate state migrate|check --config F`: the shared PostgreSQL state
//! for operators who run migrations themselves or want to know why the
//! gateway cannot reach it.

use std::path::PathBuf;
use std::process::ExitCode;

use actgate::config::ConfigFile;
use actgate::state::check;
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum StateCommand {
    /// Apply the schema migrations the database lacks (under an advisory
    /// lock: safe while gateways start).
    Migrate(StateArgs),
    /// Say whether the database is reachable, how the connection is
    /// protected, and which schema version it is at (exit 1 on a problem).
    Check(StateArgs),
}

#[derive(Args)]
pub struct StateArgs {
    /// The gateway's config file (its `[state]` section is used).
    #[arg(long)]
    config: PathBuf,
}

fn settings(a: &StateArgs) -> anyhow::Result<actgate::state::StateSettings> {
    let cfg = ConfigFile::load(&a.config)?;
    match actgate::state::settings::from_config(&cfg)? {
        Some(s) => Ok(s),
        None => anyhow::bail!(
            "{}: [state] backend is \"files\": there is no database to migrate or check",
            a.config.display()
        ),
    }
}

pub fn run(c: StateCommand) -> anyhow::Result<ExitCode> {
    let rt = super::runtime()?;
    match c {
        StateCommand::Migrate(a) => {
            let s = settings(&a)?;
            let n = rt.block_on(check::migrate(s))?;
            println!(
                "schema at version {} ({n} migration(s) applied)",
                actgate::state::migrate::latest()
            );
            Ok(ExitCode::SUCCESS)
        }
        StateCommand::Check(a) => {
            let r = rt.block_on(check::check(settings(&a)?));
            println!("url from:  {}", r.source);
            println!("transport: {}", r.transport);
            println!("replica:   {}", r.replica);
            match &r.server_version {
                Some(v) => println!("reachable: yes (PostgreSQL {v})"),
                None => println!("reachable: no"),
            }
            if let Some(v) = r.schema_version {
                println!("schema:    version {v} (this gateway needs {})", r.needed);
            }
            if let Some(p) = &r.problem {
                println!("problem:   {p}");
            }
            Ok(if r.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
