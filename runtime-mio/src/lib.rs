//! # jetstream-mio
//!
//! JetStreamProto for programs that own their `mio` poll loop. The [`Endpoint`] registers
//! its UDP socket under your [`Token`]; your loop tells it when the socket is readable or
//! writable and when its deadline passed, and reads its events. Streams are non-blocking:
//! a call that cannot make progress returns `WouldBlock`, and an event says when to retry.
//!
//! The loop, in full: a server that prints what clients send on their streams
//! (`tests/loopback.rs` has an echo with both sides and flow control):
//!
//! ```no_run
//! use jetstream_mio::{Endpoint, EndpointOptions, Event, ServerConfig, StaticKeypair, StreamEvent};
//! use mio::{Events, Poll, Token};
//!
//! # fn main() -> std::io::Result<()> {
//! let key = StaticKeypair::from_secret_bytes(jetstream_mio::random_seed()?);
//! let options = EndpointOptions::server(ServerConfig::new(key))?;
//! let mut endpoint = Endpoint::bind("127.0.0.1:4433".parse().unwrap(), options)?;
//! let mut poll = Poll::new()?;
//! endpoint.register(poll.registry(), Token(0))?;
//! let mut events = Events::with_capacity(64);
//! let mut buf = vec![0u8; 64 * 1024];
//! loop {
//!     // Sleep until the socket is ready or the endpoint's deadline.
//!     poll.poll(&mut events, endpoint.poll_timeout())?;
//!     for event in events.iter() {
//!         endpoint.on_event(event)?;
//!     }
//!     endpoint.on_timeout()?;
//!     // React to what happened.
//!     while let Some((conn, event)) = endpoint.poll_event() {
//!         match event {
//!             Event::Stream(StreamEvent::Opened { dir }) => {
//!                 endpoint.connection(conn).and_then(|c| c.accept(dir));
//!             }
//!             Event::Stream(StreamEvent::Readable { id }) => loop {
//!                 match endpoint.stream_read(conn, id, &mut buf) {
//!                     Ok(0) => break, // end of stream
//!                     Ok(n) => println!("{conn:?}/{id:?}: {}", String::from_utf8_lossy(&buf[..n])),
//!                     Err(_) => break, // WouldBlock: a later Readable event follows
//!                 }
//!             },
//!             _ => {}
//!         }
//!     }
//!     // Reads release flow-control credit; send the updates (and anything else queued).
//!     endpoint.drive()?;
//! }
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use jetstream_driver::busy_poll::BusyPoll;
use jetstream_driver::{Driver, Flush};
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

/// The byte buffer datagrams and zero-copy writes take.
pub use bytes::Bytes;
pub use jetstream_core::{
    CipherSuite, ClientConfig, ConnectError, Connection, ConnectionError, ConnectionHandle, ConnectionStats, Dir,
    EndpointConfig, EndpointStats, Event, PublicKey, ReadError, SendDatagramError, ServerConfig, StaticKeypair,
    StreamEvent, StreamId, TransportConfig, WriteError,
};
pub use jetstream_driver::udp::{IoStats, SocketConfig, SocketReport};
pub use jetstream_driver::{EndpointOptions, random_seed};

/// A JetStreamProto endpoint on a mio UDP socket.
#[derive(Debug)]
pub struct Endpoint {
    socket: UdpSocket,
    driver: Driver,
    /// The socket may hold more datagrams (the last receive turn spent its budget).
    read_pending: bool,
    /// The socket refused a send; wait for a writable event.
    write_blocked: bool,
    /// The last send turn spent its budget with more to send.
    send_pending: bool,
    /// Set when [`EndpointOptions::busy_poll`] asks for busy polling.
    busy_poll: Option<BusyPoll>,
}

impl Endpoint {
    /// Binds a UDP socket to `addr` and sets up an endpoint on it.
    pub fn bind(addr: SocketAddr, options: EndpointOptions) -> io::Result<Self> {
        Self::from_socket(std::net::UdpSocket::bind(addr)?, options)
    }

    /// Sets up an endpoint on an already bound socket.
    pub fn from_socket(socket: std::net::UdpSocket, options: EndpointOptions) -> io::Result<Self> {
        let core = jetstream_core::Endpoint::new(options.endpoint, options.server).map_err(io::Error::other)?;
        let driver = Driver::new(core, &socket, &options.socket)?;
        Ok(Endpoint {
            socket: UdpSocket::from_std(socket),
            driver,
            read_pending: true,
            write_blocked: false,
            send_pending: false,
            busy_poll: options.busy_poll.and_then(BusyPoll::new),
        })
    }

