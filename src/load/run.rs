//! Senders and their schedules: closed loop (next request when the previous
//! one completes), open loop (fixed rate, latency from the intended send
//! time), a new connection per request, and idle-connection memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::args::Args;
use super::conn::{client_config, Connector, ErrorKind, Failure, Sender, Target};
use super::procstat::{self, Sampler};
use super::report::{IdleReport, Recorder, Report, RunShape, ServerReport};
use super::request::{exchange, Template, REQUEST_TIMEOUT};

/// Most handshakes in flight while connections are being opened.
const OPEN_CONCURRENCY: usize = 256;

/// How long `--idle-connections` holds the connections before sampling.
pub const IDLE_SETTLE: Duration = Duration::from_secs(2);

/// When to stop, and which requests count.
struct Control {
    /// `--requests`: tickets left.
    tickets: Option<AtomicU64>,
    /// Start of the measured interval.
    measure_start: Instant,
    /// Duration mode: no request is started (closed loop) or scheduled (open
    /// loop) at or after this instant.
    end: Option<Instant>,
}

impl Control {
    /// May a request meant for `at` be sent? `Some(record)` if so.
    fn admit(&self, at: Instant) -> Option<bool> {
        if let Some(t) = &self.tickets {
            return t
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .ok()
                .map(|_| true);
        }
        match self.end {
            Some(end) if at >= end => None,
            _ => Some(at >= self.measure_start),
        }
    }
}

/// An HTTP/2 connection shared by several stream slots; whoever finds it
/// closed first reconnects (holding the lock, so the others wait for that
/// connection instead of piling on), the others pick the new one up.
struct Shared {
    conn: Mutex<Option<Sender>>,
}

/// Where a sender gets its connection from.
enum Slot {
    /// HTTP/1.1 keep-alive: the sender owns its connection.
    Own(Option<Sender>),
    /// HTTP/2: one of several streams on a shared connection.
    Stream {
        shared: Arc<Shared>,
        mine: Option<Sender>,
    },
    /// A new connection for every request.
    Fresh,
}

fn internal() -> Failure {
    (
        ErrorKind::Io,
        "internal: shared connection is not HTTP/2".into(),
    )
}

impl Slot {
    async fn acquire(&mut self, c: &Connector) -> Result<Sender, Failure> {
        match self {
            Slot::Own(s) => match s.take() {
                Some(s) if !s.is_closed() => Ok(s),
                _ => c.connect().await,
            },
            Slot::Fresh => c.connect().await,
            Slot::Stream { shared, mine } => {
                if let Some(s) = mine.as_ref().filter(|s| !s.is_closed()) {
                    return s.share().ok_or_else(internal);
                }
                let mut conn = shared.conn.lock().await;
                if conn.as_ref().is_none_or(|s| s.is_closed()) {
                    *conn = None;
                    *conn = Some(c.connect().await?);
                }
                let s = conn.as_ref().and_then(Sender::share).ok_or_else(internal)?;
                *mine = s.share();
                Ok(s)
            }
        }
    }

    /// Give the connection back after a request; `healthy` false drops an
    /// HTTP/1.1 connection (its state is unknown). HTTP/2 streams need no
    /// hand-back: a broken connection shows as closed.
    fn release(&mut self, s: Sender, healthy: bool) {
        if let (Slot::Own(o), true) = (self, healthy) {
            *o = Some(s);
        }
    }
}

