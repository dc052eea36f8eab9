//! Frames: the typed records inside a packet's decrypted payload.
//!
//! Decoding borrows from the decrypted buffer (stream and datagram payloads are slices, ACK
//! ranges are walked lazily), so receiving a packet allocates nothing. Encoding writes straight
//! into the packet being built. Type numbers follow QUIC where the meaning is the same; the
//! types JetStreamProto adds or reserves live at 0x40 and above (see `docs/protocol.md`).

use crate::coding::{Reader, UnexpectedEnd, Writer, varint_len};
use crate::stream::{Dir, StreamId};
use crate::transport_error::TransportErrorCode;
use core::ops::Range;

/// Frame type numbers.
pub(crate) mod ty {
    pub(crate) const PADDING: u64 = 0x00;
    pub(crate) const PING: u64 = 0x01;
    pub(crate) const ACK: u64 = 0x02;
    pub(crate) const RESET_STREAM: u64 = 0x04;
    pub(crate) const STOP_SENDING: u64 = 0x05;
    pub(crate) const CRYPTO: u64 = 0x06;
    /// STREAM occupies 0x08..=0x0f; the low bits are OFF (0x04), LEN (0x02) and FIN (0x01).
    pub(crate) const STREAM: u64 = 0x08;
    pub(crate) const MAX_DATA: u64 = 0x10;
    pub(crate) const MAX_STREAM_DATA: u64 = 0x11;
    pub(crate) const MAX_STREAMS_BIDI: u64 = 0x12;
    pub(crate) const MAX_STREAMS_UNI: u64 = 0x13;
    pub(crate) const DATA_BLOCKED: u64 = 0x14;
    pub(crate) const STREAM_DATA_BLOCKED: u64 = 0x15;
    pub(crate) const STREAMS_BLOCKED_BIDI: u64 = 0x16;
    pub(crate) const STREAMS_BLOCKED_UNI: u64 = 0x17;
    pub(crate) const PATH_CHALLENGE: u64 = 0x1a;
    pub(crate) const PATH_RESPONSE: u64 = 0x1b;
    pub(crate) const CONNECTION_CLOSE: u64 = 0x1c;
    pub(crate) const APPLICATION_CLOSE: u64 = 0x1d;
    pub(crate) const HANDSHAKE_DONE: u64 = 0x1e;
    /// The sender asks for an ACK without delay (the type of draft-ietf-quic-ack-frequency's
    /// IMMEDIATE_ACK).
    pub(crate) const IMMEDIATE_ACK: u64 = 0x1f;
    /// DATAGRAM without (0x30) and with (0x31) a length field.
    pub(crate) const DATAGRAM: u64 = 0x30;
}

/// Frame types reserved for features of later versions (`docs/protocol.md` lists their
/// purpose). This version's decoder rejects them as unknown, so a peer cannot send them
/// before both sides negotiate support.
#[allow(dead_code)] // numbers reserved on the wire; only the tests use them so far
pub(crate) mod reserved {
    /// Reed-Solomon repair symbol over a group of protected packets.
    pub(crate) const FEC_REPAIR: u64 = 0x40;
    /// Announces the FEC group a source packet belongs to.
    pub(crate) const FEC_GROUP: u64 = 0x41;
    /// 0x48..=0x4f: STREAM with an LZ4-compressed payload (same flag bits as STREAM).
    pub(crate) const COMPRESSED_STREAM: u64 = 0x48;
    /// Explicit key update acknowledgement.
    pub(crate) const KEY_UPDATE: u64 = 0x50;
    /// Session ticket for resumption and 0-RTT.
    pub(crate) const NEW_SESSION_TICKET: u64 = 0x51;
}

/// Exponent applied to the ACK delay field: delays are sent in units of 8 µs.
pub(crate) const ACK_DELAY_EXPONENT: u32 = 3;

