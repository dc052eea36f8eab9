//! Packet protection backed by the pure-Rust RustCrypto crates, for targets
//! `ring` does not support. Provides only [`CipherSuite::ChaCha20Poly1305`],
//! the suite that is fast and constant-time without AES hardware.

use core::fmt;

use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, Tag};

use super::aead::{CipherSuite, CryptoError, PacketKey, packet_nonce};

/// A ChaCha20-Poly1305 key plus the IV its per-packet nonces are derived from.
pub(crate) struct ChaChaPacketKey {
    aead: ChaCha20Poly1305,
    iv: [u8; CipherSuite::IV_LEN],
}

impl ChaChaPacketKey {
    pub(crate) fn new(key: &[u8; CipherSuite::KEY_LEN], iv: [u8; CipherSuite::IV_LEN]) -> Self {
        Self { aead: ChaCha20Poly1305::new(&(*key).into()), iv }
    }
}

impl PacketKey for ChaChaPacketKey {
    fn seal(&self, packet_number: u64, header: &[u8], payload_and_tag: &mut [u8]) -> Result<(), CryptoError> {
        let (payload, tag_out) =
            payload_and_tag.split_last_chunk_mut::<{ CipherSuite::TAG_LEN }>().ok_or(CryptoError::BufferTooShort)?;
        let nonce = packet_nonce(&self.iv, packet_number).into();
        let tag = self
            .aead
            .encrypt_inout_detached(&nonce, header, payload.into())
            .map_err(|_| CryptoError::MessageTooLong)?;
        *tag_out = tag.into();
        Ok(())
    }

    fn open<'a>(
        &self,
        packet_number: u64,
        header: &[u8],
        payload_and_tag: &'a mut [u8],
    ) -> Result<&'a mut [u8], CryptoError> {
        let (payload, tag) =
            payload_and_tag.split_last_chunk_mut::<{ CipherSuite::TAG_LEN }>().ok_or(CryptoError::DecryptFailed)?;
        let nonce = packet_nonce(&self.iv, packet_number).into();
        // Verifies the tag before decrypting, so a forged payload is left untouched.
        self.aead
            .decrypt_inout_detached(&nonce, header, (&mut *payload).into(), &Tag::from(*tag))
            .map_err(|_| CryptoError::DecryptFailed)?;
        Ok(payload)
    }

    fn suite(&self) -> CipherSuite {
        CipherSuite::ChaCha20Poly1305
    }
}

