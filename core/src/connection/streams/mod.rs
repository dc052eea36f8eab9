//! Streams: opening and accepting, flow control at stream and connection level, the send
//! scheduler, and the frames that carry it all.
//!
//! Scheduling is strict between priority levels (a higher level always goes first) and
//! round-robin within a level, one frame per turn, so equal-priority streams share the link
//! and a bulk transfer never delays an interactive message of higher priority.

mod recv;
mod send;

use super::sent::{Retransmits, StreamChunk};
use crate::coding::Writer;
use crate::frame::{self, StreamFrame};
use crate::stream::{Dir, Side, StreamId};
use crate::transport_error::TransportErrorCode;
use bytes::Bytes;
use recv::{RecvError, RecvStream};
use send::SendBuffer;
use std::collections::{BTreeMap, VecDeque};
use thiserror::Error;

/// Priority levels of the send scheduler (higher is sent first); any `i32` works, these name
/// the usual classes.
pub mod priority {
    /// Control traffic that must never wait behind application data.
    pub const SYSTEM: i32 = 300;
    /// Latency-sensitive messages (input, RPC).
    pub const INTERACTIVE: i32 = 200;
    /// The default level.
    pub const NORMAL: i32 = 0;
    /// Transfers that should only use what is left.
    pub const BULK: i32 = -100;
}

/// Why a write did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WriteError {
    /// Flow control or the send window is full; a `StreamWritable` event follows.
    #[error("stream blocked by flow control")]
    Blocked,
    /// The peer asked us to stop sending (STOP_SENDING with this code); the stream was reset.
    #[error("peer stopped the stream with code {0}")]
    Stopped(u64),
    /// The stream does not exist here, was finished or reset, or is receive-only.
    #[error("stream closed or unknown")]
    ClosedStream,
    /// The connection is closed.
    #[error("connection closed")]
    ConnectionClosed,
}

/// Why a read did not return data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReadError {
    /// Nothing to read yet; a `StreamReadable` event follows.
    #[error("no data available yet")]
    Blocked,
    /// The peer reset the stream with this code.
    #[error("peer reset the stream with code {0}")]
    Reset(u64),
    /// The stream does not exist here, was fully read, or is send-only.
    #[error("stream closed or unknown")]
    ClosedStream,
    /// The connection is closed.
    #[error("connection closed")]
    ConnectionClosed,
}

/// Stream-related happenings, surfaced as connection events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent {
    /// The peer opened a stream: accept it with `accept`.
    Opened {
        /// Which kind of stream.
        dir: Dir,
    },
    /// New data (or the end of the stream, or a reset) can be read.
    Readable {
        /// The stream.
        id: StreamId,
    },
    /// A write that was blocked can make progress.
    Writable {
        /// The stream.
        id: StreamId,
    },
    /// All data sent on the stream, including its end, was acknowledged by the peer.
    Finished {
        /// The stream.
        id: StreamId,
    },
    /// The peer asked us to stop sending; the stream was reset with the same code.
    Stopped {
        /// The stream.
        id: StreamId,
        /// The peer's application error code.
        error_code: u64,
    },
    /// More streams can be opened.
    Available {
        /// Which kind.
        dir: Dir,
    },
}

