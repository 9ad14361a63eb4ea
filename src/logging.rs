//! Log setup: level from `RUST_LOG` or `[log] level`, JSON or human-readable
//! lines on standard error.
//!
//! Logs go to standard error so that a command's own output on standard
//! output (`config check`, `demo`, `cert inspect --json`) stays clean.
//! `format = "auto"` writes JSON when standard error is not a terminal (a
//! container runtime, a file, a pipe) and human-readable lines on a terminal.
//! Each request's lines carry its `request_id` (and `trace_id`) as fields of
//! the `request` span: under `span` in JSON.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSection};

/// The level used when neither `RUST_LOG` nor `[log] level` says.
pub const DEFAULT_LEVEL: &str = "info";

/// A `[log] level` that tracing cannot read.
#[derive(Debug, thiserror::Error)]
#[error("\"{level}\" is not a log level or filter: {source}")]
pub struct BadLevel {
    pub level: String,
    source: tracing_subscriber::filter::ParseError,
}

/// Check `[log] level` (tracing `EnvFilter` directives).
pub fn check(log: &LogSection) -> Result<(), BadLevel> {
    match &log.level {
        Some(l) => EnvFilter::try_new(l)
            .map(|_| ())
            .map_err(|source| BadLevel {
                level: l.clone(),
                source,
            }),
        None => Ok(()),
    }
}

/// JSON or not, for `format` when the output is (or is not) a terminal.
pub fn use_json(format: LogFormat, is_terminal: bool) -> bool {
    match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !is_terminal,
    }
}

/// The filter: `RUST_LOG` when set (an operator's override wins over the
/// file), else `[log] level`, else `info`.
fn filter(log: &LogSection) -> EnvFilter {
    if let Ok(f) = EnvFilter::try_from_default_env() {
        return f;
    }
    let level = log.level.as_deref().unwrap_or(DEFAULT_LEVEL);
    EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LEVEL))
}

/// Install the global subscriber. A second call does nothing (the first
/// setup stays), so tests and commands may call it freely.
pub fn init(log: &LogSection) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(log))
        .with_writer(std::io::stderr);
    let _ = if use_json(log.format, std::io::stderr().is_terminal()) {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Install the global subscriber with trace export (`[telemetry]`), or
/// as [`init`] does when `telemetry` is `None`. Two layers, each with its
/// own filter: the log lines as [`init`] writes them (stage spans left out,
/// so a line's span stays the request's), and the exporter, which sees the
/// server and stage spans only (never a log event: they may name things a
/// trace backend should not keep).
pub fn init_with_telemetry(
    log: &LogSection,
    telemetry: Option<&crate::telemetry::Settings>,
) -> Result<(), crate::telemetry::StartError> {
    use tracing_subscriber::filter::{filter_fn, FilterExt};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{Layer, Registry};

    use crate::telemetry::{SERVER_TARGET, STAGE_TARGET};

    let Some(settings) = telemetry else {
        init(log);
        return Ok(());
    };
    let tracer = crate::telemetry::start(settings)?;
    let not_stage = || filter_fn(|m| m.target() != STAGE_TARGET);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt: Box<dyn Layer<Registry> + Send + Sync> =
        if use_json(log.format, std::io::stderr().is_terminal()) {
            fmt.json()
                .with_current_span(true)
                .with_span_list(false)
                .with_filter(filter(log).and(not_stage()))
                .boxed()
        } else {
            fmt.with_filter(filter(log).and(not_stage())).boxed()
        };
    let export = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_level(false)
        .with_target(false)
        // No busy/idle timings per span: work on every span, and the
        // span's own duration says what matters.
        .with_tracked_inactivity(false)
        .with_filter(filter_fn(|m| {
            m.is_span() && (m.target() == STAGE_TARGET || m.target() == SERVER_TARGET)
        }))
        .boxed();
    let _ = tracing_subscriber::registry()
        .with(vec![fmt, export])
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_terminal_in_auto_mode() {
        assert!(use_json(LogFormat::Auto, false));
        assert!(!use_json(LogFormat::Auto, true));
        assert!(use_json(LogFormat::Json, true));
        assert!(!use_json(LogFormat::Text, false));
    }

    #[test]
    fn levels_are_checked() {
        let ok = |l: &str| {
            check(&LogSection {
                level: Some(l.into()),
                format: LogFormat::Auto,
            })
        };
        assert!(ok("debug").is_ok());
        assert!(ok("warn,actgate=debug").is_ok());
        assert!(ok("loud=").is_err() || ok("=[").is_err());
        assert!(ok("actgate=verbose").is_err());
    }
}