/// A decoded frame borrowing from the packet payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    Padding,
    Ping,
    Ack(Ack<'a>),
    ResetStream { id: StreamId, error_code: u64, final_size: u64 },
    StopSending { id: StreamId, error_code: u64 },
    Crypto { offset: u64, data: &'a [u8] },
    Stream(StreamFrame<'a>),
    MaxData(u64),
    MaxStreamData { id: StreamId, max: u64 },
    MaxStreams { dir: Dir, count: u64 },
    DataBlocked(u64),
    StreamDataBlocked { id: StreamId, limit: u64 },
    StreamsBlocked { dir: Dir, limit: u64 },
    PathChallenge([u8; 8]),
    PathResponse([u8; 8]),
    Close(Close<'a>),
    HandshakeDone,
    ImmediateAck,
    Datagram(&'a [u8]),
}

impl Frame<'_> {
    /// Whether receiving this frame obliges the peer to acknowledge the packet.
    pub(crate) fn is_ack_eliciting(&self) -> bool {
        !matches!(self, Frame::Padding | Frame::Ack(_) | Frame::Close(_))
    }

    /// Frames allowed in handshake packets (RFC 9000 §12.4 analogue): no application data.
    pub(crate) fn allowed_in_handshake(&self) -> bool {
        matches!(self, Frame::Padding | Frame::Ping | Frame::Ack(_) | Frame::Crypto { .. } | Frame::Close(_))
    }
}

/// STREAM frame contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamFrame<'a> {
    pub(crate) id: StreamId,
    pub(crate) offset: u64,
    pub(crate) data: &'a [u8],
    pub(crate) fin: bool,
}

/// CONNECTION_CLOSE (transport or application).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Close<'a> {
    pub(crate) application: bool,
    pub(crate) error_code: u64,
    pub(crate) frame_type: u64,
    pub(crate) reason: &'a [u8],
}

/// An ACK frame; its ranges are decoded on demand by [`Ack::ranges`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack<'a> {
    pub(crate) largest: u64,
    /// Raw delay field; multiply by 2^[`ACK_DELAY_EXPONENT`] for microseconds.
    pub(crate) delay: u64,
    first_range: u64,
    range_count: u64,
    /// The (gap, length) pairs, already validated by the decoder.
    rest: &'a [u8],
}

impl<'a> Ack<'a> {
    /// Acknowledged packet-number ranges, highest first. The decoder validated that every range
    /// lies at or above zero, so iteration cannot fail.
    pub(crate) fn ranges(&self) -> AckRanges<'a> {
        AckRanges {
            reader: Reader::new(self.rest),
            next_end: Some(self.largest + 1),
            next_len: self.first_range + 1,
            remaining: self.range_count,
        }
    }
}

/// Iterator over an ACK frame's ranges (highest first).
#[derive(Debug, Clone)]
pub(crate) struct AckRanges<'a> {
    reader: Reader<'a>,
    next_end: Option<u64>,
    next_len: u64,
    remaining: u64,
}

impl Iterator for AckRanges<'_> {
    type Item = Range<u64>;

    fn next(&mut self) -> Option<Range<u64>> {
        let end = self.next_end.take()?;
        let start = end - self.next_len;
        if self.remaining > 0 {
            self.remaining -= 1;
            let gap = self.reader.varint().ok()?;
            let len = self.reader.varint().ok()?;
            // RFC 9000 §19.3.1: the next range's largest is `smallest - gap - 2`.
            self.next_end = Some(start - gap - 1);
            self.next_len = len + 1;
        }
        Some(start..end)
    }
}

/// A frame failed to decode: the connection must close with FRAME_ENCODING_ERROR (or the
/// specific code carried here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameError {
    pub(crate) code: TransportErrorCode,
    pub(crate) frame_type: u64,
    pub(crate) reason: &'static str,
}

impl FrameError {
    fn encoding(frame_type: u64, reason: &'static str) -> Self {
        FrameError { code: TransportErrorCode::FRAME_ENCODING_ERROR, frame_type, reason }
    }
}

