//! Packet-number spaces.
//!
//! A connection has two: `Handshake` (long-header packets carrying the handshake messages,
//! protected by keys derived from the client's first connection ID) and `Data` (1-RTT
//! packets). Each has its own packet numbers, acknowledgements and loss detection, so a lost
//! handshake packet can never be confused with application data.

use super::sent::SentPackets;
use crate::crypto::DirectionalKeys;
use crate::range_set::RangeSet;
use crate::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpaceId {
    Handshake = 0,
    Data = 1,
}

impl SpaceId {
    pub(crate) const ALL: [SpaceId; 2] = [SpaceId::Handshake, SpaceId::Data];
}

/// Most disjoint packet-number ranges remembered; beyond it the oldest range is forgotten and
/// anything at or below it is treated as a duplicate (the replay window).
const MAX_RECEIVED_RANGES: usize = 128;

/// What this side has received in one space: for acknowledgements and duplicate rejection.
#[derive(Debug, Default)]
pub(crate) struct ReceivedPackets {
    pub(crate) ranges: RangeSet,
    /// Packet numbers below this are rejected as possible replays (their ranges were dropped
    /// to bound memory).
    floor: u64,
    /// Largest packet number received and when, for the ACK delay field.
    pub(crate) largest: Option<(u64, Instant)>,
    /// Ack-eliciting packets received since the last ACK was sent.
    pub(crate) unacked_eliciting: u32,
    /// Something new arrived since the last ACK frame was sent.
    pub(crate) ack_pending: bool,
    /// An ACK should go out without delay (reordering, or the threshold was reached).
    pub(crate) immediate_ack: bool,
}

impl ReceivedPackets {
    /// Whether `pn` was already received, or is too old to tell.
    pub(crate) fn is_duplicate(&self, pn: u64) -> bool {
        pn < self.floor || self.ranges.contains(pn)
    }

    /// Records a packet that authenticated. Returns true if it arrived out of order (a gap
    /// below it, or it fills a gap), which warrants an immediate ACK.
    pub(crate) fn record(&mut self, pn: u64, now: Instant) -> bool {
        let out_of_order = match self.largest {
            Some((largest, _)) => pn != largest + 1,
            None => false,
        };
        self.ranges.insert_one(pn);
        if self.largest.is_none_or(|(l, _)| pn > l) {
            self.largest = Some((pn, now));
        }
        while self.ranges.len() > MAX_RECEIVED_RANGES {
            if let Some(r) = self.ranges.drop_min_range() {
                self.floor = r.end;
            }
        }
        self.ack_pending = true;
        out_of_order
    }

    /// Stops acknowledging packets up to `pn`: the peer saw an ACK frame that covered them.
    /// Without this every ACK frame would repeat the gaps of the last 128 ranges, over 100
    /// bytes per packet on a lossy path. Later arrivals at or below `pn` count as duplicates
    /// (RFC 9000 §13.2.4 allows it): they are at least a round trip late, so the peer has
    /// most likely declared them lost and resent what they carried.
    /// With nothing left to acknowledge, no ACK is owed either.
    pub(crate) fn forget_through(&mut self, pn: u64) {
        let end = pn.saturating_add(1);
        if end > self.floor {
            self.ranges.remove_below(end);
            self.floor = end;
        }
        if self.ranges.is_empty() {
            self.ack_pending = false;
            self.immediate_ack = false;
            self.unacked_eliciting = 0;
        }
    }

    /// The next packet number the peer is expected to send, for packet number decoding.
    pub(crate) fn expected_pn(&self) -> u64 {
        self.largest.map_or(0, |(l, _)| l + 1)
    }
}

/// Outgoing handshake bytes (the CRYPTO stream) and which of them need resending.
#[derive(Debug, Default)]
pub(crate) struct CryptoSend {
    pub(crate) data: Vec<u8>,
    /// Bytes below this were sent at least once.
    pub(crate) sent: u64,
    /// Ranges declared lost and not yet re-sent.
    pub(crate) lost: RangeSet,
    /// Ranges acknowledged.
    pub(crate) acked: RangeSet,
}

impl CryptoSend {
    pub(crate) fn has_data(&self) -> bool {
        !self.lost.is_empty() || self.sent < self.data.len() as u64
    }

    /// Marks every unacknowledged byte for resending (probe timeout during the handshake).
    pub(crate) fn requeue_unacked(&mut self) {
        let mut unacked = RangeSet::new();
        unacked.insert(0..self.sent);
        for r in self.acked.iter() {
            unacked.remove(r);
        }
        for r in unacked.iter() {
            self.lost.insert(r);
        }
    }
}

/// Incoming handshake bytes reassembled into one message, bounded in size.
#[derive(Debug, Default)]
pub(crate) struct CryptoRecv {
    pub(crate) buf: Vec<u8>,
    pub(crate) received: RangeSet,
    /// The message was complete and handed to the handshake.
    pub(crate) consumed: bool,
}

