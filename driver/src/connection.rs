//! The async connection handle: streams, datagrams, close.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use jetstream_core::{
    CipherSuite, Connection as CoreConnection, ConnectionHandle, ConnectionStats, Dir, PublicKey, SendDatagramError,
    StreamId,
};

use crate::state::{ConnectionClosed, ConnectionWaiters, Shared, State, WakerSlot, dir_index, lock};
use crate::streams::{RecvStream, SendStream};

/// One connection. Cheap to clone; when the last clone and the last of its streams are
/// dropped, the connection is closed (code 0) and its state freed after the closing period.
#[derive(Debug, Clone)]
pub struct Connection(Arc<ConnectionRef>);

#[derive(Debug)]
pub(crate) struct ConnectionRef {
    pub(crate) shared: Shared,
    pub(crate) handle: ConnectionHandle,
}

impl Drop for ConnectionRef {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        let now = state.driver.clock().now();
        if let Some(conn) = state.core(self.handle)
            && !conn.is_closed()
        {
            conn.close(now, 0, b"");
        }
        let waiters = state.waiters(self.handle);
        waiters.handles -= 1;
        if waiters.drained && waiters.handles == 0 {
            state.connections.remove(&self.handle);
        }
        state.wake_driver();
    }
}

impl Connection {
    pub(crate) fn new(shared: Shared, handle: ConnectionHandle) -> Self {
        lock(&shared).waiters(handle).handles += 1;
        Connection(Arc::new(ConnectionRef { shared, handle }))
    }

    /// Runs `f` on the core connection (then lets the driver send what it queued), or
    /// reports why the connection is gone.
    pub(crate) fn with_core<T>(&self, f: impl FnOnce(&mut CoreConnection) -> T) -> Result<T, ConnectionClosed> {
        let mut state = lock(&self.0.shared);
        if let Some(e) = state.connection_error(self.0.handle) {
            return Err(e);
        }
        let conn = state.core(self.0.handle).ok_or(ConnectionClosed::LocallyClosed)?;
        let out = f(conn);
        state.wake_driver();
        Ok(out)
    }

    /// Runs `f` on the connection's waiters, whatever state the connection is in.
    pub(crate) fn with_waiters<T>(&self, f: impl FnOnce(&mut ConnectionWaiters) -> T) -> T {
        f(lock(&self.0.shared).waiters(self.0.handle))
    }

    /// Polls `f` until it returns `Ready`, registering the waker `f` picks while `Pending`.
    /// Fails at once when the connection has ended.
    pub(crate) fn poll_with<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut CoreConnection, &mut ConnectionWaiters, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<Result<T, ConnectionClosed>> {
        self.poll_core(cx, false, f)
    }

    /// [`Self::poll_with`] for what stays true after the peer closed the connection (or it
    /// timed out): data that arrived before the end (the peer saw it acknowledged) stays
    /// readable while the connection drains, an acknowledged stream stays acknowledged. The
    /// end is reported once `f` has nothing more to give. After a local [`Self::close`]
    /// every call fails at once, as it documents.
    pub(crate) fn poll_through_end<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut CoreConnection, &mut ConnectionWaiters, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<Result<T, ConnectionClosed>> {
        self.poll_core(cx, true, f)
    }

    fn poll_core<T>(
        &self,
        cx: &mut Context<'_>,
        after_ending: bool,
        f: impl FnOnce(&mut CoreConnection, &mut ConnectionWaiters, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<Result<T, ConnectionClosed>> {
        let mut state = lock(&self.0.shared);
        let State { driver, connections, driver_task, .. } = &mut *state;
        let waiters = connections.entry(self.0.handle).or_default();
        let ended = waiters.ended();
        let through = after_ending && ended != Some(ConnectionClosed::LocallyClosed);
        if let Some(e) = ended.as_ref().filter(|_| !through) {
            return Poll::Ready(Err(e.clone()));
        }
        let Some(core) = driver.endpoint().connection(self.0.handle) else {
            return Poll::Ready(Err(ended.unwrap_or(ConnectionClosed::LocallyClosed)));
        };
        match f(core, waiters, cx) {
            // An ended connection wakes nobody again: report the end instead of waiting.
            Poll::Pending => ended.map_or(Poll::Pending, |e| Poll::Ready(Err(e))),
            // Whatever a completed call queued (data, credit, a stream) goes out on the
            // driver's next turn; a call that only parked a waker queued nothing.
            Poll::Ready(result) => {
                driver_task.wake();
                Poll::Ready(Ok(result))
            }
        }
    }

    /// Opens a bidirectional stream, waiting while the peer's stream limit is reached.
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), ConnectionClosed> {
        let id = self.open(Dir::Bi).await?;
        Ok((SendStream::new(self.clone(), id), RecvStream::new(self.clone(), id)))
    }

    /// Opens a unidirectional (send-only) stream, waiting while the peer's limit is reached.
    pub async fn open_uni(&self) -> Result<SendStream, ConnectionClosed> {
        let id = self.open(Dir::Uni).await?;
        Ok(SendStream::new(self.clone(), id))
    }

    /// The next bidirectional stream the peer opened.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), ConnectionClosed> {
        let id = self.accept(Dir::Bi).await?;
        Ok((SendStream::new(self.clone(), id), RecvStream::new(self.clone(), id)))
    }

