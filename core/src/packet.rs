//! Packet headers: layout, parsing of the unprotected part, packet number encoding and header
//! protection.
//!
//! Two header forms exist (byte layouts in `docs/protocol.md`):
//!
//! * **Long** (`1 1 TT RR PP`), used during the handshake: carries the version and both
//!   connection IDs so a server can route and answer before it has any state, and a length
//!   field so several packets can share one datagram.
//! * **Short** (`0 1 S RR K PP`), used once 1-RTT keys exist: only the destination connection
//!   ID (always [`LOCAL_CID_LEN`] bytes, since we pick our own IDs) and the packet number.
//!
//! The low bits of the first byte and the packet number are encrypted by header protection,
//! so an observer can neither track packet numbers nor rely on reserved bits.

use crate::coding::{Reader, UnexpectedEnd, Writer};
use core::fmt;
use thiserror::Error;

/// Length of the connection IDs this implementation issues.
pub const LOCAL_CID_LEN: usize = 8;
/// Longest connection ID accepted in a long header.
pub const MAX_CID_LEN: usize = 20;
/// The protocol version this implementation speaks ("JSP" 1).
pub const VERSION: u32 = 0x4a53_5001;
/// Smallest datagram a client may send while it carries handshake packets, and the smallest
/// path MTU the protocol assumes (as in QUIC).
pub const MIN_INITIAL_SIZE: usize = 1200;
/// Bytes that header protection samples, starting 4 bytes after the packet number offset.
pub(crate) const SAMPLE_LEN: usize = 16;

const LONG_FORM: u8 = 0x80;
const FIXED_BIT: u8 = 0x40;
const KEY_PHASE_BIT: u8 = 0x04;

/// A connection ID: an opaque routing label of up to 20 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConnectionId {
    len: u8,
    bytes: [u8; MAX_CID_LEN],
}

impl ConnectionId {
    /// A connection ID copied from `bytes`; `None` when longer than [`MAX_CID_LEN`].
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_CID_LEN {
            return None;
        }
        let mut out = ConnectionId { len: bytes.len() as u8, bytes: [0; MAX_CID_LEN] };
        out.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(out)
    }

    /// The ID's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True for the zero-length ID.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl core::hash::Hash for ConnectionId {
    /// Only the used bytes: equal IDs have equal bytes (unused ones are always zero), and
    /// routing hashes an ID for every packet.
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Long header packet types (two bits of the first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LongType {
    /// Handshake messages and their ACKs, in both directions.
    Handshake = 0,
    /// Reserved for 0-RTT data with resumption.
    ZeroRtt = 1,
    /// Reserved for stateless retry.
    Retry = 2,
}

impl LongType {
    fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            0 => Some(LongType::Handshake),
            1 => Some(LongType::ZeroRtt),
            2 => Some(LongType::Retry),
            _ => None,
        }
    }
}

/// Why a datagram could not be parsed into packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PacketError {
    /// Fewer bytes than the header says.
    #[error("truncated packet")]
    Truncated,
    /// The fixed bit is clear, or a field is out of range.
    #[error("malformed header")]
    Malformed,
    /// A long header packet for a version this endpoint does not speak.
    #[error("unsupported version {0:#x}")]
    UnsupportedVersion(u32),
}

impl From<UnexpectedEnd> for PacketError {
    fn from(_: UnexpectedEnd) -> Self {
        PacketError::Truncated
    }
}

/// The part of a header readable before decryption: enough to route the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderForm {
    Long {
        ty: LongType,
        version: u32,
        dcid: ConnectionId,
        scid: ConnectionId,
    },
    Short {
        dcid: ConnectionId,
    },
    /// Version negotiation: a long header with version 0 listing the versions a server speaks.
    VersionNegotiation {
        dcid: ConnectionId,
        scid: ConnectionId,
    },
}

impl HeaderForm {
    pub(crate) fn dcid(&self) -> &ConnectionId {
        match self {
            HeaderForm::Long { dcid, .. }
            | HeaderForm::Short { dcid }
            | HeaderForm::VersionNegotiation { dcid, .. } => dcid,
        }
    }
}

/// A packet located inside a datagram, header protection still applied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartialPacket {
    pub(crate) form: HeaderForm,
    /// Offset of the (protected) packet number from the packet's start.
    pub(crate) pn_offset: usize,
    /// Length of this packet; long headers may be followed by more packets.
    pub(crate) len: usize,
}

