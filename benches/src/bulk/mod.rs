//! Bulk throughput on one connection over loopback: one stream, the client writes, the
//! server reads everything and answers with the byte count.
//!
//! Every peer runs the same exchange on two threads of one process (one per endpoint, each
//! with its own event loop), so each side may have a core of its own on a 2-core machine.
//! The clock runs from the moment the connection is established (the handshake is not
//! timed) until the client holds the server's count, so it covers every byte being read.

pub(crate) mod jetstream_async;
mod jetstream_mio;
pub(crate) mod quinn_peer;
mod sender_stats;
pub(crate) mod tcp;

pub use sender_stats::SenderStats;

use std::fmt;
use std::net::UdpSocket;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jetstream_core::{CipherSuite, ClientConfig, ServerConfig, StaticKeypair, TransportConfig};
use jetstream_driver::udp::SocketConfig;
use jetstream_driver::{EndpointOptions, random_seed};
use serde::{Deserialize, Serialize};

/// Size of one application write in the bulk benchmark, and the largest write size.
pub const WRITE_SIZE: usize = 64 * 1024;

/// How long one transfer may take before it counts as failed.
pub const TIME_LIMIT: Duration = Duration::from_secs(120);

/// Which implementation carries the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// JetStreamProto through jetstream-tokio (a current-thread runtime per side).
    JetstreamTokio,
    /// JetStreamProto through jetstream-smol (`block_on` per side; the driver tasks run on
    /// smol's global executor, given two threads so that each endpoint can have one).
    JetstreamSmol,
    /// jetstream-smol with an executor per side that also runs the driver task
    /// (`SmolRuntime::with_executor`).
    JetstreamSmolExecutor,
    /// JetStreamProto through jetstream-mio (a hand-written poll loop per side).
    JetstreamMio,
    /// quinn 0.11 with rustls (ring) on a current-thread tokio runtime per side.
    Quinn,
    /// Kernel TCP through tokio's `TcpStream`, no encryption.
    Tcp,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::JetstreamTokio => "jetstream-tokio",
            Peer::JetstreamSmol => "jetstream-smol",
            Peer::JetstreamSmolExecutor => "jetstream-smol-exec",
            Peer::JetstreamMio => "jetstream-mio",
            Peer::Quinn => "quinn",
            Peer::Tcp => "tcp",
        }
    }
}

/// Packet protection of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cipher {
    /// AES-256-GCM (quinn: TLS_AES_256_GCM_SHA384).
    Aes256Gcm,
    /// AES-128-GCM (quinn only; JetStreamProto does not offer it).
    Aes128Gcm,
    /// ChaCha20-Poly1305.
    ChaCha20Poly1305,
}

impl Cipher {
    /// The short name used in case names and table columns.
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Aes256Gcm => "aes256",
            Cipher::Aes128Gcm => "aes128",
            Cipher::ChaCha20Poly1305 => "chacha20",
        }
    }
}

/// One configuration to measure, written `peer/cipher/gso|nogso` (or just `tcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// The implementation.
    pub peer: Peer,
    /// Its cipher (`None` for TCP).
    pub cipher: Option<Cipher>,
    /// Whether UDP segmentation offload is allowed (TCP always uses the kernel's offloads).
    pub gso: bool,
}

impl Case {
    /// Every configuration the bulk benchmark measures, in table order.
    pub fn all() -> Vec<Case> {
        use Cipher::*;
        use Peer::*;
        let udp = |peer, cipher, gso| Case { peer, cipher: Some(cipher), gso };
        vec![
            udp(JetstreamTokio, Aes256Gcm, true),
            udp(JetstreamTokio, Aes256Gcm, false),
            udp(JetstreamTokio, ChaCha20Poly1305, true),
            udp(JetstreamSmol, Aes256Gcm, true),
            udp(JetstreamSmol, Aes256Gcm, false),
            udp(JetstreamSmolExecutor, Aes256Gcm, true),
            udp(JetstreamSmolExecutor, Aes256Gcm, false),
            udp(JetstreamMio, Aes256Gcm, true),
            udp(JetstreamMio, Aes256Gcm, false),
            udp(Quinn, Aes256Gcm, true),
            udp(Quinn, Aes256Gcm, false),
            udp(Quinn, Aes128Gcm, true),
            udp(Quinn, ChaCha20Poly1305, true),
            Case { peer: Tcp, cipher: None, gso: true },
        ]
    }

    /// The quinn case with the same cipher and GSO setting, the baseline of a ratio.
    pub fn quinn_baseline(&self) -> Option<Case> {
        match self.peer {
            Peer::JetstreamTokio | Peer::JetstreamSmol | Peer::JetstreamSmolExecutor | Peer::JetstreamMio => {
                Some(Case { peer: Peer::Quinn, ..*self })
            }
            Peer::Quinn | Peer::Tcp => None,
        }
    }

