//! `[telemetry]` and the standard `OTEL_*` variables, resolved into what the
//! exporter needs. The precedence: `OTEL_SDK_DISABLED=true` turns export off;
//! otherwise a field of the section wins over its variable, and the
//! variable over the default.

use std::time::Duration;

use crate::config::TelemetrySection;

/// Where spans go when neither the section nor a variable says.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/traces";
/// `service.name` when neither the section nor `OTEL_SERVICE_NAME` says.
pub const DEFAULT_SERVICE_NAME: &str = "actgate";

/// What the exporter runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub endpoint: http::Uri,
    pub service_name: String,
    pub sample_ratio: f64,
    pub queue_size: usize,
    pub batch_size: usize,
    pub export_interval: Duration,
    pub export_timeout: Duration,
}

/// One problem with the section (or a variable it reads): the field, what.
pub type Problem = (&'static str, String);

impl Settings {
    /// The settings of `section`, reading variables through `env`: `None`
    /// when export is off, every problem found otherwise.
    pub fn resolve(
        section: &TelemetrySection,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Settings>, Vec<Problem>> {
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let disabled =
            set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if !section.enabled || disabled {
            return Ok(None);
        }
        let mut problems = Vec::new();
        let endpoint = section
            .endpoint
            .clone()
            .or_else(|| set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
            .or_else(|| {
                set("OTEL_EXPORTER_OTLP_ENDPOINT")
                    .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
            })
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let endpoint = match endpoint.parse::<http::Uri>() {
            Ok(u) if u.host().is_some() && matches!(u.scheme_str(), Some("http" | "https")) => {
                Some(u)
            }
            _ => {
                problems.push((
                    "telemetry.endpoint",
                    format!("\"{endpoint}\" is not an absolute http(s) URL"),
                ));
                None
            }
        };
        let service_name = section
            .service_name
            .clone()
            .or_else(|| set("OTEL_SERVICE_NAME"))
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        if service_name.trim().is_empty() {
            problems.push(("telemetry.service_name", "must not be empty".into()));
        }
        if !(0.0..=1.0).contains(&section.sample_ratio) {
            problems.push(("telemetry.sample_ratio", "must be from 0.0 to 1.0".into()));
        }
        if section.queue_size == 0 {
            problems.push(("telemetry.queue_size", "must be at least 1".into()));
        }
        if section.batch_size == 0 || section.batch_size > section.queue_size.max(1) {
            problems.push((
                "telemetry.batch_size",
                "must be at least 1 and at most queue_size".into(),
            ));
        }
        // Config strictness: a unit, never zero.
        let mut duration = |field, s: &str| match crate::duration::parse(s) {
            Ok(d) => d,
            Err(e) => {
                problems.push((field, e.to_string()));
                Duration::from_secs(1)
            }
        };
        let export_interval = duration("telemetry.export_interval", &section.export_interval);
        let export_timeout = duration("telemetry.export_timeout", &section.export_timeout);
        match endpoint {
            Some(endpoint) if problems.is_empty() => Ok(Some(Settings {
                endpoint,
                service_name,
                sample_ratio: section.sample_ratio,
                queue_size: section.queue_size,
                batch_size: section.batch_size,
                export_interval,
                export_timeout,
            })),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> TelemetrySection {
        TelemetrySection {
            enabled: true,
            ..TelemetrySection::default()
        }
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn off_unless_enabled_and_not_disabled() {
        let off = TelemetrySection::default();
        assert_eq!(Settings::resolve(&off, env(&[])), Ok(None));
        let vars = [("OTEL_SDK_DISABLED", "TRUE")];
        assert_eq!(Settings::resolve(&on(), env(&vars)), Ok(None));
        let vars = [("OTEL_SDK_DISABLED", "false")];
        assert!(Settings::resolve(&on(), env(&vars)).unwrap().is_some());
    }

    #[test]
    fn the_section_wins_over_variables_which_win_over_defaults() {
        let s = Settings::resolve(&on(), env(&[])).unwrap().unwrap();
        assert_eq!(s.endpoint.to_string(), DEFAULT_ENDPOINT);
        assert_eq!(s.service_name, "actgate");
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_SERVICE_NAME", "gw-eu"),
        ];
        let s = Settings::resolve(&on(), env(&vars)).unwrap().unwrap();
        assert_eq!(s.endpoint.to_string(), "http://collector:4318/v1/traces");
        assert_eq!(s.service_name, "gw-eu");
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces.example/otlp",
            ),
        ];
        let s = Settings::resolve(&on(), env(&vars)).unwrap().unwrap();
        assert_eq!(s.endpoint.to_string(), "https://traces.example/otlp");
        let mine = TelemetrySection {
            endpoint: Some("http://127.0.0.1:9/v1/traces".into()),
            service_name: Some("mine".into()),
            ..on()
        };
        let s = Settings::resolve(&mine, env(&vars)).unwrap().unwrap();
        assert_eq!(s.endpoint.to_string(), "http://127.0.0.1:9/v1/traces");
        assert_eq!(s.service_name, "mine");
    }

    #[test]
    fn every_problem_is_named() {
        let bad = TelemetrySection {
            endpoint: Some("collector:4318".into()),
            sample_ratio: 1.5,
            queue_size: 0,
            export_interval: "soon".into(),
            export_timeout: "0s".into(),
            ..on()
        };
        let fields: Vec<_> = Settings::resolve(&bad, env(&[]))
            .unwrap_err()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(
            fields,
            [
                "telemetry.endpoint",
                "telemetry.sample_ratio",
                "telemetry.queue_size",
                "telemetry.batch_size",
                "telemetry.export_interval",
                "telemetry.export_timeout"
            ]
        );
    }
}
