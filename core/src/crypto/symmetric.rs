//! The Noise-style symmetric state: a running transcript hash `h` and a chaining key `ck`.
//!
//! Every public value of the handshake is absorbed into `h`, every shared secret (X25519 and
//! ML-KEM) into `ck` through HKDF-SHA256, and every encrypted field uses `h` as associated
//! data. Tampering with any byte of either message therefore changes the keys, and the final
//! traffic secrets depend on both the classical and the post-quantum secret: an attacker must
//! break both X25519 and ML-KEM-768 to learn them.

use super::aead::{CipherSuite, CryptoBackend, CryptoError};
use super::keys::Expander;
use sha2::{Digest, Sha256};

/// Names the exact construction; hashed first so transcripts of different protocols never
/// collide.
const PROTOCOL_NAME: &[u8] = b"JetStreamProto_1_X25519+MLKEM768_NK/IK_ChaChaPoly_SHA256";

/// Authentication tag length of the handshake AEAD.
pub(crate) const TAG_LEN: usize = 16;

#[derive(Clone)]
pub(crate) struct SymmetricState {
    ck: [u8; 32],
    h: [u8; 32],
    /// The current encryption key; each key encrypts exactly one field, so its nonce is 0.
    k: Option<[u8; 32]>,
    backend: CryptoBackend,
}

impl SymmetricState {
    pub(crate) fn new(backend: CryptoBackend) -> Self {
        let h: [u8; 32] = Sha256::digest(PROTOCOL_NAME).into();
        SymmetricState { ck: h, h, k: None, backend }
    }

    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.h);
        hasher.update(data);
        self.h = hasher.finalize().into();
    }

    /// Absorbs a shared secret: `ck, k = HKDF(ck, ikm)`.
    pub(crate) fn mix_key(&mut self, ikm: &[u8]) {
        let hkdf = Expander::extract(&self.ck, ikm);
        self.ck = hkdf.expand(b"jsp ck");
        self.k = Some(hkdf.expand(b"jsp k"));
    }

    /// Encrypts `buf[..len - TAG_LEN]` in place (the last TAG_LEN bytes receive the tag) with
    /// the transcript as associated data, then absorbs the ciphertext.
    pub(crate) fn encrypt_and_hash(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        let key = self.cipher()?;
        key.seal(0, &self.h, buf)?;
        self.k = None;
        self.mix_hash(buf);
        Ok(())
    }

    /// Decrypts a field produced by [`Self::encrypt_and_hash`] in place, returning the
    /// plaintext.
    pub(crate) fn decrypt_and_hash<'a>(&mut self, buf: &'a mut [u8]) -> Result<&'a mut [u8], CryptoError> {
        let key = self.cipher()?;
        let h_before = self.h;
        self.mix_hash(buf);
        self.k = None;
        key.open(0, &h_before, buf)
    }

    fn cipher(&self) -> Result<Box<dyn super::aead::PacketKey>, CryptoError> {
        let k = self.k.ok_or(CryptoError::DecryptFailed)?;
        self.backend.packet_key(CipherSuite::ChaCha20Poly1305, &k, [0; 12])
    }

    /// The final traffic secrets `(client -> server, server -> client)`, bound to the whole
    /// transcript.
    pub(crate) fn split(&self) -> ([u8; 32], [u8; 32]) {
        let mut info = [0u8; 14 + 32];
        info[..14].copy_from_slice(b"jsp split c2s ");
        info[14..].copy_from_slice(&self.h);
        let hkdf = Expander::new(&self.ck);
        let c2s = hkdf.expand(&info);
        info[..14].copy_from_slice(b"jsp split s2c ");
        let s2c = hkdf.expand(&info);
        (c2s, s2c)
    }
}
