//! Endpoint, transport, server and client configuration.
//!
//! Every field has a documented default chosen for a general-purpose Internet path. The
//! presets ([`TransportConfig::lan`], [`TransportConfig::wan`], ...) are bundles of these
//! same fields for common link types, not separate code paths.

use crate::congestion::{ControllerFactory, CubicConfig};
use crate::crypto::{CipherSuite, CryptoBackend, PeerKey, PublicKey, StaticKeypair};
use crate::packet::MIN_INITIAL_SIZE;
use crate::time::Duration;
use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use thiserror::Error;

/// Per-connection transport settings.
#[derive(Clone)]
pub struct TransportConfig {
    /// UDP payload size used from the start. At least 1200 (default 1200); raise it only for
    /// paths known to carry larger datagrams.
    pub initial_mtu: u16,
    /// Largest UDP payload this side accepts, announced to the peer (default 65527).
    pub max_udp_payload_size: u16,
    /// Close the connection after this long without any packet from the peer (default 30 s).
    /// The effective timeout is the smaller of both sides' values. Also bounds the handshake.
    pub max_idle_timeout: Duration,
    /// Send a PING when nothing was sent for this long, keeping NAT bindings and the idle
    /// timer alive ("heartbeat"; default off). Must be below the idle timeout to help.
    pub keep_alive_interval: Option<Duration>,
    /// Bytes the peer may send on one stream beyond what the application has read
    /// (default 2 MiB). Must cover the path's bandwidth-delay product per stream.
    pub stream_receive_window: u64,
    /// Bytes the peer may send across all streams beyond what has been read (default 16 MiB).
    pub receive_window: u64,
    /// Bytes written but not yet acknowledged, across all streams, before writes block
    /// (default 16 MiB).
    pub send_window: u64,
    /// Bidirectional streams the peer may have open at once (default 100).
    /// A peer may open all of them with one frame (lower stream IDs open implicitly), and
    /// each idle stream costs a few hundred bytes, so this is also a memory budget.
    pub max_concurrent_bidi_streams: u64,
    /// Unidirectional streams the peer may have open at once (default 100).
    /// A peer may open all of them with one frame (lower stream IDs open implicitly), and
    /// each idle stream costs a few hundred bytes, so this is also a memory budget.
    pub max_concurrent_uni_streams: u64,
    /// Longest this side delays an acknowledgement (default 25 ms).
    pub max_ack_delay: Duration,
    /// Acknowledge at least every this many ack-eliciting packets (default 2).
    pub ack_eliciting_threshold: u32,
    /// RTT assumed before the first sample (default 333 ms, RFC 9002).
    pub initial_rtt: Duration,
    /// Congestion controller (default CUBIC).
    pub congestion_controller: Arc<dyn ControllerFactory>,
    /// Spread packets over the RTT instead of sending whole windows at once (default on).
    pub pacing: bool,
    /// Bytes of received unreliable datagrams buffered for the application; 0 disables
    /// receiving datagrams (default 1 MiB).
    pub datagram_receive_buffer: usize,
    /// Bytes of unreliable datagrams queued for sending; the oldest are dropped beyond it
    /// (default 1 MiB).
    pub datagram_send_buffer: usize,
    /// Packets sealed with one key before moving to fresh keys (key update; default 2^22).
    /// AES-256-GCM keys may seal at most 2^23 packets, so this must stay below that.
    pub key_update_interval: u64,
    /// Packet protection implementation (default `ring` when compiled in).
    pub crypto_backend: CryptoBackend,
    /// Prefer AES-256-GCM (fast with hardware AES) over ChaCha20-Poly1305; it is used only
    /// when both sides prefer it. Default: true when this CPU has AES instructions.
    pub prefer_aes: bool,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            initial_mtu: MIN_INITIAL_SIZE as u16,
            max_udp_payload_size: 65527,
            max_idle_timeout: Duration::from_secs(30),
            keep_alive_interval: None,
            stream_receive_window: 2 << 20,
            receive_window: 16 << 20,
            send_window: 16 << 20,
            max_concurrent_bidi_streams: 100,
            max_concurrent_uni_streams: 100,
            max_ack_delay: Duration::from_millis(25),
            ack_eliciting_threshold: 2,
            initial_rtt: Duration::from_millis(333),
            congestion_controller: Arc::new(CubicConfig::default()),
            pacing: true,
            datagram_receive_buffer: 1 << 20,
            datagram_send_buffer: 1 << 20,
            key_update_interval: 1 << 22,
            crypto_backend: CryptoBackend::default(),
            prefer_aes: hardware_has_aes(),
        }
    }
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("initial_mtu", &self.initial_mtu)
            .field("max_idle_timeout", &self.max_idle_timeout)
            .field("keep_alive_interval", &self.keep_alive_interval)
            .field("stream_receive_window", &self.stream_receive_window)
            .field("receive_window", &self.receive_window)
            .field("congestion_controller", &self.congestion_controller)
            .field("crypto_backend", &self.crypto_backend)
            .field("prefer_aes", &self.prefer_aes)
            .finish_non_exhaustive()
    }
}

