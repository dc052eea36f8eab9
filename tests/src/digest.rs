//! The bytes a client sends and the answer a server gives.

use sha2::{Digest as _, Sha256};

/// Length of a server's answer: 8-byte little-endian length, then the SHA-256.
pub const ANSWER_LEN: usize = 40;

/// A reproducible stream of pseudo-random bytes (xorshift64), so reordering, loss or
/// corruption anywhere changes the digest.
#[derive(Debug, Clone)]
pub struct Pattern(u64);

impl Pattern {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Pattern(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// Fills `buf` with the next bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// Length and SHA-256 of a byte stream, fed piece by piece.
#[derive(Debug, Clone, Default)]
pub struct Digest {
    hasher: Sha256,
    len: u64,
}

impl Digest {
    /// Adds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// The server's answer for what was fed.
    pub fn answer(self) -> Vec<u8> {
        let mut out = self.len.to_le_bytes().to_vec();
        out.extend_from_slice(&self.hasher.finalize());
        out
    }
}

/// Checks a server's answer against what the client sent.
pub fn check_answer(sent: Digest, answer: &[u8]) -> Result<(), String> {
    let expected = sent.answer();
    if answer == expected.as_slice() {
        return Ok(());
    }
    let got_len = answer.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let sent_len = u64::from_le_bytes(expected[..8].try_into().expect("8 bytes"));
    Err(format!("server digest differs: it counted {got_len:?} bytes, {sent_len} were sent"))
}

/// Produces a client stream: the next piece of at most `max` bytes, hashed as it goes.
#[derive(Debug)]
pub struct Sender {
    pattern: Pattern,
    digest: Digest,
    left: usize,
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    offset: usize,
}

impl Sender {
    /// A stream of `len` bytes from `seed`.
    pub fn new(seed: u64, len: usize) -> Self {
        Sender { pattern: Pattern::new(seed), digest: Digest::default(), left: len, buf: Vec::new(), offset: 0 }
    }

    /// The bytes still to write (empty when done); refilled in 64 KiB pieces.
    pub fn pending(&mut self) -> &[u8] {
        if self.offset == self.buf.len() && self.left > 0 {
            let n = self.left.min(64 * 1024);
            self.buf.resize(n, 0);
            self.pattern.fill(&mut self.buf);
            self.digest.update(&self.buf);
            self.left -= n;
            self.offset = 0;
        }
        &self.buf[self.offset..]
    }

    /// `n` bytes of [`Sender::pending`] were written.
    pub fn advance(&mut self, n: usize) {
        self.offset += n;
    }

    /// The digest of everything (call when `pending` is empty).
    pub fn into_digest(self) -> Digest {
        self.digest
    }
}
