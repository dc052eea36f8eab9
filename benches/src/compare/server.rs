//! The two sides of a measurement. The server runs on a thread of its own with a
//! current-thread tokio runtime (one core's worth of server, as the handshake section
//! needs), handing each established connection to a per-connection task; the client runs
//! on the calling thread with a runtime of its own.

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use futures_lite::FutureExt;
use tokio::sync::oneshot;
use tokio::task::LocalSet;

use super::procfs::ThreadClock;
use super::transport::{Conn, Listener, Peer, Ticket};
use crate::bulk::{tokio_current_thread, tokio_limited_to};

/// How long a server may take to bind and report its address.
const STARTUP: Duration = Duration::from_secs(10);

/// Connections one server accepts at most: far beyond any measurement, so a loop that
/// never ends cannot happen.
const MAX_CONNECTIONS: u64 = 50_000_000;

/// What the server counted, readable while it runs.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Connections whose handshake completed.
    pub(crate) established: AtomicU64,
    /// Connection attempts whose handshake failed.
    pub(crate) failed: AtomicU64,
    /// Established connections whose task still runs.
    pub(crate) live: AtomicU64,
}

impl Counters {
    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A server of one peer on its own thread, stopped when dropped.
#[derive(Debug)]
pub(crate) struct ServerThread {
    pub(crate) ticket: Ticket,
    /// The server thread's CPU clock.
    pub(crate) clock: ThreadClock,
    pub(crate) counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl ServerThread {
    /// Starts a server of `peer`, failed after `limit`; each established connection is
    /// handed to `serve` in a task of its own and counts as live until that task ends.
    pub(crate) fn spawn<S, F>(peer: Peer, limit: Duration, serve: S) -> Result<Self, String>
    where
        S: Fn(Conn) -> F + Send + 'static,
        F: Future<Output = ()> + 'static,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let counters = Arc::new(Counters::default());
        let shared = counters.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio_current_thread();
            LocalSet::new().block_on(&runtime, async move {
                let started = Listener::bind(peer).and_then(|bound| Ok((bound, ThreadClock::current()?)));
                let (listener, ticket, clock) = match started {
                    Ok(((listener, ticket), clock)) => (listener, ticket, clock),
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.clone()));
                        return Err(e);
                    }
                };
                let _ = ready_tx.send(Ok((ticket, clock)));
                let stopped = async {
                    let _ = stop_rx.await;
                    Ok(())
                };
                tokio_limited_to(limit, accept_all(&listener, shared, Rc::new(serve)).or(stopped)).await
            })
        });
        let started = ready_rx.recv_timeout(STARTUP).map_err(|_| format!("the {peer} server did not start"))?;
        let (ticket, clock) = started?;
        Ok(ServerThread { ticket, clock, counters, stop: Some(stop_tx), thread: Some(thread) })
    }

    /// Stops the server (its connections are dropped with its runtime) and reports whether
    /// it failed.
    pub(crate) fn stop(mut self) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| "the server thread panicked".to_string())?,
            None => Ok(()),
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        // The thread ends on its own once told; nothing waits for it here.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn accept_all<S, F>(listener: &Listener, counters: Arc<Counters>, serve: Rc<S>) -> Result<(), String>
where
    S: Fn(Conn) -> F + 'static,
    F: Future<Output = ()> + 'static,
{
    for _ in 0..MAX_CONNECTIONS {
        let Some(incoming) = listener.accept().await? else { return Ok(()) };
        let (counters, serve) = (counters.clone(), serve.clone());
        tokio::task::spawn_local(async move {
            match incoming.established().await {
                Ok(conn) => {
                    counters.established.fetch_add(1, Ordering::Relaxed);
                    counters.live.fetch_add(1, Ordering::Relaxed);
                    serve(conn).await;
                    counters.live.fetch_sub(1, Ordering::Relaxed);
                }
                Err(_) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    Err(format!("more than {MAX_CONNECTIONS} connections"))
}

/// Runs a measurement's client side on this thread (a current-thread runtime with a
/// `LocalSet` for its tasks), failed after `limit`.
pub(crate) fn run_client<T>(limit: Duration, future: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    let runtime = tokio_current_thread();
    LocalSet::new().block_on(&runtime, tokio_limited_to(limit, future))
}
