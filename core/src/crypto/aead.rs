//! Backend-neutral packet protection: cipher suites, per-packet AEAD keys and
//! header-protection keys, following the QUIC construction of RFC 9001 §5.
//!
//! Everything above this module talks to [`PacketKey`] / [`HeaderKey`] trait
//! objects obtained from a [`CryptoBackend`], so the backend can be chosen at
//! run time and the two implementations can be checked against each other.

use core::fmt;

#[cfg(not(any(feature = "ring", feature = "rustcrypto")))]
compile_error!("enable at least one crypto backend feature: `ring` or `rustcrypto`");

/// An AEAD cipher suite used to protect packets.
///
/// Each suite fixes both the payload AEAD and the matching header-protection
/// cipher (RFC 9001 §5.4), so the two can never be mixed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    /// ChaCha20-Poly1305 (RFC 8439) with ChaCha20 header protection. Constant
    /// time and fast in software, so it is the right choice without AES hardware.
    ChaCha20Poly1305,
    /// AES-256-GCM with AES-256 header protection. The fastest suite on CPUs
    /// with AES and carry-less-multiply instructions.
    Aes256Gcm,
}

impl CipherSuite {
    /// Length in bytes of both the packet key and the header-protection key.
    pub const KEY_LEN: usize = 32;
    /// Length in bytes of the packet IV, which is also the AEAD nonce length.
    pub const IV_LEN: usize = 12;
    /// Length in bytes of the authentication tag appended to every payload.
    pub const TAG_LEN: usize = 16;
    /// Length in bytes of the ciphertext sample that header protection consumes.
    pub const SAMPLE_LEN: usize = 16;

    /// The suite's wire identifier.
    pub const fn id(self) -> u8 {
        match self {
            Self::ChaCha20Poly1305 => 1,
            Self::Aes256Gcm => 2,
        }
    }

    /// The suite with wire identifier `id`, or `None` if it is unknown.
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Self::ChaCha20Poly1305),
            2 => Some(Self::Aes256Gcm),
            _ => None,
        }
    }

    /// The payload length full packets are rounded down to, for speed.
    ///
    /// AES-GCM implementations (ring's VAES/AVX2 path among them) encrypt and authenticate
    /// whole 16-byte blocks in a wide loop and a partial last block on a slow single-block
    /// path: measured here, seal+open of a 1168-byte payload takes 447 ns and of 1171 bytes
    /// 509 ns. Giving up at most 15 bytes of a full packet buys ~12% of the cipher's time.
    /// ChaCha20-Poly1305 shows no such step, so its packets stay full.
    pub(crate) const fn payload_alignment(self) -> usize {
        match self {
            Self::ChaCha20Poly1305 => 1,
            Self::Aes256Gcm => 16,
        }
    }

    /// How many packets may be sealed with one key before it must be updated
    /// (RFC 9001 §6.6).
    ///
    /// Past this many encryptions an attacker's advantage in distinguishing
    /// ciphertext from random exceeds the 2^-57 bound RFC 9001 targets. For
    /// AES-GCM that happens after 2^23 full-size packets; ChaCha20-Poly1305's
    /// bound is beyond the 2^62 possible packet numbers, so it is unlimited.
    pub const fn confidentiality_limit(self) -> u64 {
        match self {
            Self::ChaCha20Poly1305 => u64::MAX,
            Self::Aes256Gcm => 1 << 23,
        }
    }

    /// How many packets that fail authentication may be tolerated on one key
    /// before the connection must stop using it (RFC 9001 §6.6).
    ///
    /// Every failed open is a forgery attempt; past this many the chance that
    /// one of them succeeded exceeds the 2^-57 bound RFC 9001 targets.
    pub const fn integrity_limit(self) -> u64 {
        match self {
            Self::ChaCha20Poly1305 => 1 << 36,
            Self::Aes256Gcm => 1 << 52,
        }
    }
}

