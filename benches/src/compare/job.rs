//! One measurement as a value: what the parent process hands a child process (as JSON on
//! its command line) and what the child hands back (as JSON on stdout).

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::handshake::{self, Handshakes};
use super::latency::{self, Latency};
use super::memory::{self, Footprint};
use super::payload::{self, Throughput};
use super::transport::Peer;
use crate::bulk::{Cipher, Writes};

/// One measurement of one peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Job {
    /// A transfer of `bytes` in `writes` (see [`payload`]).
    Payload {
        /// The implementation.
        peer: Peer,
        /// Write size and call.
        writes: Writes,
        /// Bytes moved.
        bytes: u64,
    },
    /// Round trips with `in_flight` requests outstanding (see [`latency`]).
    Latency {
        /// The implementation.
        peer: Peer,
        /// Requests outstanding at once.
        in_flight: usize,
        /// Measurement window in milliseconds.
        window_ms: u64,
    },
    /// Handshake latency, rate and server cost (see [`handshake`]).
    Handshake {
        /// The implementation.
        peer: Peer,
        /// Client tasks connecting at once in the rate phase.
        concurrency: usize,
        /// Rate window in milliseconds.
        window_ms: u64,
        /// The server thread's CPU cap in the rate phase, percent of a core.
        #[serde(default)]
        server_quota: Option<u8>,
    },
    /// Server memory at increasing numbers of idle connections (see [`memory`]).
    Memory {
        /// The implementation.
        peer: Peer,
        /// Connection counts, increasing.
        levels: Vec<usize>,
    },
}

/// What a job measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Of [`Job::Payload`].
    Payload(Throughput),
    /// Of [`Job::Latency`].
    Latency(Latency),
    /// Of [`Job::Handshake`].
    Handshake(Handshakes),
    /// Of [`Job::Memory`].
    Memory(Footprint),
}

impl Job {
    /// Runs the measurement in this process; `server_exe` is the comparison binary (the
    /// memory measurement starts its server from it).
    pub fn run(&self, server_exe: &Path) -> Result<Outcome, String> {
        match self {
            Job::Payload { peer, writes, bytes } => payload::run(*peer, *writes, *bytes).map(Outcome::Payload),
            Job::Latency { peer, in_flight, window_ms } => {
                latency::run(*peer, *in_flight, Duration::from_millis(*window_ms)).map(Outcome::Latency)
            }
            Job::Handshake { peer, concurrency, window_ms, server_quota } => {
                handshake::run(*peer, *concurrency, Duration::from_millis(*window_ms), *server_quota)
                    .map(Outcome::Handshake)
            }
            Job::Memory { peer, levels } => memory::run(*peer, levels, server_exe).map(Outcome::Memory),
        }
    }

    /// The table column this job's values go to: the peer's short name (`js`, `quinn`,
    /// `tcp` and the cipher), `-chunk` for zero-copy writes.
    pub fn column(&self) -> String {
        let peer = match self {
            Job::Payload { peer, .. }
            | Job::Latency { peer, .. }
            | Job::Handshake { peer, .. }
            | Job::Memory { peer, .. } => *peer,
        };
        let name = short_name(peer);
        match self {
            Job::Payload { writes, .. } if !writes.copy && peer != Peer::Tcp => format!("{name}-chunk"),
            _ => name,
        }
    }

    /// How long the parent waits for the child running this job before killing it: beyond
    /// the limit the measurement sets itself.
    pub fn time_limit(&self) -> Duration {
        let margin = Duration::from_secs(120);
        match self {
            Job::Payload { .. } => crate::bulk::TIME_LIMIT + margin,
            Job::Latency { window_ms, .. } | Job::Handshake { window_ms, .. } => {
                Duration::from_millis(window_ms.saturating_mul(3)) + margin
            }
            Job::Memory { .. } => memory::TIME_LIMIT + margin,
        }
    }
}

/// `js-aes`, `quinn-chacha`, `tcp`, ...: short enough for table columns.
pub fn short_name(peer: Peer) -> String {
    let cipher = |c: Cipher| match c {
        Cipher::Aes256Gcm => "aes",
        Cipher::Aes128Gcm => "aes128",
        Cipher::ChaCha20Poly1305 => "chacha",
    };
    match peer {
        Peer::Jetstream(c) => format!("js-{}", cipher(c)),
        Peer::JetstreamBusyPoll(c) => format!("js-{}-busy", cipher(c)),
        Peer::Quinn(c) => format!("quinn-{}", cipher(c)),
        Peer::Tcp => "tcp".into(),
    }
}

/// A write size as a row name: `64 B`, `8 KiB`.
pub fn size_name(size: usize) -> String {
    if size >= 1024 && size % 1024 == 0 { format!("{} KiB", size / 1024) } else { format!("{size} B") }
}

impl Outcome {
    /// The values this outcome puts in its section's table, by row name.
    pub fn cells(&self) -> Vec<(String, f64)> {
        match self {
            Outcome::Payload(t) => {
                let size = size_name(t.write_size);
                vec![(format!("{size} Mbit/s"), t.mbit_per_s()), (format!("{size} msg/s"), t.messages_per_s())]
            }
            Outcome::Latency(l) => {
                let p = &l.percentiles;
                let mode = format!("{} in flight", l.in_flight);
                vec![
                    (format!("{mode}: req/s"), l.requests_per_s()),
                    (format!("{mode}: p50 µs"), p.p50_us),
                    (format!("{mode}: p95 µs"), p.p95_us),
                    (format!("{mode}: p99 µs"), p.p99_us),
                    (format!("{mode}: p99.9 µs"), p.p999_us),
                ]
            }
            Outcome::Handshake(h) => vec![
                ("handshakes/s (measured)".into(), h.per_second()),
                ("server CPU µs per handshake".into(), h.server_cpu_us()),
                ("server handshakes per core-second".into(), h.per_core_second()),
                ("server core load".into(), h.server_load()),
                ("latency p50 µs (one at a time)".into(), h.sequential.p50_us),
                ("latency p99 µs (one at a time)".into(), h.sequential.p99_us),
                ("latency p50 µs (under load)".into(), h.loaded.p50_us),
                ("latency p99 µs (under load)".into(), h.loaded.p99_us),
            ],
            Outcome::Memory(m) => {
                let mut cells = vec![("RSS MiB, no connection".to_string(), m.baseline_kib as f64 / 1024.0)];
                for level in &m.levels {
                    cells.push((format!("RSS MiB, {} conns", level.connections), level.rss_kib as f64 / 1024.0));
                }
                for level in &m.levels {
                    cells.push((format!("KiB per conn, {} conns", level.connections), m.per_connection_kib(level)));
                }
                cells
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_json_and_name_their_columns() {
        let job = Job::Payload {
            peer: Peer::Jetstream(Cipher::Aes256Gcm),
            writes: Writes { size: 64, copy: false },
            bytes: 640,
        };
        let text = serde_json::to_string(&job).expect("serializable");
        assert_eq!(serde_json::from_str::<Job>(&text).expect("parsable"), job);
        assert_eq!(job.column(), "js-aes-chunk");
        let tcp = Job::Latency { peer: Peer::Tcp, in_flight: 1, window_ms: 10 };
        assert_eq!(tcp.column(), "tcp");
        assert_eq!(size_name(64), "64 B");
        assert_eq!(size_name(8192), "8 KiB");
        assert_eq!(size_name(1400), "1400 B");
    }
}
