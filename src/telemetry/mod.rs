//! OpenTelemetry traces (`[telemetry]`): spans made with `tracing`, turned
//! into OpenTelemetry spans by `tracing-opentelemetry` and exported over
//! OTLP/HTTP (protobuf) by `opentelemetry-otlp`, through a bounded queue.
//!
//! Which spans: one server span per request on the mTLS listener (the
//! request's log span, [`crate::trace::RequestMeta`], continuing the
//! caller's `traceparent`), and a child span per stage, made with
//! [`stage_span!`] where the stage does its work (`proxy::subject`,
//! `proxy::decide`, `proxy::approval`, `proxy::forward`). Only those two
//! targets reach the exporter: log events never do, and the log output
//! never shows stage spans.
//!
//! Off (the default) costs one relaxed load per stage: [`stage_span!`] gives
//! `Span::none()`, which no subscriber sees, and the server span is the log
//! span the gateway made anyway.
//!
//! - [`settings`]: the section and the `OTEL_*` variables.
//! - [`export`]: the queue and its export thread.
//! - [`client`]: the collector's HTTP client (our hyper and rustls).

mod client;
mod export;
pub mod settings;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use http::HeaderValue;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::metrics::text::{Exposition, Kind};
use crate::trace::RequestMeta;
pub use settings::Settings;

/// The target of stage spans: exported, never logged.
pub const STAGE_TARGET: &str = "actgate::span";
/// The target of the server span (the request's log span).
pub const SERVER_TARGET: &str = "actgate::trace";

static ON: AtomicBool = AtomicBool::new(false);
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();
/// Spans lost: the queue was full, or their export failed.
pub(crate) static SPANS_DROPPED: AtomicU64 = AtomicU64::new(0);
/// Spans the collector accepted.
pub(crate) static SPANS_EXPORTED: AtomicU64 = AtomicU64::new(0);

/// Whether spans are exported (set once, at start).
#[inline]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// A child span of the request's server span for one stage, or
/// `Span::none()` while telemetry is off.
macro_rules! stage_span {
    ($name:literal $(, $($field:tt)+)?) => {
        if $crate::telemetry::on() {
            tracing::info_span!(target: "actgate::span", $name $(, $($field)+)?)
        } else {
            tracing::Span::none()
        }
    };
}
pub(crate) use stage_span;

/// Why export could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error("the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("the export thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Start exporting: the tracer the `tracing` layer records into. Called
/// once, by the log setup; spans are made from then on.
pub fn start(s: &Settings) -> Result<opentelemetry_sdk::trace::SdkTracer, StartError> {
    let https = s.endpoint.scheme_str() == Some("https");
    let client = client::CollectorClient::new(https, s.export_timeout)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(s.endpoint.to_string())
        .with_timeout(s.export_timeout)
        .build()?;
    let processor = export::QueueProcessor::start(
        exporter,
        export::Batching {
            queue_size: s.queue_size,
            batch_size: s.batch_size,
            interval: s.export_interval,
            timeout: s.export_timeout,
        },
    )?;
    let resource = Resource::builder()
        .with_service_name(s.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            s.sample_ratio,
        ))))
        .build();
    let tracer = provider.tracer("actgate");
    let _ = PROVIDER.set(provider);
    ON.store(true, Ordering::Relaxed);
    Ok(tracer)
}

/// Export the spans still queued, waiting at most `timeout` (at shutdown).
pub fn shutdown(timeout: Duration) {
    if let Some(p) = PROVIDER.get() {
        if let Err(e) = p.shutdown_with_timeout(timeout) {
            tracing::warn!(error = %e, "trace export not finished at shutdown");
        }
    }
}

/// The request's server span: its log span, continuing the caller's trace.
/// While telemetry is on, the trace id and span id of `meta` become the
/// server span's (a trace started here gets the exporter's ids), so logs,
/// export and the upstream agree.
pub fn server_span(
    meta: &mut RequestMeta,
    method: &http::Method,
    path: &str,
    caller: &str,
) -> tracing::Span {
    if !on() {
        return meta.span();
    }
    let span = tracing::info_span!(
        target: "actgate::trace",
        "request",
        request_id = %meta.id,
        trace_id = tracing::field::Empty,
        client_request_id = %meta.client_request_id_str(),
        otel.name = %method,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        url.path = path,
        http.response.status_code = tracing::field::Empty,
        actgate.caller = caller,
        actgate.agent = tracing::field::Empty,
        actgate.operation = tracing::field::Empty,
        actgate.decision = tracing::field::Empty,
        actgate.rule = tracing::field::Empty,
    );
    if let Some(parent) = remote_parent(meta) {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if sc.is_valid() {
        meta.trace.adopt(
            sc.trace_id().to_bytes(),
            sc.span_id().to_bytes(),
            sc.is_sampled(),
        );
    }
    span.record("trace_id", meta.trace.trace_id());
    span
}

/// The caller's span, as the server span's remote parent.
fn remote_parent(meta: &RequestMeta) -> Option<SpanContext> {
    let t = &meta.trace;
    let parent = t.parent_id()?;
    let trace_id = TraceId::from_hex(t.trace_id()).ok()?;
    let span_id = SpanId::from_hex(parent).ok()?;
    let flags = u8::from_str_radix(t.flags(), 16).ok()?;
    let state = t
        .tracestate()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        state,
    ))
}

/// The outcome of the request, on its server span (the current one; no-op
/// while off).
pub fn record_outcome(rec: &crate::audit::AuditRecord, status: u16) {
    if !on() {
        return;
    }
    let span = tracing::Span::current();
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
    span.record("actgate.decision", rec.decision.as_str());
    if let Some(a) = rec.agent.as_deref() {
        span.record("actgate.agent", a);
    }
    if let Some(o) = rec.operation.as_deref() {
        span.record("actgate.operation", o);
    }
    if let Some(r) = rec.rule.as_deref() {
        span.record("actgate.rule", r);
    }
}

/// The `traceparent` of the upstream call `span` (its own span id as the
/// parent), when telemetry is on and the span is a real one.
pub fn traceparent(span: &tracing::Span) -> Option<HeaderValue> {
    if !on() || span.is_none() {
        return None;
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if !sc.is_valid() {
        return None;
    }
    let v = format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    );
    HeaderValue::from_str(&v).ok()
}

/// `actgate_trace_spans_*`: what the exporter sent and dropped.
pub fn render(out: &mut Exposition) {
    out.single(
        "actgate_trace_spans_exported_total",
        Kind::Counter,
        "Trace spans the OTLP collector accepted.",
        SPANS_EXPORTED.load(Ordering::Relaxed),
    );
    out.single(
        "actgate_trace_spans_dropped_total",
        Kind::Counter,
        "Trace spans dropped: the export queue was full, or their export failed or timed out.",
        SPANS_DROPPED.load(Ordering::Relaxed),
    );
}
