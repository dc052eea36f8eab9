//! What a run reports: `summary.json` and the table printed on stdout.

use crate::link::LinkStats;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// RTT samples in logarithmic buckets 1% wide: percentiles within 1% in bounded memory,
/// however long the run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    buckets: BTreeMap<u32, u64>,
    count: u64,
}

/// Bucket width: each bucket spans a factor of 1.01.
const GROWTH: f64 = 1.01;

impl Histogram {
    /// Records one sample, in microseconds.
    pub(crate) fn record(&mut self, micros: u64) {
        let bucket = ((micros.max(1) as f64).ln() / GROWTH.ln()).floor() as u32;
        *self.buckets.entry(bucket).or_default() += 1;
        self.count += 1;
    }

    /// The `q`-quantile (0..=1) in microseconds (the bucket's geometric middle), `None`
    /// without samples.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count.max(1));
        let mut seen = 0;
        for (&bucket, &n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(GROWTH.powf(f64::from(bucket) + 0.5));
            }
        }
        None
    }

    /// The smallest sample's bucket floor, in microseconds.
    pub(crate) fn min(&self) -> Option<f64> {
        self.buckets.keys().next().map(|&b| GROWTH.powf(f64::from(b)))
    }

    /// Adds another histogram's samples.
    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (&b, &n) in &other.buckets {
            *self.buckets.entry(b).or_default() += n;
        }
        self.count += other.count;
    }
}

/// One connection's results.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConnectionSummary {
    /// Index in the scenario (file order).
    pub connection: usize,
    /// Application kind.
    pub app: String,
    /// Bytes the application received.
    pub delivered_bytes: u64,
    /// Bytes it set out to deliver.
    pub expected_bytes: u64,
    /// Received bytes that did not match what was sent (0 unless something is broken).
    pub corrupted_bytes: u64,
    /// Delivered bits per second from the connection's start to its completion (or the end
    /// of the run), in Mbit/s.
    pub goodput_mbps: f64,
    /// Seconds from the connection's start to the application's completion; `null` if it
    /// did not complete.
    pub completion_s: Option<f64>,
    /// Whether the handshake completed.
    pub connected: bool,
    /// Packets the data sender sent again after losses, both sides summed.
    pub retransmitted_packets: u64,
    /// Packets declared lost, both sides summed.
    pub lost_packets: u64,
    /// Median RTT sample in ms (`null` without samples).
    pub rtt_p50_ms: Option<f64>,
    /// 99th percentile RTT sample in ms.
    pub rtt_p99_ms: Option<f64>,
    /// Smallest RTT sample in ms (bucket floor, within 1%).
    pub rtt_min_ms: Option<f64>,
    /// How the connection ended, if it did.
    pub error: Option<String>,
}

/// Totals over all connections.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Totals {
    /// Connections in the scenario.
    pub connections: usize,
    /// Connections whose application completed.
    pub completed: usize,
    /// Sum of delivered bytes.
    pub delivered_bytes: u64,
    /// Sum of expected bytes.
    pub expected_bytes: u64,
    /// Sum of corrupted bytes.
    pub corrupted_bytes: u64,
    /// All delivered bits over the time until the last completion (or the run's end), Mbit/s.
    pub goodput_mbps: f64,
    /// When the last connection completed (`null` if any did not).
    pub completion_s: Option<f64>,
    /// Sum over connections.
    pub retransmitted_packets: u64,
    /// Sum over connections.
    pub lost_packets: u64,
    /// Median of all RTT samples, ms.
    pub rtt_p50_ms: Option<f64>,
    /// 99th percentile of all RTT samples, ms.
    pub rtt_p99_ms: Option<f64>,
}

/// The run itself.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunInfo {
    /// Scenario name.
    pub scenario: String,
    /// `parameter=value` of a sweep run.
    pub sweep: Option<String>,
    /// The seed.
    pub seed: u64,
    /// Simulated seconds until the run stopped.
    pub sim_s: f64,
    /// Events the engine processed.
    pub sim_events: u64,
    /// Datagrams offered to the links.
    pub sim_packets: u64,
    /// Wall-clock seconds the run took (the only field that differs between identical runs).
    pub wall_s: f64,
    /// Why the run stopped: `completed` or `time_limit`.
    pub stopped: String,
}

/// Link counters per direction.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LinkSummary {
    /// Client to server.
    pub up: LinkStats,
    /// Server to client.
    pub down: LinkStats,
    /// Fraction of samples (one per sample interval) in which the upstream bottleneck queue
    /// was at least 90% full.
    pub up_queue_full_fraction: f64,
    /// Same for the downstream queue.
    pub down_queue_full_fraction: f64,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// The run.
    pub run: RunInfo,
    /// Totals.
    pub total: Totals,
    /// Per connection.
    pub connections: Vec<ConnectionSummary>,
    /// The links.
    pub links: LinkSummary,
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