    /// The next unidirectional stream the peer opened.
    pub async fn accept_uni(&self) -> Result<RecvStream, ConnectionClosed> {
        let id = self.accept(Dir::Uni).await?;
        Ok(RecvStream::new(self.clone(), id))
    }

    async fn open(&self, dir: Dir) -> Result<StreamId, ConnectionClosed> {
        self.stream_id(dir, CoreConnection::open, |w| &mut w.open).await
    }

    async fn accept(&self, dir: Dir) -> Result<StreamId, ConnectionClosed> {
        self.stream_id(dir, CoreConnection::accept, |w| &mut w.accept).await
    }

    /// Waits until `take` yields a stream of `dir`, parking in the waiter slot `slots` picks.
    async fn stream_id(
        &self,
        dir: Dir,
        take: fn(&mut CoreConnection, Dir) -> Option<StreamId>,
        slots: fn(&mut ConnectionWaiters) -> &mut [WakerSlot; 2],
    ) -> Result<StreamId, ConnectionClosed> {
        poll_fn(|cx| {
            self.poll_with(cx, |conn, waiters, cx| match take(conn, dir) {
                Some(id) => Poll::Ready(id),
                None => {
                    slots(waiters)[dir_index(dir)].register(cx.waker());
                    Poll::Pending
                }
            })
        })
        .await
    }

    /// Sends an unreliable datagram (congestion-controlled, never retransmitted). It must
    /// fit [`Connection::max_datagram_size`].
    pub fn send_datagram(&self, data: Bytes) -> Result<(), DatagramError> {
        Ok(self.with_core(|conn| conn.send_datagram(data))??)
    }

    /// The next unreliable datagram from the peer.
    pub async fn read_datagram(&self) -> Result<Bytes, ConnectionClosed> {
        poll_fn(|cx| {
            self.poll_with(cx, |conn, waiters, cx| match conn.recv_datagram() {
                Some(d) => Poll::Ready(d),
                None => {
                    waiters.datagram.register(cx.waker());
                    Poll::Pending
                }
            })
        })
        .await
    }

    /// The largest datagram [`Connection::send_datagram`] takes now (`None`: the peer
    /// accepts none).
    pub fn max_datagram_size(&self) -> Option<usize> {
        self.read(|c| c.max_datagram_size()).flatten()
    }

    /// Closes the connection with an application error code and reason, delivered to the
    /// peer. Calls on this connection fail with [`ConnectionClosed::LocallyClosed`] from now.
    pub fn close(&self, code: u64, reason: &[u8]) {
        let mut state = lock(&self.0.shared);
        let now = state.driver.clock().now();
        if let Some(conn) = state.core(self.0.handle) {
            conn.close(now, code, reason);
        }
        let waiters = state.waiters(self.0.handle);
        waiters.error.get_or_insert(ConnectionClosed::LocallyClosed);
        waiters.wake_all();
        state.wake_driver();
    }

    /// Waits until the connection ends, and says why.
    pub async fn closed(&self) -> ConnectionClosed {
        poll_fn(|cx| {
            let mut state = lock(&self.0.shared);
            if let Some(e) = state.connection_error(self.0.handle) {
                return Poll::Ready(e);
            }
            state.waiters(self.0.handle).closed.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// A snapshot of the connection's counters (bytes, packets, RTT, congestion window...).
    pub fn stats(&self) -> Option<ConnectionStats> {
        self.read(|c| c.stats())
    }

    /// The peer's current address.
    pub fn remote_address(&self) -> Option<SocketAddr> {
        self.read(|c| c.remote_address())
    }

    /// The negotiated packet protection.
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.read(|c| c.cipher_suite())
    }

    /// The client's static key, on a server connection whose client authenticated.
    pub fn peer_static_key(&self) -> Option<PublicKey> {
        self.read(|c| c.peer_static_key()).flatten()
    }

    /// Reads from the core connection while it exists (also after a close, until drained).
    fn read<T>(&self, f: impl FnOnce(&mut CoreConnection) -> T) -> Option<T> {
        lock(&self.0.shared).core(self.0.handle).map(f)
    }
}

/// Why a datagram was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// The core refused it (too large, not supported by the peer, queue full).
    #[error(transparent)]
    Send(#[from] SendDatagramError),
    /// The connection is gone.
    #[error(transparent)]
    Closed(#[from] ConnectionClosed),
}
