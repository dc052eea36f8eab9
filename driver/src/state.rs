//! The state one endpoint's handles share behind a mutex: the [`Driver`] and, per
//! connection, the tasks waiting for something to happen. Core events turn into wake-ups
//! here, in one place.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use jetstream_core::{
    Connection as CoreConnection, ConnectionError, ConnectionHandle, Dir, Event, Side, StreamEvent, StreamId,
};

use crate::driver::Driver;

/// The maps of waiting tasks, looked up on every read, write and wake-up. Their keys are
/// connection handles (chosen by our endpoint) and IDs of streams a local task waits on:
/// the peer picks the IDs of the streams it opens, but they are dense and bounded by the
/// stream limit we grant, so it cannot flood a bucket, and a multiply-rotate hash is
/// enough. SipHash cost a tenth of a request/response exchange.
pub(crate) type IdMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// A task waiting for one thing. A second task waiting for the same thing replaces the first
/// (as with `AtomicWaker`); handles document which calls are meant for one task at a time.
#[derive(Debug, Default)]
pub(crate) struct WakerSlot(Option<Waker>);

impl WakerSlot {
    pub(crate) fn register(&mut self, waker: &Waker) {
        match &self.0 {
            Some(w) if w.will_wake(waker) => {}
            _ => self.0 = Some(waker.clone()),
        }
    }

    pub(crate) fn wake(&mut self) {
        if let Some(w) = self.0.take() {
            w.wake();
        }
    }
}

/// Why a connection is no longer usable, as the async handles report it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionClosed {
    /// The connection ended for a protocol reason, on either side.
    #[error(transparent)]
    Lost(#[from] ConnectionError),
    /// This side closed it.
    #[error("closed locally")]
    LocallyClosed,
    /// The endpoint's socket failed; every connection on it ended.
    #[error("endpoint failed: {0}")]
    EndpointFailed(String),
}

/// What tasks of one connection wait for.
#[derive(Debug, Default)]
pub(crate) struct ConnectionWaiters {
    pub(crate) connected: bool,
    /// Set once the connection ended; every later call reports it.
    pub(crate) error: Option<ConnectionClosed>,
    pub(crate) drained: bool,
    /// Handles (user-facing `Connection` clones and streams) still alive.
    pub(crate) handles: usize,
    pub(crate) connect: WakerSlot,
    pub(crate) closed: WakerSlot,
    /// `accept_bi`/`accept_uni`, and `open_*` blocked on the peer's stream limit: by [`Dir`].
    pub(crate) accept: [WakerSlot; 2],
    pub(crate) open: [WakerSlot; 2],
    pub(crate) datagram: WakerSlot,
    pub(crate) readers: IdMap<StreamId, WakerSlot>,
    pub(crate) writers: IdMap<StreamId, WakerSlot>,
    /// One entry per live `SendStream` handle (removed when it drops, so streams nobody
    /// holds leave nothing behind).
    pub(crate) senders: IdMap<StreamId, SenderState>,
}

/// Whether the peer acknowledged a stream's data and end, and who waits for it.
#[derive(Debug, Default)]
pub(crate) struct SenderState {
    pub(crate) acknowledged: bool,
    pub(crate) waiter: WakerSlot,
}

impl ConnectionWaiters {
    /// Why calls on the connection fail, or `None` while it is usable.
    pub(crate) fn ended(&self) -> Option<ConnectionClosed> {
        match (&self.error, self.drained) {
            (Some(e), _) => Some(e.clone()),
            (None, true) => Some(ConnectionClosed::LocallyClosed),
            (None, false) => None,
        }
    }

    pub(crate) fn wake_all(&mut self) {
        self.connect.wake();
        self.closed.wake();
        for slot in self.accept.iter_mut().chain(self.open.iter_mut()) {
            slot.wake();
        }
        self.datagram.wake();
        for slot in self.readers.values_mut().chain(self.writers.values_mut()) {
            slot.wake();
        }
        for sender in self.senders.values_mut() {
            sender.waiter.wake();
        }
    }
}

/// Index of a direction in the per-direction slots.
pub(crate) fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::Bi => 0,
        Dir::Uni => 1,
    }
}