impl PartialPacket {
    /// Parses the unprotected part of the first packet in `buf`. Short headers run to the end
    /// of the datagram; long headers end where their length field says.
    pub(crate) fn parse(buf: &[u8]) -> Result<Self, PacketError> {
        let mut r = Reader::new(buf);
        let first = r.u8()?;
        if first & LONG_FORM == 0 {
            if first & FIXED_BIT == 0 {
                return Err(PacketError::Malformed);
            }
            let dcid = ConnectionId::new(r.bytes(LOCAL_CID_LEN)?).ok_or(PacketError::Malformed)?;
            return Ok(PartialPacket { form: HeaderForm::Short { dcid }, pn_offset: r.position(), len: buf.len() });
        }
        let version = r.u32()?;
        let dcid = read_cid(&mut r)?;
        let scid = read_cid(&mut r)?;
        if version == 0 {
            return Ok(PartialPacket {
                form: HeaderForm::VersionNegotiation { dcid, scid },
                pn_offset: r.position(),
                len: buf.len(),
            });
        }
        if first & FIXED_BIT == 0 {
            return Err(PacketError::Malformed);
        }
        if version != VERSION {
            return Err(PacketError::UnsupportedVersion(version));
        }
        let ty = LongType::from_bits((first >> 4) & 0x3).ok_or(PacketError::Malformed)?;
        let length = usize::try_from(r.varint()?).map_err(|_| PacketError::Malformed)?;
        let pn_offset = r.position();
        if length > r.remaining() {
            return Err(PacketError::Truncated);
        }
        Ok(PartialPacket { form: HeaderForm::Long { ty, version, dcid, scid }, pn_offset, len: pn_offset + length })
    }

    pub(crate) fn is_long(&self) -> bool {
        !matches!(self.form, HeaderForm::Short { .. })
    }
}

fn read_cid(r: &mut Reader<'_>) -> Result<ConnectionId, PacketError> {
    let len = usize::from(r.u8()?);
    if len > MAX_CID_LEN {
        return Err(PacketError::Malformed);
    }
    ConnectionId::new(r.bytes(len)?).ok_or(PacketError::Malformed)
}

/// Writes a long header with a placeholder length; returns the offset of the length field.
pub(crate) fn write_long_header(
    w: &mut Writer<'_>,
    ty: LongType,
    dcid: &ConnectionId,
    scid: &ConnectionId,
    pn: u64,
    pn_len: usize,
) -> usize {
    w.put_u8(LONG_FORM | FIXED_BIT | ((ty as u8) << 4) | (pn_len as u8 - 1));
    w.put_u32(VERSION);
    w.put_u8(dcid.len() as u8);
    w.put_slice(dcid.as_bytes());
    w.put_u8(scid.len() as u8);
    w.put_slice(scid.as_bytes());
    let length_offset = w.position();
    w.put_varint_with_len(0, 2);
    write_pn(w, pn, pn_len);
    length_offset
}

/// Writes a short header.
pub(crate) fn write_short_header(w: &mut Writer<'_>, dcid: &ConnectionId, key_phase: bool, pn: u64, pn_len: usize) {
    let phase = if key_phase { KEY_PHASE_BIT } else { 0 };
    w.put_u8(FIXED_BIT | phase | (pn_len as u8 - 1));
    w.put_slice(dcid.as_bytes());
    write_pn(w, pn, pn_len);
}

fn write_pn(w: &mut Writer<'_>, pn: u64, pn_len: usize) {
    w.put_slice(&pn.to_be_bytes()[8 - pn_len..]);
}

/// Writes a version negotiation packet listing our version, echoing the client's IDs swapped.
pub(crate) fn write_version_negotiation(
    w: &mut Writer<'_>,
    unpredictable_bits: u8,
    dcid: &ConnectionId,
    scid: &ConnectionId,
) {
    w.put_u8(LONG_FORM | (unpredictable_bits & 0x7f));
    w.put_u32(0);
    w.put_u8(dcid.len() as u8);
    w.put_slice(dcid.as_bytes());
    w.put_u8(scid.len() as u8);
    w.put_slice(scid.as_bytes());
    w.put_u32(VERSION);
}

/// Versions listed in a version negotiation packet's body.
pub(crate) fn parse_supported_versions(body: &[u8]) -> impl Iterator<Item = u32> + '_ {
    body.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// Smallest number of bytes that lets the peer recover `pn` given that it has acknowledged up
/// to `largest_acked` (RFC 9000 §17.1: twice the unacknowledged range must fit).
pub(crate) fn pn_len(pn: u64, largest_acked: Option<u64>) -> usize {
    let range = match largest_acked {
        Some(acked) => pn.saturating_sub(acked),
        None => pn + 1,
    };
    let bits_needed = 64 - (range.saturating_mul(2)).leading_zeros();
    (bits_needed as usize).div_ceil(8).clamp(1, 4)
}

