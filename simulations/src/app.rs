//! Applications on the simulated connections: bulk transfer, request/response, periodic
//! messages on a stream and unreliable datagrams.
//!
//! Every byte sent is a known function of its offset (a period-251 pattern), so receivers
//! check every byte they get without storing what was sent: a corrupted, misordered or
//! misplaced byte is counted as corrupted.

use crate::scenario::{App, Direction};
use bytes::Bytes;
use jetstream_core::{Connection, Dir, Duration, Instant, ReadError, Side, StreamEvent, StreamId, WriteError};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The pattern's period: prime, so it never lines up with packet or chunk sizes.
const PERIOD: usize = 251;
/// Largest piece handed to the stream at once.
const CHUNK: usize = 64 << 10;
/// How long after sending its last datagram a datagram flow waits for stragglers before it
/// counts as complete (whatever has not arrived by then is lost).
const DATAGRAM_LINGER: Duration = Duration::from_secs(1);

/// `PERIOD + CHUNK` bytes of pattern: any offset's next `CHUNK` bytes are one slice of it.
fn pattern() -> &'static Bytes {
    static PATTERN: OnceLock<Bytes> = OnceLock::new();
    PATTERN.get_or_init(|| (0..PERIOD + CHUNK).map(|i| (i % PERIOD) as u8).collect::<Vec<u8>>().into())
}

/// The pattern bytes for stream offsets `offset..offset + len` (`len` at most `CHUNK`).
fn pattern_at(offset: u64, len: usize) -> Bytes {
    let start = (offset % PERIOD as u64) as usize;
    pattern().slice(start..start + len)
}

/// How many bytes of `data`, found at stream offset `offset`, differ from the pattern.
fn mismatches(offset: u64, data: &[u8]) -> u64 {
    let mut bad = 0;
    for (i, piece) in data.chunks(CHUNK).enumerate() {
        let expected = pattern_at(offset + (i * CHUNK) as u64, piece.len());
        if piece != expected.as_ref() {
            bad += piece.iter().zip(expected.iter()).filter(|(a, b)| a != b).count() as u64;
        }
    }
    bad
}

/// What a connection's application achieved.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Progress {
    /// Payload bytes delivered to the receiving application(s).
    pub(crate) delivered: u64,
    /// Payload bytes the application set out to deliver.
    pub(crate) expected: u64,
    /// Delivered bytes that differ from what was sent (must stay 0).
    pub(crate) corrupted: u64,
    /// When the application finished (everything delivered).
    pub(crate) completed_at: Option<Instant>,
}

/// An outgoing stream and how much of its data has been handed to the connection.
#[derive(Debug)]
struct Outgoing {
    id: StreamId,
    written: u64,
    /// Bytes to write in total so far (periodic messages raise it).
    target: u64,
    /// Finish the stream once `target` is written.
    finish: bool,
    finished: bool,
}

/// The streams one side of a connection is writing and reading (the two sides number
/// streams alike, so each keeps its own).
#[derive(Debug, Default)]
struct Half {
    /// Streams being written.
    outgoing: Vec<Outgoing>,
    /// Receive offset per stream being read.
    incoming: BTreeMap<StreamId, u64>,
    /// Streams whose end has been read.
    ended_streams: u64,
}

/// One connection's application, both its client and its server half.
#[derive(Debug)]
pub(crate) struct AppState {
    app: App,
    /// Indexed by [`Side`].
    halves: [Half; 2],
    /// Requests opened / messages or datagrams sent so far.
    issued: u64,
    /// Responses fully received (request/response).
    answered: u64,
    progress: Progress,
}

impl AppState {
    /// The application `app` before its connection exists.
    pub(crate) fn new(app: App) -> Self {
        let expected = match app {
            App::Bulk { bytes, .. } => bytes.0,
            App::RequestResponse { requests, request, response, .. } => requests * (request.0 + response.0),
            App::Periodic { bytes, count, .. } | App::Datagrams { bytes, count, .. } => bytes.0 * count,
        };
        AppState {
            app,
            halves: [Half::default(), Half::default()],
            issued: 0,
            answered: 0,
            progress: Progress { expected, ..Progress::default() },
        }
    }

