//! Bulk throughput across a rate-limited, lossy link between two network namespaces.
//!
//! The exchange is the loopback benchmark's (one connection, one stream, the client writes,
//! the server reads everything and answers with the count; the clock runs from the
//! established connection until the client holds the count), carried over a veth pair
//! shaped by `tc qdisc tbf` to [`LossyOptions::rate_mbit`] in each direction, with a share
//! of the packets arriving in *each* namespace dropped at random by `nft` (so data and
//! acknowledgements are both lost). See `link.rs` for the exact setup.
//!
//! Peers: JetStreamProto on jetstream-tokio, quinn 0.11 and kernel TCP, the QUIC-like two
//! with AES-256-GCM. Sockets are bound by a thread that has entered a namespace with
//! `setns`; the transfer then runs in this process like the loopback one. Needs root.
//!
//! What the emulation leaves out: there is no propagation delay, so the RTT is queueing
//! alone (tens of microseconds when the queue is empty) and any window of a few packets
//! fills the link; goodput is lost to stalls (timeouts, delayed acknowledgements) and to
//! windows held at their floor. The shaper sits on the sender's own veth end, so TCP's
//! small-queue limit keeps its packets out of the tbf queue (TCP sees no tbf drops), while
//! a UDP sender whose socket buffer is larger than the queue can overrun it.

mod counters;
mod link;
mod table;
mod transfer;

use std::fmt;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::bulk::SenderStats;
use crate::median;
use link::{LossyLink, Shape};

pub use table::table;

/// Which implementation carries the bytes across the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LossyPeer {
    /// JetStreamProto through jetstream-tokio, AES-256-GCM, GSO on.
    Jetstream,
    /// Kernel TCP (tokio's `TcpStream`, the kernel's default congestion control).
    Tcp,
    /// quinn 0.11 with rustls (ring), TLS_AES_256_GCM_SHA384, GSO on.
    Quinn,
}

impl LossyPeer {
    /// Every peer, in table order.
    pub const ALL: [LossyPeer; 3] = [LossyPeer::Jetstream, LossyPeer::Tcp, LossyPeer::Quinn];

    /// The peer's name in tables.
    pub fn name(self) -> &'static str {
        match self {
            LossyPeer::Jetstream => "jetstream",
            LossyPeer::Tcp => "tcp",
            LossyPeer::Quinn => "quinn",
        }
    }
}

impl fmt::Display for LossyPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LossyOptions {
    /// Bytes moved per transfer.
    pub bytes: u64,
    /// The link's rate in each direction, Mbit/s (tbf `rate`).
    pub rate_mbit: u32,
    /// Random loss levels to measure, in percent of the packets arriving in each namespace.
    pub losses_percent: Vec<u8>,
    /// Rounds per loss level; each runs every peer once, in an order rotated per round.
    pub rounds: u16,
    /// tbf `burst`: bytes that may leave back to back after an idle moment.
    pub burst_bytes: u32,
    /// tbf `limit`: bytes that may wait for tokens; more are dropped (the bottleneck's
    /// buffer).
    pub queue_bytes: u32,
    /// The peers to measure, in table order.
    pub peers: Vec<LossyPeer>,
    /// Whether to draw a progress bar on stderr (only drawn on a terminal).
    pub progress: bool,
}

impl Default for LossyOptions {
    /// 100 Mbit/s with 0, 1, 5 and 10% loss, 50 MB per transfer (about 4.3 s at the
    /// loss-free ~94 Mbit/s), 3 rounds, every peer. The bucket holds 32 KiB (22 full-size
    /// frames, 2.6 ms at the rate; tbf's timer is high-resolution, so it need not cover a
    /// 4 ms tick of HZ=250) and the queue 250 kB (20 ms at the rate, a well-sized
    /// bottleneck buffer: loss-based senders fill it before they back off). A peak rate of
    /// 10x the rate with a 1600-byte peak bucket is added in `link.rs`.
    fn default() -> Self {
        LossyOptions {
            bytes: 50_000_000,
            rate_mbit: 100,
            losses_percent: vec![0, 1, 5, 10],
            rounds: 3,
            burst_bytes: 32 * 1024,
            queue_bytes: 250_000,
            peers: LossyPeer::ALL.to_vec(),
            progress: true,
        }
    }
}

