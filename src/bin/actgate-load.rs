//! `actgate-load`: mTLS load generator (see `actgate::load`).

use std::process::ExitCode;

use clap::Parser;

use actgate::load::{self, Args};

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = load::raise_fd_limit() {
        eprintln!("actgate-load: warning: cannot raise the open-files limit: {e}");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("actgate-load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(load::run(&args)) {
        Ok(report) => {
            if args.json {
                match serde_json::to_string(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("actgate-load: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("actgate-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}
