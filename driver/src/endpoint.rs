//! The async endpoint: one UDP socket, a driver task, connections out and in.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use jetstream_core::{
    ClientConfig, ConnectError as CoreConnectError, EndpointConfig, EndpointStats, PublicKey, ServerConfig,
};

use crate::connection::Connection;
use crate::driver::Driver;
use crate::runtime::{AsyncUdpSocket, Runtime};
use crate::state::{ConnectionClosed, Shared, State, lock};
use crate::task::DriverTask;
use crate::udp::{IoStats, SocketConfig, SocketReport};

/// How to set up an endpoint.
#[derive(Debug)]
pub struct EndpointOptions {
    /// The core endpoint's settings. The default takes its RNG seed from the OS.
    pub endpoint: EndpointConfig,
    /// Accept connections with this key and policy; `None` for a client-only endpoint.
    pub server: Option<ServerConfig>,
    /// Socket options (GSO, buffer sizes).
    pub socket: SocketConfig,
    /// Busy polling: after the last datagram in or out, keep checking the socket for this
    /// long instead of sleeping until the reactor wakes the thread. The tokio and smol
    /// driver task yields to other tasks between checks; jetstream-mio's `poll_timeout`
    /// returns zero so that the caller's loop goes round again. A thread's wake-up costs tens
    /// of microseconds on many machines (about 20 µs on our benchmark machine, where a bare
    /// blocking UDP ping-pong takes 50 µs and a spinning one 6 µs), so this trades a core's
    /// worth of CPU while traffic flows for latency, like the kernel's `SO_BUSY_POLL`.
    /// `None` (the default) sleeps at once; 50-200 µs suits request/response traffic on
    /// dedicated cores. Not for servers whose CPU is shared by many connections.
    pub busy_poll: Option<Duration>,
}

impl EndpointOptions {
    /// A client-only endpoint with an OS-random seed.
    pub fn client() -> io::Result<Self> {
        Ok(EndpointOptions {
            endpoint: EndpointConfig::new(random_seed()?),
            server: None,
            socket: SocketConfig::default(),
            busy_poll: None,
        })
    }

    /// An endpoint that also accepts connections under `server`.
    pub fn server(server: ServerConfig) -> io::Result<Self> {
        Ok(EndpointOptions { server: Some(server), ..Self::client()? })
    }
}

/// 32 bytes from the OS RNG, for seeds and secret keys (the core takes randomness only as
/// input; the adapters are where it comes from).
pub fn random_seed() -> io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(io::Error::other)?;
    Ok(seed)
}