impl LossyOptions {
    fn shape(&self) -> Shape {
        Shape { rate_mbit: self.rate_mbit, burst_bytes: self.burst_bytes, queue_bytes: self.queue_bytes }
    }

    fn check(&self) -> Result<(), String> {
        if self.bytes == 0 || self.rate_mbit == 0 || self.rounds == 0 {
            return Err("bytes, rate and rounds must be positive".into());
        }
        if self.burst_bytes < 2 * 1514 || self.queue_bytes < self.burst_bytes {
            return Err("the tbf bucket must hold two full frames and the queue at least the bucket".into());
        }
        if let Some(p) = self.losses_percent.iter().find(|&&p| p > 100) {
            return Err(format!("a loss of {p}% is not a percentage"));
        }
        if self.losses_percent.is_empty() || self.peers.is_empty() {
            return Err("nothing to measure: no loss level or no peer".into());
        }
        Ok(())
    }
}

/// One transfer's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossyRound {
    /// Application bytes moved, as the server counted them.
    pub bytes: u64,
    /// From the established connection until the client holds the server's count.
    pub elapsed: Duration,
    /// Application bytes over `elapsed`, Mbit/s (10^6 bits).
    pub goodput_mbit: f64,
    /// Packets the loss rule dropped on their way to the server (data, for the most part).
    pub nft_dropped_forward: u64,
    /// Packets the loss rule dropped on their way to the client (acknowledgements).
    pub nft_dropped_reverse: u64,
    /// Packets tbf dropped from a full queue, both directions.
    pub tbf_dropped: u64,
    /// Retransmissions where known: TCP segments the client's namespace retransmitted,
    /// JetStreamProto's retransmitted packets; `None` for quinn (see `sender` for its
    /// lost-packet count).
    pub retransmissions: Option<u64>,
    /// What the sending connection reported (QUIC-like peers only).
    pub sender: Option<SenderStats>,
}

/// One peer at one loss level, over every round.
#[derive(Debug, Clone, PartialEq)]
pub struct LossyRow {
    /// The implementation.
    pub peer: LossyPeer,
    /// The loss applied in each direction, in percent.
    pub loss_percent: u8,
    /// The link's rate in each direction, Mbit/s.
    pub rate_mbit: u32,
    /// Median goodput over the rounds, Mbit/s.
    pub goodput_mbit: f64,
    /// Median completion time over the rounds.
    pub completion: Duration,
    /// Median packets dropped by nft per transfer, both directions.
    pub nft_dropped: u64,
    /// Median retransmissions per transfer where known (see [`LossyRound::retransmissions`]).
    pub retransmissions: Option<u64>,
    /// Every round's figures, in round order (ratios between peers are taken within a
    /// round).
    pub rounds: Vec<LossyRound>,
}

impl LossyRow {
    fn new(peer: LossyPeer, loss_percent: u8, rate_mbit: u32) -> Self {
        LossyRow {
            peer,
            loss_percent,
            rate_mbit,
            goodput_mbit: 0.0,
            completion: Duration::ZERO,
            nft_dropped: 0,
            retransmissions: None,
            rounds: Vec::new(),
        }
    }

    /// Fills in the medians from the rounds.
    fn summarize(&mut self) {
        let of = |f: &dyn Fn(&LossyRound) -> f64| median(&self.rounds.iter().map(f).collect::<Vec<_>>());
        self.goodput_mbit = of(&|r| r.goodput_mbit).unwrap_or(0.0);
        self.completion = Duration::from_secs_f64(of(&|r| r.elapsed.as_secs_f64()).unwrap_or(0.0));
        self.nft_dropped = of(&|r| (r.nft_dropped_forward + r.nft_dropped_reverse) as f64).unwrap_or(0.0) as u64;
        let retransmissions: Vec<f64> =
            self.rounds.iter().filter_map(|r| r.retransmissions.map(|n| n as f64)).collect();
        self.retransmissions = median(&retransmissions).map(|n| n as u64);
    }
}

