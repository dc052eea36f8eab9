//! Payload-size sweep: bulk throughput on one connection and one stream for a given
//! application write size.
//!
//! The client writes `bytes` in writes of `size` bytes, finishes the stream, and waits for
//! the server's answer: the byte count it read. The clock runs from the established
//! connection (the handshake is not timed; opening the stream is) until the client holds
//! that count, so every byte has been read by the server, as in the bulk benchmark.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::server::{ServerThread, run_client};
use super::transport::{Conn, Dialer, Peer};
use crate::bulk::{TIME_LIMIT, Writes, check_count, encode_count, payload};

/// The write sizes the sweep measures: a small message, a typical RPC, one datagram's
/// worth, and two bulk sizes.
pub const SIZES: [usize; 5] = [64, 512, 1400, 8 << 10, 64 << 10];

/// What one transfer measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Application bytes delivered (confirmed by the server's count).
    pub bytes: u64,
    /// Bytes per application write.
    pub write_size: usize,
    /// From the established connection to the server's count arriving.
    pub seconds: f64,
}

impl Throughput {
    /// Application throughput in Mbit/s.
    pub fn mbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.seconds / 1e6
    }

    /// Application writes (messages) per second, one way.
    pub fn messages_per_s(&self) -> f64 {
        self.bytes.div_ceil(self.write_size as u64) as f64 / self.seconds
    }
}

/// Moves `bytes` from a client to a server of `peer` in `writes` and times it.
pub fn run(peer: Peer, writes: Writes, bytes: u64) -> Result<Throughput, String> {
    writes.check()?;
    let server = ServerThread::spawn(peer, TIME_LIMIT, |mut conn| async move {
        match count_and_answer(&mut conn).await {
            // The answer must reach the client before the connection goes.
            Ok(()) => conn.closed().await,
            Err(_) => conn.close(),
        }
    })?;
    let ticket = server.ticket.clone();
    let elapsed = run_client(TIME_LIMIT, async move {
        let dialer = Dialer::new(peer, &ticket)?;
        let mut conn = dialer.connect().await?;
        let elapsed = send_and_confirm(&mut conn, writes, bytes).await?;
        conn.close();
        dialer.wait_idle().await;
        Ok(elapsed)
    })?;
    server.stop()?;
    Ok(Throughput { bytes, write_size: writes.size, seconds: elapsed.as_secs_f64() })
}

/// The client's timed part: open a stream, write, finish, read the server's count.
async fn send_and_confirm(conn: &mut Conn, writes: Writes, bytes: u64) -> Result<Duration, String> {
    let payload = payload();
    let start = Instant::now();
    let mut channel = conn.open().await?;
    for n in writes.lengths(bytes) {
        if writes.copy {
            channel.send.write_all(&payload[..n]).await?;
        } else {
            channel.send.write_chunk(payload.slice(..n)).await?;
        }
    }
    channel.send.finish().await?;
    let mut answer = Vec::with_capacity(8);
    // One byte more than a count may hold, so a longer answer shows.
    (&mut channel.recv).take(9).read_to_end(&mut answer).await.map_err(|e| format!("answer: {e}"))?;
    let elapsed = start.elapsed();
    check_count(&answer, bytes)?;
    Ok(elapsed)
}

/// The server's part: read the client's stream to its end and answer with the count.
async fn count_and_answer(conn: &mut Conn) -> Result<(), String> {
    let mut channel = conn.accept().await.ok_or("the connection ended before a stream arrived")?;
    let mut buf = vec![0u8; 64 << 10];
    let mut count = 0u64;
    loop {
        match channel.recv.read(&mut buf).await.map_err(|e| format!("read: {e}"))? {
            0 => break,
            n => count += n as u64,
        }
    }
    channel.send.write_all(&encode_count(count)).await?;
    channel.send.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::Cipher;

    #[test]
    fn every_peer_delivers_small_and_large_writes() {
        let peers = [Peer::Jetstream(Cipher::Aes256Gcm), Peer::Quinn(Cipher::ChaCha20Poly1305), Peer::Tcp];
        for peer in peers {
            for (size, copy, bytes) in [(64, true, 64 * 1000 + 17), (64 << 10, false, 1 << 20)] {
                let t = run(peer, Writes { size, copy }, bytes).unwrap_or_else(|e| panic!("{peer} {size}: {e}"));
                assert_eq!(t.bytes, bytes, "{peer}");
                assert!(t.seconds > 0.0 && t.mbit_per_s() > 0.0, "{peer}: {t:?}");
                let messages = t.messages_per_s() * t.seconds;
                assert!((messages - bytes.div_ceil(size as u64) as f64).abs() < 0.5, "{peer}: {t:?}");
            }
        }
        assert!(run(Peer::Tcp, Writes { size: 0, copy: true }, 10).is_err());
    }
}