impl Summary {
    /// The human-readable table: totals, then up to `max_rows` connections.
    pub fn table(&self, max_rows: usize) -> String {
        let r = &self.run;
        let t = &self.total;
        let mut out = String::new();
        let sweep = r.sweep.as_ref().map_or(String::new(), |s| format!(" [{s}]"));
        let _ = writeln!(
            out,
            "{}{sweep} seed {}: {:.2} s simulated ({}), {} events, {} packets, {:.2} s wall",
            r.scenario, r.seed, r.sim_s, r.stopped, r.sim_events, r.sim_packets, r.wall_s
        );
        let _ = writeln!(
            out,
            "{:>6} {:>18} {:>12} {:>10} {:>8} {:>8} {:>9} {:>9}  note",
            "conn", "delivered/expected", "goodput", "complete", "retx", "lost", "rtt p50", "rtt p99"
        );
        for c in self.connections.iter().take(max_rows) {
            let note = match (&c.error, c.corrupted_bytes) {
                (_, n) if n > 0 => format!("{n} CORRUPTED BYTES"),
                (Some(e), _) => e.clone(),
                (None, _) => String::new(),
            };
            TableRow {
                name: c.connection.to_string(),
                delivered: c.delivered_bytes,
                expected: c.expected_bytes,
                goodput_mbps: c.goodput_mbps,
                completion_s: c.completion_s,
                retransmitted: c.retransmitted_packets,
                lost: c.lost_packets,
                rtt_p50_ms: c.rtt_p50_ms,
                rtt_p99_ms: c.rtt_p99_ms,
                note,
            }
            .write(&mut out);
        }
        if self.connections.len() > max_rows {
            let _ = writeln!(out, "{:>6} ({} more in summary.json)", "…", self.connections.len() - max_rows);
        }
        TableRow {
            name: "total".into(),
            delivered: t.delivered_bytes,
            expected: t.expected_bytes,
            goodput_mbps: t.goodput_mbps,
            completion_s: t.completion_s,
            retransmitted: t.retransmitted_packets,
            lost: t.lost_packets,
            rtt_p50_ms: t.rtt_p50_ms,
            rtt_p99_ms: t.rtt_p99_ms,
            note: format!("{}/{} completed", t.completed, t.connections),
        }
        .write(&mut out);
        let (u, d) = (&self.links.up, &self.links.down);
        let _ = writeln!(
            out,
            "link up: {} offered, {} lost, {} queue drops (max queue {}); down: {} offered, {} lost, {} queue drops (max queue {})",
            u.offered,
            u.dropped_loss,
            u.dropped_queue,
            human(u.max_queue_bytes),
            d.offered,
            d.dropped_loss,
            d.dropped_queue,
            human(d.max_queue_bytes)
        );
        out
    }
}

/// One line of the table.
struct TableRow {
    name: String,
    delivered: u64,
    expected: u64,
    goodput_mbps: f64,
    completion_s: Option<f64>,
    retransmitted: u64,
    lost: u64,
    rtt_p50_ms: Option<f64>,
    rtt_p99_ms: Option<f64>,
    note: String,
}

impl TableRow {
    fn write(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "{:>6} {:>18} {:>7.2} Mb/s {:>10} {:>8} {:>8} {:>9} {:>9}  {}",
            self.name,
            format!("{}/{}", human(self.delivered), human(self.expected)),
            self.goodput_mbps,
            self.completion_s.map_or_else(|| "no".into(), |s| format!("{s:.3}s")),
            self.retransmitted,
            self.lost,
            fmt_opt(self.rtt_p50_ms, 2),
            fmt_opt(self.rtt_p99_ms, 2),
            self.note
        );
    }
}

/// `1.5 MiB`-style byte counts.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_one_percent() {
        let mut h = Histogram::default();
        for us in 1..=10_000u64 {
            h.record(us * 10);
        }
        let p50 = h.quantile(0.5).expect("samples");
        let p99 = h.quantile(0.99).expect("samples");
        assert!((p50 / 50_000.0 - 1.0).abs() < 0.011, "{p50}");
        assert!((p99 / 99_000.0 - 1.0).abs() < 0.011, "{p99}");
        assert!(h.min().expect("samples") <= 10.0);
        assert_eq!(Histogram::default().quantile(0.5), None);
        let mut merged = Histogram::default();
        merged.merge(&h);
        assert_eq!(merged.count, 10_000);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(64 << 20), "64.0 MiB");
    }
}
