//! ChaCha20 header protection (RFC 9001 §5.4.4): the mask is the first 5 bytes of one ChaCha20
//! block keyed by the header key, with the sample giving the counter (4 bytes, little
//! endian) and the nonce (12 bytes).
//!
//! Libraries optimise ChaCha20 for long messages; a single block runs through their slow
//! scalar path (~120 ns here, twice per packet). This computes just the one block with the
//! four columns in parallel. Both backends use it, so their header protection is identical
//! by construction.

use super::aead::{CipherSuite, HeaderKey};
use core::fmt;

const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// A ChaCha20 header protection key.
pub(crate) struct ChaChaMaskKey {
    key: [u32; 8],
}

impl ChaChaMaskKey {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let mut words = [0u32; 8];
        for (w, chunk) in words.iter_mut().zip(key.chunks_exact(4)) {
            *w = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        ChaChaMaskKey { key: words }
    }
}

impl fmt::Debug for ChaChaMaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaChaMaskKey").finish_non_exhaustive()
    }
}

impl HeaderKey for ChaChaMaskKey {
    fn mask(&self, sample: &[u8; CipherSuite::SAMPLE_LEN]) -> [u8; 5] {
        mask_bytes(first_two_words(&self.key, counter_nonce(sample)))
    }

    fn masks(&self, samples: &[[u8; CipherSuite::SAMPLE_LEN]], masks: &mut [[u8; 5]]) {
        debug_assert_eq!(samples.len(), masks.len());
        let mut samples = samples.chunks(LANES);
        let mut masks = masks.chunks_mut(LANES);
        while let (Some(group), Some(out)) = (samples.next(), masks.next()) {
            if let [only] = group {
                // One block alone is faster than a group with idle lanes.
                out[0] = self.mask(only);
                continue;
            }
            let inputs = core::array::from_fn(|lane| counter_nonce(&group[lane.min(group.len() - 1)]));
            for (mask, words) in out.iter_mut().zip(first_two_words_of_four(&self.key, &inputs)) {
                *mask = mask_bytes(words);
            }
        }
    }
}

/// The block counter and nonce words a header-protection sample stands for.
fn counter_nonce(sample: &[u8; CipherSuite::SAMPLE_LEN]) -> [u32; 4] {
    core::array::from_fn(|i| {
        u32::from_le_bytes([sample[4 * i], sample[4 * i + 1], sample[4 * i + 2], sample[4 * i + 3]])
    })
}

/// The mask: the block's first five bytes.
fn mask_bytes([w0, w1]: [u32; 2]) -> [u8; 5] {
    let a = w0.to_le_bytes();
    [a[0], a[1], a[2], a[3], w1.to_le_bytes()[0]]
}

/// Blocks computed side by side by [`first_two_words_of_four`].
const LANES: usize = 4;

/// Words 0 and 1 of four independent ChaCha20 blocks (one per counter/nonce), each state word
/// held for all four blocks in one 128-bit vector: sixteen independent lanes of work where a
/// single block has four, so the rounds run at the vector units' throughput instead of one
/// block's dependency chain (about half a lone block's ~96 ns per mask here). `wide`
/// supplies the vectors safely (SSE2 on x86-64, NEON on aarch64, plain arrays elsewhere).
fn first_two_words_of_four(key: &[u32; 8], inputs: &[[u32; 4]; LANES]) -> [[u32; 2]; LANES] {
    use wide::u32x4;
    #[inline(always)]
    fn rotl<const BITS: u32>(x: u32x4) -> u32x4 {
        (x << BITS) | (x >> (32 - BITS))
    }
    #[inline(always)]
    fn quarter(x: &mut [u32x4; 16], [a, b, c, d]: [usize; 4]) {
        x[a] += x[b];
        x[d] = rotl::<16>(x[d] ^ x[a]);
        x[c] += x[d];
        x[b] = rotl::<12>(x[b] ^ x[c]);
        x[a] += x[b];
        x[d] = rotl::<8>(x[d] ^ x[a]);
        x[c] += x[d];
        x[b] = rotl::<7>(x[b] ^ x[c]);
    }

    let mut x: [u32x4; 16] = core::array::from_fn(|w| match w {
        0..4 => u32x4::splat(SIGMA[w]),
        4..12 => u32x4::splat(key[w - 4]),
        _ => u32x4::new(core::array::from_fn(|lane| inputs[lane][w - 12])),
    });
    for _ in 0..10 {
        for column in [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]] {
            quarter(&mut x, column);
        }
        for diagonal in [[0, 5, 10, 15], [1, 6, 11, 12], [2, 7, 8, 13], [3, 4, 9, 14]] {
            quarter(&mut x, diagonal);
        }
    }
    let (w0, w1) = (x[0].to_array(), x[1].to_array());
    core::array::from_fn(|lane| [w0[lane].wrapping_add(SIGMA[0]), w1[lane].wrapping_add(SIGMA[1])])
}