    /// Registers the socket with `registry` under `token`, for readable and writable events
    /// (edge-triggered).
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.socket, token, Interest::READABLE | Interest::WRITABLE)
    }

    /// Removes the socket from `registry`.
    pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        registry.deregister(&mut self.socket)
    }

    /// The socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// What the kernel granted: buffer sizes, GSO segments, GRO.
    pub fn socket_report(&self) -> SocketReport {
        self.driver.socket_report()
    }

    /// Socket-layer counters: syscalls, datagrams, GSO fallbacks, send errors.
    pub fn io_stats(&self) -> IoStats {
        self.driver.io_stats()
    }

    /// The core endpoint, for everything this wrapper does not forward.
    pub fn core(&mut self) -> &mut jetstream_core::Endpoint {
        self.driver.endpoint()
    }

    /// A connection, for stream and datagram calls; call [`Endpoint::drive`] afterwards so
    /// what they queued is sent.
    pub fn connection(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        self.driver.endpoint().connection(handle)
    }

    /// When the endpoint next needs [`Endpoint::on_timeout`]: now when work is left over.
    pub fn next_deadline(&mut self) -> Option<std::time::Instant> {
        if self.has_leftover_work() {
            return Some(std::time::Instant::now());
        }
        self.driver.next_deadline()
    }

    /// [`Endpoint::next_deadline`] as the timeout for `mio::Poll::poll`; zero while
    /// [`EndpointOptions::busy_poll`]'s window after traffic is open, so that the loop checks
    /// the socket again at once instead of sleeping.
    pub fn poll_timeout(&mut self) -> Option<Duration> {
        if self.busy_poll.as_mut().is_some_and(|busy| busy.still_polling(&self.driver.io_stats())) {
            return Some(Duration::ZERO);
        }
        self.next_deadline().map(|d| d.saturating_duration_since(std::time::Instant::now()))
    }

    /// Starts a connection to a server whose static key the client pins. `Event::Connected`
    /// (or `HandshakeFailed`) follows for the returned handle.
    pub fn connect(&mut self, addr: SocketAddr, server_key: PublicKey) -> Result<ConnectionHandle, ConnectError> {
        self.connect_with(ClientConfig::new(server_key), addr)
    }

    /// Starts a connection with a full client configuration.
    pub fn connect_with(&mut self, config: ClientConfig, addr: SocketAddr) -> Result<ConnectionHandle, ConnectError> {
        let now = self.driver.clock().now();
        self.driver.endpoint().connect(now, config, addr)
    }

    /// Closes a connection with an application error code and reason for the peer; its
    /// `Drained` event follows after the closing period.
    pub fn close(&mut self, handle: ConnectionHandle, code: u64, reason: &[u8]) {
        let now = self.driver.clock().now();
        if let Some(conn) = self.driver.endpoint().connection(handle) {
            conn.close(now, code, reason);
        }
    }

    /// Reacts to one `mio` event for this endpoint: readable, writable or both, in one turn
    /// (calling [`on_readable`](Self::on_readable) and then
    /// [`on_writable`](Self::on_writable) would take two). The token is not checked: pass
    /// only the events of the token this endpoint was registered under. An event with
    /// neither flag (an error report alone) runs a turn like [`on_timeout`](Self::on_timeout).
    pub fn on_event(&mut self, event: &mio::event::Event) -> io::Result<()> {
        if event.is_readable() {
            self.read_pending = true;
        }
        if event.is_writable() {
            self.write_blocked = false;
        }
        self.drive()
    }

    /// The socket became readable.
    pub fn on_readable(&mut self) -> io::Result<()> {
        self.read_pending = true;
        self.drive()
    }

    /// The socket became writable.
    pub fn on_writable(&mut self) -> io::Result<()> {
        self.write_blocked = false;
        self.drive()
    }

    /// The deadline from [`Endpoint::next_deadline`] passed (calling it early is harmless).
    pub fn on_timeout(&mut self) -> io::Result<()> {
        self.drive()
    }

    /// One bounded turn: receive (up to the driver's budget), fire due timers, send what is
    /// queued. Call it after calls on connections so their data goes out.
    pub fn drive(&mut self) -> io::Result<()> {
        if self.read_pending {
            self.read_pending = false;
            for _ in 0..jetstream_driver::RECV_CALLS_PER_TURN {
                match self.driver.receive(&self.socket) {
                    // A short batch emptied the queue; a later datagram brings a new event.
                    Ok(received) if received.drained => {
                        self.read_pending = false;
                        break;
                    }
                    Ok(_) => self.read_pending = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.read_pending = false;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.driver.handle_timeout();
        if !self.write_blocked {
            match self.driver.transmit(&self.socket)? {
                Flush::Done => self.send_pending = false,
                Flush::Budget => self.send_pending = true,
                Flush::Blocked => self.write_blocked = true,
            }
        }
        Ok(())
    }

    /// The next event of any connection.
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        self.driver.endpoint().poll_event()
    }

    /// Reads from a stream: the byte count, 0 at the end of the stream, `WouldBlock` when
    /// nothing has arrived (a `Readable` event follows).
    pub fn stream_read(&mut self, conn: ConnectionHandle, id: StreamId, buf: &mut [u8]) -> io::Result<usize> {
        let c = self.connection(conn).ok_or_else(gone)?;
        match c.read(id, buf) {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Ok(0),
            Err(ReadError::Blocked) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => Err(io::Error::new(io::ErrorKind::ConnectionReset, e)),
        }
    }

    /// Writes to a stream (copying): the byte count, or `WouldBlock` when flow control
    /// allows nothing now (a `Writable` event follows).
    pub fn stream_write(&mut self, conn: ConnectionHandle, id: StreamId, data: &[u8]) -> io::Result<usize> {
        let c = self.connection(conn).ok_or_else(gone)?;
        match c.write(id, data) {
            Ok(n) => Ok(n),
            Err(WriteError::Blocked) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => Err(io::Error::new(io::ErrorKind::ConnectionReset, e)),
        }
    }

    /// Ends a stream after the data written so far.
    pub fn finish(&mut self, conn: ConnectionHandle, id: StreamId) -> io::Result<()> {
        let c = self.connection(conn).ok_or_else(gone)?;
        c.finish(id).map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, e))
    }

    fn has_leftover_work(&self) -> bool {
        self.read_pending || (self.send_pending && !self.write_blocked)
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection is gone")
}