/// How many zero bytes `bytes` starts with. Client handshake datagrams carry ~1,000 bytes
/// of PADDING each; comparing 16 bytes at a time reads them several times faster than a
/// byte loop, which was most of the frame parser's time in a server's handshake profile.
fn zero_run(bytes: &[u8]) -> usize {
    let whole = bytes
        .chunks_exact(16)
        .take_while(|block| <[u8; 16]>::try_from(*block).is_ok_and(|block| u128::from_ne_bytes(block) == 0))
        .count()
        * 16;
    whole + bytes[whole..].iter().take_while(|b| **b == 0).count()
}

/// Iterates the frames of a decrypted payload.
#[derive(Debug)]
pub(crate) struct FrameIter<'a> {
    r: Reader<'a>,
}

impl<'a> FrameIter<'a> {
    pub(crate) fn new(payload: &'a [u8]) -> Self {
        FrameIter { r: Reader::new(payload) }
    }

    fn decode(&mut self) -> Result<Frame<'a>, FrameError> {
        let ty = self.r.varint().map_err(|_| FrameError::encoding(0, "frame type"))?;
        self.decode_body(ty).map_err(|e| match e {
            DecodeFail::End => FrameError::encoding(ty, "truncated frame"),
            DecodeFail::Invalid(reason) => FrameError::encoding(ty, reason),
            DecodeFail::Unknown => FrameError::encoding(ty, "unknown or reserved frame type"),
        })
    }

    fn decode_body(&mut self, ty: u64) -> Result<Frame<'a>, DecodeFail> {
        let r = &mut self.r;
        Ok(match ty {
            ty::PADDING => {
                // Runs of padding are common (minimum sizes): consume them in one step.
                r.bytes(zero_run(r.peek_rest()))?;
                Frame::Padding
            }
            ty::PING => Frame::Ping,
            ty::ACK => {
                let largest = r.varint()?;
                let delay = r.varint()?;
                let range_count = r.varint()?;
                let first_range = r.varint()?;
                if first_range > largest {
                    return Err(DecodeFail::Invalid("ack range below zero"));
                }
                let start_of_rest = r.position();
                let mut smallest = largest - first_range;
                for _ in 0..range_count {
                    let gap = r.varint()?;
                    let len = r.varint()?;
                    let next_largest = smallest
                        .checked_sub(gap)
                        .and_then(|v| v.checked_sub(2))
                        .ok_or(DecodeFail::Invalid("ack gap below zero"))?;
                    smallest = next_largest.checked_sub(len).ok_or(DecodeFail::Invalid("ack range below zero"))?;
                }
                Frame::Ack(Ack { largest, delay, first_range, range_count, rest: r.consumed_since(start_of_rest) })
            }
            ty::RESET_STREAM => {
                Frame::ResetStream { id: StreamId(r.varint()?), error_code: r.varint()?, final_size: r.varint()? }
            }
            ty::STOP_SENDING => Frame::StopSending { id: StreamId(r.varint()?), error_code: r.varint()? },
            ty::CRYPTO => {
                let offset = r.varint()?;
                let data = r.length_prefixed()?;
                check_end(offset, data.len())?;
                Frame::Crypto { offset, data }
            }
            t if (ty::STREAM..ty::STREAM + 8).contains(&t) => {
                let id = StreamId(r.varint()?);
                let offset = if t & 0x04 != 0 { r.varint()? } else { 0 };
                let data = if t & 0x02 != 0 { r.length_prefixed()? } else { r.bytes(r.remaining())? };
                check_end(offset, data.len())?;
                Frame::Stream(StreamFrame { id, offset, data, fin: t & 0x01 != 0 })
            }
            ty::MAX_DATA => Frame::MaxData(r.varint()?),
            ty::MAX_STREAM_DATA => Frame::MaxStreamData { id: StreamId(r.varint()?), max: r.varint()? },
            ty::MAX_STREAMS_BIDI | ty::MAX_STREAMS_UNI => {
                let dir = if ty == ty::MAX_STREAMS_BIDI { Dir::Bi } else { Dir::Uni };
                Frame::MaxStreams { dir, count: stream_count(r.varint()?)? }
            }
            ty::DATA_BLOCKED => Frame::DataBlocked(r.varint()?),
            ty::STREAM_DATA_BLOCKED => Frame::StreamDataBlocked { id: StreamId(r.varint()?), limit: r.varint()? },
            ty::STREAMS_BLOCKED_BIDI | ty::STREAMS_BLOCKED_UNI => {
                let dir = if ty == ty::STREAMS_BLOCKED_BIDI { Dir::Bi } else { Dir::Uni };
                Frame::StreamsBlocked { dir, limit: stream_count(r.varint()?)? }
            }
            ty::PATH_CHALLENGE => Frame::PathChallenge(r.array()?),
            ty::PATH_RESPONSE => Frame::PathResponse(r.array()?),
            ty::CONNECTION_CLOSE | ty::APPLICATION_CLOSE => {
                let application = ty == ty::APPLICATION_CLOSE;
                let error_code = r.varint()?;
                let frame_type = if application { 0 } else { r.varint()? };
                let reason = r.length_prefixed()?;
                Frame::Close(Close { application, error_code, frame_type, reason })
            }
            ty::HANDSHAKE_DONE => Frame::HandshakeDone,
            ty::IMMEDIATE_ACK => Frame::ImmediateAck,
            ty::DATAGRAM => Frame::Datagram(r.bytes(r.remaining())?),
            t if t == ty::DATAGRAM + 1 => Frame::Datagram(r.length_prefixed()?),
            _ => return Err(DecodeFail::Unknown),
        })
    }
}

