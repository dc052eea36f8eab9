//! The three compared transports behind one small interface, so that every measurement is
//! written once: a [`Listener`] accepts connections, a [`Dialer`] opens them, a [`Conn`]
//! opens and accepts bidirectional streams ([`Channel`]s; a TCP connection is one).
//!
//! Settings: jetstream and quinn as in the bulk benchmark (the cipher the peer names, our
//! 1452-byte datagrams, GSO on, defaults otherwise), both with a 600 s idle timeout so that
//! idle connections outlive any measurement; TCP with `TCP_NODELAY`, so small writes are
//! not held back for coalescing (QUIC stacks send what is written at once too).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jetstream_core::TransportConfig;
use jetstream_tokio::{ClientConfig, EndpointOptions, PublicKey};
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::bulk::{Cipher, JetstreamSetup, check_suite, jetstream_transport, quinn_peer};

/// How long a silent connection lives: longer than any measurement.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Pending TCP connections the listener queues (the kernel caps it at `somaxconn`).
const TCP_BACKLOG: u32 = 4096;

/// Reads of unexpected data a TCP connection waiting for its end ignores at most.
const MAX_IGNORED_READS: usize = 1 << 20;

/// How long a client waits at the end for its closes to reach the server.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// One of the compared implementations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Peer {
    /// JetStreamProto through jetstream-tokio, with this cipher.
    Jetstream(Cipher),
    /// The same with busy polling (200 µs window) on both endpoints (opt-in; it keeps a core
    /// busy while traffic flows).
    JetstreamBusyPoll(Cipher),
    /// quinn 0.11 with rustls (ring), TLS 1.3 settling on this cipher.
    Quinn(Cipher),
    /// Kernel TCP through tokio's `TcpStream`, plaintext.
    Tcp,
}

/// The busy-polling window of [`Peer::JetstreamBusyPoll`]: longer than a loopback round
/// trip, so the endpoints of a request/response exchange never sleep while it runs.
pub(crate) const BUSY_POLL: Duration = Duration::from_micros(200);

impl Peer {
    /// Whether one connection carries many streams (not so for TCP).
    pub fn multiplexed(self) -> bool {
        !matches!(self, Peer::Tcp)
    }

    /// The endpoints' busy-polling window, for jetstream.
    fn busy_poll(self) -> Option<Duration> {
        matches!(self, Peer::JetstreamBusyPoll(_)).then_some(BUSY_POLL)
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Jetstream(cipher) => write!(f, "jetstream/{}", cipher.name()),
            Peer::JetstreamBusyPoll(cipher) => write!(f, "jetstream/{} (busy polling)", cipher.name()),
            Peer::Quinn(cipher) => write!(f, "quinn/{}", cipher.name()),
            Peer::Tcp => f.write_str("tcp"),
        }
    }
}

/// What a client needs to reach a server, possibly in another process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ticket {
    pub(crate) addr: SocketAddr,
    /// What the client pins: the server's public key (jetstream), its self-signed
    /// certificate (quinn), nothing (TCP).
    pub(crate) pin: Vec<u8>,
}

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

fn io(context: &'static str) -> impl Fn(std::io::Error) -> String {
    move |e| format!("{context}: {e}")
}

fn jetstream_settings(cipher: Cipher) -> Result<Arc<TransportConfig>, String> {
    Ok(Arc::new(TransportConfig { max_idle_timeout: IDLE_TIMEOUT, ..jetstream_transport(cipher)? }))
}

fn quinn_settings() -> Result<Arc<quinn::TransportConfig>, String> {
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(quinn::IdleTimeout::try_from(IDLE_TIMEOUT).map_err(|e| e.to_string())?));
    Ok(Arc::new(transport))
}

/// A server socket on loopback, set up on the current tokio runtime.
#[derive(Debug)]
pub(crate) enum Listener {
    Jetstream(jetstream_tokio::Endpoint),
    Quinn(quinn::Endpoint),
    Tcp(TcpListener),
}