/// The library that implements the cipher suites.
///
/// Which backends exist depends on the crate features `ring` and `rustcrypto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CryptoBackend {
    /// `ring`: assembly-optimised, provides every [`CipherSuite`]. The default
    /// whenever it is compiled in.
    #[cfg(feature = "ring")]
    #[default]
    Ring,
    /// RustCrypto: pure Rust, portable to targets `ring` does not support, but
    /// provides only [`CipherSuite::ChaCha20Poly1305`].
    #[cfg(feature = "rustcrypto")]
    #[cfg_attr(not(feature = "ring"), default)]
    RustCrypto,
}

impl CryptoBackend {
    /// Whether this backend implements `suite`.
    pub const fn supports(self, suite: CipherSuite) -> bool {
        match self {
            #[cfg(feature = "ring")]
            Self::Ring => matches!(suite, CipherSuite::ChaCha20Poly1305 | CipherSuite::Aes256Gcm),
            #[cfg(feature = "rustcrypto")]
            Self::RustCrypto => matches!(suite, CipherSuite::ChaCha20Poly1305),
        }
    }

    /// Builds the AEAD key that seals and opens packet payloads.
    ///
    /// Fails with [`CryptoError::UnsupportedSuite`] if this backend lacks `suite`.
    pub(crate) fn packet_key(
        self,
        suite: CipherSuite,
        key: &[u8; CipherSuite::KEY_LEN],
        iv: [u8; CipherSuite::IV_LEN],
    ) -> Result<Box<dyn PacketKey>, CryptoError> {
        if !self.supports(suite) {
            return Err(CryptoError::UnsupportedSuite(suite));
        }
        Ok(match self {
            #[cfg(feature = "ring")]
            Self::Ring => Box::new(super::ring_backend::RingPacketKey::new(suite, key, iv)?),
            #[cfg(feature = "rustcrypto")]
            Self::RustCrypto => Box::new(super::rustcrypto_backend::ChaChaPacketKey::new(key, iv)),
        })
    }

    /// Builds the key that derives header-protection masks.
    ///
    /// Fails with [`CryptoError::UnsupportedSuite`] if this backend lacks `suite`.
    pub(crate) fn header_key(
        self,
        suite: CipherSuite,
        key: &[u8; CipherSuite::KEY_LEN],
    ) -> Result<Box<dyn HeaderKey>, CryptoError> {
        if !self.supports(suite) {
            return Err(CryptoError::UnsupportedSuite(suite));
        }
        if suite == CipherSuite::ChaCha20Poly1305 {
            // One shared implementation, much faster than the libraries' for a single block.
            return Ok(Box::new(super::chacha_mask::ChaChaMaskKey::new(key)));
        }
        Ok(match self {
            #[cfg(feature = "ring")]
            Self::Ring => Box::new(super::ring_backend::RingHeaderKey::new(suite, key)?),
            #[cfg(feature = "rustcrypto")]
            Self::RustCrypto => return Err(CryptoError::UnsupportedSuite(suite)),
        })
    }
}

/// Why a packet-protection operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The packet did not authenticate: it was forged, corrupted, truncated
    /// below the tag length, or opened with the wrong key or packet number.
    /// Deliberately carries no detail, so failures reveal nothing to a peer.
    #[error("packet authentication failed")]
    DecryptFailed,
    /// The selected backend does not implement this cipher suite.
    #[error("cipher suite {0:?} is not supported by this crypto backend")]
    UnsupportedSuite(CipherSuite),
    /// The buffer passed to seal has no room for the authentication tag.
    #[error("buffer too short for the authentication tag")]
    BufferTooShort,
    /// The payload exceeds the AEAD's maximum message length (tens of GiB, so
    /// never for a datagram-sized buffer).
    #[error("payload exceeds the AEAD's maximum message length")]
    MessageTooLong,
}

/// AEAD protection of packet payloads under one key.
///
/// The caller must never seal two packets with the same packet number under
/// one key: the packet number is what makes each nonce unique, and a repeated
/// nonce breaks both confidentiality and integrity of these AEADs.
pub(crate) trait PacketKey: Send + Sync + fmt::Debug {
    /// Encrypts a payload in place and writes its tag.
    ///
    /// `payload_and_tag` holds the plaintext followed by
    /// [`CipherSuite::TAG_LEN`] bytes of room for the tag; `header` is
    /// authenticated but not encrypted. Fails with
    /// [`CryptoError::BufferTooShort`] if there is no room for the tag.
    fn seal(&self, packet_number: u64, header: &[u8], payload_and_tag: &mut [u8]) -> Result<(), CryptoError>;

