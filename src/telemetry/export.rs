//! The bounded queue between finished spans and the collector.
//!
//! A request never waits for the collector: a finished span is handed to a
//! bounded channel with `try_send` (no lock held across the export, no
//! allocation beyond the span's own data), and one thread of its own
//! batches and posts them. A full queue (a slow or dead collector) drops
//! the new span; a failed or timed-out export drops its batch; both are
//! counted in `actgate_trace_spans_dropped_total`. The thread runs its own
//! single-threaded runtime so exporting never takes a worker of the
//! gateway's.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;

use super::{SPANS_DROPPED, SPANS_EXPORTED};

enum Msg {
    Span(Box<SpanData>),
    Resource(Resource),
    /// Export what is queued, then answer.
    Flush(mpsc::Sender<()>),
}

/// How the export thread batches.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batching {
    pub queue_size: usize,
    pub batch_size: usize,
    pub interval: Duration,
    pub timeout: Duration,
}

/// A span processor that queues finished, sampled spans for the export
/// thread.
#[derive(Debug)]
pub(super) struct QueueProcessor {
    tx: SyncSender<Msg>,
}

impl QueueProcessor {
    /// Start the export thread for `exporter`.
    pub(super) fn start<E: SpanExporter + 'static>(
        exporter: E,
        batching: Batching,
    ) -> std::io::Result<Self> {
        // The queue holds spans and the few control messages.
        let (tx, rx) = mpsc::sync_channel(batching.queue_size);
        std::thread::Builder::new()
            .name("actgate-otlp".into())
            .spawn(move || run(rx, exporter, batching))?;
        Ok(QueueProcessor { tx })
    }

    /// Ask the thread to export what it holds; wait at most `timeout`.
    fn flush(&self, timeout: Duration) -> OTelSdkResult {
        let deadline = Instant::now() + timeout;
        let (done, wait) = mpsc::channel();
        let mut msg = Msg::Flush(done);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(TrySendError::Full(_)) => return Err(OTelSdkError::Timeout(timeout)),
                Err(TrySendError::Disconnected(_)) => return Err(OTelSdkError::AlreadyShutdown),
            }
        }
        wait.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|_| OTelSdkError::Timeout(timeout))
    }
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.tx.try_send(Msg::Span(Box::new(span))).is_err() {
            SPANS_DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush(Duration::from_secs(5))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.flush(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Sent before any span: the provider sets it while it is built.
        let _ = self.tx.try_send(Msg::Resource(resource.clone()));
    }
}

/// The export thread: batches of at most `batch_size`, sent when full or
/// every `interval`, each within `timeout`.
fn run<E: SpanExporter>(rx: Receiver<Msg>, mut exporter: E, b: Batching) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "trace export cannot start; spans are dropped");
            for m in rx {
                if let Msg::Span(_) = m {
                    SPANS_DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
            return;
        }
    };
    let mut out = Export {
        rt,
        timeout: b.timeout,
        failing: false,
    };
    let mut batch = Vec::with_capacity(b.batch_size);
    let mut due = Instant::now() + b.interval;
    loop {
        match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
            Ok(Msg::Span(s)) => {
                batch.push(*s);
                if batch.len() >= b.batch_size {
                    out.send(&exporter, &mut batch);
                    due = Instant::now() + b.interval;
                }
            }
            Ok(Msg::Resource(r)) => exporter.set_resource(&r),
            Ok(Msg::Flush(done)) => {
                out.send(&exporter, &mut batch);
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) => {
                out.send(&exporter, &mut batch);
                due = Instant::now() + b.interval;
            }
            Err(RecvTimeoutError::Disconnected) => {
                out.send(&exporter, &mut batch);
                return;
            }
        }
    }
}

struct Export {
    rt: tokio::runtime::Runtime,
    timeout: Duration,
    /// The last export failed: the next failure is not logged again.
    failing: bool,
}

impl Export {
    fn send<E: SpanExporter>(&mut self, exporter: &E, batch: &mut Vec<SpanData>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        let spans = std::mem::take(batch);
        // The timer is made inside the runtime (it needs its time driver).
        let timeout = self.timeout;
        let sent = self
            .rt
            .block_on(async { tokio::time::timeout(timeout, exporter.export(spans)).await });
        match sent {
            Ok(Ok(())) => {
                SPANS_EXPORTED.fetch_add(n, Ordering::Relaxed);
                if std::mem::take(&mut self.failing) {
                    tracing::info!("trace export works again");
                }
            }
            Ok(Err(e)) => self.failed(n, &e.to_string()),
            Err(_) => self.failed(n, "timed out"),
        }
    }

    /// Logged once per run of failures (a dead collector is not a log flood).
    fn failed(&mut self, n: u64, why: &str) {
        SPANS_DROPPED.fetch_add(n, Ordering::Relaxed);
        if !std::mem::replace(&mut self.failing, true) {
            tracing::warn!(
                error = why,
                spans = n,
                "trace export failed; spans dropped until it works"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Tracer, TracerProvider};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;

    /// A collector that never answers.
    #[derive(Debug)]
    struct Stuck;
    impl SpanExporter for Stuck {
        fn export(
            &self,
            _batch: Vec<SpanData>,
        ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
            std::future::pending()
        }
    }

    #[test]
    fn a_stuck_collector_fills_the_queue_then_spans_are_dropped_not_waited_for() {
        let before = SPANS_DROPPED.load(Ordering::Relaxed);
        let batching = Batching {
            queue_size: 4,
            batch_size: 1,
            interval: Duration::from_secs(3600),
            timeout: Duration::from_millis(100),
        };
        let p = QueueProcessor::start(Stuck, batching).unwrap();
        let provider = SdkTracerProvider::builder().with_span_processor(p).build();
        let tracer = provider.tracer("test");
        // Ending a span never waits for the export (which takes 100 ms
        // here, then fails): a span that finds the queue full is dropped.
        for _ in 0..20 {
            drop(tracer.start("x"));
        }
        // At most the queue (4, the resource message included) and the
        // batch in the exporter's hands were kept.
        let dropped = SPANS_DROPPED.load(Ordering::Relaxed) - before;
        assert!((15..=20).contains(&dropped), "{dropped}");
    }
}
