//! `[telemetry]`: OpenTelemetry traces exported over OTLP/HTTP.

use schemars::JsonSchema;
use serde::Deserialize;

/// `[telemetry]`: spans for every request on the mTLS listener, exported
/// over OTLP/HTTP (protobuf) to a collector. Off by default. The standard
/// `OTEL_*` variables fill in what the section leaves out (a field set here
/// wins over its variable), and `OTEL_SDK_DISABLED=true` turns export off
/// whatever the section says. Read at start; a reload does not change it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// Export traces. Default `false`: no span is made beyond the request's
    /// log span, nothing is sent anywhere.
    #[serde(default)]
    pub enabled: bool,
    /// The OTLP/HTTP traces URL spans are posted to, e.g.
    /// `"http://otel-collector:4318/v1/traces"` (used as written: no path is
    /// added). `http` or `https`; `https` checks the collector's certificate
    /// against the system roots (`SSL_CERT_FILE` names others). Default:
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// with `/v1/traces` appended, else `"http://localhost:4318/v1/traces"`.
    pub endpoint: Option<String>,
    /// The `service.name` resource attribute. Default: `OTEL_SERVICE_NAME`,
    /// else `"actgate"`.
    pub service_name: Option<String>,
    /// Share of traces started here that are recorded, from `0.0` to `1.0`.
    /// A caller's `traceparent` decides for its own trace (its sampled flag
    /// is followed). Default `1.0`.
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
    /// Most finished spans waiting for export. When the collector is slow or
    /// down and the queue is full, new spans are dropped (and counted in
    /// `actgate_trace_spans_dropped_total`); requests never wait for it.
    /// Default 2048.
    #[serde(default = "default_queue_size")]
    pub queue_size: usize,
    /// Most spans in one export request. Default 512.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// How often queued spans are sent (a full batch goes at once).
    /// Default `"5s"`.
    #[serde(default = "default_export_interval")]
    pub export_interval: String,
    /// Time allowed for one export request, connecting included; a batch
    /// that fails or takes longer is dropped (and counted). Default `"10s"`.
    #[serde(default = "default_export_timeout")]
    pub export_timeout: String,
}

impl Default for TelemetrySection {
    fn default() -> Self {
        TelemetrySection {
            enabled: false,
            endpoint: None,
            service_name: None,
            sample_ratio: default_sample_ratio(),
            queue_size: default_queue_size(),
            batch_size: default_batch_size(),
            export_interval: default_export_interval(),
            export_timeout: default_export_timeout(),
        }
    }
}

fn default_sample_ratio() -> f64 {
    1.0
}
fn default_queue_size() -> usize {
    2048
}
fn default_batch_size() -> usize {
    512
}
fn default_export_interval() -> String {
    "5s".into()
}
fn default_export_timeout() -> String {
    "10s".into()
}
