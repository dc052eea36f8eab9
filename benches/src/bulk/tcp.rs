//! The bulk exchange on kernel TCP (tokio's `TcpStream`, plaintext): the ceiling a
//! user-space encrypted transport is measured against.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Transfer, check_count, encode_count, pieces, tokio_current_thread, tokio_limited};

/// A listener and a client stream already connected to it (the connection waits in the
/// listener's backlog), set up wherever the benchmark runs the transfer.
#[derive(Debug)]
pub(crate) struct TcpPair {
    pub(crate) listener: std::net::TcpListener,
    pub(crate) client: std::net::TcpStream,
}

impl TcpPair {
    fn loopback() -> Result<Self, String> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let client = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        Ok(TcpPair { listener, client })
    }
}

pub(super) fn run(bytes: u64) -> Result<Transfer, String> {
    run_over(TcpPair::loopback()?, bytes)
}

/// The exchange on an already connected pair. The clock starts when the client's first
/// write begins (the connection is established by then).
pub(crate) fn run_over(pair: TcpPair, bytes: u64) -> Result<Transfer, String> {
    let TcpPair { listener, client } = pair;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    client.set_nonblocking(true).map_err(|e| e.to_string())?;
    let server = std::thread::spawn(move || {
        tokio_current_thread().block_on(tokio_limited(async move {
            let listener = TcpListener::from_std(listener).map_err(|e| e.to_string())?;
            let (mut stream, _) = listener.accept().await.map_err(|e| format!("accept: {e}"))?;
            let mut buf = vec![0u8; super::WRITE_SIZE];
            let mut count = 0u64;
            loop {
                match stream.read(&mut buf).await.map_err(|e| format!("read: {e}"))? {
                    0 => break,
                    n => count += n as u64,
                }
            }
            stream.write_all(&encode_count(count)).await.map_err(|e| format!("answer: {e}"))?;
            stream.shutdown().await.map_err(|e| e.to_string())
        }))
    });
    let client = tokio_current_thread().block_on(tokio_limited(async move {
        let mut stream = TcpStream::from_std(client).map_err(|e| e.to_string())?;
        let start = Instant::now();
        for piece in pieces(bytes) {
            stream.write_all(&piece).await.map_err(|e| format!("write: {e}"))?;
        }
        stream.shutdown().await.map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.map_err(|e| format!("answer: {e}"))?;
        let elapsed = start.elapsed();
        check_count(&answer, bytes)?;
        Ok(elapsed)
    }));
    let server = server.join().map_err(|_| "server thread panicked".to_string())?;
    let elapsed = client?;
    server?;
    Ok(Transfer { bytes, elapsed, udp_syscalls: None })
}
