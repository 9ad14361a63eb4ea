//! One file per subcommand; each parses its own arguments and calls the library.

pub mod approvals;
pub mod audit;
pub mod bundle;
pub mod ca;
pub mod cert;
pub mod certs;
pub mod demo;
pub mod policy;
pub mod serve;
pub mod token;

/// Logs: human-readable on a terminal, JSON otherwise; level from `RUST_LOG`
/// (default `info`).
pub fn init_logging() {
    init_logging_with_default("info")
}

/// As [`init_logging`], with `default` as the level when `RUST_LOG` is unset
/// (the demo uses `warn`: its narrative is on stdout, and per-request info
/// lines would drown it).
pub fn init_logging_with_default(default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}

/// A multi-threaded tokio runtime for the async commands.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    runtime_with(None)
}

/// A runtime with `threads` workers (default: one per core).
pub fn runtime_with(threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut b = match threads {
        // One thread: the current-thread scheduler, with no cross-thread
        // wake-ups (the main thread is the worker).
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    Ok(b.enable_all().build()?)
}
