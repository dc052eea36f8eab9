//! A perf run's results: the text table people read and the JSON object scripts read.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// What a perf client measured. The first fields are the documented JSON interface
/// (`--json`); the rest add context.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// Application bytes the server confirmed (upload) or echoed (echo), one way.
    pub(crate) bytes: u64,
    /// From the established connection to the last confirmation.
    pub(crate) seconds: f64,
    /// `bytes` in megabits (10^6) per second.
    pub(crate) mbps: f64,
    /// Writes (upload) or round trips (echo) per second.
    pub(crate) msgs_per_s: f64,
    pub(crate) rtt_p50_us: u64,
    pub(crate) rtt_p99_us: u64,
    pub(crate) rtt_p999_us: u64,
    /// Packets the client sent again after declaring them lost.
    pub(crate) retransmitted_packets: u64,
    /// Packets the client declared lost.
    pub(crate) lost_packets: u64,
    pub(crate) mode: &'static str,
    pub(crate) runtime: &'static str,
    pub(crate) cipher: String,
    pub(crate) streams: u16,
    pub(crate) msg_size: usize,
    pub(crate) handshake_ms: f64,
    /// `transport` (the connection's RTT samples, upload) or `messages` (each echo, echo).
    pub(crate) rtt_source: &'static str,
    pub(crate) rtt_samples: u64,
    pub(crate) messages: u64,
    pub(crate) client_cpu_s: Option<f64>,
    /// The server process's CPU time during the run (all its connections).
    pub(crate) server_cpu_s: Option<f64>,
}

/// The p50, p99 and p99.9 of a histogram in microseconds (zeros when it is empty).
pub(crate) fn percentiles(histogram: &Histogram<u64>) -> [u64; 3] {
    if histogram.is_empty() {
        return [0; 3];
    }
    [50.0, 99.0, 99.9].map(|q| histogram.value_at_quantile(q / 100.0))
}

/// `us` microseconds as `850 µs` or `1.25 ms`.
pub(crate) fn micros(us: u64) -> String {
    if us < 1000 { format!("{us} µs") } else { format!("{:.2} ms", us as f64 / 1000.0) }
}

/// `bytes` as `1.50 GiB`, `12.0 MiB` or `512 B`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    UNITS
        .iter()
        .find(|(_, unit)| bytes >= *unit)
        .map_or_else(|| format!("{bytes} B"), |(name, unit)| format!("{:.2} {name}", bytes as f64 / *unit as f64))
}

/// `mbps` as `950.3 Mbit/s` or `12.41 Gbit/s`.
pub(crate) fn rate(mbps: f64) -> String {
    if mbps >= 1000.0 { format!("{:.2} Gbit/s", mbps / 1000.0) } else { format!("{mbps:.1} Mbit/s") }
}

fn cpu(seconds: Option<f64>, run: f64) -> String {
    match seconds {
        Some(s) => format!("{s:.2} s ({:.0}% of a core)", 100.0 * s / run.max(1e-9)),
        None => "unknown".to_string(),
    }
}

impl Report {
    /// Rates from the totals.
    pub(crate) fn rates(bytes: u64, messages: u64, elapsed: Duration) -> (f64, f64, f64) {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        (seconds, bytes as f64 * 8.0 / seconds / 1e6, messages as f64 / seconds)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.mode == "echo" { "round trips" } else { "writes" };
        writeln!(
            f,
            "{} on {} stream(s), {}-byte messages, {} runtime, {}",
            self.mode, self.streams, self.msg_size, self.runtime, self.cipher
        )?;
        writeln!(f, "  handshake      {:.2} ms", self.handshake_ms)?;
        writeln!(f, "  transferred    {} in {:.2} s", size(self.bytes), self.seconds)?;
        writeln!(f, "  throughput     {}", rate(self.mbps))?;
        writeln!(f, "  messages       {:.0} {unit}/s", self.msgs_per_s)?;
        writeln!(
            f,
            "  RTT ({})  p50 {}  p99 {}  p99.9 {}  ({} samples)",
            self.rtt_source,
            micros(self.rtt_p50_us),
            micros(self.rtt_p99_us),
            micros(self.rtt_p999_us),
            self.rtt_samples
        )?;
        writeln!(f, "  retransmitted  {} packets ({} declared lost)", self.retransmitted_packets, self.lost_packets)?;
        writeln!(f, "  CPU, client    {}", cpu(self.client_cpu_s, self.seconds))?;
        write!(f, "  CPU, server    {}", cpu(self.server_cpu_s, self.seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_naturally() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(3 << 20), "3.00 MiB");
        assert_eq!(rate(950.26), "950.3 Mbit/s");
        assert_eq!(rate(12_410.0), "12.41 Gbit/s");
        assert_eq!(micros(850), "850 µs");
        assert_eq!(micros(1250), "1.25 ms");
    }

    #[test]
    fn percentiles_are_ordered_and_empty_is_zero() {
        let mut h = crate::perf::new_histogram();
        assert_eq!(percentiles(&h), [0; 3]);
        for us in 1..=10_000 {
            h.record(us).expect("in range");
        }
        let [p50, p99, p999] = percentiles(&h);
        assert!((4990..=5010).contains(&p50), "{p50}");
        assert!(p50 <= p99 && p99 <= p999 && p999 <= 10_010, "{p50} {p99} {p999}");
    }
}
