//! `jetstream perf`: an iperf-like client and server. The client either uploads (the
//! server counts and confirms the bytes) or runs request/response echoes, on one or more
//! streams of one connection, and reports throughput, messages per second, RTT
//! percentiles from an HDR histogram, retransmissions and CPU time.

pub(crate) mod client;
pub(crate) mod mio_peer;
mod protocol;
pub(crate) mod report;
pub(crate) mod server;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use jetstream_core::{PublicKey, TransportConfig};

pub(crate) use report::Report;

/// What the client measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Streams of data the server counts: throughput.
    Upload,
    /// Messages the server echoes, one at a time per stream: round-trip latency.
    Echo,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Upload => "upload",
            Mode::Echo => "echo",
        }
    }
}

/// A perf client run.
#[derive(Debug, Clone)]
pub(crate) struct ClientOptions {
    pub(crate) server: SocketAddr,
    pub(crate) server_key: PublicKey,
    pub(crate) transport: TransportConfig,
    pub(crate) mode: Mode,
    /// Streams used at once (for echo: messages in flight).
    pub(crate) streams: u16,
    /// Bytes per write (upload) or per message (echo).
    pub(crate) msg_size: usize,
    /// Stop after this many bytes in all (whichever of bytes and duration comes first).
    pub(crate) bytes: Option<u64>,
    /// Stop after this long.
    pub(crate) duration: Option<Duration>,
    pub(crate) connect_timeout: Duration,
    /// Show a progress bar on stderr (when it is a terminal).
    pub(crate) progress: bool,
    /// See `EndpointOptions::busy_poll`.
    pub(crate) busy_poll: Option<Duration>,
}

/// Histogram bounds: 1 µs to 60 s at 3 significant digits.
const RTT_MAX_US: u64 = 60_000_000;

/// A latency histogram in microseconds.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, RTT_MAX_US, 3).expect("the bounds are valid constants")
}

/// Records `rtt` (clamped into the histogram's range).
pub(crate) fn record(histogram: &mut Histogram<u64>, rtt: Duration) {
    let us = u64::try_from(rtt.as_micros()).unwrap_or(RTT_MAX_US).clamp(1, RTT_MAX_US);
    histogram.record(us).expect("clamped into the histogram's bounds");
}

/// The work the client's streams share: bytes still to send and the deadline. Streams take
/// a message's worth at a time, so they all stop together.
#[derive(Debug)]
pub(crate) struct Budget {
    bytes_left: Option<AtomicU64>,
    deadline: Option<Instant>,
    taken: AtomicU64,
}

impl Budget {
    pub(crate) fn new(bytes: Option<u64>, duration: Option<Duration>, start: Instant) -> Self {
        Budget {
            bytes_left: bytes.map(AtomicU64::new),
            deadline: duration.map(|d| start + d),
            taken: AtomicU64::new(0),
        }
    }

    /// Up to `want` bytes to send now; 0 once the budget or the time is spent.
    pub(crate) fn take(&self, want: usize) -> usize {
        if self.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return 0;
        }
        let want = want as u64;
        let granted = match &self.bytes_left {
            None => want,
            // The closure always returns `Some`, so this is `Ok(before)`.
            Some(left) => match left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| Some(l - l.min(want))) {
                Ok(before) | Err(before) => before.min(want),
            },
        };
        self.taken.fetch_add(granted, Ordering::Relaxed);
        granted as usize
    }

    /// Bytes handed out so far.
    pub(crate) fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }

    /// The total when known: bytes for a byte budget, else nothing.
    pub(crate) fn total_bytes(&self) -> Option<u64> {
        self.bytes_left.as_ref().map(|left| left.load(Ordering::Relaxed) + self.taken())
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// What one client stream did.
#[derive(Debug)]
pub(crate) struct StreamOutcome {
    /// Bytes the server confirmed (upload) or echoed back (echo).
    pub(crate) bytes: u64,
    /// Writes (upload) or round trips (echo).
    pub(crate) messages: u64,
    /// Round trips (echo only).
    pub(crate) latencies: Histogram<u64>,
}

/// The totals of a client run, before they become a [`Report`].
#[derive(Debug)]
pub(crate) struct Measured {
    pub(crate) bytes: u64,
    pub(crate) messages: u64,
    pub(crate) elapsed: Duration,
    pub(crate) rtt: Histogram<u64>,
    pub(crate) stats: jetstream_core::ConnectionStats,
    pub(crate) client_cpu: Option<Duration>,
    pub(crate) server_cpu: Option<Duration>,
}

/// How the connection of a run came about.
#[derive(Debug)]
pub(crate) struct Setup {
    pub(crate) runtime: &'static str,
    pub(crate) cipher: String,
    pub(crate) handshake: Duration,
}

impl Measured {
    pub(crate) fn into_report(self, options: &ClientOptions, setup: Setup) -> Report {
        let [rtt_p50_us, rtt_p99_us, rtt_p999_us] = report::percentiles(&self.rtt);
        let (seconds, mbps, msgs_per_s) = Report::rates(self.bytes, self.messages, self.elapsed);
        Report {
            bytes: self.bytes,
            seconds,
            mbps,
            msgs_per_s,
            rtt_p50_us,
            rtt_p99_us,
            rtt_p999_us,
            retransmitted_packets: self.stats.packets_retransmitted,
            lost_packets: self.stats.packets_lost,
            mode: options.mode.name(),
            runtime: setup.runtime,
            cipher: setup.cipher,
            streams: options.streams,
            msg_size: options.msg_size,
            handshake_ms: setup.handshake.as_secs_f64() * 1000.0,
            rtt_source: match options.mode {
                Mode::Upload => "transport",
                Mode::Echo => "messages",
            },
            rtt_samples: self.rtt.len(),
            messages: self.messages,
            client_cpu_s: self.client_cpu.map(|d| d.as_secs_f64()),
            server_cpu_s: self.server_cpu.map(|d| d.as_secs_f64()),
        }
    }
}

/// The payload of every write: `msg_size` bytes of a pattern, so echoes can be checked.
pub(crate) fn payload(msg_size: usize) -> Vec<u8> {
    (0..msg_size).map(|i| (i as u8).wrapping_mul(31).wrapping_add(7)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_budget_is_handed_out_exactly() {
        let budget = Budget::new(Some(1000), None, Instant::now());
        assert_eq!(budget.total_bytes(), Some(1000));
        let mut got = 0;
        while let n @ 1.. = budget.take(300) {
            got += n;
        }
        assert_eq!(got, 1000);
        assert_eq!(budget.take(300), 0);
        assert_eq!(budget.taken(), 1000);
    }

    #[test]
    fn a_time_budget_ends_at_the_deadline() {
        let budget = Budget::new(None, Some(Duration::ZERO), Instant::now());
        assert_eq!(budget.take(64), 0);
        let budget = Budget::new(None, Some(Duration::from_secs(60)), Instant::now());
        assert_eq!(budget.take(64), 64);
        assert_eq!(budget.total_bytes(), None);
    }

    #[test]
    fn latencies_are_clamped_into_the_histogram() {
        let mut h = new_histogram();
        record(&mut h, Duration::ZERO);
        record(&mut h, Duration::from_secs(3600));
        record(&mut h, Duration::from_micros(250));
        assert_eq!(h.len(), 3);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= RTT_MAX_US);
    }
}
