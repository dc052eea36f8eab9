//! Request/response latency with 64-byte messages.
//!
//! Each client task owns one stream and does one round trip at a time: write 64 bytes,
//! read the server's 64-byte echo, check it, repeat. With `in_flight` tasks that many
//! requests are outstanding at once: on jetstream and quinn as that many streams of one
//! connection, on TCP (one stream per connection) as that many connections. A round trip
//! is timed from just before the write to the last echoed byte read. After a warm-up, the
//! round trips that start and end inside the measurement window are recorded; the rate is
//! their count over the window.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::percentiles::{Percentiles, Recorder};
use super::server::{ServerThread, run_client};
use super::transport::{Channel, Conn, Dialer, Peer};

/// Bytes of a request and of its response.
pub const MESSAGE: usize = 64;

/// Round trips one task makes at most (a bound far above what a window allows).
const MAX_TRIPS: u64 = 100_000_000;

/// What one run measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Requests outstanding at once.
    pub in_flight: usize,
    /// Round trips recorded in the window.
    pub round_trips: u64,
    /// Length of the window.
    pub seconds: f64,
    /// Round-trip latencies.
    pub percentiles: Percentiles,
}

impl Latency {
    /// Completed requests per second.
    pub fn requests_per_s(&self) -> f64 {
        self.round_trips as f64 / self.seconds
    }
}

/// Measures `peer` with `in_flight` concurrent one-at-a-time requesters for `window` after
/// a warm-up of a quarter of it (at most 500 ms).
pub fn run(peer: Peer, in_flight: usize, window: Duration) -> Result<Latency, String> {
    if in_flight == 0 || (peer.multiplexed() && in_flight > 100) {
        return Err(format!("{in_flight} requests in flight: 1 to 100 (quinn's and our default stream limit)"));
    }
    let limit = window * 2 + Duration::from_secs(30);
    let server = ServerThread::spawn(peer, limit, |mut conn| async move {
        while let Some(channel) = conn.accept().await {
            tokio::task::spawn_local(echo(channel));
        }
    })?;
    let ticket = server.ticket.clone();
    let latency = run_client(limit, async move {
        let dialer = Dialer::new(peer, &ticket)?;
        let (conns, channels) = open_channels(&dialer, peer, in_flight).await?;
        let warm_up = (window / 4).min(Duration::from_millis(500));
        let start = Instant::now() + warm_up;
        let end = start + window;
        let tasks: Vec<_> = channels
            .into_iter()
            .enumerate()
            .map(|(i, channel)| tokio::task::spawn_local(round_trips(channel, i as u64, start, end)))
            .collect();
        let mut all = Recorder::new();
        for task in tasks {
            all.merge(&task.await.map_err(|e| format!("a requester failed: {e}"))??);
        }
        conns.into_iter().for_each(Conn::close);
        dialer.wait_idle().await;
        let percentiles = all.percentiles().ok_or("no round trip completed in the window")?;
        Ok(Latency { in_flight, round_trips: all.count(), seconds: window.as_secs_f64(), percentiles })
    })?;
    server.stop()?;
    Ok(latency)
}

/// `n` streams: of one connection where the peer multiplexes, else one connection each.
async fn open_channels(dialer: &Dialer, peer: Peer, n: usize) -> Result<(Vec<Conn>, Vec<Channel>), String> {
    let mut conns = Vec::new();
    let mut channels = Vec::with_capacity(n);
    for _ in 0..n {
        if conns.is_empty() || !peer.multiplexed() {
            conns.push(dialer.connect().await?);
        }
        let conn = conns.last_mut().expect("a connection was just opened");
        channels.push(conn.open().await?);
    }
    Ok((conns, channels))
}

/// One requester: round trips until `end`, recording those inside `start..end`.
async fn round_trips(mut channel: Channel, id: u64, start: Instant, end: Instant) -> Result<Recorder, String> {
    let mut recorder = Recorder::new();
    let mut request = [0u8; MESSAGE];
    let mut response = [0u8; MESSAGE];
    request[..8].copy_from_slice(&id.to_le_bytes());
    for trip in 0..MAX_TRIPS {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        request[8..16].copy_from_slice(&trip.to_le_bytes());
        channel.send.write_all(&request).await?;
        channel.recv.read_exact(&mut response).await.map_err(|e| format!("response: {e}"))?;
        let done = Instant::now();
        if response != request {
            return Err("the echo differs from the request".into());
        }
        if sent >= start && done <= end {
            recorder.record(done - sent);
        }
    }
    channel.send.finish().await?;
    Ok(recorder)
}

/// The server's side of one stream: echo 64-byte messages until the stream ends.
async fn echo(mut channel: Channel) {
    let mut message = [0u8; MESSAGE];
    for _ in 0..MAX_TRIPS {
        if channel.recv.read_exact(&mut message).await.is_err() || channel.send.write_all(&message).await.is_err() {
            return;
        }
    }
}

/// Shared by the tests of the sections that record latencies.
#[cfg(test)]
pub(crate) fn assert_sane(p: &Percentiles, what: &str) {
    assert!(p.count > 0, "{what}: no samples");
    assert!(p.ordered(), "{what}: percentiles out of order: {p:?}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::Cipher;

    #[test]
    fn one_and_many_in_flight_give_ordered_percentiles() {
        let peers = [Peer::Jetstream(Cipher::ChaCha20Poly1305), Peer::Quinn(Cipher::Aes256Gcm), Peer::Tcp];
        for peer in peers {
            for in_flight in [1, 100] {
                let l = run(peer, in_flight, Duration::from_millis(150)).unwrap_or_else(|e| panic!("{peer}: {e}"));
                assert_sane(&l.percentiles, &format!("{peer} x{in_flight}"));
                assert_eq!(l.percentiles.count, l.round_trips);
                assert!(l.requests_per_s() > 0.0);
            }
        }
        assert!(run(Peer::Tcp, 0, Duration::from_millis(10)).is_err());
    }
}
