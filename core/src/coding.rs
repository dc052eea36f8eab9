//! Bounds-checked reading and writing of wire integers.
//!
//! Everything parsed from the network goes through [`Reader`], whose every accessor returns
//! [`UnexpectedEnd`] instead of panicking on truncated input. Variable-length integers use the
//! QUIC encoding (RFC 9000 §16): the two high bits of the first byte give the length (1, 2, 4 or
//! 8 bytes), so small values such as frame types and stream IDs cost one byte.

use thiserror::Error;

/// The largest value a variable-length integer can carry (2^62 - 1).
pub(crate) const VARINT_MAX: u64 = (1 << 62) - 1;

/// Input ended before a complete field could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("unexpected end of input")]
pub(crate) struct UnexpectedEnd;

/// Number of bytes the variable-length encoding of `v` takes (1, 2, 4 or 8).
pub(crate) const fn varint_len(v: u64) -> usize {
    if v < 1 << 6 {
        1
    } else if v < 1 << 14 {
        2
    } else if v < 1 << 30 {
        4
    } else {
        8
    }
}

/// A cursor over untrusted bytes.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub(crate) fn peek_rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// The bytes consumed since position `start` (an earlier [`Reader::position`]).
    pub(crate) fn consumed_since(&self, start: usize) -> &'a [u8] {
        &self.buf[start.min(self.pos)..self.pos]
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], UnexpectedEnd> {
        if self.remaining() < n {
            return Err(UnexpectedEnd);
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], UnexpectedEnd> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, UnexpectedEnd> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, UnexpectedEnd> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn varint(&mut self) -> Result<u64, UnexpectedEnd> {
        let first = *self.buf.get(self.pos).ok_or(UnexpectedEnd)?;
        let len = 1usize << (first >> 6);
        let raw = self.bytes(len)?;
        let mut v = u64::from(first & 0x3f);
        for b in &raw[1..] {
            v = (v << 8) | u64::from(*b);
        }
        Ok(v)
    }

    /// A varint length prefix followed by that many bytes.
    pub(crate) fn length_prefixed(&mut self) -> Result<&'a [u8], UnexpectedEnd> {
        let len = usize::try_from(self.varint()?).map_err(|_| UnexpectedEnd)?;
        self.bytes(len)
    }
}

/// A cursor that writes into a caller-owned slice; writers check space before writing so the
/// `put_*` methods can stay infallible on the hot path.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Forgets what was written from `pos` on (`pos` at most the current position).
    pub(crate) fn rewind(&mut self, pos: usize) {
        self.pos = self.pos.min(pos);
    }

    /// Panics (a bug in the caller, never network-driven) if space was not checked.
    pub(crate) fn put_slice(&mut self, data: &[u8]) {
        self.buf[self.pos..self.pos + data.len()].copy_from_slice(data);
        self.pos += data.len();
    }

    pub(crate) fn put_u8(&mut self, v: u8) {
        self.put_slice(&[v]);
    }

    pub(crate) fn put_u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes());
    }

    pub(crate) fn put_u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Writes `v` (which must be at most [`VARINT_MAX`]) in its shortest encoding.
    pub(crate) fn put_varint(&mut self, v: u64) {
        debug_assert!(v <= VARINT_MAX, "varint out of range: {v}");
        match varint_len(v) {
            1 => self.put_u8(v as u8),
            2 => self.put_u16(v as u16 | 0x4000),
            4 => self.put_u32(v as u32 | 0x8000_0000),
            _ => self.put_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes()),
        }
    }

    /// Writes `v` in exactly `len` bytes (1, 2, 4 or 8), for length fields patched later.
    pub(crate) fn put_varint_with_len(&mut self, v: u64, len: usize) {
        debug_assert!(varint_len(v) <= len);
        let tag = match len {
            1 => 0u64,
            2 => 1,
            4 => 2,
            _ => 3,
        };
        let encoded = (v | (tag << (len * 8 - 2))).to_be_bytes();
        self.put_slice(&encoded[8 - len..]);
    }

    pub(crate) fn put_length_prefixed(&mut self, data: &[u8]) {
        self.put_varint(data.len() as u64);
        self.put_slice(data);
    }

    /// Advances over the next `n` bytes and returns them for the caller to fill (whatever
    /// they held before stays until overwritten: no zeroing on the hot path).
    pub(crate) fn take_slice(&mut self, n: usize) -> &mut [u8] {
        let start = self.pos;
        self.pos += n;
        &mut self.buf[start..self.pos]
    }

    /// Fills `n` bytes with zeros (PADDING frames are zero bytes).
    pub(crate) fn put_zeros(&mut self, n: usize) {
        self.buf[self.pos..self.pos + n].fill(0);
        self.pos += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_at_every_length_boundary() {
        let values = [0, 63, 64, 16383, 16384, (1 << 30) - 1, 1 << 30, VARINT_MAX];
        for v in values {
            let mut buf = [0u8; 8];
            let mut w = Writer::new(&mut buf);
            w.put_varint(v);
            let n = w.position();
            assert_eq!(n, varint_len(v));
            let mut r = Reader::new(&buf[..n]);
            assert_eq!(r.varint(), Ok(v));
            assert!(r.is_empty());
        }
    }

    #[test]
    fn varint_matches_rfc9000_examples() {
        // RFC 9000 Appendix A.1 sample encodings.
        let cases: [(&[u8], u64); 4] = [
            (&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c], 151_288_809_941_952_652),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, v) in cases {
            assert_eq!(Reader::new(bytes).varint(), Ok(v));
        }
        assert_eq!(Reader::new(&[0x40, 0x25]).varint(), Ok(37));
    }

    #[test]
    fn padded_varint_decodes_to_same_value() {
        for len in [1usize, 2, 4, 8] {
            let mut buf = [0u8; 8];
            let mut w = Writer::new(&mut buf);
            w.put_varint_with_len(37, len);
            assert_eq!(w.position(), len);
            assert_eq!(Reader::new(&buf[..len]).varint(), Ok(37));
        }
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        assert_eq!(Reader::new(&[]).varint(), Err(UnexpectedEnd));
        assert_eq!(Reader::new(&[0xc0, 1, 2]).varint(), Err(UnexpectedEnd));
        assert_eq!(Reader::new(&[0x05, 1]).length_prefixed(), Err(UnexpectedEnd));
        assert_eq!(Reader::new(&[1]).u32(), Err(UnexpectedEnd));
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.bytes(4), Err(UnexpectedEnd));
        assert_eq!(r.bytes(3), Ok(&[1u8, 2, 3][..]));
    }
}