    /// The application's kind, as scenario files name it.
    pub(crate) fn kind(&self) -> &'static str {
        match self.app {
            App::Bulk { .. } => "bulk",
            App::RequestResponse { .. } => "request_response",
            App::Periodic { .. } => "periodic",
            App::Datagrams { .. } => "datagrams",
        }
    }

    /// What has been achieved.
    pub(crate) fn progress(&self) -> Progress {
        self.progress
    }

    /// Which side sends the bulk of the data (for per-connection sender metrics).
    pub(crate) fn data_sender(&self) -> Side {
        match self.app {
            App::Bulk { direction: Direction::Download, .. } | App::RequestResponse { .. } => Side::Server,
            _ => Side::Client,
        }
    }

    /// The connection is established on `side`; returns when to call [`Self::on_tick`].
    pub(crate) fn on_connected(&mut self, side: Side, conn: &mut Connection, now: Instant) -> Option<Instant> {
        match (self.app.clone(), side) {
            (App::Bulk { bytes, direction }, side) if (direction == Direction::Upload) == (side == Side::Client) => {
                self.open_outgoing(side, conn, Dir::Uni, bytes.0, true);
                self.pump(side, conn);
                None
            }
            (App::RequestResponse { concurrency, requests, .. }, Side::Client) => {
                for _ in 0..concurrency.min(requests) {
                    self.issue_request(conn);
                }
                self.check_complete(now);
                None
            }
            (App::Periodic { .. }, Side::Client) => {
                self.open_outgoing(Side::Client, conn, Dir::Uni, 0, false);
                Some(now)
            }
            (App::Datagrams { .. }, Side::Client) => Some(now),
            _ => {
                // Zero-byte applications are complete at once.
                self.check_complete(now);
                None
            }
        }
    }

    /// The periodic timer fired (client side); returns the next firing.
    pub(crate) fn on_tick(&mut self, conn: &mut Connection, now: Instant) -> Option<Instant> {
        let (interval, bytes, count) = match self.app {
            App::Periodic { interval, bytes, count } | App::Datagrams { interval, bytes, count } => {
                (interval.0, bytes.0, count)
            }
            _ => return None,
        };
        if self.issued >= count {
            // The linger after the last datagram is over.
            self.progress.completed_at.get_or_insert(now);
            return None;
        }
        self.issued += 1;
        if matches!(self.app, App::Datagrams { .. }) {
            // Each datagram carries the pattern from offset 0; a too-large or queue-full
            // datagram is simply not delivered, which the summary shows.
            let _ = conn.send_datagram(pattern_at(0, bytes.min(CHUNK as u64) as usize));
        } else if let Some(out) = self.halves[Side::Client as usize].outgoing.first_mut() {
            out.target += bytes;
            out.finish = self.issued == count;
            self.pump(Side::Client, conn);
        }
        if self.issued < count {
            Some(now + interval)
        } else if matches!(self.app, App::Datagrams { .. }) {
            Some(now + DATAGRAM_LINGER)
        } else {
            None
        }
    }

    /// A stream or datagram event on `side`.
    pub(crate) fn on_stream_event(&mut self, side: Side, conn: &mut Connection, event: StreamEvent, now: Instant) {
        match event {
            StreamEvent::Opened { dir } => {
                while let Some(id) = conn.accept(dir) {
                    self.halves[side as usize].incoming.insert(id, 0);
                    self.read(side, conn, id, now);
                }
            }
            StreamEvent::Readable { id } => self.read(side, conn, id, now),
            StreamEvent::Writable { .. } => self.pump(side, conn),
            _ => {}
        }
    }

    /// Datagrams arrived.
    pub(crate) fn on_datagrams(&mut self, conn: &mut Connection, now: Instant) {
        while let Some(d) = conn.recv_datagram() {
            self.progress.corrupted += mismatches(0, &d);
            self.progress.delivered += d.len() as u64;
        }
        self.check_complete(now);
    }

    fn open_outgoing(
        &mut self,
        side: Side,
        conn: &mut Connection,
        dir: Dir,
        target: u64,
        finish: bool,
    ) -> Option<StreamId> {
        let id = conn.open(dir)?;
        self.halves[side as usize].outgoing.push(Outgoing { id, written: 0, target, finish, finished: false });
        Some(id)
    }

    fn issue_request(&mut self, conn: &mut Connection) {
        let App::RequestResponse { requests, request, .. } = self.app else { return };
        if self.issued >= requests {
            return;
        }
        if let Some(id) = self.open_outgoing(Side::Client, conn, Dir::Bi, request.0, true) {
            self.issued += 1;
            self.halves[Side::Client as usize].incoming.insert(id, 0);
            self.pump(Side::Client, conn);
        }
    }

    /// Writes as much pending data as flow control allows, and finishes completed streams.
    fn pump(&mut self, side: Side, conn: &mut Connection) {
        let half = &mut self.halves[side as usize];
        for out in &mut half.outgoing {
            while out.written < out.target {
                let len = (out.target - out.written).min(CHUNK as u64) as usize;
                match conn.write_bytes(out.id, pattern_at(out.written, len)) {
                    Ok(()) => out.written += len as u64,
                    Err(WriteError::Blocked) => return,
                    Err(_) => break,
                }
            }
            if out.finish && !out.finished && out.written == out.target {
                out.finished = conn.finish(out.id).is_ok();
            }
        }
        half.outgoing.retain(|o| !o.finished);
    }

    fn read(&mut self, side: Side, conn: &mut Connection, id: StreamId, now: Instant) {
        let half = &mut self.halves[side as usize];
        let Some(offset) = half.incoming.get_mut(&id) else { return };
        let ended = loop {
            match conn.read_chunk(id, usize::MAX) {
                Ok(Some(chunk)) => {
                    self.progress.corrupted += mismatches(*offset, chunk);
                    self.progress.delivered += chunk.len() as u64;
                    *offset += chunk.len() as u64;
                }
                Ok(None) => break true,
                Err(ReadError::Blocked) => break false,
                Err(_) => break true,
            }
        };
        if ended {
            half.incoming.remove(&id);
            half.ended_streams += 1;
            self.on_stream_end(side, conn, id);
        }
        self.check_complete(now);
    }

    /// A request (server) or response (client) was read to its end.
    fn on_stream_end(&mut self, side: Side, conn: &mut Connection, id: StreamId) {
        if let App::RequestResponse { response, .. } = self.app {
            match side {
                Side::Server => {
                    let out = Outgoing { id, written: 0, target: response.0, finish: true, finished: false };
                    self.halves[Side::Server as usize].outgoing.push(out);
                    self.pump(Side::Server, conn);
                }
                Side::Client => {
                    self.answered += 1;
                    self.issue_request(conn);
                }
            }
        }
    }

    fn check_complete(&mut self, now: Instant) {
        if self.progress.completed_at.is_some() || self.progress.delivered < self.progress.expected {
            return;
        }
        let done = match self.app {
            App::Bulk { .. } | App::Periodic { .. } => {
                self.halves.iter().any(|h| h.ended_streams >= 1) || self.progress.expected == 0
            }
            App::RequestResponse { requests, .. } => self.answered >= requests,
            App::Datagrams { .. } => true,
        };
        if done {
            self.progress.completed_at = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_detects_misplaced_and_flipped_bytes() {
        let data: Vec<u8> = (0..1000u64).map(|i| (i % PERIOD as u64) as u8).collect();
        assert_eq!(mismatches(0, &data), 0);
        assert_eq!(mismatches(1, &data), 1000, "shifted by one byte, everything is wrong");
        let mut flipped = data.clone();
        flipped[500] ^= 0x10;
        assert_eq!(mismatches(0, &flipped), 1);
        assert_eq!(pattern_at(300, 5).as_ref(), &[49, 50, 51, 52, 53]);
        let long: Vec<u8> = (0..(3 * CHUNK as u64 + 17)).map(|i| ((i + 7) % PERIOD as u64) as u8).collect();
        assert_eq!(mismatches(7, &long), 0);
    }
}
