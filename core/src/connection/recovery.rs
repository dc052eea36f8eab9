//! Acknowledgement processing, loss detection and probe timeouts (RFC 9002).

use super::sent::{SentPacket, StreamChunk};
use super::spaces::SpaceId;
use super::timers::Timer;
use super::{Connection, State};
use crate::frame::{ACK_DELAY_EXPONENT, Ack, ty};
use crate::stream::Side;
use crate::time::{Duration, Instant};
use crate::transport_error::TransportErrorCode;

/// Packets this far below the largest acknowledged are lost (RFC 9002 §6.1.1).
const PACKET_THRESHOLD: u64 = 3;
/// Persistent congestion: losses spanning this many probe timeouts (RFC 9002 §7.6).
const PERSISTENT_CONGESTION_THRESHOLD: u32 = 3;
/// Cap on the PTO backoff exponent, so the timer stays bounded.
const MAX_PTO_BACKOFF: u32 = 10;

type FrameResult = Result<(), (TransportErrorCode, u64, &'static str)>;

impl Connection {
    /// Probe timeout without backoff, including the peer's ACK delay allowance.
    pub(super) fn pto_duration(&self) -> Duration {
        self.rtt.pto_base() + self.rtt.max_ack_delay()
    }

    pub(super) fn on_ack_frame(&mut self, now: Instant, space_id: SpaceId, ack: &Ack<'_>) -> FrameResult {
        let si = space_id as usize;
        if ack.largest >= self.spaces[si].next_pn {
            return Err((TransportErrorCode::PROTOCOL_VIOLATION, ty::ACK, "acknowledgement of an unsent packet"));
        }
        if self.spaces[si].largest_acked.is_none_or(|l| ack.largest > l) {
            self.spaces[si].largest_acked = Some(ack.largest);
            if let Some(p) = self.spaces[si].sent.get(ack.largest)
                && p.ack_eliciting
            {
                let sample = now - p.time_sent;
                let delay = match space_id {
                    // Handshake ACKs are sent at once, their delay field carries nothing useful.
                    SpaceId::Handshake => Duration::ZERO,
                    SpaceId::Data => {
                        Duration::from_micros(ack.delay.saturating_mul(1 << ACK_DELAY_EXPONENT).min(u64::MAX >> 1))
                    }
                };
                self.rtt.update(delay, sample, self.handshake_confirmed);
                self.stats.rtt_samples += 1;
            }
        }
        let mut newly_eliciting = false;
        let mut acked_run = AckedRun::default();
        // An under-used window (RFC 9002 §7.8; validated as in RFC 7661, which asks for at
        // least half the window in use): when less than half of it was in flight as this ACK
        // arrived, flow control or the application held the sender back, and growing the
        // window on it would inflate it without bound in a receiver-limited transfer.
        let window_underused = self.bytes_in_flight < self.cc.window() / 2;
        for range in ack.ranges() {
            let Some(first) = self.spaces[si].sent.first_outstanding() else { break };
            let end = range.end.min(self.spaces[si].next_pn);
            let mut pn = range.start.max(first);
            while pn < end {
                if let Some(p) = self.spaces[si].sent.remove(pn) {
                    newly_eliciting |= p.ack_eliciting;
                    self.on_packet_acked(now, space_id, p, window_underused, &mut acked_run);
                }
                pn += 1;
            }
        }
        if let (Some(chunk), Some(streams)) = (acked_run.0, self.streams.as_mut()) {
            streams.on_chunk_acked(&chunk);
        }
        if newly_eliciting {
            self.pto_count = 0;
        }
        self.detect_lost(now, space_id);
        self.set_loss_detection_timer(now);
        Ok(())
    }

    fn on_packet_acked(
        &mut self,
        now: Instant,
        space_id: SpaceId,
        p: SentPacket,
        window_underused: bool,
        acked_run: &mut AckedRun,
    ) {
        if p.in_flight {
            self.bytes_in_flight -= u64::from(p.size);
            self.cc.on_ack(now, p.time_sent, u64::from(p.size), p.app_limited || window_underused, &self.rtt);
        }
        let frames = &p.frames;
        if let Some((offset, len)) = frames.crypto {
            self.spaces[space_id as usize].crypto_send.acked.insert(offset..offset + len);
        }
        if let Some(largest) = frames.ack_largest {
            self.spaces[space_id as usize].received.forget_through(largest);
        }
        if let Some(streams) = self.streams.as_mut() {
            for c in &frames.stream {
                if let Some(run) = acked_run.extend(c) {
                    streams.on_chunk_acked(&run);
                }
            }
            for (id, _) in &frames.reset_stream {
                streams.on_reset_acked(*id);
            }
        }
        self.spaces[space_id as usize].sent.recycle(p.frames);
    }

    /// Declares lost the packets the time and packet thresholds condemn (RFC 9002 §6.1).
    pub(super) fn detect_lost(&mut self, now: Instant, space_id: SpaceId) {
        let si = space_id as usize;
        self.spaces[si].loss_time = None;
        let Some(largest) = self.spaces[si].largest_acked else { return };
        let Some(first) = self.spaces[si].sent.first_outstanding() else { return };
        let loss_delay = self.rtt.loss_delay();
        let lost_send_time = now - loss_delay;
        let mut lost_bytes = 0u64;
        let mut latest_lost: Option<Instant> = None;
        let mut earliest_lost: Option<Instant> = None;
        let mut loss_time: Option<Instant> = None;
        for pn in first..=largest {
            let Some(p) = self.spaces[si].sent.get(pn) else { continue };
            if p.time_sent <= lost_send_time || largest >= pn + PACKET_THRESHOLD {
                let Some(p) = self.spaces[si].sent.remove(pn) else { continue };
                if p.in_flight {
                    lost_bytes += u64::from(p.size);
                    latest_lost = latest_lost.max(Some(p.time_sent));
                    if p.ack_eliciting {
                        earliest_lost = Some(earliest_lost.map_or(p.time_sent, |e| e.min(p.time_sent)));
                    }
                }
                self.on_packet_lost(space_id, p);
            } else {
                let t = p.time_sent + loss_delay;
                loss_time = Some(loss_time.map_or(t, |l| l.min(t)));
            }
        }
        self.spaces[si].loss_time = loss_time;
        if let Some(latest) = latest_lost {
            let persistent_window = self.pto_duration() * PERSISTENT_CONGESTION_THRESHOLD;
            let persistent =
                self.rtt.has_sample() && earliest_lost.is_some_and(|earliest| latest - earliest > persistent_window);
            if persistent {
                self.rtt.on_persistent_congestion();
            }
            self.cc.on_congestion_event(now, latest, persistent, lost_bytes);
            self.stats.congestion_events += 1;
        }
    }

    fn on_packet_lost(&mut self, space_id: SpaceId, p: SentPacket) {
        if p.in_flight {
            self.bytes_in_flight -= u64::from(p.size);
        }
        self.stats.packets_lost += 1;
        let frames = &p.frames;
        let retransmits = !frames.stream.is_empty() || frames.crypto.is_some() || !frames.no_control();
        if retransmits {
            self.stats.packets_retransmitted += 1;
        }
        if let Some((offset, len)) = frames.crypto {
            let cs = &mut self.spaces[space_id as usize].crypto_send;
            cs.lost.insert_excluding(offset..offset + len, &cs.acked);
        }
        self.handshake_done_pending |= frames.handshake_done;
        if let Some(streams) = self.streams.as_mut() {
            for c in &frames.stream {
                self.stats.stream_bytes_retransmitted += c.len;
                streams.on_chunk_lost(c);
            }
            streams.on_control_lost(frames);
        }
        self.spaces[space_id as usize].sent.recycle(p.frames);
    }

    /// Arms the loss detection timer: the earliest time-threshold deadline, else the probe
    /// timeout of the space with ack-eliciting data in flight (RFC 9002 §6.2).
    pub(super) fn set_loss_detection_timer(&mut self, now: Instant) {
        if matches!(self.state, State::Closing | State::Draining | State::Drained) {
            return;
        }
        let earliest_loss = self.spaces.iter().filter_map(|s| s.loss_time).min();
        if let Some(t) = earliest_loss {
            self.timers.set(Timer::LossDetection, t);
            return;
        }
        match self.pto_deadline(now) {
            Some((t, _)) => self.timers.set(Timer::LossDetection, t),
            None => self.timers.stop(Timer::LossDetection),
        }
    }

    /// When the next probe is due and in which space.
    fn pto_deadline(&self, now: Instant) -> Option<(Instant, SpaceId)> {
        let backoff = 1u32 << self.pto_count.min(MAX_PTO_BACKOFF);
        let mut best: Option<(Instant, SpaceId)> = None;
        for space_id in SpaceId::ALL {
            let space = &self.spaces[space_id as usize];
            if space.keys.is_none() {
                continue;
            }
            // The peer's ACK delay counts unless the newest packet asked for an ACK at once.
            let base = match space_id {
                SpaceId::Data if space.last_eliciting_asked_ack => self.rtt.tail_probe_timeout(),
                SpaceId::Data => self.pto_duration(),
                SpaceId::Handshake => self.rtt.pto_base(),
            };
            let t = if space.sent.has_ack_eliciting_in_flight() {
                space.last_ack_eliciting_sent.unwrap_or(now) + base * backoff
            } else if space_id == SpaceId::Handshake && self.side == Side::Client && self.state == State::Handshake {
                // Anti-deadlock: the client keeps probing until the server's reply arrives,
                // which also raises the server's amplification budget.
                space.last_ack_eliciting_sent.unwrap_or(now) + base * backoff
            } else {
                continue;
            };
            if best.is_none_or(|(b, _)| t < b) {
                best = Some((t, space_id));
            }
        }
        best
    }

    pub(super) fn on_loss_detection_timeout(&mut self, now: Instant) {
        let earliest_loss = SpaceId::ALL
            .into_iter()
            .filter_map(|s| self.spaces[s as usize].loss_time.map(|t| (t, s)))
            .min_by_key(|x| x.0);
        if let Some((t, space_id)) = earliest_loss
            && t <= now
        {
            self.detect_lost(now, space_id);
            self.set_loss_detection_timer(now);
            return;
        }
        if let Some((t, space_id)) = self.pto_deadline(now)
            && t <= now
        {
            self.pto_count = (self.pto_count + 1).min(MAX_PTO_BACKOFF + 1);
            self.stats.probe_timeouts += 1;
            // A lost PATH_CHALLENGE is not retransmitted as a frame; probe with it again.
            if self.path.challenge.is_some() && !self.path.validated {
                self.path.challenge_pending = true;
            }
            let space = &mut self.spaces[space_id as usize];
            space.probes_owed = 2;
            if space_id == SpaceId::Handshake {
                space.crypto_send.requeue_unacked();
            }
        }
        self.set_loss_detection_timer(now);
    }

    /// Benchmark fixture: `count` ack-eliciting 1200-byte data packets sent at `now`.
    pub(crate) fn fake_data_packets_in_flight(&mut self, now: Instant, count: u64) {
        let space = &mut self.spaces[SpaceId::Data as usize];
        for _ in 0..count {
            let pn = space.take_pn();
            let frames = space.sent.take_frames();
            space.sent.push(
                pn,
                SentPacket {
                    time_sent: now,
                    size: 1200,
                    ack_eliciting: true,
                    in_flight: true,
                    app_limited: false,
                    frames,
                },
            );
        }
        self.bytes_in_flight += 1200 * count;
    }

    /// Benchmark entry: processes an encoded ACK frame in the data space.
    pub(crate) fn process_ack_for_bench(&mut self, now: Instant, frame: &[u8]) {
        if let Some(Ok(crate::frame::Frame::Ack(ack))) = crate::frame::FrameIter::new(frame).next() {
            let _ = self.on_ack_frame(now, SpaceId::Data, &ack);
        }
    }

    /// Drops a space's keys and in-flight packets (handshake keys once the handshake is
    /// confirmed).
    pub(super) fn discard_space(&mut self, space_id: SpaceId) {
        let space = &mut self.spaces[space_id as usize];
        space.keys = None;
        space.loss_time = None;
        space.probes_owed = 0;
        space.received.ack_pending = false;
        space.received.immediate_ack = false;
        let mut freed = 0u64;
        for p in space.sent.drain() {
            if p.in_flight {
                freed += u64::from(p.size);
            }
        }
        space.crypto_send = Default::default();
        self.bytes_in_flight -= freed;
        self.pto_count = 0;
    }
}

/// Consecutive acknowledged stream chunks merged into one, so a bulk transfer's ACK of
/// hundreds of packets updates its stream once rather than once per packet.
#[derive(Debug, Default)]
struct AckedRun(Option<StreamChunk>);

impl AckedRun {
    /// Adds `c` to the run; returns the previous run when `c` does not continue it.
    fn extend(&mut self, c: &StreamChunk) -> Option<StreamChunk> {
        if let Some(run) = &mut self.0
            && run.id == c.id
            && !run.fin
            && run.offset + run.len == c.offset
        {
            run.len += c.len;
            run.fin = c.fin;
            return None;
        }
        self.0.replace(*c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{Dir, StreamId};

    fn chunk(stream: u64, offset: u64, len: u64, fin: bool) -> StreamChunk {
        StreamChunk { id: StreamId::new(Side::Client, Dir::Uni, stream), offset, len, fin }
    }

    #[test]
    fn acked_run_merges_only_contiguous_chunks_of_one_stream() {
        let mut run = AckedRun::default();
        assert_eq!(run.extend(&chunk(0, 0, 100, false)), None);
        assert_eq!(run.extend(&chunk(0, 100, 50, true)), None);
        // After the FIN nothing continues the run.
        assert_eq!(run.extend(&chunk(0, 150, 10, false)), Some(chunk(0, 0, 150, true)));
        // A gap or another stream starts a new run.
        assert_eq!(run.extend(&chunk(0, 200, 10, false)), Some(chunk(0, 150, 10, false)));
        assert_eq!(run.extend(&chunk(1, 210, 10, false)), Some(chunk(0, 200, 10, false)));
        assert_eq!(run.0, Some(chunk(1, 210, 10, false)));
    }
}