/// Everything behind the endpoint's mutex.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) driver: Driver,
    pub(crate) connections: IdMap<ConnectionHandle, ConnectionWaiters>,
    /// Server connections that completed the handshake, waiting for `accept()`.
    pub(crate) incoming: VecDeque<ConnectionHandle>,
    pub(crate) accept: WakerSlot,
    /// The driver task, woken whenever a handle queued something to send.
    pub(crate) driver_task: WakerSlot,
    /// User-facing `Endpoint` clones alive. With none left and no connections, the driver
    /// task ends.
    pub(crate) endpoint_handles: usize,
    /// Set when the endpoint stops accepting (closed, or the socket failed).
    pub(crate) closed: Option<ConnectionClosed>,
    pub(crate) idle: WakerSlot,
}

impl State {
    pub(crate) fn new(driver: Driver) -> Self {
        State {
            driver,
            connections: IdMap::default(),
            incoming: VecDeque::new(),
            accept: WakerSlot::default(),
            driver_task: WakerSlot::default(),
            endpoint_handles: 0,
            closed: None,
            idle: WakerSlot::default(),
        }
    }

    /// The core connection, if it still exists.
    pub(crate) fn core(&mut self, handle: ConnectionHandle) -> Option<&mut CoreConnection> {
        self.driver.endpoint().connection(handle)
    }

    pub(crate) fn waiters(&mut self, handle: ConnectionHandle) -> &mut ConnectionWaiters {
        self.connections.entry(handle).or_default()
    }

    /// Why calls on `handle` fail, or `None` while it is usable.
    pub(crate) fn connection_error(&mut self, handle: ConnectionHandle) -> Option<ConnectionClosed> {
        self.waiters(handle).ended()
    }

    /// Tells the driver task there is work (something to send, a timer to re-arm).
    pub(crate) fn wake_driver(&mut self) {
        self.driver_task.wake();
    }

    /// Turns the endpoint's events into wake-ups.
    pub(crate) fn dispatch_events(&mut self) {
        while let Some((handle, event)) = self.driver.endpoint().poll_event() {
            let side = self.core(handle).map(|c| c.side());
            let waiters = self.connections.entry(handle).or_default();
            match event {
                Event::Connected => {
                    waiters.connected = true;
                    waiters.connect.wake();
                    if side == Some(Side::Server) {
                        self.incoming.push_back(handle);
                        self.accept.wake();
                    }
                }
                Event::HandshakeFailed(e) | Event::ConnectionLost(e) => {
                    waiters.error.get_or_insert(ConnectionClosed::Lost(e));
                    waiters.wake_all();
                }
                Event::Stream(StreamEvent::Opened { dir }) => waiters.accept[dir_index(dir)].wake(),
                Event::Stream(StreamEvent::Available { dir }) => waiters.open[dir_index(dir)].wake(),
                Event::Stream(StreamEvent::Readable { id }) => wake_stream(&mut waiters.readers, id),
                Event::Stream(StreamEvent::Writable { id } | StreamEvent::Stopped { id, .. }) => {
                    wake_stream(&mut waiters.writers, id)
                }
                Event::Stream(StreamEvent::Finished { id }) => {
                    if let Some(sender) = waiters.senders.get_mut(&id) {
                        sender.acknowledged = true;
                        sender.waiter.wake();
                    }
                }
                Event::DatagramReceived => waiters.datagram.wake(),
                Event::PeerAddressChanged { new } => tracing::debug!("peer of {handle:?} moved to {new}"),
                Event::Drained => {
                    waiters.drained = true;
                    waiters.wake_all();
                    if waiters.handles == 0 {
                        self.connections.remove(&handle);
                    }
                    self.incoming.retain(|&h| h != handle);
                }
            }
        }
        if self.is_idle() {
            self.idle.wake();
        }
    }

    /// No connection left on the endpoint.
    pub(crate) fn is_idle(&mut self) -> bool {
        self.driver.endpoint().connection_count() == 0
    }

    /// The socket failed: every connection ends with this error.
    pub(crate) fn fail(&mut self, error: &std::io::Error) {
        let e = ConnectionClosed::EndpointFailed(error.to_string());
        self.closed.get_or_insert(e.clone());
        for waiters in self.connections.values_mut() {
            waiters.error.get_or_insert(e.clone());
            waiters.wake_all();
        }
        self.accept.wake();
        self.idle.wake();
    }
}

fn wake_stream(slots: &mut IdMap<StreamId, WakerSlot>, id: StreamId) {
    if let Some(mut slot) = slots.remove(&id) {
        slot.wake();
    }
}

/// The mutex every handle of one endpoint shares.
pub(crate) type Shared = Arc<Mutex<State>>;

/// Locks the endpoint. A panic while the lock was held (a bug) poisons it; the state is
/// still consistent at every await point, so handles keep working instead of cascading.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