/// Checks that this machine can run the measurement: `ip`, `tc` and `nft` are installed
/// and this process may create network namespaces (which needs root). Makes a link and
/// deletes it again.
pub fn available() -> Result<(), String> {
    for tool in [["ip", "-V"], ["tc", "-V"], ["nft", "--version"]] {
        link::run(&tool).map_err(|e| format!("{} is needed (iproute2, nftables): {e}", tool[0]))?;
    }
    LossyLink::create(LossyOptions::default().shape()).map(drop).map_err(String::from)
}

/// Measures every peer at every loss level; returns a row per (loss, peer), losses in the
/// order given, peers in table order. Fails on the first transfer that fails (each has
/// the loopback benchmark's time limit, 120 s). The namespaces are deleted on every exit.
pub fn measure(options: &LossyOptions) -> Result<Vec<LossyRow>, String> {
    options.check()?;
    let mut link = LossyLink::create(options.shape())?;
    let progress = progress_bar(options);
    let mut rows = Vec::new();
    for &loss in &options.losses_percent {
        link.set_loss(loss)?;
        let first = rows.len();
        rows.extend(options.peers.iter().map(|&peer| LossyRow::new(peer, loss, options.rate_mbit)));
        let peers = options.peers.len();
        for round in 0..usize::from(options.rounds) {
            for i in 0..peers {
                let row = &mut rows[first + (i + round) % peers];
                progress.set_message(format!("{}% loss, round {}: {}", link.loss_percent(), round + 1, row.peer));
                let result = transfer::run(&link, row.peer, options.bytes)
                    .map_err(|e| format!("{} at {loss}% loss, round {}: {e}", row.peer, round + 1))?;
                row.rounds.push(result);
                progress.inc(1);
            }
        }
    }
    progress.finish_and_clear();
    rows.iter_mut().for_each(LossyRow::summarize);
    Ok(rows)
}

fn progress_bar(options: &LossyOptions) -> ProgressBar {
    let runs = (options.losses_percent.len() * options.peers.len() * usize::from(options.rounds)) as u64;
    let bar = ProgressBar::with_draw_target(
        Some(runs),
        if options.progress { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("a valid progress template"));
    bar
}

#[cfg(test)]
mod tests {
    use super::link::LinkError;
    use super::*;

    /// Whether namespaces can be created here; the test skips only when they cannot for
    /// lack of permission.
    fn namespaces_permitted() -> Result<bool, String> {
        match LossyLink::create(LossyOptions::default().shape()) {
            Ok(_) => Ok(true),
            Err(LinkError::NotPermitted(_)) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn options_are_checked() {
        assert_eq!(LossyOptions::default().check(), Ok(()));
        let bad = |change: fn(&mut LossyOptions)| {
            let mut options = LossyOptions::default();
            change(&mut options);
            options.check().is_err()
        };
        assert!(bad(|o| o.losses_percent = vec![5, 101]));
        assert!(bad(|o| o.losses_percent.clear()));
        assert!(bad(|o| o.rounds = 0));
        assert!(bad(|o| o.queue_bytes = 1000));
    }

    #[test]
    fn every_peer_crosses_the_link_at_five_percent_loss() {
        match namespaces_permitted() {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("SKIPPED lossy_link: creating network namespaces is not permitted here (run as root)");
                return;
            }
            Err(e) => panic!("cannot set up the lossy link: {e}"),
        }
        let options = LossyOptions {
            bytes: 4 << 20,
            losses_percent: vec![5],
            rounds: 1,
            progress: false,
            ..LossyOptions::default()
        };
        let rows = measure(&options).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows.len(), LossyPeer::ALL.len());
        for row in &rows {
            let round = &row.rounds[0];
            assert_eq!((row.loss_percent, round.bytes), (5, options.bytes), "{}", row.peer);
            assert!(
                row.goodput_mbit > 0.0 && row.goodput_mbit < f64::from(options.rate_mbit),
                "{}: {:.1} Mbit/s through a {} Mbit/s link",
                row.peer,
                row.goodput_mbit,
                options.rate_mbit
            );
            // 4 MiB are ~3,000 data packets; 5% of them is ~150.
            assert!(round.nft_dropped_forward > 0, "{}: the loss rule dropped nothing", row.peer);
            if row.peer != LossyPeer::Quinn {
                assert!(row.retransmissions.is_some_and(|n| n > 0), "{}: lost data was not resent", row.peer);
            }
        }
        let text = table(&rows);
        assert!(text.contains("| 5%"), "{text}");
    }
}
