//! The sending half of a stream: buffered data, what was sent, lost and acknowledged.

use crate::range_set::RangeSet;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Smallest and largest staging allocation for copied writes. A refill is sized by what the
/// stream holds unacknowledged: a bulk writer, whose window keeps megabytes outstanding,
/// reaches the cap and allocates once per megabyte (far below one allocation per packet),
/// while a stream of small request/response messages keeps reusing a small buffer. (Sizing
/// by the number of refills instead grew such a stream to 1 MiB buffers, each a fresh
/// mapping whose pages fault in as 64-byte messages fill them.)
const STAGING_MIN: usize = 4 << 10;
const STAGING_MAX: usize = 1 << 20;

/// Unacknowledged stream data. Written data lives in reference-counted chunks: zero-copy
/// writes (`Bytes`) are stored as they are, copied writes accumulate in a staging buffer that
/// is frozen into a chunk when packets need it.
#[derive(Debug, Default)]
pub(crate) struct SendBuffer {
    /// `(offset, data)` in offset order, covering `[acked_prefix, frozen_end)`.
    chunks: VecDeque<(u64, Bytes)>,
    /// Index in `chunks` where the last `copy_out` ended: new data is sent in offset order,
    /// so the next copy almost always starts there, sparing a binary search per packet.
    cursor: usize,
    staging: BytesMut,
    /// Everything below this offset was acknowledged.
    acked_prefix: u64,
    /// Offset just past the last byte written.
    written: u64,
    /// Offset just past the highest byte ever sent; data above it is new.
    sent: u64,
    /// Ranges below `sent` declared lost and not yet re-sent.
    lost: RangeSet,
    /// Acknowledged ranges above `acked_prefix`.
    acked: RangeSet,
}

impl SendBuffer {
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Highest offset sent so far (the stream's final size if it is reset now).
    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }

    /// Bytes written and not yet acknowledged.
    pub(crate) fn unacked(&self) -> u64 {
        self.written - self.acked_prefix
    }

    pub(crate) fn has_unsent(&self) -> bool {
        self.written > self.sent
    }

    pub(crate) fn has_lost(&self) -> bool {
        !self.lost.is_empty()
    }

    pub(crate) fn is_fully_acked(&self) -> bool {
        self.acked_prefix == self.written
    }

    /// Appends a copy of `data`.
    pub(crate) fn write(&mut self, data: &[u8]) {
        if self.staging.capacity() - self.staging.len() < data.len() {
            let outstanding = usize::try_from(self.unacked()).unwrap_or(usize::MAX).saturating_add(data.len());
            let size = outstanding.checked_next_power_of_two().unwrap_or(STAGING_MAX).clamp(STAGING_MIN, STAGING_MAX);
            self.staging.reserve(data.len().max(size));
        }
        self.staging.extend_from_slice(data);
        self.written += data.len() as u64;
    }

    /// Appends `data` without copying it.
    pub(crate) fn write_bytes(&mut self, data: Bytes) {
        self.freeze_staging();
        self.written += data.len() as u64;
        let start = self.written - data.len() as u64;
        if !data.is_empty() {
            self.chunks.push_back((start, data));
        }
    }

    fn frozen_end(&self) -> u64 {
        self.chunks.back().map_or(self.acked_prefix, |(o, b)| o + b.len() as u64)
    }

    fn freeze_staging(&mut self) {
        if !self.staging.is_empty() {
            let start = self.frozen_end();
            self.chunks.push_back((start, self.staging.split().freeze()));
        }
    }

    /// The next range to send, at most `max_len` bytes: lost data first, then new data up to
    /// `new_data_limit` (flow control). Marks it as sent.
    pub(crate) fn next_range(&mut self, max_len: u64, new_data_limit: u64) -> Option<(u64, u64)> {
        if let Some(r) = self.lost.pop_min(max_len) {
            return Some((r.start, r.end - r.start));
        }
        let end = self.written.min(new_data_limit).min(self.sent.saturating_add(max_len));
        if end <= self.sent {
            return None;
        }
        let start = self.sent;
        self.sent = end;
        Some((start, end - start))
    }

