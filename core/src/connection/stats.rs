//! Per-connection metrics.

use crate::time::Duration;

/// A cheap snapshot of a connection's counters and estimates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// UDP payload bytes sent (all packets, including retransmissions and padding).
    pub bytes_sent: u64,
    /// UDP payload bytes received from the peer (authenticated packets only).
    pub bytes_received: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets received and authenticated.
    pub packets_received: u64,
    /// Packets declared lost by loss detection.
    pub packets_lost: u64,
    /// Lost packets whose stream data or control frames were sent again.
    pub packets_retransmitted: u64,
    /// Stream bytes sent more than once.
    pub stream_bytes_retransmitted: u64,
    /// Stream bytes delivered by the peer to this side's streams (first copies only).
    pub stream_bytes_received: u64,
    /// Unreliable datagrams sent.
    pub datagrams_sent: u64,
    /// Unreliable datagrams received.
    pub datagrams_received: u64,
    /// Key updates (either side initiating).
    pub key_updates: u64,
    /// Congestion events (window reductions).
    pub congestion_events: u64,
    /// Probe timeouts that fired (RFC 9002 §6.2): each is a stall in which the sender heard
    /// nothing for a whole PTO, so a count that grows with the losses says losses are found
    /// by timeout rather than by later acknowledgements.
    pub probe_timeouts: u64,
    /// RTT samples taken (one per ACK that newly acknowledges the largest packet number sent
    /// and something ack-eliciting, RFC 9002 §5.1). A change tells a poller that
    /// [`latest_rtt`](Self::latest_rtt) is a new sample.
    pub rtt_samples: u64,
    /// The most recent RTT sample, without the peer's ACK delay subtracted.
    pub latest_rtt: Duration,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Minimum round-trip time seen.
    pub min_rtt: Duration,
    /// Round-trip time variation.
    pub rtt_var: Duration,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Bytes sent and neither acknowledged nor declared lost.
    pub bytes_in_flight: u64,
    /// Pacing rate in bits per second (0 when pacing is off or no RTT is known).
    pub pacing_rate_bps: u64,
    /// Current datagram size used on the path.
    pub mtu: u16,
}

impl ConnectionStats {
    /// Fraction of sent packets declared lost.
    pub fn loss_rate(&self) -> f64 {
        if self.packets_sent == 0 { 0.0 } else { self.packets_lost as f64 / self.packets_sent as f64 }
    }
}
