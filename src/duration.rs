//! The one duration grammar, used by the configuration (`idle_timeout`,
//! `max_token_lifetime`, …), the CA tools (`--ttl`, `max_ttl`), the audit
//! query (`--since 15m`) and the load generator (`--duration 1.5s`).
//!
//! A duration is a number, optional blanks and a unit: `us` (or `µs`), `ms`,
//! `s`, `m` (or `min`), `h`, `d`. Configuration and certificate lifetimes
//! read it [`Strictness::Config`]: a whole number, a unit, never zero — a
//! typo must not turn into "no timeout". The load generator's flags read it
//! [`Strictness::Measurement`]: fractions (`1.5s`), a bare number meaning
//! seconds, and zero (`--warmup 0s`).

use std::time::Duration;

/// Which spellings a caller accepts on top of `WHOLE UNIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// A whole number and a unit, greater than zero.
    Config,
    /// Also fractions, a bare number (seconds) and zero.
    Measurement,
}

/// Why a duration was not accepted (the input is quoted in every message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("\"{0}\" has no unit; write e.g. \"30s\", \"5m\", \"1h\"")]
    NoUnit(String),
    #[error("\"{0}\" does not start with a whole number")]
    NotWhole(String),
    #[error("\"{0}\" does not start with a number; write e.g. \"10s\", \"500ms\" or \"2m\"")]
    NoNumber(String),
    #[error("\"{input}\": unknown unit \"{unit}\" (use us, ms, s, m, h or d)")]
    UnknownUnit { input: String, unit: String },
    #[error("\"{0}\" is zero")]
    Zero(String),
    #[error("\"{0}\": duration out of range")]
    OutOfRange(String),
}

/// One unit: how many microseconds it holds.
fn unit_micros(unit: &str) -> Option<u64> {
    Some(match unit {
        "us" | "µs" => 1,
        "ms" => 1_000,
        "s" | "" => 1_000_000,
        "m" | "min" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return None,
    })
}

/// Parse a configuration duration: `"300ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"`.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    parse_as(s, Strictness::Config)
}

/// Parse `s` under `strictness` (see the module docs).
pub fn parse_as(s: &str, strictness: Strictness) -> Result<Duration, DurationError> {
    let s = s.trim();
    let config = strictness == Strictness::Config;
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, rest) = s.split_at(split);
    let unit = rest.trim_start();
    if config && unit.is_empty() {
        return Err(DurationError::NoUnit(s.to_string()));
    }
    let micros = unit_micros(unit).ok_or_else(|| DurationError::UnknownUnit {
        input: s.to_string(),
        unit: unit.to_string(),
    });
    let d = if config || !num.contains('.') {
        let n: u64 = num.parse().map_err(|_| match strictness {
            Strictness::Config => DurationError::NotWhole(s.to_string()),
            Strictness::Measurement => DurationError::NoNumber(s.to_string()),
        })?;
        // Saturating: an absurdly long lifetime is clamped by the policy
        // that reads it, never wrapped around to a short one.
        let micros = micros?;
        if micros >= 1_000_000 {
            Duration::from_secs(n.saturating_mul(micros / 1_000_000))
        } else {
            Duration::from_micros(n.saturating_mul(micros))
        }
    } else {
        let n: f64 = num
            .parse()
            .map_err(|_| DurationError::NoNumber(s.to_string()))?;
        Duration::try_from_secs_f64(n * micros? as f64 / 1e6)
            .map_err(|_| DurationError::OutOfRange(s.to_string()))?
    };
    if config && d.is_zero() {
        return Err(DurationError::Zero(s.to_string()));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_spellings() {
        for (s, d) in [
            ("5m", Duration::from_secs(300)),
            ("250ms", Duration::from_millis(250)),
            ("2h", Duration::from_secs(7200)),
            ("7d", Duration::from_secs(7 * 86400)),
            (" 30s ", Duration::from_secs(30)),
        ] {
            assert_eq!(parse(s).unwrap(), d, "{s}");
        }
        for bad in ["", "5", "m", "5x", "0s", "-1s", "1.5s", "soon"] {
            assert!(parse(bad).is_err(), "{bad} should be rejected");
        }
        assert_eq!(
            parse("0s").unwrap_err().to_string(),
            "\"0s\" is zero",
            "pinned by tests/limits.rs"
        );
        assert!(parse("soon")
            .unwrap_err()
            .to_string()
            .contains("whole number"));
    }

    #[test]
    fn measurement_spellings() {
        let m = |s| parse_as(s, Strictness::Measurement);
        assert_eq!(m("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(m("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(m("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(m("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(m("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(m("0s").unwrap(), Duration::ZERO);
        assert_eq!(m("200ms").unwrap(), Duration::from_millis(200));
        for bad in ["", "-1s", "1e999s", "3 parsecs", "."] {
            assert!(m(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn huge_whole_numbers_saturate_instead_of_wrapping() {
        assert_eq!(
            parse("18446744073709551615d").unwrap(),
            Duration::from_secs(u64::MAX)
        );
    }
}
