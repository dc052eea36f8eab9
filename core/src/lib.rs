//! # jetstream-core
//!
//! The Sans-IO core of JetStreamProto: an encrypted, multiplexed, reliable transport over UDP
//! with a hybrid post-quantum handshake (X25519 + ML-KEM-768).
//!
//! The core is a deterministic state machine. It never touches a socket, a clock, a thread
//! or the OS random number generator: datagrams and the current time go in as arguments,
//! datagrams to send, events and the next deadline come out. The runtime adapters
//! (`jetstream-tokio`, `jetstream-mio`, `jetstream-smol`) and the simulator
//! (`jetstream-sim`) drive this same code.
//!
//! ## The calling rule
//!
//! After **every** input ([`Endpoint::handle_datagram`], [`Endpoint::handle_timeout`],
//! [`Endpoint::connect`] or any call on a [`Connection`]), drain the outputs:
//!
//! 1. [`Endpoint::poll_transmit`] until `None`, sending each datagram;
//! 2. [`Endpoint::poll_event`] until `None`, handling each event;
//! 3. [`Endpoint::poll_timeout`] for the next deadline: wait for a datagram or that
//!    deadline, whichever comes first. It returns the last `now` seen when output is already
//!    waiting, so a loop that forgets step 1 or 2 cannot sleep on queued data.
//!
//! ## A complete hand-written event loop
//!
//! Two endpoints in one process, with a `Vec` standing in for the network and a counter
//! standing in for the clock:
//!
//! ```
//! use jetstream_core::{
//!     ClientConfig, Dir, Endpoint, EndpointConfig, Event, Instant, RecvMeta, ServerConfig,
//!     StaticKeypair, StreamEvent,
//! };
//! use std::net::SocketAddr;
//!
//! let server_addr: SocketAddr = "10.0.0.1:4433".parse().unwrap();
//! let client_addr: SocketAddr = "10.0.0.2:50000".parse().unwrap();
//! // In production, fill seeds and secret keys from the OS RNG.
//! let server_key = StaticKeypair::from_secret_bytes([7; 32]);
//! let server_pub = server_key.public_key();
//! let server_config = ServerConfig::new(server_key);
//! let mut server = Endpoint::new(EndpointConfig::new([1; 32]), Some(server_config)).unwrap();
//! let mut client = Endpoint::new(EndpointConfig::new([2; 32]), None).unwrap();
//!
//! let mut now = Instant::ZERO;
//! let conn = client.connect(now, ClientConfig::new(server_pub), server_addr).unwrap();
//! let mut buf = vec![0u8; 65536];
//! let mut received = Vec::new();
//! let mut sent = false;
//!
//! for _ in 0..10_000 {
//!     // 1. Drain transmits of both sides onto the "network" (delivered instantly here).
//!     let mut in_flight: Vec<(SocketAddr, SocketAddr, Vec<u8>)> = Vec::new();
//!     // (`buf` holds many datagrams, so poll_transmit cannot fail with BufferTooSmall.)
//!     while let Some(t) = client.poll_transmit(now, &mut buf).unwrap() {
//!         in_flight.push((client_addr, t.destination, buf[..t.size].to_vec()));
//!     }
//!     while let Some(t) = server.poll_transmit(now, &mut buf).unwrap() {
//!         in_flight.push((server_addr, t.destination, buf[..t.size].to_vec()));
//!     }
//!     for (from, to, mut data) in in_flight {
//!         let target = if to == server_addr { &mut server } else { &mut client };
//!         target.handle_datagram(now, RecvMeta::from_source(from), &mut data);
//!     }
//!     // 2. Drain events.
//!     while let Some((handle, event)) = client.poll_event() {
//!         if event == Event::Connected && !sent {
//!             let c = client.connection(handle).unwrap();
//!             let s = c.open(Dir::Uni).unwrap();
//!             c.write(s, b"hello, post-quantum world").unwrap();
//!             c.finish(s).unwrap();
//!             sent = true;
//!         }
//!     }
//!     while let Some((handle, event)) = server.poll_event() {
//!         if let Event::Stream(StreamEvent::Readable { id }) = event {
//!             let mut chunk = [0u8; 64];
//!             while let Ok(Some(n)) = server.connection(handle).unwrap().read(id, &mut chunk) {
//!                 received.extend_from_slice(&chunk[..n]);
//!             }
//!         }
//!     }
//!     if received.len() == 25 {
//!         break;
//!     }
//!     // 3. Sleep until the next deadline (virtual time: jump there), then fire timers.
//!     let next = [client.poll_timeout(), server.poll_timeout()].into_iter().flatten().min();
//!     if let Some(deadline) = next {
//!         now = now.max(deadline);
//!         client.handle_timeout(now);
//!         server.handle_timeout(now);
//!     }
//! }
//! assert_eq!(received, b"hello, post-quantum world");
//! # let _ = conn;
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[doc(hidden)]
pub mod bench_support;
mod coding;
pub mod config;
pub mod congestion;
mod connection;
pub mod crypto;
mod endpoint;
mod frame;
#[doc(hidden)]
pub mod fuzz_support;
pub mod packet;
mod range_set;
mod stream;
pub mod time;
mod transport_error;
mod transport_params;

pub use config::{ClientConfig, ConfigError, EndpointConfig, IncomingInfo, ServerConfig, TransportConfig};
pub use connection::rtt::RttEstimator;
pub use connection::{
    BufferTooSmall, Connection, ConnectionError, ConnectionStats, Event, ReadError, SendDatagramError, StreamEvent,
    Transmit, WriteError, priority,
};
pub use crypto::{CipherSuite, CryptoBackend, HandshakeError, PublicKey, StaticKeypair};
pub use endpoint::{ConnectError, ConnectionHandle, DropStats, EcnCodepoint, Endpoint, EndpointStats, RecvMeta};
pub use stream::{Dir, Side, StreamId};
pub use time::{Duration, Instant};
pub use transport_error::TransportErrorCode;
pub use transport_params::TransportParameterError;