enum DecodeFail {
    End,
    Invalid(&'static str),
    Unknown,
}

impl From<UnexpectedEnd> for DecodeFail {
    fn from(_: UnexpectedEnd) -> Self {
        DecodeFail::End
    }
}

fn check_end(offset: u64, len: usize) -> Result<(), DecodeFail> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= crate::coding::VARINT_MAX => Ok(()),
        _ => Err(DecodeFail::Invalid("data beyond 2^62")),
    }
}

/// Stream counts are limited to 2^60 so stream IDs stay encodable.
fn stream_count(count: u64) -> Result<u64, DecodeFail> {
    if count > 1 << 60 { Err(DecodeFail::Invalid("stream count above 2^60")) } else { Ok(count) }
}

impl<'a> Iterator for FrameIter<'a> {
    type Item = Result<Frame<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.r.is_empty() {
            return None;
        }
        let item = self.decode();
        if item.is_err() {
            // Stop after the first error: the rest of the payload cannot be trusted.
            self.r = Reader::new(&[]);
        }
        Some(item)
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding. Each `*_len` helper lets the packet builder check space before writing.

/// Largest number of additional ACK ranges sent in one frame; older ranges are left out (the
/// peer will have had them acknowledged by earlier ACK frames).
pub(crate) const MAX_ACK_RANGES: usize = 64;

/// Writes an ACK frame for `ranges` (highest first) if it fits in `w`; returns false if even
/// the first range does not fit. Ranges that do not fit are left out, lowest first.
pub(crate) fn encode_ack(w: &mut Writer<'_>, ranges: &crate::range_set::RangeSet, delay_micros: u64) -> bool {
    let mut iter = ranges.iter_rev();
    let Some(first) = iter.next() else { return false };
    let largest = first.end - 1;
    let delay = delay_micros >> ACK_DELAY_EXPONENT;
    let first_len = first.end - first.start - 1;
    // Count how many extra ranges fit, reserving the worst-case count field (2 bytes for <=64).
    let fixed = varint_len(ty::ACK) + varint_len(largest) + varint_len(delay) + 2 + varint_len(first_len);
    if fixed > w.remaining() {
        return false;
    }
    let mut budget = w.remaining() - fixed;
    let mut count = 0usize;
    let mut prev_start = first.start;
    for r in ranges.iter_rev().skip(1).take(MAX_ACK_RANGES) {
        let gap = prev_start - r.end - 1;
        let len = r.end - r.start - 1;
        let cost = varint_len(gap) + varint_len(len);
        if cost > budget {
            break;
        }
        budget -= cost;
        count += 1;
        prev_start = r.start;
    }
    w.put_varint(ty::ACK);
    w.put_varint(largest);
    w.put_varint(delay);
    w.put_varint(count as u64);
    w.put_varint(first_len);
    let mut prev_start = first.start;
    for r in iter.take(count) {
        w.put_varint(prev_start - r.end - 1);
        w.put_varint(r.end - r.start - 1);
        prev_start = r.start;
    }
    true
}

/// Bytes a STREAM frame header takes (type, id, offset, and a 2-byte length when `with_len`).
pub(crate) fn stream_header_len(id: StreamId, offset: u64, with_len: bool) -> usize {
    1 + varint_len(id.0) + if offset == 0 { 0 } else { varint_len(offset) } + if with_len { 2 } else { 0 }
}

/// Writes a STREAM frame header; the caller writes `len` data bytes after it. A frame without
/// a length field runs to the end of the packet.
pub(crate) fn encode_stream_header(
    w: &mut Writer<'_>,
    id: StreamId,
    offset: u64,
    len: usize,
    fin: bool,
    with_len: bool,
) {
    let mut t = ty::STREAM;
    if offset != 0 {
        t |= 0x04;
    }
    if with_len {
        t |= 0x02;
    }
    if fin {
        t |= 0x01;
    }
    w.put_varint(t);
    w.put_varint(id.0);
    if offset != 0 {
        w.put_varint(offset);
    }
    if with_len {
        w.put_varint_with_len(len as u64, 2);
    }
}

/// Bytes a CRYPTO frame header takes for `len` bytes at `offset`.
pub(crate) fn crypto_header_len(offset: u64, len: usize) -> usize {
    varint_len(ty::CRYPTO) + varint_len(offset) + varint_len(len as u64)
}

pub(crate) fn encode_crypto(w: &mut Writer<'_>, offset: u64, data: &[u8]) {
    w.put_varint(ty::CRYPTO);
    w.put_varint(offset);
    w.put_length_prefixed(data);
}

/// Bytes a DATAGRAM frame with a length field takes.
pub(crate) fn datagram_len(data_len: usize) -> usize {
    1 + varint_len(data_len as u64) + data_len
}

pub(crate) fn encode_datagram(w: &mut Writer<'_>, data: &[u8]) {
    w.put_varint(ty::DATAGRAM + 1);
    w.put_length_prefixed(data);
}

/// Writes a frame whose fields are all varints (`MAX_DATA`, `RESET_STREAM`, ...).
pub(crate) fn encode_varints(w: &mut Writer<'_>, frame_type: u64, fields: &[u64]) {
    w.put_varint(frame_type);
    for f in fields {
        w.put_varint(*f);
    }
}

/// Bytes [`encode_varints`] writes.
pub(crate) fn varints_len(frame_type: u64, fields: &[u64]) -> usize {
    varint_len(frame_type) + fields.iter().map(|f| varint_len(*f)).sum::<usize>()
}

/// Writes a PATH_CHALLENGE or PATH_RESPONSE.
pub(crate) fn encode_path(w: &mut Writer<'_>, response: bool, token: &[u8; 8]) {
    w.put_varint(if response { ty::PATH_RESPONSE } else { ty::PATH_CHALLENGE });
    w.put_slice(token);
}

/// Bytes a CONNECTION_CLOSE takes with `reason` (already truncated by the caller).
pub(crate) fn close_len(application: bool, error_code: u64, frame_type: u64, reason: &[u8]) -> usize {
    1 + varint_len(error_code)
        + if application { 0 } else { varint_len(frame_type) }
        + varint_len(reason.len() as u64)
        + reason.len()
}

pub(crate) fn encode_close(w: &mut Writer<'_>, application: bool, error_code: u64, frame_type: u64, reason: &[u8]) {
    w.put_varint(if application { ty::APPLICATION_CLOSE } else { ty::CONNECTION_CLOSE });
    w.put_varint(error_code);
    if !application {
        w.put_varint(frame_type);
    }
    w.put_length_prefixed(reason);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range_set::RangeSet;

    fn decode_all(buf: &[u8]) -> Vec<Result<Frame<'_>, FrameError>> {
        FrameIter::new(buf).collect()
    }