/// Why `connect` did not produce a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The handshake could not start (configuration, connection limit).
    #[error(transparent)]
    Setup(#[from] CoreConnectError),
    /// The handshake failed or the connection ended before it completed.
    #[error(transparent)]
    Failed(#[from] ConnectionClosed),
}

/// A JetStreamProto endpoint on one UDP socket. Cheap to clone; the socket and the driver
/// task live until the last clone and the last connection are gone.
#[derive(Debug)]
pub struct Endpoint<R: Runtime> {
    shared: Shared,
    socket: Arc<R::Socket>,
}

impl<R: Runtime> Endpoint<R> {
    /// Binds a UDP socket to `addr` and sets up an endpoint on it, on the current runtime.
    pub fn bind(addr: SocketAddr, options: EndpointOptions) -> io::Result<Self> {
        Self::from_socket(std::net::UdpSocket::bind(addr)?, options)
    }

    /// Sets up an endpoint on an already bound socket, on the current runtime.
    pub fn from_socket(socket: std::net::UdpSocket, options: EndpointOptions) -> io::Result<Self> {
        Self::with_runtime(R::current()?, socket, options)
    }

    /// Sets up `socket` on `runtime` and starts the driver task.
    pub fn with_runtime(runtime: R, socket: std::net::UdpSocket, options: EndpointOptions) -> io::Result<Self> {
        let core = jetstream_core::Endpoint::new(options.endpoint, options.server).map_err(io::Error::other)?;
        let driver = Driver::new(core, &socket, &options.socket)?;
        let socket = Arc::new(runtime.wrap_socket(socket)?);
        let mut state = State::new(driver);
        state.endpoint_handles = 1;
        let shared = Arc::new(Mutex::new(state));
        runtime.spawn(Box::pin(DriverTask::new(&runtime, shared.clone(), socket.clone(), options.busy_poll)));
        Ok(Endpoint { shared, socket })
    }

    /// The socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// What the kernel granted: buffer sizes, GSO segments, GRO.
    pub fn socket_report(&self) -> SocketReport {
        lock(&self.shared).driver.socket_report()
    }

    /// Socket-layer counters: syscalls, datagrams, GSO fallbacks, send errors.
    pub fn io_stats(&self) -> IoStats {
        lock(&self.shared).driver.io_stats()
    }

    /// The core endpoint's counters, drops by reason included.
    pub fn stats(&self) -> EndpointStats {
        *lock(&self.shared).driver.endpoint().stats()
    }

    /// Connects to a server whose static public key the client pins, and waits for the
    /// handshake.
    pub async fn connect(&self, addr: SocketAddr, server_key: PublicKey) -> Result<Connection, ConnectError> {
        self.connect_with(ClientConfig::new(server_key), addr).await
    }

    /// Connects with a full client configuration (client key, transport settings).
    pub async fn connect_with(&self, config: ClientConfig, addr: SocketAddr) -> Result<Connection, ConnectError> {
        let handle = {
            let mut state = lock(&self.shared);
            if let Some(e) = &state.closed {
                return Err(e.clone().into());
            }
            let now = state.driver.clock().now();
            let handle = state.driver.endpoint().connect(now, config, addr)?;
            state.waiters(handle);
            state.wake_driver();
            handle
        };
        // From here the connection is owned: dropping the future closes it.
        let connection = Connection::new(self.shared.clone(), handle);
        poll_fn(|cx| {
            let mut state = lock(&self.shared);
            if let Some(e) = state.connection_error(handle) {
                return Poll::Ready(Err(e));
            }
            let waiters = state.waiters(handle);
            if waiters.connected {
                return Poll::Ready(Ok(()));
            }
            waiters.connect.register(cx.waker());
            Poll::Pending
        })
        .await?;
        Ok(connection)
    }

    /// The next connection a client opened to this server, once its handshake completed;
    /// `None` once the endpoint is closed. Meant for one accepting task at a time.
    pub async fn accept(&self) -> Option<Connection> {
        let handle = poll_fn(|cx| {
            let mut state = lock(&self.shared);
            if let Some(handle) = state.incoming.pop_front() {
                return Poll::Ready(Some(handle));
            }
            if state.closed.is_some() {
                return Poll::Ready(None);
            }
            state.accept.register(cx.waker());
            Poll::Pending
        })
        .await?;
        // Outside the lock: creating the handle takes it.
        Some(Connection::new(self.shared.clone(), handle))
    }

    /// Closes every connection with `code` and `reason` and stops accepting. Connections
    /// finish their closing handshake in the background; [`Endpoint::wait_idle`] waits for it.
    pub fn close(&self, code: u64, reason: &[u8]) {
        let mut state = lock(&self.shared);
        state.closed.get_or_insert(ConnectionClosed::LocallyClosed);
        let now = state.driver.clock().now();
        let mut handles: Vec<_> = state.connections.keys().copied().collect();
        handles.extend(state.incoming.drain(..));
        for handle in handles {
            if let Some(conn) = state.core(handle) {
                conn.close(now, code, reason);
            }
        }
        state.accept.wake();
        state.wake_driver();
    }

    /// Waits until no connection is left on the endpoint (all closed and drained).
    pub async fn wait_idle(&self) {
        poll_fn(|cx| {
            let mut state = lock(&self.shared);
            if state.is_idle()
                || state.closed.as_ref().is_some_and(|e| matches!(e, ConnectionClosed::EndpointFailed(_)))
            {
                return Poll::Ready(());
            }
            state.idle.register(cx.waker());
            Poll::Pending
        })
        .await
    }
}

impl<R: Runtime> Clone for Endpoint<R> {
    fn clone(&self) -> Self {
        lock(&self.shared).endpoint_handles += 1;
        Endpoint { shared: self.shared.clone(), socket: self.socket.clone() }
    }
}

impl<R: Runtime> Drop for Endpoint<R> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.endpoint_handles -= 1;
        if state.endpoint_handles == 0 {
            // Nobody can accept any more; the driver closes what no handle owns and ends
            // once the last connection drained.
            state.closed.get_or_insert(ConnectionClosed::LocallyClosed);
            state.accept.wake();
            state.wake_driver();
        }
    }
}