impl CryptoRecv {
    /// Stores a CRYPTO frame's data. Errors when it reaches past `limit` bytes.
    pub(crate) fn insert(&mut self, offset: u64, data: &[u8], limit: usize) -> Result<(), ()> {
        let end = offset.checked_add(data.len() as u64).ok_or(())?;
        if end > limit as u64 {
            return Err(());
        }
        if self.consumed || data.is_empty() {
            return Ok(());
        }
        let end = end as usize;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        self.buf[offset as usize..end].copy_from_slice(data);
        self.received.insert(offset..end as u64);
        Ok(())
    }

    /// Bytes contiguous from offset 0.
    pub(crate) fn contiguous_len(&self) -> usize {
        self.received.first_range().filter(|r| r.start == 0).map_or(0, |r| r.end as usize)
    }
}

/// Per-space state.
#[derive(Debug, Default)]
pub(crate) struct PacketSpace {
    /// Keys to seal our packets and open the peer's; `None` before they exist or after they
    /// were discarded.
    pub(crate) keys: Option<SpaceKeys>,
    pub(crate) next_pn: u64,
    pub(crate) sent: SentPackets,
    pub(crate) largest_acked: Option<u64>,
    /// Time-threshold loss deadline of the earliest packet that is not yet lost (RFC 9002).
    pub(crate) loss_time: Option<Instant>,
    pub(crate) last_ack_eliciting_sent: Option<Instant>,
    /// The most recent ack-eliciting packet carried IMMEDIATE_ACK, so the peer answers it
    /// without its ACK delay and the probe timeout need not wait for `max_ack_delay`.
    pub(crate) last_eliciting_asked_ack: bool,
    pub(crate) received: ReceivedPackets,
    pub(crate) crypto_send: CryptoSend,
    pub(crate) crypto_recv: CryptoRecv,
    /// Probe packets owed after a PTO fired.
    pub(crate) probes_owed: u8,
    /// Authentication failures in this space over the connection's life, across key updates
    /// (the AEAD integrity limit applies to the total).
    pub(crate) decrypt_failures: u64,
}

#[derive(Debug)]
pub(crate) struct SpaceKeys {
    pub(crate) local: DirectionalKeys,
    pub(crate) remote: DirectionalKeys,
}

impl PacketSpace {
    pub(crate) fn take_pn(&mut self) -> u64 {
        let pn = self.next_pn;
        self.next_pn += 1;
        pn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_packets_reject_replays_and_bound_memory() {
        let mut r = ReceivedPackets::default();
        let now = Instant::ZERO;
        assert!(!r.record(0, now));
        assert!(!r.record(1, now));
        assert!(r.record(5, now), "gap below 5 is out of order");
        assert!(r.is_duplicate(1) && r.is_duplicate(5) && !r.is_duplicate(3));
        // Every other packet: creates one range per packet until the window slides.
        for pn in (10..2000).step_by(2) {
            r.record(pn, now);
        }
        assert!(r.ranges.len() <= MAX_RECEIVED_RANGES);
        assert!(r.is_duplicate(11), "below the replay window: refused as a possible replay");
        assert!(!r.is_duplicate(1997), "recent gap still accepted");
        assert_eq!(r.expected_pn(), 1999);
    }

    #[test]
    fn ranges_the_peer_saw_acknowledged_are_forgotten_and_refused_later() {
        let mut r = ReceivedPackets::default();
        for pn in [0, 1, 3, 5, 6, 9] {
            r.record(pn, Instant::ZERO);
        }
        r.forget_through(5);
        assert_eq!(r.ranges.iter().collect::<Vec<_>>(), [6..7, 9..10], "only what the peer has not seen");
        assert!(r.is_duplicate(4), "a packet that late is refused, not acknowledged");
        assert!(!r.is_duplicate(7) && !r.is_duplicate(8));
        r.forget_through(2);
        assert_eq!(
            r.ranges.iter().collect::<Vec<_>>(),
            [6..7, 9..10],
            "an older ACK's acknowledgement changes nothing"
        );
        assert!(r.ack_pending, "packets 6 and 9 are still owed an ACK");
        r.forget_through(u64::MAX);
        assert!(r.ranges.is_empty() && r.is_duplicate(u64::MAX - 1));
        assert!(!r.ack_pending && !r.immediate_ack, "nothing left to acknowledge");
    }

    #[test]
    fn crypto_recv_bounds_and_reassembles() {
        let mut c = CryptoRecv::default();
        assert!(c.insert(5, b"world", 100).is_ok());
        assert_eq!(c.contiguous_len(), 0);
        assert!(c.insert(0, b"hello", 100).is_ok());
        assert_eq!(&c.buf[..c.contiguous_len()], b"helloworld");
        assert!(c.insert(98, b"xyz", 100).is_err(), "beyond the message size limit");
        assert!(c.insert(u64::MAX, b"x", 100).is_err());
    }
}
