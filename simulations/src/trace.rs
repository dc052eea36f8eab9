//! `trace.jsonl`: one JSON object per line, in simulated-time order, qlog-like.
//!
//! Every line has `t_us` (simulated microseconds) and `event`; the other fields depend on the
//! event (listed in `simulations/README.md`). Lines are formatted by hand from integers and
//! fixed strings, so the same run always writes the same bytes.

use crate::link::DropReason;
use crate::scenario::TraceLevel;
use jetstream_core::Instant;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

impl Way {
    fn as_str(self) -> &'static str {
        match self {
            Way::Up => "up",
            Way::Down => "down",
        }
    }
}

/// Per-connection metrics at one moment (sender or receiver side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MetricsLine {
    /// Congestion window, bytes.
    pub(crate) cwnd: u64,
    /// Bytes in flight.
    pub(crate) bytes_in_flight: u64,
    /// Smoothed RTT, µs.
    pub(crate) srtt_us: u64,
    /// Minimum RTT, µs.
    pub(crate) min_rtt_us: u64,
    /// Pacing rate, bit/s.
    pub(crate) pacing_bps: u64,
    /// Packets declared lost so far.
    pub(crate) lost: u64,
    /// Bytes delivered to the application so far.
    pub(crate) delivered: u64,
}

/// Writes trace lines at the configured level; everything is a no-op at `off`.
pub(crate) struct Tracer {
    level: TraceLevel,
    out: Option<Box<dyn Write>>,
    line: String,
    /// Lines written.
    pub(crate) lines: u64,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").field("level", &self.level).field("lines", &self.lines).finish()
    }
}

impl Tracer {
    /// A tracer writing to `out` at `level` (`None` or `off`: nothing is written).
    pub(crate) fn new(level: TraceLevel, out: Option<Box<dyn Write>>) -> Self {
        let out = if level == TraceLevel::Off { None } else { out };
        Tracer { level, out, line: String::with_capacity(256), lines: 0 }
    }

    /// Whether per-packet events are recorded.
    pub(crate) fn packets(&self) -> bool {
        self.out.is_some() && self.level >= TraceLevel::Packets
    }

    fn emit(&mut self, now: Instant, event: &str, fields: impl FnOnce(&mut String)) -> io::Result<()> {
        let Some(out) = self.out.as_mut() else { return Ok(()) };
        self.line.clear();
        let _ = write!(self.line, "{{\"t_us\":{},\"event\":\"{event}\"", now.as_nanos() / 1000);
        fields(&mut self.line);
        self.line.push_str("}\n");
        self.lines += 1;
        out.write_all(self.line.as_bytes())
    }

    /// A datagram entered the link (`packets` level).
    pub(crate) fn packet_sent(&mut self, now: Instant, conn: usize, way: Way, size: usize) -> io::Result<()> {
        if !self.packets() {
            return Ok(());
        }
        self.emit(now, "packet_sent", |l| {
            let _ = write!(l, ",\"conn\":{conn},\"dir\":\"{}\",\"size\":{size}", way.as_str());
        })
    }

    /// A datagram reached its endpoint (`packets` level).
    pub(crate) fn packet_received(&mut self, now: Instant, conn: usize, way: Way, size: usize) -> io::Result<()> {
        if !self.packets() {
            return Ok(());
        }
        self.emit(now, "packet_received", |l| {
            let _ = write!(l, ",\"conn\":{conn},\"dir\":\"{}\",\"size\":{size}", way.as_str());
        })
    }

    /// The link dropped a datagram.
    pub(crate) fn packet_dropped(
        &mut self,
        now: Instant,
        conn: usize,
        way: Way,
        size: usize,
        reason: DropReason,
    ) -> io::Result<()> {
        let reason = match reason {
            DropReason::Loss => "loss",
            DropReason::QueueFull => "queue_full",
            DropReason::Mtu => "mtu",
            DropReason::Blackout => "blackout",
        };
        self.emit(now, "packet_dropped", |l| {
            let _ = write!(l, ",\"conn\":{conn},\"dir\":\"{}\",\"size\":{size},\"reason\":\"{reason}\"", way.as_str());
        })
    }