/// Words 0 and 1 of the ChaCha20 block for `key` and `counter_nonce` (counter, then the
/// three nonce words).
///
/// The state is kept as four rows of four words, and each quarter-round step works on a
/// whole row, so all four columns (then all four diagonals) advance together. Written over
/// plain arrays, this compiles to 128-bit SIMD (SSE2 on x86-64, NEON on aarch64) without any
/// `unsafe`.
fn first_two_words(key: &[u32; 8], counter_nonce: [u32; 4]) -> [u32; 2] {
    type Row = [u32; 4];
    #[inline(always)]
    fn add(x: Row, y: Row) -> Row {
        core::array::from_fn(|i| x[i].wrapping_add(y[i]))
    }
    #[inline(always)]
    fn xor_rotl(x: Row, y: Row, bits: u32) -> Row {
        core::array::from_fn(|i| (x[i] ^ y[i]).rotate_left(bits))
    }
    #[inline(always)]
    fn quarter(a: &mut Row, b: &mut Row, c: &mut Row, d: &mut Row) {
        *a = add(*a, *b);
        *d = xor_rotl(*d, *a, 16);
        *c = add(*c, *d);
        *b = xor_rotl(*b, *c, 12);
        *a = add(*a, *b);
        *d = xor_rotl(*d, *a, 8);
        *c = add(*c, *d);
        *b = xor_rotl(*b, *c, 7);
    }
    /// Rotates a row's lanes left by `n`, lining diagonals up as columns (and back).
    #[inline(always)]
    fn lanes(r: Row, n: usize) -> Row {
        core::array::from_fn(|i| r[(i + n) % 4])
    }

    let (mut a, mut b, mut c, mut d) =
        (SIGMA, [key[0], key[1], key[2], key[3]], [key[4], key[5], key[6], key[7]], counter_nonce);
    for _ in 0..10 {
        quarter(&mut a, &mut b, &mut c, &mut d);
        (b, c, d) = (lanes(b, 1), lanes(c, 2), lanes(d, 3));
        quarter(&mut a, &mut b, &mut c, &mut d);
        (b, c, d) = (lanes(b, 3), lanes(c, 2), lanes(d, 1));
    }
    [a[0].wrapping_add(SIGMA[0]), a[1].wrapping_add(SIGMA[1])]
}

/// The whole block, written exactly as RFC 8439 §2.3 describes it: the reference the fast
/// path is tested against.
#[cfg(test)]
fn scalar_block(key: &[u32; 8], counter_nonce: [u32; 4]) -> [u32; 16] {
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&SIGMA);
    init[4..12].copy_from_slice(key);
    init[12..].copy_from_slice(&counter_nonce);
    let mut s = init;
    fn qr(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(16);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(12);
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(8);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(7);
    }
    for _ in 0..10 {
        qr(&mut s, 0, 4, 8, 12);
        qr(&mut s, 1, 5, 9, 13);
        qr(&mut s, 2, 6, 10, 14);
        qr(&mut s, 3, 7, 11, 15);
        qr(&mut s, 0, 5, 10, 15);
        qr(&mut s, 1, 6, 11, 12);
        qr(&mut s, 2, 7, 8, 13);
        qr(&mut s, 3, 4, 9, 14);
    }
    for (x, i) in s.iter_mut().zip(init) {
        *x = x.wrapping_add(i);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(bytes: &[u8]) -> Vec<u32> {
        bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    }

    #[test]
    fn block_function_matches_rfc8439_section_2_3_2() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let key_words: [u32; 8] = words(&key).try_into().expect("8 words");
        let nonce = hex::decode("000000090000004a00000000").expect("hex");
        let n = words(&nonce);
        let block = scalar_block(&key_words, [1, n[0], n[1], n[2]]);
        let expected = hex::decode(
            "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e\
             d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e",
        )
        .expect("hex");
        assert_eq!(block.to_vec(), words(&expected));
        // The mask is the block's first five bytes.
        let mut sample = [0u8; 16];
        sample[..4].copy_from_slice(&1u32.to_le_bytes());
        sample[4..].copy_from_slice(&nonce);
        assert_eq!(ChaChaMaskKey::new(&key).mask(&sample), [0x10, 0xf1, 0xe7, 0xe4, 0xd1]);
    }

    #[test]
    fn fast_path_matches_the_scalar_block_for_many_inputs() {
        let mut x: u64 = 0x1234_5678_9abc_def0;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u32
        };
        for _ in 0..2000 {
            let key: [u32; 8] = core::array::from_fn(|_| next());
            let input: [u32; 4] = core::array::from_fn(|_| next());
            let block = scalar_block(&key, input);
            assert_eq!(first_two_words(&key, input), [block[0], block[1]]);
        }
        for _ in 0..500 {
            let key: [u32; 8] = core::array::from_fn(|_| next());
            let inputs: [[u32; 4]; LANES] = core::array::from_fn(|_| core::array::from_fn(|_| next()));
            let expected = inputs.map(|input| first_two_words(&key, input));
            assert_eq!(first_two_words_of_four(&key, &inputs), expected);
        }
        // Extreme counters, which a peer picks through the sample.
        for counter in [0, 1, u32::MAX - 1, u32::MAX] {
            let key = [7u32; 8];
            let block = scalar_block(&key, [counter, 1, 2, 3]);
            assert_eq!(first_two_words(&key, [counter, 1, 2, 3]), [block[0], block[1]]);
        }
    }

    #[test]
    fn batched_masks_equal_single_masks_for_every_batch_size() {
        let key = ChaChaMaskKey::new(&core::array::from_fn(|i| (i * 7 + 3) as u8));
        let samples: Vec<[u8; 16]> =
            (0..23u8).map(|n| core::array::from_fn(|i| n.wrapping_mul(31).wrapping_add(i as u8 * 13))).collect();
        for len in 0..=samples.len() {
            let mut masks = vec![[0u8; 5]; len];
            key.masks(&samples[..len], &mut masks);
            let single: Vec<[u8; 5]> = samples[..len].iter().map(|s| key.mask(s)).collect();
            assert_eq!(masks, single, "batch of {len}");
        }
    }
}