/// One sender's loop. `interval`: open loop with this spacing, starting at
/// `first`; `None`: closed loop.
async fn sender(
    mut slot: Slot,
    connector: Arc<Connector>,
    tmpl: Arc<Template>,
    ctl: Arc<Control>,
    sse: bool,
    schedule: Option<(Instant, Duration)>,
) -> (Recorder, Option<Instant>) {
    let mut rec = Recorder::default();
    let mut last_recorded: Option<Instant> = None;
    let mut k: u32 = 0;
    loop {
        let intended = match schedule {
            Some((first, interval)) => {
                match interval.checked_mul(k).and_then(|d| first.checked_add(d)) {
                    Some(t) => t,
                    None => break,
                }
            }
            None => Instant::now(),
        };
        k = k.saturating_add(1);
        let Some(record) = ctl.admit(intended) else {
            break;
        };
        if schedule.is_some() {
            tokio::time::sleep_until(intended).await;
        }
        let started = intended;
        let result = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let mut s = slot.acquire(&connector).await?;
            let r = exchange(&mut s, tmpl.build(), sse, started).await;
            let healthy = matches!(r, Ok(_) | Err((ErrorKind::HttpStatus(_), _)));
            slot.release(s, healthy);
            r
        })
        .await
        .unwrap_or_else(|_| {
            Err((
                ErrorKind::Timeout,
                format!("no complete response within {REQUEST_TIMEOUT:?}"),
            ))
        });
        let now = Instant::now();
        let failed_to_connect = matches!(
            result,
            Err((ErrorKind::Connect | ErrorKind::Tls | ErrorKind::Timeout, _))
        );
        if record {
            last_recorded = Some(now);
            match result {
                Ok(done) => {
                    rec.ok(now - started);
                    if sse {
                        rec.sse(done.events, done.first_event);
                    }
                }
                Err((kind, detail)) => rec.error(kind, || detail),
            }
        }
        if failed_to_connect && schedule.is_none() {
            // Do not spin on a refused port; open loop keeps its schedule.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    (rec, last_recorded)
}

/// Open `n` connections, at most [`OPEN_CONCURRENCY`] handshakes at a time.
async fn open_many(c: &Arc<Connector>, n: usize) -> Vec<Result<Sender, Failure>> {
    futures_util::stream::iter(0..n)
        .map(|_| {
            let c = c.clone();
            async move { c.connect().await }
        })
        .buffer_unordered(OPEN_CONCURRENCY)
        .collect()
        .await
}

/// Everything built from the arguments before any socket is opened.
struct Setup {
    connector: Arc<Connector>,
    tmpl: Arc<Template>,
    shape: RunShape,
}

fn setup(args: &Args) -> anyhow::Result<Setup> {
    args.validate()?;
    let target = Target::parse(&args.url)?;
    let cfg = client_config(&args.cacert, &args.cert, &args.key, args.http2)?;
    let tmpl = Template::new(args, &target)?;
    let shape = RunShape {
        url: args.url.clone(),
        http2: args.http2,
        open_loop: args.rate,
        connections: args.connections,
        streams: args.streams,
        new_connection: args.new_connection,
        body_bytes: tmpl.body_len(),
        sse: args.sse,
    };
    Ok(Setup {
        connector: Arc::new(Connector::new(target, cfg, args.http2)),
        tmpl: Arc::new(tmpl),
        shape,
    })
}

