//! Unreliable datagrams (RFC 9221 semantics): congestion-controlled, never retransmitted.
//!
//! Both queues are bounded in bytes. Outgoing: the oldest datagram is dropped when full (a
//! stale game tick or voice frame is worth less than a fresh one). Incoming: new datagrams
//! are dropped when the application does not keep up. Received payloads are copied into a
//! shared arena, so a datagram costs no allocation of its own.

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use thiserror::Error;

/// Arena refill size for received datagrams.
const ARENA_CHUNK: usize = 64 << 10;
/// Bytes each queued datagram is charged beyond its payload, so a flood of empty datagrams
/// is bounded too (the queue entry itself costs about this much).
const ENTRY_COST: usize = 32;

/// Why a datagram could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SendDatagramError {
    /// The peer does not accept datagrams (it announced a zero maximum size).
    #[error("peer does not accept datagrams")]
    Disabled,
    /// Larger than the peer accepts or than fits in one packet.
    #[error("datagram larger than {max} bytes")]
    TooLarge {
        /// The largest datagram that can be sent now.
        max: usize,
    },
    /// The connection is closed or not yet established.
    #[error("connection not established or closed")]
    NotConnected,
}

#[derive(Debug, Default)]
pub(crate) struct DatagramState {
    incoming: VecDeque<Bytes>,
    incoming_bytes: usize,
    arena: BytesMut,
    pub(crate) outgoing: VecDeque<Bytes>,
    outgoing_bytes: usize,
    /// Received datagrams dropped because the application did not read fast enough.
    pub(crate) dropped_incoming: u64,
    /// Queued datagrams dropped (oldest first) because the send queue was full.
    pub(crate) dropped_outgoing: u64,
}

impl DatagramState {
    /// Stores a received datagram. Returns whether the queue went from empty to non-empty
    /// (the application needs a `DatagramReceived` event); a dropped datagram returns false.
    pub(crate) fn receive(&mut self, data: &[u8], limit: usize) -> bool {
        if self.incoming_bytes + data.len() + ENTRY_COST > limit {
            self.dropped_incoming += 1;
            return false;
        }
        let was_empty = self.incoming.is_empty();
        if self.arena.capacity() - self.arena.len() < data.len() {
            self.arena.reserve(data.len().max(ARENA_CHUNK));
        }
        self.arena.extend_from_slice(data);
        self.incoming.push_back(self.arena.split().freeze());
        self.incoming_bytes += data.len() + ENTRY_COST;
        was_empty
    }

    pub(crate) fn recv(&mut self) -> Option<Bytes> {
        let d = self.incoming.pop_front()?;
        self.incoming_bytes -= d.len() + ENTRY_COST;
        Some(d)
    }

    pub(crate) fn queue(&mut self, data: Bytes, limit: usize) {
        while self.outgoing_bytes + data.len() > limit {
            let Some(old) = self.outgoing.pop_front() else { break };
            self.outgoing_bytes -= old.len();
            self.dropped_outgoing += 1;
        }
        self.outgoing_bytes += data.len();
        self.outgoing.push_back(data);
    }

    /// Removes the next datagram to send if it is at most `max_len` bytes of frame.
    pub(crate) fn pop_fitting(&mut self, room: usize) -> Option<Bytes> {
        let front = self.outgoing.front()?;
        if crate::frame::datagram_len(front.len()) > room {
            return None;
        }
        let d = self.outgoing.pop_front()?;
        self.outgoing_bytes -= d.len();
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_bounded_in_bytes() {
        let mut d = DatagramState::default();
        assert!(d.receive(&[1; 600], 1000), "first datagram: the queue became non-empty");
        assert!(!d.receive(&[2; 600], 1000), "would exceed the receive buffer");
        assert_eq!(d.dropped_incoming, 1);
        assert_eq!(d.recv().as_deref(), Some(&[1u8; 600][..]));
        assert!(d.receive(&[3; 600], 1000));
        assert!(!d.receive(&[4; 10], 1000), "queue already non-empty: no new event");
        assert_eq!(d.incoming.len(), 2);

        d.queue(Bytes::from_static(&[1; 400]), 1000);
        d.queue(Bytes::from_static(&[2; 400]), 1000);
        d.queue(Bytes::from_static(&[3; 400]), 1000);
        assert_eq!(d.dropped_outgoing, 1, "oldest dropped");
        assert_eq!(d.pop_fitting(100), None, "too big for the room left");
        assert_eq!(d.pop_fitting(1000).map(|b| b[0]), Some(2));
    }

    #[test]
    fn a_flood_of_empty_datagrams_is_bounded() {
        let mut d = DatagramState::default();
        for _ in 0..100_000 {
            d.receive(&[], 1 << 20);
        }
        assert_eq!(d.incoming.len(), (1 << 20) / ENTRY_COST);
        assert_eq!(d.dropped_incoming, 100_000 - (1 << 20) / ENTRY_COST as u64);
    }
}