    /// Environment a child process running this case needs.
    pub fn env(&self) -> Option<(&'static str, &'static str)> {
        // smol's global executor has one thread unless told otherwise; both endpoints'
        // drivers would share it, which a process with one endpoint would not.
        (self.peer == Peer::JetstreamSmol).then_some(("SMOL_THREADS", "2"))
    }

    /// Moves `bytes` from a client to a server and reports how long it took.
    pub fn run(&self, bytes: u64) -> Result<Transfer, String> {
        match (self.peer, self.cipher) {
            (Peer::Tcp, _) => tcp::run(bytes),
            (Peer::Quinn, Some(cipher)) => quinn_peer::run(cipher, self.gso, bytes),
            (Peer::JetstreamTokio, Some(cipher)) => jetstream_async::run_tokio(cipher, self.gso, bytes),
            (Peer::JetstreamSmol, Some(cipher)) => jetstream_async::run_smol(cipher, self.gso, bytes),
            (Peer::JetstreamSmolExecutor, Some(cipher)) => jetstream_async::run_smol_executor(cipher, self.gso, bytes),
            (Peer::JetstreamMio, Some(cipher)) => jetstream_mio::run(cipher, self.gso, bytes),
            (_, None) => Err(format!("{self} needs a cipher")),
        }
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cipher {
            None => f.write_str(self.peer.name()),
            Some(cipher) => {
                let gso = if self.gso { "gso" } else { "nogso" };
                write!(f, "{}/{}/{gso}", self.peer.name(), cipher.name())
            }
        }
    }
}

impl FromStr for Case {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Case::all()
            .into_iter()
            .find(|case| case.to_string() == s)
            .ok_or_else(|| format!("unknown case {s:?}; the cases are {}", case_names()))
    }
}

fn case_names() -> String {
    Case::all().iter().map(Case::to_string).collect::<Vec<_>>().join(", ")
}

/// What one transfer measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transfer {
    /// Application bytes delivered (and confirmed by the server).
    pub bytes: u64,
    /// From the established connection to the server's confirmation.
    pub elapsed: Duration,
    /// UDP syscalls both endpoints made, as our driver counts them (`None` for the
    /// other implementations).
    pub udp_syscalls: Option<u64>,
}

impl Transfer {
    /// Application throughput in Gbit/s.
    pub fn gbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.elapsed.as_secs_f64() / 1e9
    }
}

/// A transfer and, for QUIC-like peers, what the client (the sender) reported about it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Measured {
    pub(crate) transfer: Transfer,
    pub(crate) sender: Option<SenderStats>,
}

/// The two UDP sockets of a transfer, bound wherever the benchmark runs it (loopback here,
/// network namespaces in `lossy_link`); the client sends to the server socket's address.
#[derive(Debug)]
pub(crate) struct UdpPair {
    pub(crate) server: UdpSocket,
    pub(crate) client: UdpSocket,
}

impl UdpPair {
    fn loopback() -> Result<Self, String> {
        let bind = || UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"));
        Ok(UdpPair { server: bind()?, client: bind()? })
    }
}

/// How the client hands its bytes to the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writes {
    /// Bytes per application write (1 to [`WRITE_SIZE`]; the last write may be shorter).
    pub size: usize,
    /// Each write copies a slice (`write_all(&[u8])`, what applications sending messages
    /// do) instead of handing over a shared `Bytes` chunk (`write_chunk`, zero-copy; TCP
    /// always copies).
    pub copy: bool,
}

impl Writes {
    /// The bulk benchmark's writes: 64 KiB zero-copy chunks.
    pub const BULK: Writes = Writes { size: WRITE_SIZE, copy: false };

    /// Fails unless the size is between 1 and [`WRITE_SIZE`].
    pub(crate) fn check(&self) -> Result<(), String> {
        if (1..=WRITE_SIZE).contains(&self.size) {
            Ok(())
        } else {
            Err(format!("write size {} is outside 1..={WRITE_SIZE}", self.size))
        }
    }

    /// The lengths of the writes of a `bytes`-long transfer.
    pub(crate) fn lengths(self, bytes: u64) -> impl Iterator<Item = usize> {
        let mut left = bytes;
        std::iter::from_fn(move || {
            let n = left.min(self.size as u64) as usize;
            left -= n as u64;
            (n > 0).then_some(n)
        })
    }
}

/// The bytes the client writes, a prefix at a time (shared, so writes copy nothing where the
/// API takes `Bytes`).
pub(crate) fn payload() -> Bytes {
    Bytes::from((0..WRITE_SIZE).map(|i| (i * 31 + 7) as u8).collect::<Vec<u8>>())
}

/// The pieces of a `bytes`-long transfer in the bulk benchmark's writes, each a slice of the
/// shared payload.
fn pieces(bytes: u64) -> impl Iterator<Item = Bytes> {
    let payload = payload();
    Writes::BULK.lengths(bytes).map(move |n| payload.slice(..n))
}