/// A protocol violation detected while processing stream frames.
pub(crate) type StreamResult = Result<(), (TransportErrorCode, &'static str)>;

impl From<RecvError> for (TransportErrorCode, &'static str) {
    fn from(e: RecvError) -> Self {
        (e.0, e.1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FinState {
    None,
    /// `finish` was called; the FIN goes out with (or after) the last data.
    Pending,
    Sent,
    Acked,
}

#[derive(Debug)]
struct SendStream {
    buf: SendBuffer,
    /// Offset limit the peer granted.
    max_data: u64,
    fin: FinState,
    fin_lost: bool,
    /// Reset by us with this code; `true` once the peer acknowledged it.
    reset: Option<(u64, bool)>,
    priority: i32,
    /// In the scheduler queue.
    queued: bool,
    /// A write hit a limit: signal `Writable` when credit arrives.
    blocked: bool,
}

impl SendStream {
    fn new(max_data: u64) -> Self {
        SendStream {
            buf: SendBuffer::default(),
            max_data,
            fin: FinState::None,
            fin_lost: false,
            reset: None,
            priority: priority::NORMAL,
            queued: false,
            blocked: false,
        }
    }

    /// Has something the scheduler could send given `conn_credit` bytes of connection flow
    /// control.
    fn wants_to_send(&self, conn_credit: u64) -> bool {
        if self.reset.is_some() {
            return false;
        }
        let new_data = self.buf.has_unsent() && self.buf.sent() < self.max_data && conn_credit > 0;
        let fin_ready = (self.fin == FinState::Pending && !self.buf.has_unsent()) || self.fin_lost;
        self.buf.has_lost() || new_data || fin_ready
    }

    fn is_done(&self) -> bool {
        matches!(self.reset, Some((_, true))) || (self.fin == FinState::Acked && self.buf.is_fully_acked())
    }
}

#[derive(Debug, Default)]
struct Stream {
    send: Option<SendStream>,
    recv: Option<RecvStream>,
}

/// Limits announced by the peer that govern our streams.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerLimits {
    pub(crate) max_data: u64,
    pub(crate) stream_data_bidi_local: u64,
    pub(crate) stream_data_bidi_remote: u64,
    pub(crate) stream_data_uni: u64,
    pub(crate) max_streams_bidi: u64,
    pub(crate) max_streams_uni: u64,
}

/// Our own limits, from the transport config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalLimits {
    pub(crate) stream_window: u64,
    pub(crate) connection_window: u64,
    pub(crate) send_window: u64,
    pub(crate) max_streams_bidi: u64,
    pub(crate) max_streams_uni: u64,
}

#[derive(Debug)]
pub(crate) struct StreamsState {
    side: Side,
    local: LocalLimits,
    peer: PeerLimits,
    /// Ordered by ID: deterministic iteration, and no hashing of peer-chosen keys.
    streams: BTreeMap<StreamId, Stream>,
    /// Next index for streams we open, per direction (0 = bi, 1 = uni).
    next_local: [u64; 2],
    /// How many streams of each direction the peer allows us.
    max_local: [u64; 2],
    /// Next index the peer has not opened yet.
    next_remote: [u64; 2],
    /// How many streams of each direction we allow the peer (as last announced).
    max_remote: [u64; 2],
    /// Peer-opened streams not yet accepted by the application.
    incoming: [VecDeque<StreamId>; 2],
    /// Connection flow control, send side: new bytes sent vs the peer's limit.
    data_sent: u64,
    max_data: u64,
    /// Connection flow control, receive side.
    data_received: u64,
    data_read: u64,
    local_max_data: u64,
    /// Bytes written and not yet acknowledged, across streams (bounded by `send_window`).
    unacked: u64,
    /// Scheduler: levels sorted by priority, highest first.
    levels: Vec<(i32, VecDeque<StreamId>)>,
    /// Control frames waiting to be sent.
    pub(crate) pending: Retransmits,
    pub(crate) events: VecDeque<StreamEvent>,
    /// A write was refused for lack of send window: signal writable streams when it frees.
    window_blocked: bool,
}

const fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::Bi => 0,
        Dir::Uni => 1,
    }
}