    /// A datagram to an address nobody holds any more (after a NAT rebinding).
    pub(crate) fn unroutable(&mut self, now: Instant, size: usize) -> io::Result<()> {
        self.emit(now, "packet_unroutable", |l| {
            let _ = write!(l, ",\"size\":{size}");
        })
    }

    /// The sender declared packets lost since the last sample.
    pub(crate) fn packets_lost(&mut self, now: Instant, conn: usize, side: &str, count: u64) -> io::Result<()> {
        self.emit(now, "packets_lost", |l| {
            let _ = write!(l, ",\"conn\":{conn},\"side\":\"{side}\",\"count\":{count}");
        })
    }

    /// A new RTT sample (`packets` level).
    pub(crate) fn rtt_sample(&mut self, now: Instant, conn: usize, rtt_us: u64) -> io::Result<()> {
        if !self.packets() {
            return Ok(());
        }
        self.emit(now, "rtt_sample", |l| {
            let _ = write!(l, ",\"conn\":{conn},\"rtt_us\":{rtt_us}");
        })
    }

    /// Metrics of a connection's data sender, once per sample interval when they changed.
    pub(crate) fn metrics(&mut self, now: Instant, conn: usize, m: &MetricsLine) -> io::Result<()> {
        self.emit(now, "metrics_updated", |l| {
            let _ = write!(
                l,
                ",\"conn\":{conn},\"cwnd\":{},\"bytes_in_flight\":{},\"srtt_us\":{},\"min_rtt_us\":{},\"pacing_bps\":{},\"lost\":{},\"delivered\":{}",
                m.cwnd, m.bytes_in_flight, m.srtt_us, m.min_rtt_us, m.pacing_bps, m.lost, m.delivered
            );
        })
    }

    /// A connection or stream event of the core, or an application milestone.
    pub(crate) fn conn_event(
        &mut self,
        now: Instant,
        conn: usize,
        side: &str,
        what: &str,
        detail: &str,
    ) -> io::Result<()> {
        self.emit(now, what, |l| {
            let _ = write!(l, ",\"conn\":{conn},\"side\":\"{side}\"");
            if !detail.is_empty() {
                l.push_str(",\"detail\":");
                push_json_string(l, detail);
            }
        })
    }

    /// A scheduled network change (impairment change, blackout, rebinding).
    pub(crate) fn network(&mut self, now: Instant, what: &str, detail: &str) -> io::Result<()> {
        self.emit(now, what, |l| {
            l.push_str(",\"detail\":");
            push_json_string(l, detail);
        })
    }

    /// Flushes buffered lines.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().map_or(Ok(()), |o| o.flush())
    }
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().map_err(|_| io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_valid_json_and_levels_filter() -> io::Result<()> {
        let sink = Shared::default();
        let mut t = Tracer::new(TraceLevel::Events, Some(Box::new(sink.clone())));
        t.packet_sent(Instant::from_micros(5), 0, Way::Up, 1200)?;
        t.packet_dropped(Instant::from_micros(7), 3, Way::Down, 1200, DropReason::QueueFull)?;
        t.conn_event(Instant::from_micros(9), 1, "client", "connection_lost", "closed by peer: \"bye\"\n")?;
        let text = String::from_utf8(sink.0.lock().map_err(|_| io::Error::other("poisoned"))?.clone())
            .map_err(io::Error::other)?;
        let lines: Vec<serde_json::Value> =
            text.lines().map(serde_json::from_str).collect::<Result<_, _>>().map_err(io::Error::other)?;
        assert_eq!(lines.len(), 2, "packet events need the packets level");
        assert_eq!(lines[0]["event"], "packet_dropped");
        assert_eq!(lines[0]["reason"], "queue_full");
        assert_eq!(lines[1]["detail"], "closed by peer: \"bye\"\n");
        assert_eq!(lines[1]["t_us"], 9);
        Ok(())
    }
}
