//! What every listener's life shares (the gateway's mTLS, admin and health
//! listeners, the sidecar's TCP, Unix and admin listeners): connection
//! slots, the accept loop under them, the stop and drain signals, and the
//! one drain → stop → join sequence. Nothing here knows the gateway; one
//! connection is served by [`super::conn::serve`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// A listener's connection slots.
#[derive(Clone)]
pub struct ConnSlots {
    sem: Arc<Semaphore>,
    max: u32,
}

impl ConnSlots {
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, u32::MAX as usize) as u32;
        ConnSlots {
            sem: Arc::new(Semaphore::new(max as usize)),
            max,
        }
    }

    /// Wait for a free slot; held for the connection's lifetime.
    pub async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.sem.clone().acquire_owned().await.ok()
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max as usize - self.sem.available_permits()
    }

    /// Wait until every connection has closed, at most `deadline`. Returns
    /// the number still open when it gave up (0: all closed).
    pub async fn wait_all_closed(&self, deadline: Duration) -> usize {
        match tokio::time::timeout(deadline, self.sem.acquire_many(self.max)).await {
            Ok(_) => 0,
            Err(_) => self.open(),
        }
    }
}

/// Resolves once `rx` holds `true` (or its sender is gone: the owner stopped).
pub async fn wait_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// A socket listener the accept loop can take connections from.
pub trait Accept: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    type Addr: Send;
    fn accept_one(&self) -> impl Future<Output = std::io::Result<(Self::Io, Self::Addr)>> + Send;
    /// Send small writes at once (TCP: no Nagle delay); nothing elsewhere.
    fn no_delay(_io: &Self::Io) {}
}

impl Accept for TcpListener {
    type Io = TcpStream;
    type Addr = SocketAddr;
    fn accept_one(&self) -> impl Future<Output = std::io::Result<(TcpStream, SocketAddr)>> + Send {
        self.accept()
    }
    fn no_delay(io: &TcpStream) {
        let _ = io.set_nodelay(true);
    }
}

impl Accept for UnixListener {
    type Io = UnixStream;
    type Addr = tokio::net::unix::SocketAddr;
    fn accept_one(
        &self,
    ) -> impl Future<Output = std::io::Result<(UnixStream, tokio::net::unix::SocketAddr)>> + Send
    {
        self.accept()
    }
}

