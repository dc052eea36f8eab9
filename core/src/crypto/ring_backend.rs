//! Packet protection backed by `ring`, whose assembly implementations make it
//! the fast path; it provides every [`CipherSuite`].

use core::fmt;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, quic};

use super::aead::{CipherSuite, CryptoError, HeaderKey, PacketKey, packet_nonce};

/// A `ring` AEAD key plus the IV its per-packet nonces are derived from.
///
/// `LessSafeKey` is `ring`'s key type that accepts caller-chosen nonces; it is
/// safe here because [`packet_nonce`] makes each nonce unique per packet number.
pub(crate) struct RingPacketKey {
    key: LessSafeKey,
    iv: [u8; CipherSuite::IV_LEN],
    suite: CipherSuite,
}

impl RingPacketKey {
    pub(crate) fn new(
        suite: CipherSuite,
        key: &[u8; CipherSuite::KEY_LEN],
        iv: [u8; CipherSuite::IV_LEN],
    ) -> Result<Self, CryptoError> {
        let algorithm = match suite {
            CipherSuite::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
            CipherSuite::Aes256Gcm => &aead::AES_256_GCM,
        };
        // `ring` only rejects a key of the wrong length, which the type rules out.
        let key = UnboundKey::new(algorithm, key).map_err(|_| CryptoError::UnsupportedSuite(suite))?;
        Ok(Self { key: LessSafeKey::new(key), iv, suite })
    }

    fn nonce(&self, packet_number: u64) -> Nonce {
        Nonce::assume_unique_for_key(packet_nonce(&self.iv, packet_number))
    }
}

impl PacketKey for RingPacketKey {
    fn seal(&self, packet_number: u64, header: &[u8], payload_and_tag: &mut [u8]) -> Result<(), CryptoError> {
        let (payload, tag_out) =
            payload_and_tag.split_last_chunk_mut::<{ CipherSuite::TAG_LEN }>().ok_or(CryptoError::BufferTooShort)?;
        let tag = self
            .key
            .seal_in_place_separate_tag(self.nonce(packet_number), Aad::from(header), payload)
            .map_err(|_| CryptoError::MessageTooLong)?;
        tag_out.copy_from_slice(tag.as_ref());
        Ok(())
    }

    fn open<'a>(
        &self,
        packet_number: u64,
        header: &[u8],
        payload_and_tag: &'a mut [u8],
    ) -> Result<&'a mut [u8], CryptoError> {
        self.key
            .open_in_place(self.nonce(packet_number), Aad::from(header), payload_and_tag)
            .map_err(|_| CryptoError::DecryptFailed)
    }

    fn suite(&self) -> CipherSuite {
        self.suite
    }
}

impl fmt::Debug for RingPacketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingPacketKey").field("suite", &self.suite).finish_non_exhaustive()
    }
}

/// `ring`'s QUIC header-protection key (AES-256 or ChaCha20).
pub(crate) struct RingHeaderKey {
    key: quic::HeaderProtectionKey,
}

impl RingHeaderKey {
    pub(crate) fn new(suite: CipherSuite, key: &[u8; CipherSuite::KEY_LEN]) -> Result<Self, CryptoError> {
        let algorithm = match suite {
            CipherSuite::ChaCha20Poly1305 => &quic::CHACHA20,
            CipherSuite::Aes256Gcm => &quic::AES_256,
        };
        // As above: only a wrong key length is rejected.
        let key = quic::HeaderProtectionKey::new(algorithm, key).map_err(|_| CryptoError::UnsupportedSuite(suite))?;
        Ok(Self { key })
    }
}

impl HeaderKey for RingHeaderKey {
    fn mask(&self, sample: &[u8; CipherSuite::SAMPLE_LEN]) -> [u8; 5] {
        // `new_mask` fails only if the sample is not exactly 16 bytes, which the
        // parameter type guarantees.
        self.key.new_mask(sample).expect("sample length is fixed by its type")
    }
}

impl fmt::Debug for RingHeaderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingHeaderKey").field("algorithm", self.key.algorithm()).finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::aead::conformance;
    use super::{CipherSuite, RingHeaderKey, RingPacketKey};
    use crate::crypto::aead::{CryptoBackend, PacketKey};

    const RING: CryptoBackend = CryptoBackend::Ring;

    #[test]
    fn supports_both_suites() {
        assert!(RING.supports(CipherSuite::ChaCha20Poly1305));
        assert!(RING.supports(CipherSuite::Aes256Gcm));
    }

    #[test]
    fn rfc8439_chacha20_poly1305_aead() {
        conformance::rfc8439_aead(RING);
    }

    #[test]
    fn rfc9001_a5_chacha20_short_header_packet() {
        conformance::rfc9001_chacha20_short_header(RING);
    }

    #[test]
    fn gcm_spec_test_case_16_aes256() {
        conformance::gcm_spec_test_case_16(RING);
    }

    #[test]
    fn fips197_c3_aes256_header_mask() {
        conformance::fips197_aes256_mask(RING);
    }

    #[test]
    fn rejects_tampering_chacha20() {
        conformance::rejects_tampering(RING, CipherSuite::ChaCha20Poly1305);
    }

    #[test]
    fn rejects_tampering_aes256gcm() {
        conformance::rejects_tampering(RING, CipherSuite::Aes256Gcm);
    }

    #[test]
    fn round_trips_edges_chacha20() {
        conformance::round_trips_edges(RING, CipherSuite::ChaCha20Poly1305);
    }

    #[test]
    fn round_trips_edges_aes256gcm() {
        conformance::round_trips_edges(RING, CipherSuite::Aes256Gcm);
    }

    #[test]
    fn debug_output_hides_key_material() {
        let key = [0xab; 32];
        let packet = RingPacketKey::new(CipherSuite::Aes256Gcm, &key, [0xcd; 12]).unwrap();
        let header = RingHeaderKey::new(CipherSuite::Aes256Gcm, &key).unwrap();
        assert_eq!(format!("{packet:?}"), "RingPacketKey { suite: Aes256Gcm, .. }");
        assert_eq!(format!("{header:?}"), "RingHeaderKey { algorithm: AES_256, .. }");
        assert_eq!(packet.suite(), CipherSuite::Aes256Gcm);
    }
}