    #[test]
    fn zero_runs_end_at_the_first_nonzero_byte_at_any_position() {
        assert_eq!(zero_run(&[]), 0);
        for len in [1, 15, 16, 17, 31, 32, 33, 1000] {
            let zeros = vec![0u8; len];
            assert_eq!(zero_run(&zeros), len);
            for at in [0, 1, 15, 16, 17, len / 2, len - 1] {
                if at >= len {
                    continue;
                }
                let mut bytes = zeros.clone();
                bytes[at] = 0x01;
                assert_eq!(zero_run(&bytes), at, "len {len}, nonzero at {at}");
            }
        }
    }

    #[test]
    fn a_padding_run_is_one_frame_and_stops_before_the_next_frame() {
        let mut payload = vec![0u8; 1000];
        payload.push(0x01); // PING
        payload.extend_from_slice(&[0u8; 7]);
        let frames = decode_all(&payload);
        assert!(matches!(frames.as_slice(), [Ok(Frame::Padding), Ok(Frame::Ping), Ok(Frame::Padding)]), "{frames:?}");
    }

    #[test]
    fn ack_round_trips_with_gaps() {
        let mut set = RangeSet::new();
        for r in [0..5u64, 7..8, 10..20, 100..101] {
            set.insert(r);
        }
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        assert!(encode_ack(&mut w, &set, 800));
        let n = w.position();
        let frames = decode_all(&buf[..n]);
        let Ok(Frame::Ack(ack)) = &frames[0] else { panic!("expected ack, got {frames:?}") };
        assert_eq!(ack.largest, 100);
        assert_eq!(ack.delay, 100, "800 µs in units of 8 µs");
        let got: Vec<_> = ack.ranges().collect();
        assert_eq!(got, vec![100..101, 10..20, 7..8, 0..5]);
    }

