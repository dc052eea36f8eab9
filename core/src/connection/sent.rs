//! Packets in flight, and the frames that must be sent again if they are lost.
//!
//! Retransmission works on frames, not packets: each sent packet records which stream ranges
//! and control frames it carried ([`Retransmits`]); when it is declared lost those are queued
//! again (stream ranges go back to their stream, control frames are re-sent with their
//! *current* values, e.g. the latest MAX_DATA rather than a stale one).

use crate::stream::StreamId;
use crate::time::Instant;
use std::collections::VecDeque;

/// A range of stream data carried by one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamChunk {
    pub(crate) id: StreamId,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) fin: bool,
}

/// Control frames (and handshake data) to send, or that a packet carried.
#[derive(Debug, Clone, Default)]
pub(crate) struct Retransmits {
    pub(crate) stream: Vec<StreamChunk>,
    /// Handshake bytes `(offset, len)` in the CRYPTO stream.
    pub(crate) crypto: Option<(u64, u64)>,
    pub(crate) max_data: bool,
    pub(crate) max_stream_data: Vec<StreamId>,
    pub(crate) max_streams_bidi: bool,
    pub(crate) max_streams_uni: bool,
    pub(crate) reset_stream: Vec<(StreamId, u64)>,
    pub(crate) stop_sending: Vec<(StreamId, u64)>,
    pub(crate) handshake_done: bool,
    /// The Largest Acknowledged of the ACK frame the packet carried. Once the packet is
    /// acknowledged the peer knows everything up to there was received, so it need not be
    /// acknowledged again (RFC 9000 §13.2.4). Never resent: a lost ACK is superseded.
    pub(crate) ack_largest: Option<u64>,
}

impl Retransmits {
    /// True when no control frame is pending (stream data and CRYPTO are tracked elsewhere).
    pub(crate) fn no_control(&self) -> bool {
        !self.max_data
            && self.max_stream_data.is_empty()
            && !self.max_streams_bidi
            && !self.max_streams_uni
            && self.reset_stream.is_empty()
            && self.stop_sending.is_empty()
            && !self.handshake_done
    }

    /// Adds the control frames of a lost packet to this pending set.
    pub(crate) fn merge_control(&mut self, lost: &Retransmits) {
        self.max_data |= lost.max_data;
        self.max_streams_bidi |= lost.max_streams_bidi;
        self.max_streams_uni |= lost.max_streams_uni;
        self.handshake_done |= lost.handshake_done;
        for id in &lost.max_stream_data {
            if !self.max_stream_data.contains(id) {
                self.max_stream_data.push(*id);
            }
        }
        for f in &lost.reset_stream {
            if !self.reset_stream.contains(f) {
                self.reset_stream.push(*f);
            }
        }
        for f in &lost.stop_sending {
            if !self.stop_sending.contains(f) {
                self.stop_sending.push(*f);
            }
        }
    }

    /// Empties the record, keeping its allocations for reuse.
    pub(crate) fn clear(&mut self) {
        self.stream.clear();
        self.crypto = None;
        self.max_data = false;
        self.max_stream_data.clear();
        self.max_streams_bidi = false;
        self.max_streams_uni = false;
        self.reset_stream.clear();
        self.stop_sending.clear();
        self.handshake_done = false;
        self.ack_largest = None;
    }
}

/// What the sender remembers about a packet until it is acknowledged or lost.
#[derive(Debug)]
pub(crate) struct SentPacket {
    pub(crate) time_sent: Instant,
    pub(crate) size: u16,
    /// Contains a frame other than ACK, PADDING or CONNECTION_CLOSE.
    pub(crate) ack_eliciting: bool,
    /// Counts toward bytes in flight (congestion control).
    pub(crate) in_flight: bool,
    /// The sender was application-limited when it sent this packet: its acknowledgement must
    /// not grow the congestion window.
    pub(crate) app_limited: bool,
    pub(crate) frames: Retransmits,
}

