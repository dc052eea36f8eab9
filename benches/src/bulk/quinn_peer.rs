//! The bulk exchange on quinn 0.11 (rustls with ring), its defaults apart from the cipher
//! suites and GSO.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

use super::{Cipher, Transfer, check_count, encode_count, pieces, tokio_current_thread, tokio_limited};

pub(super) fn run(cipher: Cipher, gso: bool, bytes: u64) -> Result<Transfer, String> {
    let (server_config, client_config) = configs(cipher, gso)?;
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        tokio_current_thread().block_on(tokio_limited(async move {
            let endpoint = quinn::Endpoint::server(server_config, "127.0.0.1:0".parse().expect("an address"))
                .map_err(|e| format!("server endpoint: {e}"))?;
            addr_tx.send(endpoint.local_addr().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
            serve_one(&endpoint).await
        }))
    });
    let server_addr: SocketAddr = addr_rx.recv().map_err(|_| "server failed to start".to_string())?;
    let client = tokio_current_thread().block_on(tokio_limited(async move {
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("an address"))
            .map_err(|e| format!("client endpoint: {e}"))?;
        endpoint.set_default_client_config(client_config);
        let conn = endpoint
            .connect(server_addr, "localhost")
            .map_err(|e| format!("connect: {e}"))?
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let start = Instant::now();
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| format!("open: {e}"))?;
        for piece in pieces(bytes) {
            send.write_chunk(piece).await.map_err(|e| format!("write: {e}"))?;
        }
        send.finish().map_err(|e| format!("finish: {e}"))?;
        let answer = recv.read_to_end(8).await.map_err(|e| format!("answer: {e}"))?;
        let elapsed = start.elapsed();
        check_count(&answer, bytes)?;
        conn.close(0u32.into(), b"done");
        endpoint.wait_idle().await;
        Ok(elapsed)
    }));
    let server = server.join().map_err(|_| "server thread panicked".to_string())?;
    let elapsed = client?;
    server?;
    Ok(Transfer { bytes, elapsed, udp_syscalls: None })
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

/// Server and client configurations that settle on `cipher` for 1-RTT data. QUIC's Initial
/// packets always use AES-128-GCM, so that suite is offered too, last; the server picks by
/// its own order.
fn configs(cipher: Cipher, gso: bool) -> Result<(quinn::ServerConfig, quinn::ClientConfig), String> {
    let suite = match cipher {
        Cipher::Aes256Gcm => ring::cipher_suite::TLS13_AES_256_GCM_SHA384,
        Cipher::Aes128Gcm => ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
        Cipher::ChaCha20Poly1305 => ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    };
    let mut cipher_suites = vec![suite];
    if cipher != Cipher::Aes128Gcm {
        cipher_suites.push(ring::cipher_suite::TLS13_AES_128_GCM_SHA256);
    }
    let provider = Arc::new(CryptoProvider { cipher_suites, ..ring::default_provider() });
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).map_err(|e| e.to_string())?;
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());

    let tls = |e: rustls::Error| e.to_string();
    let mut server_tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .map_err(tls)?;
    server_tls.ignore_client_order = true;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).map_err(tls)?;
    let client_tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();

    let mut transport = quinn::TransportConfig::default();
    transport.enable_segmentation_offload(gso);
    let transport = Arc::new(transport);
    let quic = |e: quinn::crypto::rustls::NoInitialCipherSuite| e.to_string();
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(server_tls).map_err(quic)?));
    server.transport_config(transport.clone());
    let mut client = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(client_tls).map_err(quic)?));
    client.transport_config(transport);
    Ok((server, client))
}
