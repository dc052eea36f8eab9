//! Key update for 1-RTT packets (RFC 9001 §6 style).
//!
//! Each AEAD key may seal only so many packets (2^23 for AES-GCM), so long connections move
//! to fresh keys now and then: a sender flips the key-phase bit and seals with the next
//! generation of keys, derived from the current secret; the receiver sees the flipped bit,
//! opens with the next keys (computed in advance, so an update costs no extra decryption
//! attempt) and answers in the new phase. The previous receive key stays for three probe
//! timeouts so reordered old-phase packets still open. Header protection keys never change.
//!
//! Which key opens a packet is decided from its phase bit and packet number alone, never by
//! trial: a failed decryption can destroy the buffer, and trial decryption would double the
//! cost of forged packets.

use super::spaces::SpaceKeys;
use crate::crypto::{CryptoBackend, CryptoError, NextPacketKey, PacketKey};
use crate::time::Instant;

/// The receive key a packet must be opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvKey {
    Current,
    /// The peer moved to the next phase: open with the precomputed next key, then switch.
    Next,
    /// A late packet of the previous phase.
    Previous,
    /// A previous-phase packet after its key was discarded.
    Discarded,
}

/// Key phase state of the 1-RTT space.
#[derive(Debug)]
pub(crate) struct KeyPhase {
    backend: CryptoBackend,
    /// Phase bit of the current keys.
    pub(crate) phase: bool,
    /// The peer's next-generation packet key, ready before it is needed.
    next_remote: NextPacketKey,
    /// The previous receive key, until the deadline.
    previous_remote: Option<(Box<dyn PacketKey>, Instant)>,
    /// Lowest packet number received in the current phase.
    first_received: Option<u64>,
    /// First packet number we sent in the current phase: the next update waits until the peer
    /// acknowledged it (RFC 9001 §6.1), proving it has the current keys.
    first_sent: Option<u64>,
    /// Packets sealed with the current send key.
    pub(crate) sealed: u64,
    /// Key updates so far (either side initiating).
    pub(crate) updates: u64,
}

impl KeyPhase {
    pub(crate) fn new(backend: CryptoBackend, keys: &SpaceKeys) -> Result<Self, CryptoError> {
        Ok(KeyPhase {
            backend,
            phase: false,
            next_remote: keys.remote.next_generation(backend)?,
            previous_remote: None,
            first_received: None,
            first_sent: None,
            sealed: 0,
            updates: 0,
        })
    }

    /// Picks the key for a received packet with phase bit `phase` and number `pn`.
    pub(crate) fn select(&mut self, phase: bool, pn: u64, now: Instant) -> RecvKey {
        if self.previous_remote.as_ref().is_some_and(|(_, until)| now >= *until) {
            self.previous_remote = None;
        }
        if phase == self.phase {
            return RecvKey::Current;
        }
        // Another phase: older than everything seen in this phase (or nothing seen yet, when
        // we moved first) means the previous one; newer means the peer moved on.
        let older = self.first_received.is_none_or(|first| pn < first);
        match (older, self.previous_remote.is_some()) {
            (true, true) => RecvKey::Previous,
            (true, false) => RecvKey::Discarded,
            (false, _) => RecvKey::Next,
        }
    }

    pub(crate) fn previous_key(&self) -> Option<&dyn PacketKey> {
        self.previous_remote.as_ref().map(|(k, _)| k.as_ref())
    }

    pub(crate) fn next_key(&self) -> &dyn PacketKey {
        self.next_remote.packet.as_ref()
    }

    /// A packet of the current phase authenticated.
    pub(crate) fn on_received(&mut self, pn: u64) {
        self.first_received = Some(self.first_received.map_or(pn, |f| f.min(pn)));
    }

    /// A packet is about to be sealed with the current key.
    pub(crate) fn on_sealed(&mut self, pn: u64) {
        self.sealed += 1;
        self.first_sent.get_or_insert(pn);
    }

    /// Whether this side may start an update now.
    pub(crate) fn may_initiate(&self, largest_acked: Option<u64>) -> bool {
        self.first_sent.is_some_and(|first| largest_acked.is_some_and(|acked| acked >= first))
    }

    /// Moves both directions to the next phase: on our initiative, or because a packet of the
    /// peer's next phase authenticated (`first_received` is then that packet).
    pub(crate) fn advance(
        &mut self,
        keys: &mut SpaceKeys,
        keep_previous_until: Instant,
        first_received: Option<u64>,
    ) -> Result<(), CryptoError> {
        let next_local = keys.local.next_generation(self.backend)?;
        let after_next = self.next_remote.next_generation(self.backend)?;
        keys.local.install(next_local);
        let next = core::mem::replace(&mut self.next_remote, after_next);
        let previous = keys.remote.install(next);
        self.previous_remote = Some((previous, keep_previous_until));
        self.phase = !self.phase;
        self.first_received = first_received;
        self.first_sent = None;
        self.sealed = 0;
        self.updates += 1;
        Ok(())
    }
}
