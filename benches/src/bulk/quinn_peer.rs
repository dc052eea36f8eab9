//! The bulk exchange on quinn 0.11 (rustls with ring), its defaults apart from the cipher
//! suites and GSO.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Instant;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

use super::sender_stats::{Sample, traced};
use super::{
    Cipher, Measured, SenderStats, Transfer, UdpPair, check_count, encode_count, pieces, tokio_current_thread,
    tokio_limited,
};

pub(super) fn run(cipher: Cipher, gso: bool, bytes: u64) -> Result<Transfer, String> {
    run_over(cipher, gso, UdpPair::loopback()?, bytes).map(|m| m.transfer)
}

/// The exchange on `sockets`, with the client's sender statistics.
pub(crate) fn run_over(cipher: Cipher, gso: bool, sockets: UdpPair, bytes: u64) -> Result<Measured, String> {
    let (server_config, client_config) = configs(cipher, gso)?;
    let UdpPair { server: server_socket, client: client_socket } = sockets;
    let server_addr = server_socket.local_addr().map_err(|e| e.to_string())?;
    let server = std::thread::spawn(move || {
        tokio_current_thread().block_on(tokio_limited(async move {
            let endpoint =
                endpoint_on(server_socket, Some(server_config)).map_err(|e| format!("server endpoint: {e}"))?;
            serve_one(&endpoint).await
        }))
    });
    let client = tokio_current_thread().block_on(tokio_limited(async move {
        let mut endpoint = endpoint_on(client_socket, None).map_err(|e| format!("client endpoint: {e}"))?;
        endpoint.set_default_client_config(client_config);
        let conn = endpoint
            .connect(server_addr, "localhost")
            .map_err(|e| format!("connect: {e}"))?
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let start = Instant::now();
        let (answer, trace) = traced(
            async {
                let (mut send, mut recv) = conn.open_bi().await.map_err(|e| format!("open: {e}"))?;
                for piece in pieces(bytes) {
                    send.write_chunk(piece).await.map_err(|e| format!("write: {e}"))?;
                }
                send.finish().map_err(|e| format!("finish: {e}"))?;
                recv.read_to_end(8).await.map_err(|e| format!("answer: {e}"))
            },
            tokio::time::sleep,
            || {
                let path = conn.stats().path;
                Some(Sample { cwnd: path.cwnd, rtt: path.rtt })
            },
        )
        .await;
        let elapsed = start.elapsed();
        check_count(&answer?, bytes)?;
        let sender = trace.finish(sender_stats(&conn.stats().path));
        conn.close(0u32.into(), b"done");
        endpoint.wait_idle().await;
        Ok((elapsed, sender))
    }));
    let server = server.join().map_err(|_| "server thread panicked".to_string())?;
    let (elapsed, sender) = client?;
    server?;
    Ok(Measured { transfer: Transfer { bytes, elapsed, udp_syscalls: None }, sender: Some(sender) })
}

/// A quinn endpoint on an already bound socket (wherever it was bound), on the current
/// tokio runtime.
fn endpoint_on(socket: UdpSocket, server: Option<quinn::ServerConfig>) -> std::io::Result<quinn::Endpoint> {
    quinn::Endpoint::new(quinn::EndpointConfig::default(), server, socket, Arc::new(quinn::TokioRuntime))
}

/// quinn's path counters as [`SenderStats`] (the means are filled in from the trace).
fn sender_stats(path: &quinn::PathStats) -> SenderStats {
    SenderStats {
        packets_sent: path.sent_packets,
        packets_lost: path.lost_packets,
        packets_retransmitted: None,
        congestion_events: path.congestion_events,
        probe_timeouts: None,
        final_cwnd: path.cwnd,
        min_rtt: path.min_rtt,
        ..SenderStats::default()
    }
}

async fn serve_one(endpoint: &quinn::Endpoint) -> Result<(), String> {
    let incoming = endpoint.accept().await.ok_or("endpoint closed before a connection arrived")?;
    let conn = incoming.await.map_err(|e| format!("handshake: {e}"))?;
    let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| format!("accept stream: {e}"))?;
    let mut buf = vec![0u8; super::WRITE_SIZE];
    let mut count = 0u64;
    while let Some(n) = recv.read(&mut buf).await.map_err(|e| format!("read: {e}"))? {
        count += n as u64;
    }
    send.write_all(&encode_count(count)).await.map_err(|e| format!("answer: {e}"))?;
    send.finish().map_err(|e| format!("finish: {e}"))?;
    conn.closed().await;
    Ok(())
}

/// Server and client configurations that settle on `cipher` for 1-RTT data, with GSO as
/// given and quinn's defaults otherwise.
fn configs(cipher: Cipher, gso: bool) -> Result<(quinn::ServerConfig, quinn::ClientConfig), String> {
    let mut transport = quinn::TransportConfig::default();
    transport.enable_segmentation_offload(gso);
    let transport = Arc::new(transport);
    let (server, cert) = server_config(cipher, transport.clone())?;
    Ok((server, client_config(cipher, cert, transport)?))
}

/// The rustls provider that settles on `cipher` for 1-RTT data. QUIC's Initial packets
/// always use AES-128-GCM, so that suite is offered too, last; the server picks by its own
/// order.
fn provider(cipher: Cipher) -> Arc<CryptoProvider> {
    let suite = match cipher {
        Cipher::Aes256Gcm => ring::cipher_suite::TLS13_AES_256_GCM_SHA384,
        Cipher::Aes128Gcm => ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
        Cipher::ChaCha20Poly1305 => ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    };
    let mut cipher_suites = vec![suite];
    if cipher != Cipher::Aes128Gcm {
        cipher_suites.push(ring::cipher_suite::TLS13_AES_128_GCM_SHA256);
    }
    Arc::new(CryptoProvider { cipher_suites, ..ring::default_provider() })
}

fn tls(e: rustls::Error) -> String {
    e.to_string()
}

fn quic(e: quinn::crypto::rustls::NoInitialCipherSuite) -> String {
    e.to_string()
}

/// A server configuration that settles on `cipher`, with `transport` and a fresh
/// self-signed certificate for "localhost", returned for the clients to trust.
pub(crate) fn server_config(
    cipher: Cipher,
    transport: Arc<quinn::TransportConfig>,
) -> Result<(quinn::ServerConfig, CertificateDer<'static>), String> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).map_err(|e| e.to_string())?;
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let mut server_tls = rustls::ServerConfig::builder_with_provider(provider(cipher))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .map_err(tls)?;
    server_tls.ignore_client_order = true;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(server_tls).map_err(quic)?));
    server.transport_config(transport);
    Ok((server, cert))
}

/// A client configuration that settles on `cipher`, trusts only `cert` (for "localhost")
/// and uses `transport`.
pub(crate) fn client_config(
    cipher: Cipher,
    cert: CertificateDer<'static>,
    transport: Arc<quinn::TransportConfig>,
) -> Result<quinn::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).map_err(tls)?;
    let client_tls = rustls::ClientConfig::builder_with_provider(provider(cipher))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut client = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(client_tls).map_err(quic)?));
    client.transport_config(transport);
    Ok(client)
}
