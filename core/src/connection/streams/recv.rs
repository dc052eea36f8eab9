//! The receiving half of a stream: reassembly of out-of-order data into a ring buffer.
//!
//! Flow control bounds how far past the read offset the peer may send, so a ring of (at most)
//! the stream window holds every byte that can legally arrive, in place, with no per-frame
//! allocation. The ring grows by doubling from small, so idle streams cost little.

use crate::range_set::RangeSet;
use crate::transport_error::TransportErrorCode;

const RING_MIN: usize = 4 << 10;
/// Disjoint received ranges a stream may accumulate before the peer is deemed abusive: each
/// gap is at least one lost packet, so a legitimate sender stays far below this.
const MAX_GAPS: usize = 4096;

/// A byte ring addressed relative to the read offset.
#[derive(Debug, Default)]
struct Ring {
    data: Vec<u8>,
    /// Index of the byte at the read offset.
    head: usize,
}

impl Ring {
    fn write_at(&mut self, rel: usize, src: &[u8]) {
        let need = rel + src.len();
        if need > self.data.len() {
            self.grow(need);
        }
        let cap = self.data.len();
        let start = (self.head + rel) % cap;
        let first = src.len().min(cap - start);
        self.data[start..start + first].copy_from_slice(&src[..first]);
        self.data[..src.len() - first].copy_from_slice(&src[first..]);
    }

    fn read(&mut self, out: &mut [u8]) {
        let cap = self.data.len();
        let first = out.len().min(cap - self.head);
        out[..first].copy_from_slice(&self.data[self.head..self.head + first]);
        let rest = out.len() - first;
        out[first..].copy_from_slice(&self.data[..rest]);
        self.head = (self.head + out.len()) % cap.max(1);
    }

    /// Consumes up to `n` bytes at the head that lie contiguously in memory; returns where
    /// they are in `data`.
    fn take_contiguous(&mut self, n: usize) -> core::ops::Range<usize> {
        let cap = self.data.len();
        let range = self.head..self.head + n.min(cap - self.head);
        self.head = range.end % cap.max(1);
        range
    }

    fn grow(&mut self, need: usize) {
        let new_cap = need.next_power_of_two().max(RING_MIN);
        let mut data = vec![0; new_cap];
        let old = self.data.len();
        data[..old - self.head].copy_from_slice(&self.data[self.head..]);
        data[old - self.head..old].copy_from_slice(&self.data[..self.head]);
        self.data = data;
        self.head = 0;
    }
}

/// Why incoming stream data was refused; the connection closes with this code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecvError(pub(crate) TransportErrorCode, pub(crate) &'static str);

#[derive(Debug)]
pub(crate) struct RecvStream {
    ring: Ring,
    /// Received ranges at or above `read_offset`.
    received: RangeSet,
    read_offset: u64,
    /// Highest offset received (counts against connection flow control).
    highest: u64,
    pub(crate) final_size: Option<u64>,
    /// Offset limit advertised to the peer.
    pub(crate) max_data: u64,
    window: u64,
    /// The peer reset the stream with this code.
    pub(crate) reset_code: Option<u64>,
    /// The application asked the peer to stop: incoming data is discarded.
    pub(crate) stopped: bool,
}

impl RecvStream {
    pub(crate) fn new(window: u64) -> Self {
        RecvStream {
            ring: Ring::default(),
            received: RangeSet::new(),
            read_offset: 0,
            highest: 0,
            final_size: None,
            max_data: window,
            window,
            reset_code: None,
            stopped: false,
        }
    }

    /// Accepts a STREAM frame. Returns how many bytes past the previous highest offset it
    /// reached (to charge connection-level flow control).
    pub(crate) fn ingest(&mut self, offset: u64, data: &[u8], fin: bool) -> Result<u64, RecvError> {
        let end = offset + data.len() as u64;
        if let Some(size) = self.final_size {
            if end > size || (fin && end != size) {
                return Err(RecvError(TransportErrorCode::FINAL_SIZE_ERROR, "data beyond or changing final size"));
            }
        }
        if fin {
            if end < self.highest {
                return Err(RecvError(TransportErrorCode::FINAL_SIZE_ERROR, "final size below data received"));
            }
            self.final_size = Some(end);
        }
        if end > self.max_data {
            return Err(RecvError(TransportErrorCode::FLOW_CONTROL_ERROR, "stream data beyond window"));
        }
        let newly = end.saturating_sub(self.highest);
        self.highest = self.highest.max(end);
        if self.stopped || self.reset_code.is_some() || end <= self.read_offset {
            return Ok(newly);
        }
        let start = offset.max(self.read_offset);
        let skip = (start - offset) as usize;
        self.ring.write_at((start - self.read_offset) as usize, &data[skip..]);
        self.received.insert(start..end);
        if self.received.len() > MAX_GAPS {
            return Err(RecvError(TransportErrorCode::PROTOCOL_VIOLATION, "too many gaps in stream data"));
        }
        Ok(newly)
    }

    /// Records a RESET_STREAM. Returns the bytes it adds to connection flow control.
    pub(crate) fn reset(&mut self, code: u64, final_size: u64) -> Result<u64, RecvError> {
        if self.final_size.is_some_and(|s| s != final_size) || final_size < self.highest {
            return Err(RecvError(TransportErrorCode::FINAL_SIZE_ERROR, "reset changes final size"));
        }
        if final_size > self.max_data {
            return Err(RecvError(TransportErrorCode::FLOW_CONTROL_ERROR, "reset final size beyond window"));
        }
        let newly = final_size - self.highest;
        self.highest = final_size;
        self.final_size = Some(final_size);
        if self.reset_code.is_none() {
            self.reset_code = Some(code);
            self.ring = Ring::default();
            self.received.clear();
        }
        Ok(newly)
    }