    #[test]
    fn ack_keeps_highest_ranges_when_space_is_short() {
        let mut set = RangeSet::new();
        for i in 0..200u64 {
            set.insert(i * 3..i * 3 + 1);
        }
        let mut buf = [0u8; 40];
        let mut w = Writer::new(&mut buf);
        assert!(encode_ack(&mut w, &set, 0));
        let n = w.position();
        let frames = decode_all(&buf[..n]);
        let Ok(Frame::Ack(ack)) = &frames[0] else { panic!("expected ack") };
        let got: Vec<_> = ack.ranges().collect();
        assert!(got.len() > 5);
        assert_eq!(got[0], 597..598);
        assert!(got.windows(2).all(|w| w[0].start == w[1].end + 2));
    }

    #[test]
    fn ack_ranges_below_zero_are_rejected() {
        // largest 5, first range 6 -> would ack packet -1.
        let bad = [0x02, 5, 0, 0, 6];
        assert!(matches!(decode_all(&bad)[0], Err(FrameError { code: TransportErrorCode::FRAME_ENCODING_ERROR, .. })));
        // largest 5, first 0, one range with gap 10.
        let bad_gap = [0x02, 5, 0, 1, 0, 10, 0];
        assert!(decode_all(&bad_gap)[0].is_err());
    }

