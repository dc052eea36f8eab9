//! # jetstream-tests
//!
//! Cross-runtime integration tests on real sockets. Every runtime adapter can play server
//! or client of one small test protocol: the client sends a stream of pseudo-random bytes
//! and finishes; the server answers on the same stream with the length and SHA-256 of what
//! it received. A matching answer proves the bytes arrived exactly.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod async_peer;
mod digest;
mod mio_peer;

use std::net::SocketAddr;
use std::time::Duration;

pub use digest::{ANSWER_LEN, Digest, Pattern, Sender, check_answer};
use jetstream_core::{PublicKey, StaticKeypair};
use jetstream_driver::udp::SocketConfig;

/// Which adapter plays a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// jetstream-tokio (multi-thread runtime).
    Tokio,
    /// jetstream-smol.
    Smol,
    /// jetstream-mio, a hand-written poll loop.
    Mio,
}

impl Adapter {
    /// Every adapter.
    pub const ALL: [Adapter; 3] = [Adapter::Tokio, Adapter::Smol, Adapter::Mio];
}

/// Settings of a test peer.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Address to bind.
    pub bind: SocketAddr,
    /// Socket options (GSO on or off...).
    pub socket: SocketConfig,
    /// Time limit of a client's whole run.
    pub time_limit: Duration,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            bind: "127.0.0.1:0".parse().expect("valid address"),
            socket: SocketConfig::default(),
            time_limit: Duration::from_secs(120),
        }
    }
}

/// A running test server (on its own thread). Stopping it closes its connections.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its static key, for clients to pin.
    pub key: PublicKey,
    stop: Box<dyn FnOnce() + Send>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).field("key", &self.key).finish_non_exhaustive()
    }
}

impl Server {
    /// Starts a digest server on `adapter`.
    pub fn start(adapter: Adapter, options: &PeerOptions) -> Server {
        let keypair = StaticKeypair::from_secret_bytes(jetstream_driver::random_seed().expect("OS RNG"));
        let key = keypair.public_key();
        let (addr, stop, thread) = match adapter {
            Adapter::Tokio => async_peer::start_tokio_server(keypair, options),
            Adapter::Smol => async_peer::start_smol_server(keypair, options),
            Adapter::Mio => mio_peer::start_server(keypair, options),
        };
        Server { addr, key, stop, thread: Some(thread) }
    }

    /// Closes every connection (clients see the code and reason "server stopped") and waits
    /// for the server thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let stop = std::mem::replace(&mut self.stop, Box::new(|| {}));
        stop();
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread panicked");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

/// Connects with `adapter`, sends one stream per entry of `lens` (that many bytes each,
/// one after the other on one connection) and checks every answer.
pub fn run_client(adapter: Adapter, server: &Server, lens: &[usize], options: &PeerOptions) -> Result<(), String> {
    run_client_to(adapter, server.addr, server.key, lens, options)
}

/// [`run_client`] against an address and key.
pub fn run_client_to(
    adapter: Adapter,
    addr: SocketAddr,
    key: PublicKey,
    lens: &[usize],
    options: &PeerOptions,
) -> Result<(), String> {
    match adapter {
        Adapter::Tokio => async_peer::tokio_client(addr, key, lens, options),
        Adapter::Smol => async_peer::smol_client(addr, key, lens, options),
        Adapter::Mio => mio_peer::client(addr, key, lens, options),
    }
}

/// `connections` concurrent connections from one tokio endpoint to `server`, each sending
/// one stream of `len` bytes and checking the answer.
pub fn run_concurrent_tokio_clients(
    server: &Server,
    connections: usize,
    len: usize,
    options: &PeerOptions,
) -> Result<(), String> {
    async_peer::tokio_concurrent(server.addr, server.key, connections, len, options)
}