/// The server's answer: the byte count it read.
pub(crate) fn encode_count(count: u64) -> [u8; 8] {
    count.to_le_bytes()
}

/// Checks the server's answer against what the client sent.
pub(crate) fn check_count(answer: &[u8], sent: u64) -> Result<(), String> {
    let count = <[u8; 8]>::try_from(answer).map(u64::from_le_bytes).map_err(|_| "malformed answer".to_string())?;
    if count == sent { Ok(()) } else { Err(format!("server read {count} bytes, client sent {sent}")) }
}

/// A current-thread tokio runtime: each side of the tokio-based cases has its own.
pub(crate) fn tokio_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime can be built")
}

/// `future` on tokio's timer, failed after [`TIME_LIMIT`].
pub(crate) async fn tokio_limited<T>(future: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio_limited_to(TIME_LIMIT, future).await
}

/// `future` on tokio's timer, failed after `limit`.
pub(crate) async fn tokio_limited_to<T>(
    limit: Duration,
    future: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(limit, future).await.unwrap_or_else(|_| Err("time limit exceeded".to_string()))
}

/// The transport settings of a case: the defaults, except the cipher the case names (both
/// sides must prefer AES for AES-256-GCM to win) and 1452-byte datagrams from the start
/// (quinn's MTU discovery reaches the same size on loopback; ours starts at 1200 and has
/// no discovery).
pub(crate) fn jetstream_transport(cipher: Cipher) -> Result<TransportConfig, String> {
    let prefer_aes = match cipher {
        Cipher::Aes256Gcm => true,
        Cipher::ChaCha20Poly1305 => false,
        Cipher::Aes128Gcm => return Err("JetStreamProto does not offer AES-128-GCM".into()),
    };
    Ok(TransportConfig { initial_mtu: 1452, prefer_aes, ..TransportConfig::default() })
}

/// Both JetStreamProto endpoints' settings for a case.
pub(crate) struct JetstreamSetup {
    pub(crate) server: EndpointOptions,
    pub(crate) client: EndpointOptions,
    pub(crate) client_config: ClientConfig,
}

impl JetstreamSetup {
    /// [`jetstream_transport`] for `cipher`, GSO as the case says.
    fn new(cipher: Cipher, gso: bool) -> Result<Self, String> {
        Self::with_transport(Arc::new(jetstream_transport(cipher)?), gso)
    }

    /// Both sides with `transport`, a fresh server key, and GSO as given.
    pub(crate) fn with_transport(transport: Arc<TransportConfig>, gso: bool) -> Result<Self, String> {
        let keypair = StaticKeypair::from_secret_bytes(random_seed().map_err(|e| e.to_string())?);
        let mut client_config = ClientConfig::new(keypair.public_key());
        client_config.transport = transport.clone();
        let mut server_config = ServerConfig::new(keypair);
        server_config.transport = transport;
        let socket = SocketConfig { gso, ..SocketConfig::default() };
        let mut server = EndpointOptions::server(server_config).map_err(|e| e.to_string())?;
        server.socket = socket.clone();
        let mut client = EndpointOptions::client().map_err(|e| e.to_string())?;
        client.socket = socket;
        Ok(JetstreamSetup { server, client, client_config })
    }
}

/// Fails unless the connection negotiated the case's cipher.
pub(crate) fn check_suite(negotiated: Option<CipherSuite>, cipher: Cipher) -> Result<(), String> {
    let expected = match cipher {
        Cipher::Aes256Gcm => CipherSuite::Aes256Gcm,
        Cipher::ChaCha20Poly1305 => CipherSuite::ChaCha20Poly1305,
        Cipher::Aes128Gcm => return Err("JetStreamProto does not offer AES-128-GCM".into()),
    };
    match negotiated {
        Some(suite) if suite == expected => Ok(()),
        other => Err(format!("negotiated {other:?} instead of {expected:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_round_trip() {
        for case in Case::all() {
            assert_eq!(case.to_string().parse::<Case>(), Ok(case));
        }
        assert!("quinn/aes512/gso".parse::<Case>().is_err());
    }

    #[test]
    fn writes_cover_the_transfer_exactly() {
        let total: usize = Writes::BULK.lengths(3 * WRITE_SIZE as u64 + 5).sum();
        assert_eq!(total, 3 * WRITE_SIZE + 5);
        assert_eq!(Writes::BULK.lengths(0).count(), 0);
        let small = Writes { size: 64, copy: true };
        assert_eq!(small.lengths(640).collect::<Vec<_>>(), vec![64; 10]);
        assert!(Writes { size: 0, copy: true }.check().is_err());
        assert!(Writes { size: WRITE_SIZE + 1, copy: false }.check().is_err());
    }

    #[test]
    fn every_case_runs_a_small_transfer() {
        for case in Case::all() {
            let transfer = case.run(1 << 20).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(transfer.bytes, 1 << 20, "{case}");
        }
    }
}