    /// Authenticates and decrypts a sealed payload in place, returning the
    /// plaintext (the buffer minus the trailing tag).
    ///
    /// Every failure is [`CryptoError::DecryptFailed`]. After a failure the
    /// buffer's contents are backend-specific (ring zeroes the payload,
    /// RustCrypto leaves the ciphertext), so retrying with another key needs
    /// a copy taken beforehand.
    fn open<'a>(
        &self,
        packet_number: u64,
        header: &[u8],
        payload_and_tag: &'a mut [u8],
    ) -> Result<&'a mut [u8], CryptoError>;

    /// The cipher suite this key belongs to.
    fn suite(&self) -> CipherSuite;
}

/// Header protection (RFC 9001 §5.4): hides the packet-number length and
/// packet-number bytes from on-path observers, using a mask derived from a
/// sample of the packet's own ciphertext.
pub(crate) trait HeaderKey: Send + Sync + fmt::Debug {
    /// The 5-byte mask for `sample`; the caller XORs it into the header.
    ///
    /// AES: the first 5 bytes of AES-ECB(hp_key, sample). ChaCha20: the
    /// keystream for block counter = `sample[0..4]` (little-endian) and
    /// nonce = `sample[4..16]`.
    fn mask(&self, sample: &[u8; CipherSuite::SAMPLE_LEN]) -> [u8; 5];

    /// The masks for several samples, `masks[i]` for `samples[i]` (the lengths must match).
    /// A sender computes a GSO batch's masks together, which lets ChaCha20 work on several
    /// blocks at once.
    fn masks(&self, samples: &[[u8; CipherSuite::SAMPLE_LEN]], masks: &mut [[u8; 5]]) {
        debug_assert_eq!(samples.len(), masks.len());
        for (sample, mask) in samples.iter().zip(masks) {
            *mask = self.mask(sample);
        }
    }
}

/// The AEAD nonce for one packet: the IV with the packet number, as 8 bytes
/// big-endian, XORed into its last 8 bytes (RFC 9001 §5.3).
///
/// Packet numbers never repeat under one key, so every nonce is unique without
/// sending it on the wire; XORing into a secret IV rather than using the packet
/// number directly keeps nonces unpredictable and distinct across keys.
pub(crate) fn packet_nonce(iv: &[u8; CipherSuite::IV_LEN], packet_number: u64) -> [u8; CipherSuite::IV_LEN] {
    let mut nonce = *iv;
    let low = &mut nonce[CipherSuite::IV_LEN - 8..];
    for (n, p) in low.iter_mut().zip(packet_number.to_be_bytes()) {
        *n ^= p;
    }
    nonce
}