    #[test]
    fn stream_frames_round_trip_with_and_without_length() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        encode_stream_header(&mut w, StreamId(4), 1000, 3, false, true);
        w.put_slice(b"abc");
        encode_stream_header(&mut w, StreamId(8), 0, 2, true, false);
        w.put_slice(b"xy");
        let n = w.position();
        let frames = decode_all(&buf[..n]);
        assert_eq!(
            frames,
            vec![
                Ok(Frame::Stream(StreamFrame { id: StreamId(4), offset: 1000, data: b"abc", fin: false })),
                Ok(Frame::Stream(StreamFrame { id: StreamId(8), offset: 0, data: b"xy", fin: true })),
            ]
        );
        assert_eq!(stream_header_len(StreamId(4), 1000, true) + 3 + stream_header_len(StreamId(8), 0, false) + 2, n);
    }

    #[test]
    fn control_frames_round_trip() {
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        encode_varints(&mut w, ty::RESET_STREAM, &[4, 7, 1234]);
        encode_varints(&mut w, ty::MAX_STREAMS_UNI, &[100]);
        encode_path(&mut w, false, &[1; 8]);
        encode_close(&mut w, true, 42, 0, b"bye");
        encode_datagram(&mut w, b"dg");
        encode_crypto(&mut w, 5, b"hs");
        let n = w.position();
        let frames: Vec<_> = decode_all(&buf[..n]).into_iter().map(|f| f.expect("frame")).collect();
        assert_eq!(frames[0], Frame::ResetStream { id: StreamId(4), error_code: 7, final_size: 1234 });
        assert_eq!(frames[1], Frame::MaxStreams { dir: Dir::Uni, count: 100 });
        assert_eq!(frames[2], Frame::PathChallenge([1; 8]));
        assert_eq!(frames[3], Frame::Close(Close { application: true, error_code: 42, frame_type: 0, reason: b"bye" }));
        assert_eq!(frames[4], Frame::Datagram(b"dg"));
        assert_eq!(frames[5], Frame::Crypto { offset: 5, data: b"hs" });
    }

    #[test]
    fn immediate_ack_is_one_byte_that_elicits_an_ack_and_stays_out_of_handshake_packets() {
        let frames = decode_all(&[0x1f, 0x01]);
        let first = frames[0].as_ref().expect("frame");
        assert_eq!(*first, Frame::ImmediateAck);
        assert_eq!(frames[1], Ok(Frame::Ping), "nothing after the type byte belongs to it");
        assert!(first.is_ack_eliciting());
        assert!(!first.allowed_in_handshake(), "the 1-RTT ACK policy only");
    }

    #[test]
    fn reserved_and_truncated_frames_are_errors() {
        use reserved::*;
        for t in [FEC_REPAIR, FEC_GROUP, COMPRESSED_STREAM, KEY_UPDATE, NEW_SESSION_TICKET] {
            let mut buf = [0u8; 8];
            let mut w = Writer::new(&mut buf);
            w.put_varint(t);
            let n = w.position();
            assert!(decode_all(&buf[..n])[0].is_err(), "reserved type {t:#x} is not accepted yet");
        }
        assert!(decode_all(&[0x06, 0, 10, 1])[0].is_err(), "crypto length past the end");
        assert!(decode_all(&[0x1a, 1, 2])[0].is_err(), "short path challenge");
        // Offset + length past 2^62.
        let mut buf = [0u8; 32];
        let mut w = Writer::new(&mut buf);
        w.put_varint(0x0e);
        w.put_varint(0);
        w.put_varint(crate::coding::VARINT_MAX);
        w.put_varint(1);
        w.put_u8(0);
        let n = w.position();
        assert!(decode_all(&buf[..n])[0].is_err());
    }

    #[test]
    fn decoding_random_bytes_never_panics() {
        let mut x: u64 = 1;
        let mut buf = [0u8; 256];
        for _ in 0..20_000 {
            for b in buf.iter_mut() {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                *b = (x >> 56) as u8;
            }
            let len = (x >> 8) as usize % buf.len();
            for f in FrameIter::new(&buf[..len]) {
                if let Ok(Frame::Ack(a)) = f {
                    for r in a.ranges() {
                        assert!(r.start < r.end);
                    }
                }
            }
        }
    }
}