    /// Copies `[offset, offset + out.len())` into `out`. The range must lie within what was
    /// written and not yet acknowledged (guaranteed by `next_range`).
    pub(crate) fn copy_out(&mut self, offset: u64, out: &mut [u8]) {
        if offset + out.len() as u64 > self.frozen_end() {
            self.freeze_staging();
        }
        let covers = |(o, b): &(u64, Bytes)| (*o..o + b.len() as u64).contains(&offset);
        let mut idx = if self.chunks.get(self.cursor).is_some_and(covers) {
            self.cursor
        } else if self.chunks.get(self.cursor + 1).is_some_and(covers) {
            self.cursor + 1
        } else {
            self.chunks.partition_point(|(o, b)| o + b.len() as u64 <= offset)
        };
        let mut pos = offset;
        let mut filled = 0;
        while filled < out.len() {
            let Some((start, chunk)) = self.chunks.get(idx) else { break };
            let from = (pos - start) as usize;
            let n = (chunk.len() - from).min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&chunk[from..from + n]);
            filled += n;
            pos += n as u64;
            idx += 1;
        }
        self.cursor = idx.saturating_sub(1);
        debug_assert_eq!(filled, out.len(), "copy_out beyond buffered data");
    }

    /// Records an acknowledgement of `[offset, offset + len)`, releasing fully acknowledged
    /// chunks.
    pub(crate) fn ack(&mut self, offset: u64, len: u64) {
        let end = offset + len;
        if end <= self.acked_prefix {
            return;
        }
        self.acked.insert(offset.max(self.acked_prefix)..end);
        self.lost.remove(offset..end);
        if let Some(first) = self.acked.first_range()
            && first.start <= self.acked_prefix
        {
            self.acked_prefix = first.end;
            self.acked.remove_below(first.end);
        }
        while let Some((o, b)) = self.chunks.front() {
            if o + b.len() as u64 <= self.acked_prefix {
                self.chunks.pop_front();
                self.cursor = self.cursor.saturating_sub(1);
            } else {
                break;
            }
        }
    }

    /// Queues `[offset, offset + len)` for retransmission, minus what was acknowledged since.
    pub(crate) fn lose(&mut self, offset: u64, len: u64) {
        let start = offset.max(self.acked_prefix);
        let end = offset + len;
        if start >= end {
            return;
        }
        self.lost.insert_excluding(start..end, &self.acked);
    }

    /// Drops all buffered data (the stream was reset).
    pub(crate) fn discard(&mut self) {
        self.chunks.clear();
        self.cursor = 0;
        self.staging = BytesMut::new();
        self.lost.clear();
        self.acked.clear();
        self.acked_prefix = self.written;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(buf: &mut SendBuffer, offset: u64, len: u64) -> Vec<u8> {
        let mut out = vec![0; len as usize];
        buf.copy_out(offset, &mut out);
        out
    }

    /// Sends everything written (one packet's worth at a time) and returns the ranges sent.
    fn send_all(b: &mut SendBuffer) -> Vec<(u64, u64)> {
        let mut sent = Vec::new();
        while let Some((offset, len)) = b.next_range(1200, u64::MAX) {
            read(b, offset, len);
            sent.push((offset, len));
        }
        sent
    }

    #[test]
    fn small_acknowledged_messages_keep_a_small_staging_buffer() {
        let mut b = SendBuffer::default();
        let mut largest = 0;
        for _ in 0..20_000 {
            b.write(&[7; 64]);
            for (offset, len) in send_all(&mut b) {
                b.ack(offset, len);
            }
            largest = largest.max(b.staging.capacity());
        }
        assert!(largest <= STAGING_MIN, "1.2 MB of 64-byte echoes grew the buffer to {largest} bytes");
    }

    #[test]
    fn a_bulk_writer_grows_to_the_largest_staging_buffer() {
        let mut b = SendBuffer::default();
        let mut largest = 0;
        for _ in 0..4096 {
            b.write(&[7; 1024]);
            largest = largest.max(b.staging.capacity());
        }
        assert_eq!(b.unacked(), 4 << 20);
        assert!(largest >= STAGING_MAX, "4 MiB outstanding, largest buffer {largest} bytes");
    }

    #[test]
    fn mixed_copied_and_zero_copy_writes_read_back_in_order() {
        let mut b = SendBuffer::default();
        b.write(b"hello ");
        b.write_bytes(Bytes::from_static(b"zero-copy "));
        b.write(b"world");
        assert_eq!(b.next_range(4, u64::MAX), Some((0, 4)));
        assert_eq!(b.next_range(100, u64::MAX), Some((4, 17)));
        assert_eq!(read(&mut b, 0, 21), b"hello zero-copy world");
        assert_eq!(read(&mut b, 3, 10), b"lo zero-co");
        assert_eq!(b.next_range(100, u64::MAX), None);
    }

    #[test]
    fn reads_are_right_wherever_the_cursor_was_left() {
        // Chunks of unequal sizes holding each byte's own offset, so any misplaced read shows.
        let mut b = SendBuffer::default();
        let mut offset = 0u64;
        for len in [700u64, 1, 1300, 50, 2000, 999] {
            b.write_bytes((offset..offset + len).map(|o| o as u8).collect::<Vec<u8>>().into());
            offset += len;
        }
        let expect = |from: u64, len: u64| (from..from + len).map(|o| o as u8).collect::<Vec<u8>>();
        // In order, as new data is sent; then backwards and jumping, as retransmissions are.
        for (from, len) in [(0, 650), (650, 650), (1300, 1200), (2500, 1200), (3700, 1350)] {
            assert_eq!(read(&mut b, from, len), expect(from, len), "sequential read at {from}");
        }
        for (from, len) in [(3000, 100), (10, 2000), (5000, 50), (700, 1), (699, 3), (2001, 49)] {
            assert_eq!(read(&mut b, from, len), expect(from, len), "read at {from}");
        }
        // Releasing chunks from the front shifts every index the cursor may hold.
        while b.next_range(u64::MAX, u64::MAX).is_some() {}
        b.ack(0, 2100);
        assert_eq!(read(&mut b, 2100, 900), expect(2100, 900));
        b.ack(2100, 2000);
        assert_eq!(read(&mut b, 4100, 949), expect(4100, 949));
    }

    #[test]
    fn flow_control_limit_caps_new_data_only() {
        let mut b = SendBuffer::default();
        b.write(&[1; 100]);
        assert_eq!(b.next_range(1000, 30), Some((0, 30)));
        assert_eq!(b.next_range(1000, 30), None);
        b.lose(10, 10);
        assert_eq!(b.next_range(1000, 30), Some((10, 10)), "retransmissions ignore the limit");
        assert_eq!(b.next_range(1000, 100), Some((30, 70)));
    }

    #[test]
    fn acks_release_memory_and_lost_ranges_skip_acked_bytes() {
        let mut b = SendBuffer::default();
        for _ in 0..10 {
            b.write_bytes(Bytes::from(vec![7u8; 1000]));
        }
        while b.next_range(1200, u64::MAX).is_some() {}
        b.ack(0, 2500);
        assert_eq!(b.unacked(), 7500);
        assert_eq!(b.chunks.len(), 8, "two fully acknowledged chunks released");
        b.ack(5000, 1000);
        b.lose(2500, 4000);
        assert_eq!(b.next_range(10_000, u64::MAX), Some((2500, 2500)));
        assert_eq!(b.next_range(10_000, u64::MAX), Some((6000, 500)), "5000..6000 was acknowledged");
        assert_eq!(b.next_range(10_000, u64::MAX), None);
        b.ack(2500, 2500);
        b.ack(6000, 4000);
        assert!(b.is_fully_acked());
        assert!(b.chunks.is_empty());
    }

    #[test]
    fn late_ack_of_retransmitted_range_cancels_the_retransmission() {
        let mut b = SendBuffer::default();
        b.write(&[0; 50]);
        b.next_range(50, u64::MAX);
        b.lose(0, 50);
        b.ack(0, 50);
        assert!(!b.has_lost());
        assert!(b.is_fully_acked());
    }
}