impl StreamsState {
    pub(crate) fn new(side: Side, local: LocalLimits, peer: PeerLimits) -> Self {
        StreamsState {
            side,
            local,
            peer,
            streams: BTreeMap::new(),
            next_local: [0, 0],
            max_local: [peer.max_streams_bidi, peer.max_streams_uni],
            next_remote: [0, 0],
            max_remote: [local.max_streams_bidi, local.max_streams_uni],
            incoming: [VecDeque::new(), VecDeque::new()],
            data_sent: 0,
            max_data: peer.max_data,
            data_received: 0,
            data_read: 0,
            local_max_data: local.connection_window,
            unacked: 0,
            levels: Vec::new(),
            pending: Retransmits::default(),
            events: VecDeque::new(),
            window_blocked: false,
        }
    }

    // ----- getters -----------------------------------------------------------------------

    /// Streams with data or a FIN waiting (for the application-limited signal).
    pub(crate) fn has_pending_data(&self) -> bool {
        self.levels.iter().any(|(_, q)| !q.is_empty())
    }

    pub(crate) fn has_pending_control(&self) -> bool {
        !self.pending.no_control()
    }

    // ----- application API ---------------------------------------------------------------

    pub(crate) fn open(&mut self, dir: Dir) -> Option<StreamId> {
        let d = dir_index(dir);
        if self.next_local[d] >= self.max_local[d] {
            return None;
        }
        let id = StreamId::new(self.side, dir, self.next_local[d]);
        self.next_local[d] += 1;
        let send_limit = match dir {
            Dir::Bi => self.peer.stream_data_bidi_remote,
            Dir::Uni => self.peer.stream_data_uni,
        };
        let recv = (dir == Dir::Bi).then(|| RecvStream::new(self.local.stream_window));
        self.streams.insert(id, Stream { send: Some(SendStream::new(send_limit)), recv });
        Some(id)
    }

    pub(crate) fn accept(&mut self, dir: Dir) -> Option<StreamId> {
        self.incoming[dir_index(dir)].pop_front()
    }

    fn send_stream(&mut self, id: StreamId) -> Result<&mut SendStream, WriteError> {
        self.streams.get_mut(&id).and_then(|s| s.send.as_mut()).ok_or(WriteError::ClosedStream)
    }

    /// Bytes a write on `id` may add now.
    fn write_budget(&mut self, id: StreamId) -> Result<u64, WriteError> {
        let window_left = self.local.send_window.saturating_sub(self.unacked);
        let s = self.send_stream(id)?;
        if let Some((code, _)) = s.reset {
            return Err(if code == u64::MAX { WriteError::ClosedStream } else { WriteError::Stopped(code) });
        }
        if s.fin != FinState::None {
            return Err(WriteError::ClosedStream);
        }
        let budget = s.max_data.saturating_sub(s.buf.written()).min(window_left);
        if budget == 0 {
            s.blocked = true;
            if window_left == 0 {
                self.window_blocked = true;
            }
            return Err(WriteError::Blocked);
        }
        Ok(budget)
    }