/// Whether this CPU has AES instructions (then AES-256-GCM outruns ChaCha20-Poly1305).
/// Reading CPU features is not I/O and is the same on every call.
fn hardware_has_aes() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// A transport configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A field is outside its allowed range.
    #[error("{field}: {problem}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl TransportConfig {
    /// Checks the settings that would otherwise fail later in confusing ways.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, problem| Err(ConfigError::Invalid { field, problem });
        if usize::from(self.initial_mtu) < MIN_INITIAL_SIZE {
            return bad("initial_mtu", "must be at least 1200");
        }
        if self.initial_mtu > self.max_udp_payload_size {
            return bad("initial_mtu", "must not exceed max_udp_payload_size");
        }
        if self.max_ack_delay >= Duration::from_millis(1 << 14) {
            return bad("max_ack_delay", "must be below 16384 ms");
        }
        if self.ack_eliciting_threshold == 0 {
            return bad("ack_eliciting_threshold", "must be at least 1");
        }
        if self.stream_receive_window == 0 || self.receive_window == 0 {
            return bad("receive_window", "windows must be positive");
        }
        if self.stream_receive_window > 1 << 40 || self.receive_window > 1 << 40 || self.send_window > 1 << 40 {
            return bad("receive_window", "windows above 1 TiB are not supported");
        }
        if self.max_concurrent_bidi_streams > 1 << 60 || self.max_concurrent_uni_streams > 1 << 60 {
            return bad("max_concurrent_streams", "must be at most 2^60");
        }
        if self.key_update_interval == 0 || self.key_update_interval >= CipherSuite::Aes256Gcm.confidentiality_limit() {
            return bad("key_update_interval", "must be between 1 and 2^23 - 1 packets");
        }
        if !self.crypto_backend.supports(CipherSuite::ChaCha20Poly1305) {
            return bad("crypto_backend", "must provide ChaCha20-Poly1305");
        }
        Ok(())
    }

    /// A wired LAN: 1452-byte datagrams, short timers, fast failure detection.
    pub fn lan() -> Self {
        TransportConfig {
            initial_mtu: 1452,
            max_idle_timeout: Duration::from_secs(10),
            keep_alive_interval: Some(Duration::from_secs(3)),
            initial_rtt: Duration::from_millis(10),
            max_ack_delay: Duration::from_millis(5),
            ..Default::default()
        }
    }

    /// The general Internet (the defaults, with a keep-alive that holds NAT bindings).
    pub fn wan() -> Self {
        TransportConfig { keep_alive_interval: Some(Duration::from_secs(10)), ..Default::default() }
    }

    /// Mobile networks: 1200-byte datagrams, tolerant timers, frequent keep-alives for NATs.
    pub fn cellular() -> Self {
        TransportConfig {
            max_idle_timeout: Duration::from_secs(60),
            keep_alive_interval: Some(Duration::from_secs(15)),
            initial_rtt: Duration::from_millis(100),
            ..Default::default()
        }
    }

    /// Geostationary satellite: ~600 ms RTT, so large windows to fill the pipe.
    pub fn satellite() -> Self {
        TransportConfig {
            max_idle_timeout: Duration::from_secs(120),
            keep_alive_interval: Some(Duration::from_secs(20)),
            initial_rtt: Duration::from_millis(700),
            stream_receive_window: 16 << 20,
            receive_window: 64 << 20,
            send_window: 64 << 20,
            ..Default::default()
        }
    }
}