/// Sent packets of one packet-number space, indexed by packet number. Packet numbers are
/// consecutive, so a deque gives O(1) lookup; acknowledged entries become `None` and are
/// trimmed from the front.
#[derive(Debug, Default)]
pub(crate) struct SentPackets {
    /// Packet number of `packets[0]`.
    base: u64,
    packets: VecDeque<Option<SentPacket>>,
    /// Recycled frame records, so steady-state sending does not allocate.
    pool: Vec<Retransmits>,
    /// Number of `Some` entries that are ack-eliciting and in flight.
    ack_eliciting_in_flight: usize,
}

impl SentPackets {
    pub(crate) fn push(&mut self, pn: u64, packet: SentPacket) {
        if self.packets.is_empty() {
            self.base = pn;
        }
        // Packet numbers never skip, so this only pads if a caller reserved numbers.
        while self.base + (self.packets.len() as u64) < pn {
            self.packets.push_back(None);
        }
        if packet.ack_eliciting && packet.in_flight {
            self.ack_eliciting_in_flight += 1;
        }
        self.packets.push_back(Some(packet));
    }

    /// A cleared frame record to fill for the next packet.
    pub(crate) fn take_frames(&mut self) -> Retransmits {
        self.pool.pop().unwrap_or_default()
    }

    /// Returns a frame record for reuse.
    pub(crate) fn recycle(&mut self, mut frames: Retransmits) {
        frames.clear();
        if self.pool.len() < 1024 {
            self.pool.push(frames);
        }
    }

    /// Removes and returns the packet `pn`, if it is still outstanding.
    pub(crate) fn remove(&mut self, pn: u64) -> Option<SentPacket> {
        let idx = usize::try_from(pn.checked_sub(self.base)?).ok()?;
        let packet = self.packets.get_mut(idx)?.take()?;
        if packet.ack_eliciting && packet.in_flight {
            self.ack_eliciting_in_flight -= 1;
        }
        while matches!(self.packets.front(), Some(None)) {
            self.packets.pop_front();
            self.base += 1;
        }
        Some(packet)
    }

    pub(crate) fn get(&self, pn: u64) -> Option<&SentPacket> {
        let idx = usize::try_from(pn.checked_sub(self.base)?).ok()?;
        self.packets.get(idx)?.as_ref()
    }

    /// Lowest outstanding packet number.
    pub(crate) fn first_outstanding(&self) -> Option<u64> {
        self.packets.iter().position(Option::is_some).map(|i| self.base + i as u64)
    }

    pub(crate) fn has_ack_eliciting_in_flight(&self) -> bool {
        self.ack_eliciting_in_flight > 0
    }

    /// Drops everything (keys discarded); returns the packets so their bytes leave flight.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = SentPacket> + '_ {
        self.ack_eliciting_in_flight = 0;
        self.packets.drain(..).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(t: u64) -> SentPacket {
        SentPacket {
            time_sent: Instant::from_millis(t),
            size: 1200,
            ack_eliciting: true,
            in_flight: true,
            app_limited: false,
            frames: Retransmits::default(),
        }
    }

    #[test]
    fn removal_out_of_order_trims_front() {
        let mut s = SentPackets::default();
        for pn in 10..15 {
            s.push(pn, packet(pn));
        }
        assert!(s.remove(12).is_some());
        assert!(s.remove(12).is_none(), "a packet is acknowledged once");
        let outstanding: Vec<u64> = (0..100).filter(|pn| s.get(*pn).is_some()).collect();
        assert_eq!(outstanding, vec![10, 11, 13, 14]);
        s.remove(10);
        s.remove(11);
        assert_eq!(s.first_outstanding(), Some(13));
        assert!(s.remove(3).is_none() && s.remove(1 << 62).is_none(), "unknown numbers are ignored");
        s.remove(13);
        s.remove(14);
        assert!(s.first_outstanding().is_none() && !s.has_ack_eliciting_in_flight());
    }
}