/// Recovers a full packet number from its truncated encoding, choosing the candidate closest
/// to the next expected value (RFC 9000 §A.3).
pub(crate) fn decode_pn(expected: u64, truncated: u64, pn_len: usize) -> u64 {
    let win = 1u64 << (pn_len * 8);
    let half = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | truncated;
    if candidate.saturating_add(half) <= expected && candidate < (1 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(half) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// Applies (or removes: XOR is its own inverse) header protection, given the mask for this
/// packet. `pn_len` is the decoded length when removing.
pub(crate) fn xor_header_mask(packet: &mut [u8], pn_offset: usize, pn_len: usize, mask: &[u8; 5], long: bool) {
    packet[0] ^= mask[0] & if long { 0x0f } else { 0x1f };
    for (b, m) in packet[pn_offset..pn_offset + pn_len].iter_mut().zip(&mask[1..]) {
        *b ^= m;
    }
}

/// The header protection sample of a packet whose packet number starts at `pn_offset`.
pub(crate) fn sample(packet: &[u8], pn_offset: usize) -> Option<&[u8; SAMPLE_LEN]> {
    packet.get(pn_offset + 4..pn_offset + 4 + SAMPLE_LEN)?.try_into().ok()
}

/// Packet number length encoded in a first byte whose protection has been removed.
pub(crate) fn pn_len_from_first_byte(first: u8) -> usize {
    usize::from(first & 0x03) + 1
}

/// Key phase bit of an unprotected short header.
pub(crate) fn key_phase(first: u8) -> bool {
    first & KEY_PHASE_BIT != 0
}

/// Reserved bits of an unprotected first byte; they must be zero once protection is removed.
pub(crate) fn reserved_bits(first: u8, long: bool) -> u8 {
    if long { first & 0x0c } else { first & 0x18 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_number_decoding_matches_rfc9000_example() {
        // RFC 9000 §A.3: largest 0xa82f30ea, truncated 0x9b32 in 2 bytes -> 0xa82f9b32.
        assert_eq!(decode_pn(0xa82f_30ea + 1, 0x9b32, 2), 0xa82f_9b32);
    }

    #[test]
    fn packet_number_encoding_round_trips() {
        for largest_acked in [None, Some(0u64), Some(1000), Some(1 << 20)] {
            let base = largest_acked.map_or(0, |a| a + 1);
            for pn in [base, base + 1, base + 127, base + 30_000, base + 5_000_000] {
                let len = pn_len(pn, largest_acked);
                let truncated = pn & ((1u64 << (len * 8)) - 1);
                // The receiver expects the packet after the largest it has seen, which can lag.
                assert_eq!(decode_pn(base, truncated, len), pn, "pn {pn} acked {largest_acked:?}");
            }
        }
        assert_eq!(pn_len(0xac5c02, Some(0xabe8b3)), 2); // RFC 9000 §A.2 example
        assert_eq!(pn_len(0xace8fe, Some(0xabe8b3)), 3);
    }

    #[test]
    fn long_header_round_trips_through_parse() {
        let dcid = ConnectionId::new(&[1, 2, 3, 4, 5, 6, 7, 8]).expect("cid");
        let scid = ConnectionId::new(&[9; 5]).expect("cid");
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        let len_at = write_long_header(&mut w, LongType::Handshake, &dcid, &scid, 7, 2);
        let pn_offset = w.position() - 2;
        w.put_slice(&[0xaa; 20]);
        let total = w.position();
        let length = (total - pn_offset) as u64;
        let mut patch = Writer::new(&mut buf[len_at..]);
        patch.put_varint_with_len(length, 2);
        let p = PartialPacket::parse(&buf[..total + 5]).expect("parse");
        assert_eq!(p.pn_offset, pn_offset);
        assert_eq!(p.len, total, "length field bounds the packet inside a longer datagram");
        assert_eq!(p.form, HeaderForm::Long { ty: LongType::Handshake, version: VERSION, dcid, scid });
    }

    #[test]
    fn hostile_headers_are_errors_not_panics() {
        assert_eq!(PartialPacket::parse(&[]).unwrap_err(), PacketError::Truncated);
        assert_eq!(PartialPacket::parse(&[0x40, 1, 2]).unwrap_err(), PacketError::Truncated);
        assert_eq!(PartialPacket::parse(&[0x00; 20]).unwrap_err(), PacketError::Malformed);
        let mut long = vec![0xc0, 0x4a, 0x53, 0x50, 0x01, 21];
        long.extend([0u8; 30]);
        assert_eq!(PartialPacket::parse(&long).unwrap_err(), PacketError::Malformed, "cid > 20");
        let other_version = [0xc0, 0, 0, 0, 9, 0, 0, 0];
        assert_eq!(PartialPacket::parse(&other_version).unwrap_err(), PacketError::UnsupportedVersion(9));
        // Length field larger than the datagram.
        let huge_len = [0xc0, 0x4a, 0x53, 0x50, 0x01, 0, 0, 0x7f, 0xff, 0];
        assert_eq!(PartialPacket::parse(&huge_len).unwrap_err(), PacketError::Truncated);
    }
}