/// Accept connections until `stopped`, handing each to `on_conn` with a
/// permit of `slots` (taken before accepting: with every permit in use, new
/// connections wait in the kernel's queue). The gateway's listeners pass
/// handshake slots here and take the connection slot after the handshake.
/// Accept errors (out of file descriptors and the like) back off briefly
/// rather than spin. The listener is closed on return.
pub async fn accept_until_stopped<L: Accept>(
    listener: L,
    mut stopped: watch::Receiver<bool>,
    slots: ConnSlots,
    mut on_conn: impl FnMut(L::Io, L::Addr, Option<OwnedSemaphorePermit>),
) {
    loop {
        let slot = tokio::select! {
            _ = wait_true(&mut stopped) => return,
            s = slots.acquire() => s,
        };
        tokio::select! {
            _ = wait_true(&mut stopped) => return,
            r = listener.accept_one() => match r {
                Ok((io, remote)) => on_conn(io, remote, slot),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// How long after the drain deadline the cut connections may take to go.
const CUT_GRACE: Duration = Duration::from_secs(2);

/// A running set of listeners and their tasks, drained and stopped in one
/// sequence: the gateway's and the sidecar's shutdown.
pub struct Lifecycle {
    /// Draining: not ready, the serving listeners stop accepting and their
    /// connections shut down gracefully.
    drain: watch::Sender<bool>,
    /// Stops what runs through a drain (admin and probes listeners, file
    /// watchers, refreshers): the very end.
    stop: watch::Sender<bool>,
    /// The slots of the listeners a drain waits for.
    slots: Vec<ConnSlots>,
    tasks: Vec<JoinHandle<()>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            drain: watch::channel(false).0,
            stop: watch::channel(false).0,
            slots: Vec::new(),
            tasks: Vec::new(),
        }
    }
}

impl Lifecycle {
    /// Turns true when the drain starts.
    pub fn draining(&self) -> watch::Receiver<bool> {
        self.drain.subscribe()
    }

    /// Turns true at the very end, after the drain.
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub fn is_draining(&self) -> bool {
        *self.drain.borrow()
    }

    /// Run `task` until the end; [`Lifecycle::drain_and_stop`] waits for it.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    /// The drain waits for the connections holding these slots.
    pub fn drains(&mut self, slots: ConnSlots) {
        self.slots.push(slots);
    }

    /// Drain and stop: report not-ready at once, stop accepting, let
    /// requests and streams in progress finish for up to `deadline`, then
    /// stop everything else and wait for every task. Returns the number of
    /// connections still open at the deadline (cut off; 0 is a clean drain).
    pub async fn drain_and_stop(self, deadline: Duration) -> usize {
        let _ = self.drain.send(true);
        let open: usize = self.slots.iter().map(ConnSlots::open).sum();
        tracing::info!(
            connections = open,
            deadline_ms = deadline.as_millis() as u64,
            "draining: not ready, no new connections, waiting for requests in progress"
        );
        let cut = wait_all_closed(&self.slots, deadline).await;
        if cut > 0 {
            tracing::warn!(
                connections = cut,
                "drain deadline reached; closing the remaining connections"
            );
            // Each connection cuts itself just after this deadline (see
            // `conn::serve`); wait for that, so the records of the
            // requests it ends are submitted before the final flush.
            let left = wait_all_closed(&self.slots, CUT_GRACE).await;
            if left > 0 {
                tracing::warn!(connections = left, "connections still open after the cut");
            }
        } else {
            tracing::info!("drained");
        }
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        cut
    }
}

/// Wait for every slot set to empty, all within one `deadline`; the
/// connections still open when it passed.
async fn wait_all_closed(slots: &[ConnSlots], deadline: Duration) -> usize {
    let started = tokio::time::Instant::now();
    let mut open = 0;
    for s in slots {
        open += s
            .wait_all_closed(deadline.saturating_sub(started.elapsed()))
            .await;
    }
    open
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::server::accept::*;

    /// The sequence: drain first (a draining task sees it while the stop is
    /// still off), then, once the slots are free, stop; every task joined.
    #[tokio::test]
    async fn drain_then_stop_then_join() {
        let mut life = Lifecycle::default();
        let slots = ConnSlots::new(2);
        life.drains(slots.clone());
        let held = slots.acquire().await;
        let (mut draining, stopped) = (life.draining(), life.stopped());
        let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
        life.spawn(async move {
            wait_true(&mut draining).await;
            // Draining, not yet stopped: the connection still holds its slot.
            let _ = seen_tx.send(*stopped.borrow());
            drop(held);
        });
        let (mut stopped, done) = (life.stopped(), Arc::new(AtomicBool::new(false)));
        let flag = done.clone();
        life.spawn(async move {
            wait_true(&mut stopped).await;
            flag.store(true, Ordering::SeqCst);
        });
        assert!(!life.is_draining());
        let cut = life.drain_and_stop(Duration::from_secs(5)).await;
        assert_eq!(cut, 0, "the connection closed before the deadline");
        assert_eq!(seen_rx.await.ok(), Some(false), "drain came before stop");
        assert!(done.load(Ordering::SeqCst), "every task was joined");
    }

    /// A connection still open at the deadline is counted as cut.
    #[tokio::test]
    async fn a_connection_open_at_the_deadline_is_cut() {
        let mut life = Lifecycle::default();
        let slots = ConnSlots::new(4);
        life.drains(slots.clone());
        let _held = slots.acquire().await;
        assert_eq!(slots.open(), 1);
        assert_eq!(life.drain_and_stop(Duration::from_millis(20)).await, 1);
    }
}
