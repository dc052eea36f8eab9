//! Building packets: choosing frames, sealing, header protection, and GSO batching.

use super::sent::SentPacket;
use super::spaces::SpaceId;
use super::timers::Timer;
use super::{BufferTooSmall, Connection, HANDSHAKE_PACKET_SIZE, State, Transmit};
use crate::coding::Writer;
use crate::crypto::{CipherSuite, HeaderKey};
use crate::frame;
use crate::packet::{self, LongType};
use crate::stream::Side;
use crate::time::Instant;

/// Packets kept in reserve below the AEAD confidentiality limit for sending the close.
const CLOSE_MARGIN: u64 = 64;
/// AEAD tag length of every suite.
const TAG_LEN: usize = 16;
/// Header protection samples 16 bytes starting 4 bytes after the packet number, so the
/// packet number plus payload must be at least this long.
const MIN_PN_AND_PAYLOAD: usize = 4;
/// Sealed packets whose header protection waits to be applied together (one GSO batch's worth
/// by default; larger batches are protected in groups of this many).
const MASK_BATCH: usize = 16;

/// Where a sealed packet's header protection goes. `build_packet` leaves it to the caller, so
/// that the masks of a GSO batch are computed together (ChaCha20 computes several at once).
#[derive(Debug, Clone, Copy, Default)]
struct HeaderSlot {
    /// Where the packet starts in the buffer the batch is written into.
    start: usize,
    /// Offset of the packet number from the packet's start.
    pn_offset: usize,
    pn_len: usize,
    long: bool,
}

/// Header protection owed by the packets of one space sealed so far.
#[derive(Debug, Default)]
struct PendingHeaders {
    slots: [HeaderSlot; MASK_BATCH],
    len: usize,
}

impl PendingHeaders {
    fn is_full(&self) -> bool {
        self.len == MASK_BATCH
    }

    fn push(&mut self, slot: HeaderSlot) {
        self.slots[self.len] = slot;
        self.len += 1;
    }

    /// Masks every pending header in `buf` with `key`.
    fn apply(&self, key: &dyn HeaderKey, buf: &mut [u8]) {
        let slots = &self.slots[..self.len];
        let mut samples = [[0u8; CipherSuite::SAMPLE_LEN]; MASK_BATCH];
        for (sample, slot) in samples.iter_mut().zip(slots) {
            // `build_packet` pads every packet so that its sample exists.
            if let Some(s) = packet::sample(&buf[slot.start..], slot.pn_offset) {
                *sample = *s;
            }
        }
        let mut masks = [[0u8; 5]; MASK_BATCH];
        key.masks(&samples[..slots.len()], &mut masks[..slots.len()]);
        for (slot, mask) in slots.iter().zip(&masks) {
            packet::xor_header_mask(&mut buf[slot.start..], slot.pn_offset, slot.pn_len, mask, slot.long);
        }
    }
}