/// Backend-generic checks, run by each backend's tests against itself.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod conformance {
    use super::{CipherSuite, CryptoBackend, CryptoError, HeaderKey, PacketKey};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn arr<const N: usize>(s: &str) -> [u8; N] {
        h(s).try_into().unwrap()
    }

    fn packet_key(backend: CryptoBackend, suite: CipherSuite, key: &str, iv: &str) -> Box<dyn PacketKey> {
        backend.packet_key(suite, &arr(key), arr(iv)).unwrap()
    }

    fn header_key(backend: CryptoBackend, suite: CipherSuite, key: &str) -> Box<dyn HeaderKey> {
        backend.header_key(suite, &arr(key)).unwrap()
    }

    /// Seals `plaintext`, checks the exact ciphertext||tag, then opens it back.
    fn seal_open_exact(key: &dyn PacketKey, pn: u64, aad: &[u8], plaintext: &[u8], sealed: &[u8]) {
        let mut buf = plaintext.to_vec();
        buf.resize(plaintext.len() + CipherSuite::TAG_LEN, 0);
        key.seal(pn, aad, &mut buf).unwrap();
        assert_eq!(hex::encode(&buf), hex::encode(sealed));
        assert_eq!(key.open(pn, aad, &mut buf).unwrap(), plaintext);
    }

    /// RFC 8439 §2.8.2. With packet number 0 the nonce is the IV itself.
    pub(crate) fn rfc8439_aead(backend: CryptoBackend) {
        let key = packet_key(
            backend,
            CipherSuite::ChaCha20Poly1305,
            "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
            "070000004041424344454647",
        );
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you \
only one tip for the future, sunscreen would be it.";
        let sealed = h(concat!(
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6",
            "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36",
            "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc",
            "3ff4def08e4b7a9de576d26586cec64b6116",
            "1ae10b594f09e26a7e902ecbd0600691",
        ));
        seal_open_exact(&*key, 0, &h("50515253c0c1c2c3c4c5c6c7"), plaintext, &sealed);
    }

    /// RFC 9001 Appendix A.5: a complete ChaCha20-Poly1305 short-header packet,
    /// payload protection and header protection together.
    pub(crate) fn rfc9001_chacha20_short_header(backend: CryptoBackend) {
        let suite = CipherSuite::ChaCha20Poly1305;
        let key = packet_key(
            backend,
            suite,
            "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8",
            "e0459b3474bdd0e44a41c144",
        );
        let hp = header_key(backend, suite, "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4");
        let pn = 654_360_564;
        let header = h("4200bff4");
        let mut packet = header.clone();
        packet.extend_from_slice(&[0x01; 1]);
        packet.resize(packet.len() + CipherSuite::TAG_LEN, 0);

        let (hdr, body) = packet.split_at_mut(header.len());
        key.seal(pn, hdr, body).unwrap();

        // The packet number is 3 bytes at offset 1; the sample starts 4 bytes
        // after the packet number's start.
        let sample: [u8; 16] = packet[5..21].try_into().unwrap();
        assert_eq!(hex::encode(sample), "5e5cd55c41f69080575d7999c25a5bfb");
        let mask = hp.mask(&sample);
        assert_eq!(hex::encode(mask), "aefefe7d03");
        packet[0] ^= mask[0] & 0x1f;
        for (b, m) in packet[1..4].iter_mut().zip(&mask[1..]) {
            *b ^= m;
        }
        assert_eq!(hex::encode(&packet), "4cfe4189655e5cd55c41f69080575d7999c25a5bfb");

        // Remove header protection and open again.
        packet[0] ^= mask[0] & 0x1f;
        for (b, m) in packet[1..4].iter_mut().zip(&mask[1..]) {
            *b ^= m;
        }
        let (hdr, body) = packet.split_at_mut(4);
        assert_eq!(key.open(pn, hdr, body).unwrap(), [0x01]);
    }

    /// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16
    /// (AES-256, 60-byte plaintext, 20-byte AAD).
    pub(crate) fn gcm_spec_test_case_16(backend: CryptoBackend) {
        let key = packet_key(
            backend,
            CipherSuite::Aes256Gcm,
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "cafebabefacedbaddecaf888",
        );
        let plaintext = h(concat!(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72",
            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        ));
        let sealed = h(concat!(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa",
            "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ));
        let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        seal_open_exact(&*key, 0, &aad, &plaintext, &sealed);
    }

    /// FIPS-197 Appendix C.3 (AES-256): the mask is the first 5 bytes of the
    /// single-block encryption.
    pub(crate) fn fips197_aes256_mask(backend: CryptoBackend) {
        let hp = header_key(
            backend,
            CipherSuite::Aes256Gcm,
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        );
        let mask = hp.mask(&arr("00112233445566778899aabbccddeeff"));
        assert_eq!(hex::encode(mask), "8ea2b7ca51");
    }

    /// Tampering with any bit, the packet number or the length is rejected, and
    /// short buffers are errors rather than panics.
    pub(crate) fn rejects_tampering(backend: CryptoBackend, suite: CipherSuite) {
        let key = backend.packet_key(suite, &[0x42; 32], [0x24; 12]).unwrap();
        let pn = 0x1234_5678;
        let header: Vec<u8> = (0..21).collect();
        let mut sealed: Vec<u8> = (0u8..40).map(|i| i.wrapping_mul(7)).collect();
        sealed.resize(40 + CipherSuite::TAG_LEN, 0);
        key.seal(pn, &header, &mut sealed).unwrap();

        for bit in 0..header.len() * 8 {
            let mut header = header.clone();
            header[bit / 8] ^= 1 << (bit % 8);
            let mut buf = sealed.clone();
            assert_eq!(key.open(pn, &header, &mut buf), Err(CryptoError::DecryptFailed));
        }
        for bit in 0..sealed.len() * 8 {
            let mut buf = sealed.clone();
            buf[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(key.open(pn, &header, &mut buf), Err(CryptoError::DecryptFailed));
        }
        for wrong_pn in [0, pn - 1, pn + 1, pn ^ (1 << 63)] {
            let mut buf = sealed.clone();
            assert_eq!(key.open(wrong_pn, &header, &mut buf), Err(CryptoError::DecryptFailed));
        }
        for len in 0..CipherSuite::TAG_LEN {
            let mut buf = sealed[..len].to_vec();
            assert_eq!(key.open(pn, &header, &mut buf), Err(CryptoError::DecryptFailed));
            assert_eq!(key.seal(pn, &header, &mut buf), Err(CryptoError::BufferTooShort));
        }
        let mut buf = sealed.clone();
        buf.pop();
        assert_eq!(key.open(pn, &header, &mut buf), Err(CryptoError::DecryptFailed));
        let mut buf = sealed.clone();
        assert!(key.open(pn, &header, &mut buf).is_ok());
    }

    /// An empty payload (tag only) and extreme packet numbers round-trip.
    pub(crate) fn round_trips_edges(backend: CryptoBackend, suite: CipherSuite) {
        let key = backend.packet_key(suite, &[7; 32], [9; 12]).unwrap();
        assert_eq!(key.suite(), suite);
        for pn in [0, 1, (1 << 62) - 1, u64::MAX] {
            for len in [0, 1, 1200] {
                let mut buf = vec![0xa5; len + CipherSuite::TAG_LEN];
                key.seal(pn, b"hdr", &mut buf).unwrap();
                assert_eq!(key.open(pn, b"hdr", &mut buf).unwrap(), vec![0xa5; len]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CipherSuite, CryptoBackend, packet_nonce};

    #[test]
    fn nonce_xors_big_endian_pn_into_low_bytes() {
        let iv = [0xff; 12];
        let nonce = packet_nonce(&iv, 0x0102_0304_0506_0708);
        assert_eq!(nonce, [0xff, 0xff, 0xff, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7]);
        assert_eq!(packet_nonce(&iv, 0), iv);
    }

    #[test]
    fn suite_ids_round_trip() {
        for suite in [CipherSuite::ChaCha20Poly1305, CipherSuite::Aes256Gcm] {
            assert_eq!(CipherSuite::from_id(suite.id()), Some(suite));
        }
        assert_eq!(CipherSuite::ChaCha20Poly1305.id(), 1);
        assert_eq!(CipherSuite::Aes256Gcm.id(), 2);
        assert!((0..=u8::MAX).filter_map(CipherSuite::from_id).count() == 2);
    }

    #[test]
    fn usage_limits_match_rfc9001() {
        assert_eq!(CipherSuite::Aes256Gcm.confidentiality_limit(), 8_388_608);
        assert_eq!(CipherSuite::Aes256Gcm.integrity_limit(), 4_503_599_627_370_496);
        assert_eq!(CipherSuite::ChaCha20Poly1305.confidentiality_limit(), u64::MAX);
        assert_eq!(CipherSuite::ChaCha20Poly1305.integrity_limit(), 68_719_476_736);
    }

    #[test]
    fn default_backend_supports_chacha() {
        let backend = CryptoBackend::default();
        #[cfg(feature = "ring")]
        assert_eq!(backend, CryptoBackend::Ring);
        assert!(backend.supports(CipherSuite::ChaCha20Poly1305));
    }
}