impl Listener {
    /// Binds a server of `peer` to a free loopback port.
    pub(crate) fn bind(peer: Peer) -> Result<(Listener, Ticket), String> {
        match peer {
            Peer::Jetstream(cipher) | Peer::JetstreamBusyPoll(cipher) => {
                let mut setup = JetstreamSetup::with_transport(jetstream_settings(cipher)?, true)?;
                setup.server.busy_poll = peer.busy_poll();
                let endpoint =
                    jetstream_tokio::Endpoint::bind(loopback(), setup.server).map_err(io("server endpoint"))?;
                let addr = endpoint.local_addr().map_err(io("server address"))?;
                let pin = setup.client_config.server_key().as_bytes().to_vec();
                Ok((Listener::Jetstream(endpoint), Ticket { addr, pin }))
            }
            Peer::Quinn(cipher) => {
                let (config, cert) = quinn_peer::server_config(cipher, quinn_settings()?)?;
                let endpoint = quinn::Endpoint::server(config, loopback()).map_err(io("server endpoint"))?;
                let addr = endpoint.local_addr().map_err(io("server address"))?;
                Ok((Listener::Quinn(endpoint), Ticket { addr, pin: cert.to_vec() }))
            }
            Peer::Tcp => {
                let socket = TcpSocket::new_v4().map_err(io("listener"))?;
                socket.bind(loopback()).map_err(io("bind"))?;
                let listener = socket.listen(TCP_BACKLOG).map_err(io("listen"))?;
                let addr = listener.local_addr().map_err(io("server address"))?;
                Ok((Listener::Tcp(listener), Ticket { addr, pin: Vec::new() }))
            }
        }
    }

    /// The next connection attempt; `None` once the listener is closed.
    pub(crate) async fn accept(&self) -> Result<Option<Incoming>, String> {
        match self {
            Listener::Jetstream(endpoint) => Ok(endpoint.accept().await.map(|c| Incoming::Ready(Conn::Jetstream(c)))),
            Listener::Quinn(endpoint) => Ok(endpoint.accept().await.map(|i| Incoming::Quinn(Box::new(i)))),
            Listener::Tcp(listener) => {
                let (stream, _) = listener.accept().await.map_err(io("accept"))?;
                stream.set_nodelay(true).map_err(io("TCP_NODELAY"))?;
                Ok(Some(Incoming::Ready(Conn::Tcp(Some(stream)))))
            }
        }
    }
}

/// A connection attempt a server received: established already (jetstream reports
/// connections once their handshake completed, TCP once the kernel did), or still in its
/// handshake (quinn; awaited by the connection's own task, so handshakes overlap).
#[derive(Debug)]
pub(crate) enum Incoming {
    Ready(Conn),
    Quinn(Box<quinn::Incoming>),
}

impl Incoming {
    /// The connection once its handshake completed.
    pub(crate) async fn established(self) -> Result<Conn, String> {
        match self {
            Incoming::Ready(conn) => Ok(conn),
            Incoming::Quinn(incoming) => (*incoming).await.map(Conn::Quinn).map_err(|e| format!("handshake: {e}")),
        }
    }
}

/// The client side: an endpoint (one UDP socket for all connections; TCP needs none) and
/// what it pins, on the current tokio runtime.
#[derive(Debug)]
pub(crate) enum Dialer {
    Jetstream { endpoint: jetstream_tokio::Endpoint, config: Box<ClientConfig>, addr: SocketAddr, cipher: Cipher },
    Quinn { endpoint: quinn::Endpoint, addr: SocketAddr },
    Tcp { addr: SocketAddr },
}