impl Connection {
    /// Writes the next datagram(s) into `buf`. Several equal-size datagrams (up to
    /// `max_segments`) may be written for GSO; see [`Transmit::segment_size`].
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        max_segments: usize,
    ) -> Result<Option<Transmit>, BufferTooSmall> {
        let needed = usize::from(self.mtu);
        if buf.len() < needed {
            return Err(BufferTooSmall { needed, given: buf.len() });
        }
        Ok(self.poll_transmit_into(now, buf, max_segments))
    }

    fn poll_transmit_into(&mut self, now: Instant, buf: &mut [u8], max_segments: usize) -> Option<Transmit> {
        match self.state {
            State::Drained => return None,
            State::Closing => return self.poll_close(now, buf),
            _ => {}
        }
        let mut written = 0;
        let mut segments = 0;
        let mut segment_size = 0;
        let mut pending = PendingHeaders::default();
        let mut pending_space = SpaceId::Data;
        while segments < max_segments.max(1) {
            let space_id = if self.wants_handshake_packet() { SpaceId::Handshake } else { SpaceId::Data };
            if self.spaces[space_id as usize].keys.is_none() || !self.may_have_packet(space_id) {
                break;
            }
            let max = match space_id {
                SpaceId::Handshake => HANDSHAKE_PACKET_SIZE.min(usize::from(self.mtu)),
                SpaceId::Data => usize::from(self.mtu),
            };
            let mut limit = if segments == 0 { max } else { segment_size }.min(buf.len() - written);
            let budget = usize::try_from(self.path.send_budget()).unwrap_or(usize::MAX);
            if budget < limit {
                if segments > 0 {
                    break;
                }
                // An unvalidated path: a smaller packet still fits (say, a path challenge).
                limit = budget;
            }
            if limit < 64 {
                break;
            }
            if pending.len > 0 && (pending_space != space_id || pending.is_full()) {
                self.protect_headers(pending_space, &mut pending, buf);
            }
            let Some((n, slot)) = self.build_packet(now, space_id, &mut buf[written..written + limit]) else { break };
            pending.push(HeaderSlot { start: written, ..slot });
            pending_space = space_id;
            self.path.on_sent(n);
            if segments == 0 {
                segment_size = n;
            }
            written += n;
            segments += 1;
            // A short packet ends a GSO batch (all but the last segment must be full size). The
            // first packet sets the segment size: full means filled up to its suite's payload
            // alignment. Handshake packets batch too: a two-datagram ClientHello or
            // ServerHello leaves in one send, and arrives in one read.
            let short = if segments == 1 { limit - n >= self.payload_alignment(space_id) } else { n < limit };
            if short || self.is_closed() {
                break;
            }
        }
        self.protect_headers(pending_space, &mut pending, buf);
        if segments == 0 {
            // Building may have closed the connection (AEAD limit, key derivation failure):
            // send that close now rather than wait for the next input.
            return if self.state == State::Closing { self.poll_close(now, buf) } else { None };
        }
        Some(Transmit {
            destination: self.path.remote,
            size: written,
            segment_size: (segments > 1).then_some(segment_size),
        })
    }

    /// One datagram carrying the close frame: in a handshake packet while the peer may lack
    /// 1-RTT keys, in a 1-RTT packet once we have them, coalesced when both apply (RFC 9000
    /// §10.2.3). A client holding 1-RTT keys knows the server has them (it derived them when
    /// it sent the ServerHello), so only a server, before confirmation, sends both.
    fn poll_close(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if !self.close_pending {
            return None;
        }
        let mut written = 0;
        let peer_may_lack_1rtt = !self.handshake_confirmed
            && (self.side == Side::Server || self.spaces[SpaceId::Data as usize].keys.is_none());
        // Even a close may not break the 3x limit towards an unvalidated address.
        let budget = usize::try_from(self.path.send_budget()).unwrap_or(usize::MAX);
        for space_id in SpaceId::ALL {
            let wanted = match space_id {
                SpaceId::Handshake => peer_may_lack_1rtt,
                SpaceId::Data => true,
            };
            let limit =
                usize::from(self.mtu).min(buf.len()).min(HANDSHAKE_PACKET_SIZE).min(budget).saturating_sub(written);
            if wanted
                && self.spaces[space_id as usize].keys.is_some()
                && limit >= 64
                && let Some((n, slot)) = self.build_packet(now, space_id, &mut buf[written..written + limit])
            {
                let mut pending = PendingHeaders::default();
                pending.push(HeaderSlot { start: written, ..slot });
                self.protect_headers(space_id, &mut pending, buf);
                written += n;
            }
        }
        self.close_pending = false;
        if self.rejected {
            // Refused handshake: the close is out, nothing else to keep.
            self.state = State::Drained;
            self.timers.stop_all();
        }
        self.path.on_sent(written);
        (written > 0).then_some(Transmit { destination: self.path.remote, size: written, segment_size: None })
    }

    /// Whether `build_packet` could write anything in `space_id`; when this is false it
    /// certainly would not. Most received packets leave nothing to send (an ACK is due every
    /// second one), and this lets them skip assembling a packet only to discard it.
    fn may_have_packet(&self, space_id: SpaceId) -> bool {
        let space = &self.spaces[space_id as usize];
        space.probes_owed > 0
            || (space.received.ack_pending && space.received.immediate_ack)
            || self.has_eliciting_to_send(space_id)
    }

    /// Whether the handshake space has something to send right now.
    fn wants_handshake_packet(&self) -> bool {
        let hs = &self.spaces[SpaceId::Handshake as usize];
        hs.keys.is_some() && (hs.crypto_send.has_data() || hs.received.immediate_ack || hs.probes_owed > 0)
    }

    /// Whether ack-eliciting packets may go now (congestion window and pacer), arming the
    /// pacing timer when the pacer says wait.
    fn may_send_eliciting(&mut self, now: Instant, size: usize, probing: bool) -> bool {
        if probing {
            return true;
        }
        let window = self.cc.window();
        if self.bytes_in_flight + size as u64 > window {
            return false;
        }
        if self.config.pacing
            && let Some(at) = self.pacer.delay(self.rtt.smoothed(), size as u64, self.mtu, window, now)
        {
            self.timers.set(Timer::Pacing, at);
            return false;
        }
        true
    }

    /// Whether a 1-RTT packet of up to `size` bytes should carry IMMEDIATE_ACK: when it is a
    /// probe, or when it leaves no room in the congestion window for another full packet.
    /// The sender then waits for the peer, and a peer that delayed its ACK (it acknowledges
    /// every `ack_eliciting_threshold` packets, or after `max_ack_delay`) would stall it for
    /// that whole delay. On a lossy path with a small window that happens after most losses;
    /// asking costs one byte, and the ACK count of an unstalled transfer does not change,
    /// since the peer acknowledges the packets that reopen the window anyway.
    fn asks_immediate_ack(&self, size: usize, probing: bool) -> bool {
        probing || self.bytes_in_flight + 2 * size as u64 > self.cc.window()
    }

    /// What full packets' payload lengths are rounded down to in `space_id` (see
    /// [`crate::CipherSuite::payload_alignment`]).
    pub(super) fn payload_alignment(&self, space_id: SpaceId) -> usize {
        self.spaces[space_id as usize].keys.as_ref().map_or(1, |k| k.local.packet.suite().payload_alignment())
    }

    /// Applies the header protection `pending` owes in `buf`, with `space_id`'s header key,
    /// and empties it.
    fn protect_headers(&self, space_id: SpaceId, pending: &mut PendingHeaders, buf: &mut [u8]) {
        if let Some(keys) = self.spaces[space_id as usize].keys.as_ref() {
            pending.apply(keys.local.header.as_ref(), buf);
        }
        pending.len = 0;
    }

    /// Builds and seals one packet of `space_id` into `out` (whose length is the packet size
    /// limit). Returns its size and where its header protection goes, which the caller
    /// applies; `None` when there is nothing to send.
    fn build_packet(&mut self, now: Instant, space_id: SpaceId, out: &mut [u8]) -> Option<(usize, HeaderSlot)> {
        let si = space_id as usize;
        let long = space_id == SpaceId::Handshake;
        let key_phase = match (long, self.key_phase.as_ref()) {
            (true, _) => false,
            // A closing connection sends its close with the keys it has.
            (false, Some(kp)) if self.state == State::Closing => kp.phase,
            (false, _) => self.prepare_key_phase(now)?,
        };
        let pn = self.spaces[si].next_pn;
        let pn_len = packet::pn_len(pn, self.spaces[si].largest_acked);
        let (length_field, header_len) = {
            let mut w = Writer::new(out);
            let length_field = if long {
                Some(packet::write_long_header(
                    &mut w,
                    LongType::Handshake,
                    &self.remote_cid,
                    &self.local_cid,
                    pn,
                    pn_len,
                ))
            } else {
                packet::write_short_header(&mut w, &self.remote_cid, key_phase, pn, pn_len);
                None
            };
            (length_field, w.position())
        };
        let pn_offset = header_len - pn_len;
        let alignment = self.payload_alignment(space_id);
        let payload_cap = out.len().checked_sub(header_len + TAG_LEN)? / alignment * alignment;
        let mut frames = self.spaces[si].sent.take_frames();
        let probing = self.spaces[si].probes_owed > 0;
        let mut ack_eliciting = false;
        let mut ack_written = false;
        let mut asked_ack = false;
        let mut payload_len;
        {
            let (_, rest) = out.split_at_mut(header_len);
            let mut p = Writer::new(&mut rest[..payload_cap]);
            if self.state == State::Closing {
                if !self.close_pending {
                    self.spaces[si].sent.recycle(frames);
                    return None;
                }
                if let Some(c) = &self.close {
                    // Handshake packets are readable by anyone who saw the connection ID: an
                    // application's code and reason only travel in 1-RTT packets; a handshake
                    // packet says NO_ERROR (RFC 9000 §10.2.3).
                    let (application, code, reason): (bool, u64, &[u8]) = if c.application && long {
                        (false, crate::TransportErrorCode::NO_ERROR.0, &[])
                    } else {
                        (c.application, c.code, &c.reason)
                    };
                    let room = p.remaining().saturating_sub(frame::close_len(application, code, c.frame_type, &[]));
                    frame::encode_close(&mut p, application, code, c.frame_type, &reason[..reason.len().min(room)]);
                }
            } else {
                let recv = &self.spaces[si].received;
                if recv.ack_pending && (recv.immediate_ack || probing || self.has_eliciting_to_send(space_id)) {
                    let delay = recv.largest.map_or(0, |(_, t)| (now - t).as_micros() as u64);
                    ack_written = frame::encode_ack(&mut p, &recv.ranges, if long { 0 } else { delay });
                }
                match space_id {
                    SpaceId::Handshake => {
                        ack_eliciting |= self.write_crypto_frame(&mut p, &mut frames);
                    }
                    SpaceId::Data => {
                        ack_eliciting |= self.write_path_frames(&mut p);
                        if self.handshake_done_pending && p.remaining() >= 1 {
                            p.put_varint(frame::ty::HANDSHAKE_DONE);
                            self.handshake_done_pending = false;
                            frames.handshake_done = true;
                            ack_eliciting = true;
                        }
                        let size_hint = out_len_hint(header_len, payload_cap);
                        if self.may_send_eliciting(now, size_hint, probing) {
                            let before = p.position();
                            let ask = self.asks_immediate_ack(size_hint, probing) && p.remaining() >= 1;
                            if ask {
                                p.put_varint(frame::ty::IMMEDIATE_ACK);
                            }
                            if self.write_data_frames(&mut p, &mut frames) || (ask && probing) {
                                ack_eliciting = true;
                                asked_ack = ask;
                            } else {
                                // Nothing to send after all: no packet just to ask for an ACK.
                                p.rewind(before);
                            }
                        }
                    }
                }
                // Keep-alives and the client's handshake confirmation are 1-RTT PINGs; probes
                // use the space whose timer fired.
                let ping_here = self.ping_pending && space_id == SpaceId::Data;
                if !ack_eliciting && (ping_here || probing) && p.remaining() >= 1 {
                    p.put_varint(frame::ty::PING);
                    ack_eliciting = true;
                }
                if ack_eliciting && space_id == SpaceId::Data {
                    self.ping_pending = false;
                }
            }
            payload_len = p.position();
            if payload_len == 0 || (!ack_eliciting && !ack_written && self.state != State::Closing) {
                self.spaces[si].sent.recycle(frames);
                return None;
            }
            // Padding: room for the header protection sample, and full-size handshake
            // datagrams from the client (they buy the server its amplification budget).
            let mut min_payload = MIN_PN_AND_PAYLOAD.saturating_sub(pn_len);
            if long && self.side == Side::Client && self.state != State::Closing {
                min_payload = min_payload.max(payload_cap);
            }
            if payload_len < min_payload {
                p.put_zeros(min_payload - payload_len);
                payload_len = min_payload;
            }
        }
        if ack_written {
            let recv = &mut self.spaces[si].received;
            frames.ack_largest = recv.largest.map(|(pn, _)| pn);
            recv.ack_pending = false;
            recv.immediate_ack = false;
            recv.unacked_eliciting = 0;
            if space_id == SpaceId::Data {
                self.timers.stop(Timer::AckDelay);
            }
        }
        if let Some(at) = length_field {
            let mut lw = Writer::new(&mut out[at..]);
            lw.put_varint_with_len((pn_len + payload_len + TAG_LEN) as u64, 2);
        }
        let size = header_len + payload_len + TAG_LEN;
        let keys = self.spaces[si].keys.as_ref()?;
        {
            let (header, body) = out.split_at_mut(header_len);
            // Sealing only fails on a buffer shorter than the tag, which cannot happen here.
            keys.local.packet.seal(pn, header, &mut body[..payload_len + TAG_LEN]).ok()?;
        }
        // Padding guarantees the header-protection sample; checked here, before the packet
        // counts as sent, so that `PendingHeaders::apply` always finds it.
        packet::sample(&out[..size], pn_offset)?;

        if let (false, Some(kp)) = (long, self.key_phase.as_mut()) {
            kp.on_sealed(pn);
        }
        let space = &mut self.spaces[si];
        space.take_pn();
        if ack_eliciting && space.probes_owed > 0 {
            space.probes_owed -= 1;
        }
        let in_flight = ack_eliciting || (long && self.side == Side::Client);
        let app_limited = !self.streams.as_ref().is_some_and(|s| s.has_pending_data());
        space
            .sent
            .push(pn, SentPacket { time_sent: now, size: size as u16, ack_eliciting, in_flight, app_limited, frames });
        if ack_eliciting {
            space.last_ack_eliciting_sent = Some(now);
            space.last_eliciting_asked_ack = asked_ack;
        }
        if in_flight {
            self.bytes_in_flight += size as u64;
            self.cc.on_sent(now, size as u64, self.bytes_in_flight);
            self.pacer.on_sent(size as u64);
        }
        if ack_eliciting {
            self.set_loss_detection_timer(now);
            self.reset_keep_alive(now);
            if !self.sent_eliciting_since_receive {
                self.sent_eliciting_since_receive = true;
                self.reset_idle_timer(now);
            }
        }
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += size as u64;
        Some((size, HeaderSlot { start: 0, pn_offset, pn_len, long }))
    }

    /// The key phase to seal the next 1-RTT packet with, starting a key update when the
    /// current keys have sealed their share. `None` (nothing may be sent) once the AEAD
    /// confidentiality limit is reached because the peer never confirmed an update.
    fn prepare_key_phase(&mut self, now: Instant) -> Option<bool> {
        let largest_acked = self.spaces[SpaceId::Data as usize].largest_acked;
        let keep_until = now + self.pto_duration() * 3;
        let interval = self.config.key_update_interval;
        let kp = self.key_phase.as_mut()?;
        let keys = self.spaces[SpaceId::Data as usize].keys.as_mut()?;
        if kp.sealed >= interval && kp.may_initiate(largest_acked) && kp.advance(keys, keep_until, None).is_err() {
            self.close_with_error(now, crate::TransportErrorCode::INTERNAL_ERROR, 0, "key update derivation failed");
            return None;
        }
        // Stop short of the limit, keeping a few packets' margin for the close itself.
        let limit = keys.local.packet.suite().confidentiality_limit().saturating_sub(CLOSE_MARGIN);
        if kp.sealed >= limit {
            self.close_with_error(now, crate::TransportErrorCode::AEAD_LIMIT_REACHED, 0, "key update not confirmed");
            return None;
        }
        Some(kp.phase)
    }

    /// Whether a packet in this space would carry more than an ACK (so the ACK may ride along).
    fn has_eliciting_to_send(&self, space_id: SpaceId) -> bool {
        match space_id {
            SpaceId::Handshake => self.spaces[0].crypto_send.has_data(),
            SpaceId::Data => {
                self.ping_pending
                    || self.handshake_done_pending
                    || self.path_response.is_some()
                    || self.path.challenge_pending
                    || !self.datagrams.outgoing.is_empty()
                    || self.streams.as_ref().is_some_and(|s| s.has_pending_data() || s.has_pending_control())
            }
        }
    }

    /// At most one CRYPTO frame: lost ranges first, then unsent handshake bytes.
    fn write_crypto_frame(&mut self, p: &mut Writer<'_>, frames: &mut super::sent::Retransmits) -> bool {
        let cs = &mut self.spaces[SpaceId::Handshake as usize].crypto_send;
        let total = cs.data.len() as u64;
        let (offset, end) = match cs.lost.first_range() {
            Some(r) => (r.start, r.end),
            None if cs.sent < total => (cs.sent, total),
            None => return false,
        };
        let header = frame::crypto_header_len(offset, (end - offset) as usize);
        let Some(room) = p.remaining().checked_sub(header) else { return false };
        let len = ((end - offset) as usize).min(room);
        if len == 0 {
            return false;
        }
        let Some(data) = cs.data.get(offset as usize..offset as usize + len) else { return false };
        frame::encode_crypto(p, offset, data);
        cs.lost.remove(offset..offset + len as u64);
        cs.sent = cs.sent.max(offset + len as u64);
        frames.crypto = Some((offset, len as u64));
        true
    }

    fn write_path_frames(&mut self, p: &mut Writer<'_>) -> bool {
        let mut wrote = false;
        if let Some(token) = self.path_response
            && p.remaining() >= 9
        {
            frame::encode_path(p, true, &token);
            self.path_response = None;
            wrote = true;
        }
        if self.path.challenge_pending
            && let Some(token) = self.path.challenge
            && p.remaining() >= 9
        {
            frame::encode_path(p, false, &token);
            self.path.challenge_pending = false;
            wrote = true;
        }
        wrote
    }

    /// Control frames, datagrams and stream data, as congestion control allows.
    fn write_data_frames(&mut self, p: &mut Writer<'_>, frames: &mut super::sent::Retransmits) -> bool {
        let start = p.position();
        if let Some(streams) = self.streams.as_mut() {
            streams.write_control_frames(p, frames);
        }
        while let Some(d) = self.datagrams.pop_fitting(p.remaining()) {
            frame::encode_datagram(p, &d);
            self.stats.datagrams_sent += 1;
        }
        if let Some(streams) = self.streams.as_mut() {
            streams.write_stream_frames(p, frames);
        }
        p.position() > start
    }
}

/// The packet size to budget for congestion control and pacing.
fn out_len_hint(header_len: usize, payload_cap: usize) -> usize {
    header_len + payload_cap + TAG_LEN
}