impl fmt::Debug for ChaChaPacketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaChaPacketKey").finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::aead::conformance;
    use crate::crypto::aead::{CipherSuite, CryptoBackend, CryptoError};

    const RUST_CRYPTO: CryptoBackend = CryptoBackend::RustCrypto;

    #[test]
    fn supports_only_chacha20() {
        assert!(RUST_CRYPTO.supports(CipherSuite::ChaCha20Poly1305));
        assert!(!RUST_CRYPTO.supports(CipherSuite::Aes256Gcm));
        let unsupported = Err(CryptoError::UnsupportedSuite(CipherSuite::Aes256Gcm));
        let packet = RUST_CRYPTO.packet_key(CipherSuite::Aes256Gcm, &[0; 32], [0; 12]);
        assert_eq!(packet.map(|_| ()), unsupported);
        let header = RUST_CRYPTO.header_key(CipherSuite::Aes256Gcm, &[0; 32]);
        assert_eq!(header.map(|_| ()), unsupported);
    }

    #[test]
    fn rfc8439_chacha20_poly1305_aead() {
        conformance::rfc8439_aead(RUST_CRYPTO);
    }

    #[test]
    fn rfc9001_a5_chacha20_short_header_packet() {
        conformance::rfc9001_chacha20_short_header(RUST_CRYPTO);
    }

    #[test]
    fn rejects_tampering() {
        conformance::rejects_tampering(RUST_CRYPTO, CipherSuite::ChaCha20Poly1305);
    }

    #[test]
    fn round_trips_edges() {
        conformance::round_trips_edges(RUST_CRYPTO, CipherSuite::ChaCha20Poly1305);
    }

    #[test]
    fn failed_open_leaves_ciphertext_intact() {
        let key = RUST_CRYPTO.packet_key(CipherSuite::ChaCha20Poly1305, &[1; 32], [2; 12]).unwrap();
        let mut buf = vec![3; 64 + CipherSuite::TAG_LEN];
        key.seal(5, b"h", &mut buf).unwrap();
        let sealed = buf.clone();
        assert_eq!(key.open(6, b"h", &mut buf), Err(CryptoError::DecryptFailed));
        assert_eq!(buf, sealed);
    }

    /// Pins the mask for the extreme block counters, including 0xffffffff,
    /// which the buffered ChaCha20 wrapper rejects.
    #[test]
    fn mask_at_extreme_counters() {
        let hp = RUST_CRYPTO.header_key(CipherSuite::ChaCha20Poly1305, &[0x11; 32]).unwrap();
        let masks: Vec<[u8; 5]> = [0u32, 1, u32::MAX - 1, u32::MAX]
            .iter()
            .map(|counter| {
                let mut sample = [0x22; 16];
                sample[..4].copy_from_slice(&counter.to_le_bytes());
                let mask = hp.mask(&sample);
                #[cfg(feature = "ring")]
                {
                    let ring = CryptoBackend::Ring.header_key(CipherSuite::ChaCha20Poly1305, &[0x11; 32]).unwrap();
                    assert_eq!(mask, ring.mask(&sample), "counter {counter:#x}");
                }
                mask
            })
            .collect();
        // Distinct counters select distinct keystream blocks.
        for (i, a) in masks.iter().enumerate() {
            assert!(masks[i + 1..].iter().all(|b| a != b));
        }
    }

    /// Both backends must produce byte-identical packets and masks, so peers
    /// built with different backends interoperate.
    #[cfg(feature = "ring")]
    #[test]
    fn matches_ring_byte_for_byte() {
        let suite = CipherSuite::ChaCha20Poly1305;
        // SplitMix64: deterministic, so failures reproduce.
        let mut state = 0x6a09_e667_f3bc_c908_u64;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut bytes = |n: usize| (0..n).map(|_| next() as u8).collect::<Vec<u8>>();

        for payload_len in 0..=1500 {
            let key: [u8; 32] = bytes(32).try_into().unwrap();
            let iv: [u8; 12] = bytes(12).try_into().unwrap();
            let hp: [u8; 32] = bytes(32).try_into().unwrap();
            let pn = u64::from_le_bytes(bytes(8).try_into().unwrap()) >> 2;
            let header = bytes(1 + payload_len % 64);
            let mut sealed = bytes(payload_len);
            sealed.resize(payload_len + CipherSuite::TAG_LEN, 0);
            let sample: [u8; 16] = bytes(16).try_into().unwrap();

            let ours = RUST_CRYPTO.packet_key(suite, &key, iv).unwrap();
            let ring = CryptoBackend::Ring.packet_key(suite, &key, iv).unwrap();
            let plaintext = sealed.clone();
            let mut by_ring = sealed.clone();
            ours.seal(pn, &header, &mut sealed).unwrap();
            ring.seal(pn, &header, &mut by_ring).unwrap();
            assert_eq!(sealed, by_ring, "payload length {payload_len}");
            let opened = ours.open(pn, &header, &mut by_ring).unwrap();
            assert_eq!(opened, &plaintext[..payload_len]);

            let ours = RUST_CRYPTO.header_key(suite, &hp).unwrap();
            let ring = CryptoBackend::Ring.header_key(suite, &hp).unwrap();
            assert_eq!(ours.mask(&sample), ring.mask(&sample));
        }
    }
}