    pub(crate) fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        let budget = self.write_budget(id)?;
        let n = (data.len() as u64).min(budget) as usize;
        self.send_stream(id)?.buf.write(&data[..n]);
        self.unacked += n as u64;
        self.schedule(id);
        Ok(n)
    }

    /// Writes `data` whole without copying; fails with `Blocked` unless it all fits.
    pub(crate) fn write_bytes(&mut self, id: StreamId, data: Bytes) -> Result<(), WriteError> {
        let budget = self.write_budget(id)?;
        if (data.len() as u64) > budget {
            self.send_stream(id)?.blocked = true;
            return Err(WriteError::Blocked);
        }
        self.unacked += data.len() as u64;
        self.send_stream(id)?.buf.write_bytes(data);
        self.schedule(id);
        Ok(())
    }

    pub(crate) fn finish(&mut self, id: StreamId) -> Result<(), WriteError> {
        let s = self.send_stream(id)?;
        if s.fin != FinState::None || s.reset.is_some() {
            return Err(WriteError::ClosedStream);
        }
        s.fin = FinState::Pending;
        self.schedule(id);
        Ok(())
    }

    /// Abandons sending: buffered data is dropped and the peer told the final size.
    pub(crate) fn reset(&mut self, id: StreamId, code: u64) -> Result<(), WriteError> {
        let s = self.send_stream(id)?;
        if s.reset.is_some() || s.fin == FinState::Acked {
            return Err(WriteError::ClosedStream);
        }
        self.reset_send(id, code);
        Ok(())
    }

    fn reset_send(&mut self, id: StreamId, code: u64) {
        let Some(s) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else { return };
        self.unacked -= s.buf.unacked();
        s.buf.discard();
        s.reset = Some((code, false));
        s.fin_lost = false;
        self.pending.reset_stream.push((id, code));
    }

    pub(crate) fn set_priority(&mut self, id: StreamId, priority: i32) -> Result<(), WriteError> {
        let s = self.send_stream(id)?;
        if s.priority != priority {
            s.priority = priority;
            if s.queued {
                self.unqueue(id);
                self.schedule(id);
            }
        }
        Ok(())
    }

    /// Reads into `out`: `Some(n)` bytes, `None` at the end of the stream.
    pub(crate) fn read(&mut self, id: StreamId, out: &mut [u8]) -> Result<Option<usize>, ReadError> {
        self.consume(id, out.len(), |r| r.read(out))
    }

    /// Like [`Self::read`], but lends the bytes from the receive buffer instead of copying.
    pub(crate) fn read_chunk(&mut self, id: StreamId, max: usize) -> Result<Option<&[u8]>, ReadError> {
        let mut range = 0..0;
        if self
            .consume(id, max, |r| {
                range = r.take_chunk(max);
                range.len()
            })?
            .is_none()
        {
            return Ok(None);
        }
        // `consume` only drops the stream when it returns `None`.
        let r = self.streams.get(&id).and_then(|s| s.recv.as_ref()).ok_or(ReadError::ClosedStream)?;
        Ok(Some(r.chunk(range)))
    }

    /// The bookkeeping around one read: reset and end-of-stream reporting, flow-control
    /// credit for what `take` consumed (at most `want` bytes), and stream release.
    fn consume(
        &mut self,
        id: StreamId,
        want: usize,
        take: impl FnOnce(&mut RecvStream) -> usize,
    ) -> Result<Option<usize>, ReadError> {
        let stream = self.streams.get_mut(&id).ok_or(ReadError::ClosedStream)?;
        // A stopped receive half is closed to the application (its data was credited back).
        let r = stream.recv.as_mut().filter(|r| !r.stopped).ok_or(ReadError::ClosedStream)?;
        if let Some(code) = r.reset_code {
            self.data_read += r.unread();
            stream.recv = None;
            self.maybe_release(id);
            self.update_connection_window();
            return Err(ReadError::Reset(code));
        }
        let n = take(r);
        if n == 0 && want > 0 {
            if r.is_finished() {
                stream.recv = None;
                self.maybe_release(id);
                return Ok(None);
            }
            return Err(ReadError::Blocked);
        }
        if r.window_update().is_some() && !self.pending.max_stream_data.contains(&id) {
            self.pending.max_stream_data.push(id);
        }
        self.data_read += n as u64;
        self.update_connection_window();
        Ok(Some(n))
    }

    /// Asks the peer to stop sending on `id`; unread and future data is discarded and the
    /// receive half is closed to the application.
    pub(crate) fn stop(&mut self, id: StreamId, code: u64) -> Result<(), ReadError> {
        let r = self.streams.get_mut(&id).and_then(|s| s.recv.as_mut()).ok_or(ReadError::ClosedStream)?;
        if !r.stopped {
            r.stopped = true;
            if r.final_size.is_none() && r.reset_code.is_none() {
                self.pending.stop_sending.push((id, code));
            }
            self.data_read += r.unread();
            self.update_connection_window();
            self.release_stopped_if_complete(id);
        }
        Ok(())
    }

    /// Drops a stopped receive half once its final size is known. Everything up to the final
    /// size has then been charged and credited back (the highest offset received equals it),
    /// so nothing the peer still sends can change the accounts.
    fn release_stopped_if_complete(&mut self, id: StreamId) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if stream.recv.as_ref().is_some_and(|r| r.stopped && r.final_size.is_some()) {
            stream.recv = None;
            self.maybe_release(id);
        }
    }

    fn update_connection_window(&mut self) {
        let target = self.data_read + self.local.connection_window;
        if target - self.local_max_data >= self.local.connection_window / 2 {
            self.local_max_data = target;
            self.pending.max_data = true;
        }
    }

    // ----- incoming frames ---------------------------------------------------------------

    /// Finds or implicitly opens the stream `id` for a frame from the peer. `Ok(None)` for a
    /// stream that was already closed (late frames are ignored).
    fn remote_stream(
        &mut self,
        id: StreamId,
        want_recv: bool,
    ) -> Result<Option<&mut Stream>, (TransportErrorCode, &'static str)> {
        let local = id.initiator() == self.side;
        if local && id.dir() == Dir::Uni && want_recv {
            return Err((TransportErrorCode::STREAM_STATE_ERROR, "data on our send-only stream"));
        }
        if !local && id.dir() == Dir::Uni && !want_recv {
            return Err((TransportErrorCode::STREAM_STATE_ERROR, "send-side frame on peer's uni stream"));
        }
        let d = dir_index(id.dir());
        if local {
            if id.index() >= self.next_local[d] {
                return Err((TransportErrorCode::STREAM_STATE_ERROR, "frame for a stream we never opened"));
            }
        } else {
            if id.index() >= self.max_remote[d] {
                return Err((TransportErrorCode::STREAM_LIMIT_ERROR, "stream beyond the advertised limit"));
            }
            while self.next_remote[d] <= id.index() {
                let new_id = StreamId::new(self.side.peer(), id.dir(), self.next_remote[d]);
                self.next_remote[d] += 1;
                let (send, recv_window) = match id.dir() {
                    Dir::Bi => (Some(SendStream::new(self.peer.stream_data_bidi_local)), self.local.stream_window),
                    Dir::Uni => (None, self.local.stream_window),
                };
                self.streams.insert(new_id, Stream { send, recv: Some(RecvStream::new(recv_window)) });
                self.incoming[d].push_back(new_id);
                self.events.push_back(StreamEvent::Opened { dir: id.dir() });
            }
        }
        Ok(self.streams.get_mut(&id))
    }

    pub(crate) fn on_stream_frame(&mut self, f: &StreamFrame<'_>) -> StreamResult {
        let Some(stream) = self.remote_stream(f.id, true)? else { return Ok(()) };
        let Some(r) = stream.recv.as_mut() else { return Ok(()) };
        let was_readable = r.readable() > 0 || r.is_finished();
        let newly = r.ingest(f.offset, f.data, f.fin)?;
        let readable = r.readable() > 0 || r.is_finished();
        let discard = r.stopped;
        self.data_received += newly;
        if self.data_received > self.local_max_data {
            return Err((TransportErrorCode::FLOW_CONTROL_ERROR, "connection data beyond window"));
        }
        if discard {
            // Stopped streams still consume flow control; hand the credit straight back.
            self.data_read += newly;
            self.update_connection_window();
            self.release_stopped_if_complete(f.id);
        } else if readable && !was_readable {
            self.events.push_back(StreamEvent::Readable { id: f.id });
        }
        Ok(())
    }

    pub(crate) fn on_reset_stream(&mut self, id: StreamId, code: u64, final_size: u64) -> StreamResult {
        let Some(stream) = self.remote_stream(id, true)? else { return Ok(()) };
        let Some(r) = stream.recv.as_mut() else { return Ok(()) };
        let first = r.reset_code.is_none();
        let stopped = r.stopped;
        let newly = r.reset(code, final_size)?;
        self.data_received += newly;
        if self.data_received > self.local_max_data {
            return Err((TransportErrorCode::FLOW_CONTROL_ERROR, "reset final size beyond connection window"));
        }
        if stopped {
            // Nobody will read the reset: credit the bytes it declared and let the stream go.
            self.data_read += newly;
            self.update_connection_window();
            self.release_stopped_if_complete(id);
        } else if first {
            self.events.push_back(StreamEvent::Readable { id });
        }
        Ok(())
    }

    pub(crate) fn on_stop_sending(&mut self, id: StreamId, code: u64) -> StreamResult {
        let Some(stream) = self.remote_stream(id, false)? else { return Ok(()) };
        let Some(s) = stream.send.as_mut() else { return Ok(()) };
        if s.reset.is_none() && s.fin != FinState::Acked {
            self.reset_send(id, code);
            self.events.push_back(StreamEvent::Stopped { id, error_code: code });
        }
        Ok(())
    }

    pub(crate) fn on_max_data(&mut self, max: u64) {
        if max > self.max_data {
            let was_blocked = self.data_sent >= self.max_data;
            self.max_data = max;
            if was_blocked {
                self.reschedule_all();
            }
        }
    }

    pub(crate) fn on_max_stream_data(&mut self, id: StreamId, max: u64) -> StreamResult {
        let Some(stream) = self.remote_stream(id, false)? else { return Ok(()) };
        let Some(s) = stream.send.as_mut() else { return Ok(()) };
        if max > s.max_data {
            s.max_data = max;
            if s.blocked {
                s.blocked = false;
                self.events.push_back(StreamEvent::Writable { id });
            }
            self.schedule(id);
        }
        Ok(())
    }

    pub(crate) fn on_max_streams(&mut self, dir: Dir, count: u64) {
        let d = dir_index(dir);
        if count > self.max_local[d] {
            self.max_local[d] = count;
            self.events.push_back(StreamEvent::Available { dir });
        }
    }

    // ----- acknowledgements and losses ---------------------------------------------------

    pub(crate) fn on_chunk_acked(&mut self, c: &StreamChunk) {
        let Some(s) = self.streams.get_mut(&c.id).and_then(|s| s.send.as_mut()) else { return };
        if s.reset.is_some() {
            return;
        }
        let before = s.buf.unacked();
        s.buf.ack(c.offset, c.len);
        let freed = before - s.buf.unacked();
        if c.fin && s.fin == FinState::Sent {
            s.fin = FinState::Acked;
        }
        let done = s.is_done();
        let writable = s.blocked && freed > 0 && s.fin == FinState::None;
        self.unacked -= freed;
        if done {
            self.events.push_back(StreamEvent::Finished { id: c.id });
            if let Some(st) = self.streams.get_mut(&c.id) {
                st.send = None;
            }
            self.maybe_release(c.id);
        } else if writable {
            if let Some(s) = self.streams.get_mut(&c.id).and_then(|s| s.send.as_mut()) {
                s.blocked = false;
            }
            self.events.push_back(StreamEvent::Writable { id: c.id });
        }
        if freed > 0 && self.window_blocked {
            self.window_blocked = false;
            let blocked: Vec<StreamId> = self
                .streams
                .iter_mut()
                .filter_map(|(id, st)| {
                    st.send.as_mut().filter(|s| s.blocked).map(|s| {
                        s.blocked = false;
                        *id
                    })
                })
                .collect();
            self.events.extend(blocked.into_iter().map(|id| StreamEvent::Writable { id }));
        }
    }

    pub(crate) fn on_chunk_lost(&mut self, c: &StreamChunk) {
        let Some(s) = self.streams.get_mut(&c.id).and_then(|s| s.send.as_mut()) else { return };
        if s.reset.is_some() {
            return;
        }
        s.buf.lose(c.offset, c.len);
        if c.fin && s.fin == FinState::Sent {
            s.fin_lost = true;
        }
        self.schedule(c.id);
    }

    /// The peer acknowledged our RESET_STREAM.
    pub(crate) fn on_reset_acked(&mut self, id: StreamId) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if stream.send.as_ref().is_some_and(|s| s.reset.is_some()) {
            // The peer knows the final size: nothing of the sending half is needed anymore.
            stream.send = None;
            self.maybe_release(id);
        }
    }

    /// Removes a stream whose both halves are done; a peer-opened one frees a stream credit.
    fn maybe_release(&mut self, id: StreamId) {
        let Some(s) = self.streams.get(&id) else { return };
        if s.send.is_some() || s.recv.is_some() {
            return;
        }
        self.streams.remove(&id);
        self.unqueue(id);
        if id.initiator() != self.side {
            let d = dir_index(id.dir());
            self.max_remote[d] += 1;
            match id.dir() {
                Dir::Bi => self.pending.max_streams_bidi = true,
                Dir::Uni => self.pending.max_streams_uni = true,
            }
        }
    }

    // ----- scheduling --------------------------------------------------------------------

    fn conn_credit(&self) -> u64 {
        self.max_data.saturating_sub(self.data_sent)
    }

    fn schedule(&mut self, id: StreamId) {
        let credit = self.conn_credit();
        let Some(s) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else { return };
        if s.queued || !s.wants_to_send(credit) {
            return;
        }
        s.queued = true;
        let p = s.priority;
        let pos = self.levels.partition_point(|(lp, _)| *lp > p);
        match self.levels.get_mut(pos) {
            Some((lp, q)) if *lp == p => q.push_back(id),
            _ => self.levels.insert(pos, (p, VecDeque::from([id]))),
        }
    }

    fn unqueue(&mut self, id: StreamId) {
        for (_, q) in &mut self.levels {
            if let Some(i) = q.iter().position(|x| *x == id) {
                q.remove(i);
            }
        }
        if let Some(s) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) {
            s.queued = false;
        }
    }

    fn reschedule_all(&mut self) {
        let ids: Vec<StreamId> = self.streams.keys().copied().collect();
        for id in ids {
            self.schedule(id);
        }
    }

    /// Writes STREAM frames into the rest of the packet, in scheduler order; records what was
    /// sent in `sent`.
    pub(crate) fn write_stream_frames(&mut self, w: &mut Writer<'_>, sent: &mut Retransmits) {
        // Smallest useful frame: the largest header (type, 8-byte id, 8-byte offset, length)
        // plus a few bytes.
        const MIN_FRAME: usize = 24;
        let mut level = 0;
        while w.remaining() >= MIN_FRAME && level < self.levels.len() {
            let Some(id) = self.levels[level].1.pop_front() else {
                level += 1;
                continue;
            };
            let credit = self.conn_credit();
            let Some(s) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else { continue };
            s.queued = false;
            if !s.wants_to_send(credit) {
                continue;
            }
            let limit = s.buf.sent().saturating_add(credit).min(s.max_data);
            let before_sent = s.buf.sent();
            // Room assuming the largest header; the exact header is chosen once the range is
            // known.
            let worst_header = frame::stream_header_len(id, u64::MAX >> 2, false);
            let room = w.remaining().saturating_sub(worst_header) as u64;
            let range = s.buf.next_range(room, limit);
            let (offset, len) = range.unwrap_or((s.buf.written(), 0));
            let is_new_end = offset + len == s.buf.written();
            let fin = s.fin != FinState::None && is_new_end && s.reset.is_none();
            if len == 0 && !fin {
                continue;
            }
            if fin {
                s.fin = FinState::Sent;
                s.fin_lost = false;
            }
            let with_len_hdr = frame::stream_header_len(id, offset, true);
            let no_len_hdr = frame::stream_header_len(id, offset, false);
            let len_usize = len as usize;
            // The length field is a 2-byte varint, so frames followed by others carry at most
            // 16383 bytes; a longer one (very large MTUs) takes the rest of the packet.
            if with_len_hdr + len_usize + MIN_FRAME <= w.remaining() && len_usize < 1 << 14 {
                frame::encode_stream_header(w, id, offset, len_usize, fin, true);
            } else {
                // This frame ends the packet: pad before it so it ends exactly at the end.
                w.put_zeros(w.remaining() - no_len_hdr - len_usize);
                frame::encode_stream_header(w, id, offset, len_usize, fin, false);
            }
            s.buf.copy_out(offset, w.take_slice(len_usize));
            sent.stream.push(StreamChunk { id, offset, len, fin });
            self.data_sent += s.buf.sent() - before_sent;
            let more = s.wants_to_send(self.max_data.saturating_sub(self.data_sent));
            if more {
                self.schedule(id);
            }
        }
    }

    /// Writes pending flow-control and stream-state control frames that fit.
    pub(crate) fn write_control_frames(&mut self, w: &mut Writer<'_>, sent: &mut Retransmits) {
        use frame::ty;
        if self.pending.max_data {
            let f = [self.local_max_data];
            if frame::varints_len(ty::MAX_DATA, &f) <= w.remaining() {
                frame::encode_varints(w, ty::MAX_DATA, &f);
                self.pending.max_data = false;
                sent.max_data = true;
            }
        }
        for (flag, sent_flag, t, d) in [
            (self.pending.max_streams_bidi, &mut sent.max_streams_bidi, ty::MAX_STREAMS_BIDI, 0),
            (self.pending.max_streams_uni, &mut sent.max_streams_uni, ty::MAX_STREAMS_UNI, 1),
        ] {
            let f = [self.max_remote[d]];
            if flag && frame::varints_len(t, &f) <= w.remaining() {
                frame::encode_varints(w, t, &f);
                *sent_flag = true;
            }
        }
        self.pending.max_streams_bidi &= !sent.max_streams_bidi;
        self.pending.max_streams_uni &= !sent.max_streams_uni;
        while let Some(id) = self.pending.max_stream_data.last().copied() {
            let Some(r) = self.streams.get(&id).and_then(|s| s.recv.as_ref()) else {
                self.pending.max_stream_data.pop();
                continue;
            };
            let f = [id.as_u64(), r.max_data];
            if frame::varints_len(ty::MAX_STREAM_DATA, &f) > w.remaining() {
                break;
            }
            frame::encode_varints(w, ty::MAX_STREAM_DATA, &f);
            self.pending.max_stream_data.pop();
            sent.max_stream_data.push(id);
        }
        while let Some((id, code)) = self.pending.reset_stream.last().copied() {
            let Some(s) = self.streams.get(&id).and_then(|s| s.send.as_ref()) else {
                self.pending.reset_stream.pop();
                continue;
            };
            let f = [id.as_u64(), code, s.buf.sent()];
            if frame::varints_len(ty::RESET_STREAM, &f) > w.remaining() {
                break;
            }
            frame::encode_varints(w, ty::RESET_STREAM, &f);
            self.pending.reset_stream.pop();
            sent.reset_stream.push((id, code));
        }
        while let Some((id, code)) = self.pending.stop_sending.last().copied() {
            let f = [id.as_u64(), code];
            if frame::varints_len(ty::STOP_SENDING, &f) > w.remaining() {
                break;
            }
            frame::encode_varints(w, ty::STOP_SENDING, &f);
            self.pending.stop_sending.pop();
            if self.streams.get(&id).and_then(|s| s.recv.as_ref()).is_some() {
                sent.stop_sending.push((id, code));
            }
        }
    }

    /// Re-queues the stream control frames of a lost packet.
    pub(crate) fn on_control_lost(&mut self, lost: &Retransmits) {
        self.pending.merge_control(lost);
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
