//! One file per subcommand; each parses its own arguments and calls the library.

pub mod approvals;
pub mod audit;
pub mod bundle;
pub mod ca;
pub mod cert;
pub mod certs;
pub mod demo;
pub mod docs;
pub mod egress;
pub mod issuers;
pub mod policy;
pub mod serve;
pub mod state;
pub mod token;

/// Logs with the default settings (commands without a config file):
/// human-readable on a terminal, JSON otherwise; level from `RUST_LOG`.
pub fn init_logging() {
    actgate::logging::init(&actgate::config::LogSection::default());
}

/// SIGTERM and SIGINT. The first starts a drain; [`Signals::exit_on_next`]
/// makes a second one exit at once.
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Register the handlers (inside a runtime), before the listeners start,
    /// so a signal arriving during start-up is not lost.
    pub fn new() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next SIGTERM or SIGINT; its name.
    pub async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        }
    }

    /// After the first signal: a second one ends the process at once, with
    /// the shell's status for a signal death (128 + SIGINT), whatever is
    /// still draining.
    pub fn exit_on_next(mut self) {
        tokio::spawn(async move {
            let which = self.next().await;
            tracing::warn!(
                signal = which,
                "second signal: exiting without finishing the drain"
            );
            std::process::exit(130);
        });
    }
}

/// A multi-threaded tokio runtime for the async commands.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    runtime_with(None)
}

/// Run a server (`serve`, `egress`): start it under the signal handlers,
/// wait for SIGTERM/SIGINT, then drain it with `stop`; a second signal
/// exits at once. A start failure is printed and exits 1.
pub fn run_until_signal<R, E, Stop, StopFut>(
    threads: Option<usize>,
    start: impl std::future::Future<Output = Result<R, E>>,
    stop: Stop,
) -> anyhow::Result<std::process::ExitCode>
where
    E: std::fmt::Display,
    Stop: FnOnce(R) -> StopFut,
    StopFut: std::future::Future,
{
    let rt = runtime_with(threads)?;
    rt.block_on(async {
        // Registered before the listeners start (the start future is lazy).
        let mut signals = Signals::new()?;
        let running = match start.await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return Ok(std::process::ExitCode::FAILURE);
            }
        };
        let which = signals.next().await;
        tracing::info!(signal = which, "shutting down");
        signals.exit_on_next();
        stop(running).await;
        Ok(std::process::ExitCode::SUCCESS)
    })
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