    /// Bytes readable right now.
    pub(crate) fn readable(&self) -> u64 {
        self.received.first_range().filter(|r| r.start == self.read_offset).map_or(0, |r| r.end - r.start)
    }

    /// Every byte up to the final size was read.
    pub(crate) fn is_finished(&self) -> bool {
        self.final_size == Some(self.read_offset)
    }

    /// Copies readable bytes into `out`; returns the count.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let n = (self.readable() as usize).min(out.len());
        if n > 0 {
            self.ring.read(&mut out[..n]);
            self.read_offset += n as u64;
            self.received.remove_below(self.read_offset);
        }
        n
    }

    /// Consumes up to `max` readable bytes without copying them; returns their location for
    /// [`Self::chunk`] (shorter than `max` where the ring wraps: the rest comes next call).
    pub(crate) fn take_chunk(&mut self, max: usize) -> core::ops::Range<usize> {
        let range = self.ring.take_contiguous((self.readable() as usize).min(max));
        if !range.is_empty() {
            self.read_offset += range.len() as u64;
            self.received.remove_below(self.read_offset);
        }
        range
    }

    /// Bytes consumed by [`Self::take_chunk`]; valid until the stream next changes.
    pub(crate) fn chunk(&self, range: core::ops::Range<usize>) -> &[u8] {
        &self.ring.data[range]
    }

    /// If the application has consumed enough, the larger limit to advertise.
    pub(crate) fn window_update(&mut self) -> Option<u64> {
        if self.final_size.is_some() || self.stopped || self.reset_code.is_some() {
            return None;
        }
        let target = self.read_offset + self.window;
        // Announce when at least half the window was freed, so updates stay rare.
        (target - self.max_data >= self.window / 2).then(|| {
            self.max_data = target;
            target
        })
    }

    /// Data the peer sent that will never be read (stream stopped or reset): returned to
    /// connection flow control so the connection does not stall.
    pub(crate) fn unread(&self) -> u64 {
        self.highest - self.read_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(s: &mut RecvStream) -> Vec<u8> {
        let mut out = vec![0; s.readable() as usize];
        let n = s.read(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn chunks_borrow_the_ring_and_stop_at_its_wrap() {
        let mut s = RecvStream::new(1 << 20);
        s.ingest(0, &[1; 3000], false).unwrap();
        let first = s.take_chunk(1000);
        assert_eq!(s.chunk(first), &[1; 1000][..]);
        s.read(&mut [0; 2000]);
        // The ring is 4 KiB: bytes 3000..5000 wrap past its end, so they come in two chunks.
        s.ingest(3000, &[2; 2000], false).unwrap();
        let tail = s.take_chunk(usize::MAX);
        assert_eq!(s.chunk(tail.clone()), &[2; 1096][..]);
        let head = s.take_chunk(usize::MAX);
        assert_eq!(s.chunk(head), &[2; 904][..]);
        assert!(s.take_chunk(usize::MAX).is_empty());
    }

    #[test]
    fn reassembles_out_of_order_and_duplicate_data() {
        let mut s = RecvStream::new(1 << 20);
        assert_eq!(s.ingest(5, b"world", false), Ok(10));
        assert_eq!(s.readable(), 0);
        assert_eq!(s.ingest(0, b"hello", false), Ok(0));
        assert_eq!(s.ingest(3, b"lowo", false), Ok(0), "overlap changes nothing");
        assert_eq!(read_all(&mut s), b"helloworld");
        assert_eq!(s.ingest(0, b"hello", false), Ok(0), "old data is ignored");
        assert_eq!(s.readable(), 0);
    }

    #[test]
    fn ring_wraps_and_grows_without_corrupting_data() {
        let mut s = RecvStream::new(1 << 20);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut got = Vec::new();
        let mut offset = 0usize;
        // Deliver chunks of growing size in pairs, second of each pair first.
        let mut size = 100;
        while offset < data.len() {
            let a = offset;
            let b = (a + size).min(data.len());
            let c = (b + size).min(data.len());
            s.ingest(b as u64, &data[b..c], c == data.len()).expect("in window");
            s.ingest(a as u64, &data[a..b], false).expect("in window");
            got.extend(read_all(&mut s));
            offset = c;
            size = (size * 3 / 2).min(30_000);
        }
        assert_eq!(got, data);
        assert!(s.is_finished());
    }

    #[test]
    fn flow_control_and_final_size_violations_are_errors() {
        let mut s = RecvStream::new(100);
        assert_eq!(s.ingest(90, &[0; 20], false).unwrap_err().0, TransportErrorCode::FLOW_CONTROL_ERROR);
        assert_eq!(s.ingest(0, &[0; 10], true), Ok(10));
        assert_eq!(s.ingest(5, &[0; 10], false).unwrap_err().0, TransportErrorCode::FINAL_SIZE_ERROR);
        assert_eq!(s.ingest(0, &[0; 5], true).unwrap_err().0, TransportErrorCode::FINAL_SIZE_ERROR);
        assert_eq!(s.reset(0, 11).unwrap_err().0, TransportErrorCode::FINAL_SIZE_ERROR);
        assert_eq!(s.reset(7, 10), Ok(0));
        assert_eq!(s.reset_code, Some(7));
    }

    #[test]
    fn window_update_after_half_window_consumed() {
        let mut s = RecvStream::new(1000);
        s.ingest(0, &[1; 400], false).expect("ok");
        read_all(&mut s);
        assert_eq!(s.window_update(), None);
        s.ingest(400, &[1; 200], false).expect("ok");
        read_all(&mut s);
        assert_eq!(s.window_update(), Some(1600));
        assert_eq!(s.max_data, 1600);
    }
}