/// Run the load described by `args` and return its report.
pub async fn run(args: &Args) -> anyhow::Result<Report> {
    let Setup {
        connector,
        tmpl,
        shape,
    } = setup(args)?;
    if let Some(pid) = args.server_pid {
        // Fail before the run if the pid cannot be read.
        procstat::cpu_ticks(pid)?;
        procstat::memory_kb(pid)?;
    }
    if let Some(n) = args.idle_connections {
        return idle(args, n, connector, tmpl, shape).await;
    }

    // Connections first, outside every measured interval. A failure leaves
    // the slot empty; its sender retries (and counts the error) in the run.
    let mut slots = Vec::new();
    if args.new_connection {
        slots.extend((0..args.connections).map(|_| Slot::Fresh));
    } else {
        let opened = open_many(&connector, args.connections).await;
        for s in opened {
            let s = s.ok();
            if args.http2 {
                let shared = Arc::new(Shared {
                    conn: Mutex::new(s),
                });
                for _ in 0..args.streams {
                    slots.push(Slot::Stream {
                        shared: shared.clone(),
                        mine: None,
                    });
                }
            } else {
                slots.push(Slot::Own(s));
            }
        }
    }

    let t0 = Instant::now();
    let too_long = || anyhow::anyhow!("--warmup plus --duration is too long");
    let measure_start = if args.requests.is_some() {
        t0
    } else {
        t0.checked_add(args.warmup).ok_or_else(too_long)?
    };
    let end = match args.requests {
        Some(_) => None,
        None => Some(
            measure_start
                .checked_add(args.duration)
                .ok_or_else(too_long)?,
        ),
    };
    let ctl = Arc::new(Control {
        tickets: args.requests.map(AtomicU64::new),
        measure_start,
        end,
    });
    let sampler = args.server_pid.map(|pid| {
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_start).await;
            Sampler::start(pid)
        })
    });

    let senders = slots.len();
    let tasks: Vec<_> = slots
        .into_iter()
        .enumerate()
        .map(|(i, slot)| {
            let schedule = args.rate.map(|rate| {
                // wrk2-style: each sender gets rate/senders, staggered so the
                // total is evenly spaced.
                // --rate is validated to [MIN_RATE, MAX_RATE]; saturate anyway.
                let secs = |x: f64| Duration::try_from_secs_f64(x).unwrap_or(Duration::MAX);
                let interval = secs(senders as f64 / rate);
                let first = t0.checked_add(secs(i as f64 / rate)).unwrap_or(t0);
                (first, interval)
            });
            tokio::spawn(sender(
                slot,
                connector.clone(),
                tmpl.clone(),
                ctl.clone(),
                args.sse,
                schedule,
            ))
        })
        .collect();

    let mut rec = Recorder::default();
    let mut last = None;
    for t in tasks {
        let (r, l) = t.await?;
        rec.merge(r);
        last = last.max(l);
    }
    let elapsed = last
        .unwrap_or_else(Instant::now)
        .saturating_duration_since(measure_start);
    let mut report = Report::build(&shape, &rec, elapsed);
    if let (Some(pid), Some(s)) = (args.server_pid, sampler) {
        let s = s.await??.stop()?;
        report.server = Some(ServerReport {
            server_pid: pid,
            server_cpu_seconds: (s.cpu_seconds * 1e3).round() / 1e3,
            server_cpu_us_per_request: (rec.ok > 0)
                .then(|| (s.cpu_seconds * 1e6 / rec.ok as f64 * 10.0).round() / 10.0),
            server_rss_max_kb: s.rss_max_kb,
            server_vm_hwm_kb: s.vm_hwm_kb,
        });
    }
    Ok(report)
}

/// `--idle-connections N`: server memory per established, idle connection.
async fn idle(
    args: &Args,
    n: usize,
    connector: Arc<Connector>,
    tmpl: Arc<Template>,
    shape: RunShape,
) -> anyhow::Result<Report> {
    let pid = args
        .server_pid
        .ok_or_else(|| anyhow::anyhow!("--idle-connections needs --server-pid"))?;
    let (rss_before, _) = procstat::memory_kb(pid)?;
    let start = Instant::now();
    let results: Vec<(Result<_, Failure>, Duration)> = futures_util::stream::iter(0..n)
        .map(|_| {
            let (c, tmpl) = (connector.clone(), tmpl.clone());
            async move {
                let t = Instant::now();
                let r = tokio::time::timeout(REQUEST_TIMEOUT, async {
                    let mut s = c.connect().await?;
                    exchange(&mut s, tmpl.build(), false, t).await?;
                    Ok(s)
                })
                .await
                .unwrap_or_else(|_| Err((ErrorKind::Timeout, "no response in time".into())));
                (r, t.elapsed())
            }
        })
        .buffer_unordered(args.connections.min(OPEN_CONCURRENCY))
        .collect()
        .await;
    let elapsed = start.elapsed();
    let mut rec = Recorder::default();
    let mut held = Vec::with_capacity(n);
    for (r, latency) in results {
        match r {
            Ok(s) => {
                rec.ok(latency);
                held.push(s);
            }
            Err((kind, detail)) => rec.error(kind, || detail),
        }
    }
    tokio::time::sleep(IDLE_SETTLE).await;
    let (rss_after, _) = procstat::memory_kb(pid)?;
    let open = held.iter().filter(|s| !s.is_closed()).count();
    drop(held);
    let mut report = Report::build(&shape, &rec, elapsed);
    report.idle = Some(IdleReport {
        idle_connections: open,
        server_rss_before_kb: rss_before,
        server_rss_after_kb: rss_after,
        bytes_per_connection: if open > 0 {
            ((rss_after as f64 - rss_before as f64) * 1024.0 / open as f64).round()
        } else {
            0.0
        },
    });
    Ok(report)
}