impl Dialer {
    /// A client of `peer` for the server `ticket` describes.
    pub(crate) fn new(peer: Peer, ticket: &Ticket) -> Result<Dialer, String> {
        match peer {
            Peer::Jetstream(cipher) | Peer::JetstreamBusyPoll(cipher) => {
                let key: [u8; 32] = ticket
                    .pin
                    .as_slice()
                    .try_into()
                    .map_err(|_| "a jetstream server pins a 32-byte key".to_string())?;
                let mut config = ClientConfig::new(PublicKey::from_bytes(key));
                config.transport = jetstream_settings(cipher)?;
                let options = EndpointOptions {
                    busy_poll: peer.busy_poll(),
                    ..EndpointOptions::client().map_err(io("client options"))?
                };
                let endpoint = jetstream_tokio::Endpoint::bind(loopback(), options).map_err(io("client endpoint"))?;
                Ok(Dialer::Jetstream { endpoint, config: Box::new(config), addr: ticket.addr, cipher })
            }
            Peer::Quinn(cipher) => {
                let mut endpoint = quinn::Endpoint::client(loopback()).map_err(io("client endpoint"))?;
                let cert = CertificateDer::from(ticket.pin.clone());
                endpoint.set_default_client_config(quinn_peer::client_config(cipher, cert, quinn_settings()?)?);
                Ok(Dialer::Quinn { endpoint, addr: ticket.addr })
            }
            Peer::Tcp => Ok(Dialer::Tcp { addr: ticket.addr }),
        }
    }

    /// Opens a connection and waits for its handshake (jetstream: also checks the cipher).
    pub(crate) async fn connect(&self) -> Result<Conn, String> {
        match self {
            Dialer::Jetstream { endpoint, config, addr, cipher } => {
                let conn = endpoint
                    .connect_with(ClientConfig::clone(config), *addr)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                check_suite(conn.cipher_suite(), *cipher)?;
                Ok(Conn::Jetstream(conn))
            }
            Dialer::Quinn { endpoint, addr } => {
                let connecting = endpoint.connect(*addr, "localhost").map_err(|e| format!("connect: {e}"))?;
                Ok(Conn::Quinn(connecting.await.map_err(|e| format!("handshake: {e}"))?))
            }
            Dialer::Tcp { addr } => {
                let stream = TcpStream::connect(addr).await.map_err(io("connect"))?;
                stream.set_nodelay(true).map_err(io("TCP_NODELAY"))?;
                Ok(Conn::Tcp(Some(stream)))
            }
        }
    }

    /// Waits, a bounded time, until the endpoint's closed connections finished closing, so
    /// the server has seen the closes before the client goes away.
    pub(crate) async fn wait_idle(&self) {
        let idle = async {
            match self {
                Dialer::Jetstream { endpoint, .. } => endpoint.wait_idle().await,
                Dialer::Quinn { endpoint, .. } => endpoint.wait_idle().await,
                Dialer::Tcp { .. } => {}
            }
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, idle).await;
    }
}

/// One established connection.
#[derive(Debug)]
pub(crate) enum Conn {
    Jetstream(jetstream_tokio::Connection),
    Quinn(quinn::Connection),
    /// The stream until it is handed out as a [`Channel`].
    Tcp(Option<TcpStream>),
}

impl Conn {
    /// Opens a bidirectional stream (TCP: hands out the connection itself, once).
    pub(crate) async fn open(&mut self) -> Result<Channel, String> {
        match self {
            Conn::Jetstream(conn) => {
                let (send, recv) = conn.open_bi().await.map_err(|e| format!("open: {e}"))?;
                Ok(Channel { send: Sender::Jetstream(send), recv: Box::new(recv) })
            }
            Conn::Quinn(conn) => {
                let (send, recv) = conn.open_bi().await.map_err(|e| format!("open: {e}"))?;
                Ok(Channel { send: Sender::Quinn(send), recv: Box::new(recv) })
            }
            Conn::Tcp(stream) => stream.take().map(Channel::tcp).ok_or_else(|| "a TCP connection is one stream".into()),
        }
    }