/// Endpoint-wide settings.
#[derive(Clone)]
pub struct EndpointConfig {
    /// Seed of the endpoint's CSPRNG (connection IDs, ephemeral keys, path challenges). Must be
    /// secret and unpredictable in production (fill it from the OS RNG); fixed in tests and
    /// simulations for reproducibility.
    pub rng_seed: [u8; 32],
    /// Connections (including handshakes in progress) the endpoint holds at most
    /// (default 100,000). Further handshakes are refused.
    pub max_connections: usize,
    /// Server handshakes awaiting the client's confirmation at most (default 4,096): bounds
    /// the state an address-spoofing attacker can make a server hold.
    pub max_incoming_handshakes: usize,
    /// Packets the endpoint may put in one [`Transmit`](crate::Transmit) for GSO
    /// (default 1, i.e. no GSO). Adapters raise it to what the socket supports.
    pub max_gso_segments: usize,
}

impl EndpointConfig {
    /// Settings with the given RNG seed and defaults otherwise.
    pub fn new(rng_seed: [u8; 32]) -> Self {
        EndpointConfig { rng_seed, max_connections: 100_000, max_incoming_handshakes: 4096, max_gso_segments: 1 }
    }
}

impl fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("max_connections", &self.max_connections)
            .field("max_incoming_handshakes", &self.max_incoming_handshakes)
            .field("max_gso_segments", &self.max_gso_segments)
            .finish_non_exhaustive()
    }
}

/// What the server knows about a connection attempt when its accept policy runs: the
/// handshake has authenticated, so `client_key` (if any) is proven.
#[derive(Debug, Clone, Copy)]
pub struct IncomingInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// The client's static key, when it authenticated with one.
    pub client_key: Option<PublicKey>,
}

/// Decides whether to accept a connection attempt.
pub type AcceptPolicy = Box<dyn FnMut(&IncomingInfo) -> bool + Send>;

/// Server settings.
pub struct ServerConfig {
    /// The server's static key; clients pin its public half.
    pub keypair: StaticKeypair,
    /// Transport settings for accepted connections.
    pub transport: Arc<TransportConfig>,
    /// When set, only clients presenting one of these static keys are accepted (IK-style
    /// client authentication); others are refused with `CLIENT_NOT_AUTHORIZED`.
    pub allowed_clients: Option<BTreeSet<PublicKey>>,
    /// Called for each authenticated connection attempt; returning false refuses it with
    /// `CONNECTION_REFUSED`.
    pub accept_policy: Option<AcceptPolicy>,
}

impl ServerConfig {
    /// A server with the given key and default transport settings, accepting anyone.
    pub fn new(keypair: StaticKeypair) -> Self {
        ServerConfig {
            keypair,
            transport: Arc::new(TransportConfig::default()),
            allowed_clients: None,
            accept_policy: None,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("keypair", &self.keypair)
            .field("transport", &self.transport)
            .field("allowed_clients", &self.allowed_clients.as_ref().map(BTreeSet::len))
            .field("accept_policy", &self.accept_policy.is_some())
            .finish()
    }
}

/// Client settings for connection attempts; build it once per server and clone it for each
/// connection (it holds the server's key in the form the handshake computes with).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's static public key, pinned, prepared once: lifting it to the curve form the
    /// handshake computes with costs about as much as a third of an X25519 operation.
    server: PeerKey,
    /// This client's static key, for servers that authenticate clients.
    pub client_key: Option<StaticKeypair>,
    /// Transport settings.
    pub transport: Arc<TransportConfig>,
}

impl ClientConfig {
    /// Connects to a server holding `server_key`, with default transport settings. The
    /// handshake fails if the server cannot prove it holds the matching secret.
    pub fn new(server_key: PublicKey) -> Self {
        ClientConfig {
            server: PeerKey::new(server_key),
            client_key: None,
            transport: Arc::new(TransportConfig::default()),
        }
    }

    /// The server's pinned public key.
    pub fn server_key(&self) -> PublicKey {
        self.server.public_key()
    }

    pub(crate) fn server(&self) -> &PeerKey {
        &self.server
    }
}
