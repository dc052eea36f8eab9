//! Endpoint setup the network commands share: transport presets, the server's and the
//! client's endpoints, and a connect that always ends (with a message that says what to
//! check) instead of waiting on an address where nobody answers.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use jetstream_core::{
    ClientConfig, ConnectionError, PublicKey, ServerConfig, StaticKeypair, TransportConfig, TransportErrorCode,
};
use jetstream_driver::{ConnectError, ConnectionClosed};
use jetstream_driver::{Connection, Endpoint, EndpointOptions, Runtime};

/// Transport settings by network kind (`--preset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum Preset {
    /// The defaults: 1200-byte datagrams, safe on any path.
    #[default]
    Default,
    /// Wired LAN or loopback: 1452-byte datagrams, short timers.
    Lan,
    /// The Internet: the defaults plus a keep-alive that holds NAT bindings.
    Wan,
    /// Mobile networks: tolerant timers, frequent keep-alives.
    Cellular,
    /// Geostationary satellite: large windows for a ~600 ms round trip.
    Satellite,
}

impl Preset {
    pub(crate) fn transport(self) -> TransportConfig {
        match self {
            Preset::Default => TransportConfig::default(),
            Preset::Lan => TransportConfig::lan(),
            Preset::Wan => TransportConfig::wan(),
            Preset::Cellular => TransportConfig::cellular(),
            Preset::Satellite => TransportConfig::satellite(),
        }
    }
}

/// How long a client waits for the handshake before giving up.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Parses a `--server-key` argument.
pub(crate) fn parse_server_key(text: &str) -> Result<PublicKey, String> {
    text.trim().parse().map_err(|_| {
        "--server-key: a public key is 64 hex digits (what `jetstream keygen` and `jetstream pubkey` print)".to_string()
    })
}

/// A server endpoint on `listen` with the static key pair `key`.
pub(crate) fn server_endpoint<R: Runtime>(
    runtime: R,
    listen: SocketAddr,
    key: StaticKeypair,
    transport: TransportConfig,
    busy_poll: Option<Duration>,
) -> Result<Endpoint<R>, String> {
    let mut config = ServerConfig::new(key);
    config.transport = Arc::new(transport);
    let options =
        EndpointOptions { busy_poll, ..EndpointOptions::server(config).map_err(|e| format!("server setup: {e}"))? };
    let socket = UdpSocket::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    Endpoint::with_runtime(runtime, socket, options).map_err(|e| format!("cannot listen on {listen}: {e}"))
}

/// A client configuration pinning `server_key`.
pub(crate) fn client_config(server_key: PublicKey, transport: TransportConfig) -> ClientConfig {
    let mut config = ClientConfig::new(server_key);
    config.transport = Arc::new(transport);
    config
}

/// A UDP socket on an ephemeral port, in the address family of `server`.
pub(crate) fn client_socket(server: SocketAddr) -> Result<UdpSocket, String> {
    let any = if server.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    UdpSocket::bind(SocketAddr::new(any, 0)).map_err(|e| format!("cannot open a UDP socket: {e}"))
}

/// Connects to `server` within `limit`: the endpoint and the connection, or an error that
/// says what to check.
pub(crate) async fn connect<R: Runtime>(
    runtime: R,
    server: SocketAddr,
    config: ClientConfig,
    limit: Duration,
    busy_poll: Option<Duration>,
) -> Result<(Endpoint<R>, Connection), String> {
    let options = EndpointOptions { busy_poll, ..EndpointOptions::client().map_err(|e| format!("client setup: {e}"))? };
    let endpoint = Endpoint::with_runtime(runtime.clone(), client_socket(server)?, options)
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    match crate::runtime::timeout(&runtime, limit, endpoint.connect_with(config, server)).await {
        Some(Ok(conn)) => Ok((endpoint, conn)),
        Some(Err(ConnectError::Failed(ConnectionClosed::Lost(e)))) => Err(handshake_failed(server, &e)),
        Some(Err(e)) => Err(format!("cannot connect to {server}: {e}")),
        None => Err(no_answer(server, limit)),
    }
}

/// The error for a handshake that ended with `e`, with what to check.
pub(crate) fn handshake_failed(server: SocketAddr, e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionClosed { code, .. } if *code == TransportErrorCode::HANDSHAKE_FAILED => format!(
            "cannot connect to {server}: the server refused the handshake; is --server-key its public key? \
             (`jetstream pubkey --key FILE` prints it on the server; a wrong server key looks like this)"
        ),
        e => format!("cannot connect to {server}: {e}"),
    }
}

/// The error for a handshake nobody answered within `limit`.
pub(crate) fn no_answer(server: SocketAddr, limit: Duration) -> String {
    format!("no answer from {server} within {:.1} s: is a jetstream server listening there?", limit.as_secs_f64())
}