    /// The next stream the peer opened; `None` once the connection ended (TCP: the
    /// connection itself, then `None`).
    pub(crate) async fn accept(&mut self) -> Option<Channel> {
        match self {
            Conn::Jetstream(conn) => {
                let (send, recv) = conn.accept_bi().await.ok()?;
                Some(Channel { send: Sender::Jetstream(send), recv: Box::new(recv) })
            }
            Conn::Quinn(conn) => {
                let (send, recv) = conn.accept_bi().await.ok()?;
                Some(Channel { send: Sender::Quinn(send), recv: Box::new(recv) })
            }
            Conn::Tcp(stream) => stream.take().map(Channel::tcp),
        }
    }

    /// Waits until the connection ends (TCP: the peer's end of stream; at once if the
    /// stream was handed out, whose owner then sees the end).
    pub(crate) async fn closed(&mut self) {
        match self {
            Conn::Jetstream(conn) => drop(conn.closed().await),
            Conn::Quinn(conn) => drop(conn.closed().await),
            Conn::Tcp(Some(stream)) => {
                let mut buf = [0u8; 64];
                // Idle peers send nothing: the first read returns the end (or an error).
                for _ in 0..MAX_IGNORED_READS {
                    if !matches!(stream.read(&mut buf).await, Ok(1..)) {
                        break;
                    }
                }
            }
            Conn::Tcp(None) => {}
        }
    }

    /// Closes the connection (application code 0; TCP: closes the socket).
    pub(crate) fn close(self) {
        match self {
            Conn::Jetstream(conn) => conn.close(0, b""),
            Conn::Quinn(conn) => conn.close(0u32.into(), b""),
            Conn::Tcp(_) => {}
        }
    }
}

/// A bidirectional byte stream: a QUIC-like stream, or a whole TCP connection.
pub(crate) struct Channel {
    pub(crate) send: Sender,
    pub(crate) recv: Box<dyn AsyncRead + Unpin>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel").field("send", &self.send).finish_non_exhaustive()
    }
}

impl Channel {
    fn tcp(stream: TcpStream) -> Channel {
        let (recv, send) = stream.into_split();
        Channel { send: Sender::Tcp(send), recv: Box::new(recv) }
    }
}

/// The sending half of a [`Channel`], with each implementation's own write calls (not a
/// generic `AsyncWrite`), as an application would call them.
#[derive(Debug)]
pub(crate) enum Sender {
    Jetstream(jetstream_tokio::SendStream),
    Quinn(quinn::SendStream),
    Tcp(OwnedWriteHalf),
}

impl Sender {
    /// Writes all of `buf`, copying it: `SendStream::write_all(&[u8])` on jetstream and
    /// quinn, `write_all` on the socket for TCP.
    pub(crate) async fn write_all(&mut self, buf: &[u8]) -> Result<(), String> {
        match self {
            Sender::Jetstream(send) => send.write_all(buf).await.map_err(|e| format!("write: {e}")),
            Sender::Quinn(send) => send.write_all(buf).await.map_err(|e| format!("write: {e}")),
            Sender::Tcp(send) => send.write_all(buf).await.map_err(io("write")),
        }
    }

    /// Writes `chunk` without copying where the API allows (`write_chunk`; TCP copies).
    pub(crate) async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), String> {
        match self {
            Sender::Jetstream(send) => send.write_chunk(chunk).await.map_err(|e| format!("write: {e}")),
            Sender::Quinn(send) => send.write_chunk(chunk).await.map_err(|e| format!("write: {e}")),
            Sender::Tcp(send) => send.write_all(&chunk).await.map_err(io("write")),
        }
    }

    /// Ends the stream after what was written (TCP: shuts the write side down).
    pub(crate) async fn finish(&mut self) -> Result<(), String> {
        match self {
            Sender::Jetstream(send) => send.finish().map_err(|e| format!("finish: {e}")),
            Sender::Quinn(send) => send.finish().map_err(|e| format!("finish: {e}")),
            Sender::Tcp(send) => send.shutdown().await.map_err(io("shutdown")),
        }
    }
}
