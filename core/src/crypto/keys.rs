//! Identity keys and packet-key derivation.

use super::aead::{CipherSuite, CryptoBackend, CryptoError, HeaderKey, PacketKey};
use crate::packet::ConnectionId;
use core::fmt;
use core::str::FromStr;
use curve25519_dalek::montgomery::MontgomeryPoint;
use hkdf::Hkdf;
use sha2::Sha256;
use thiserror::Error;

/// An X25519 public key identifying a peer (the server's static key that clients pin, or a
/// client's key on a server allow-list). Its text form is 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub(crate) [u8; 32]);

impl PublicKey {
    /// Wraps raw key bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        PublicKey(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A public key's text form could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a public key is 64 hex digits")]
pub struct KeyParseError;

impl FromStr for PublicKey {
    type Err = KeyParseError;

    fn from_str(s: &str) -> Result<Self, KeyParseError> {
        let s = s.trim();
        if s.len() != 64 || !s.is_ascii() {
            return Err(KeyParseError);
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| KeyParseError)?;
        }
        Ok(PublicKey(out))
    }
}

/// A long-term X25519 key pair. The core never generates randomness itself: create one from
/// 32 secret bytes that came from a CSPRNG (the CLI's `keygen` does this with the OS RNG).
#[derive(Clone)]
pub struct StaticKeypair {
    secret: x25519_dalek::StaticSecret,
    public: PublicKey,
}

impl StaticKeypair {
    /// The key pair whose secret is `secret` (clamped as X25519 requires).
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        let secret = x25519_dalek::StaticSecret::from(secret);
        let public = PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes());
        StaticKeypair { secret, public }
    }

    /// The public half, to hand to peers.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The secret bytes, for storing the key (handle with care).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes()
    }

    /// X25519 with a peer's public key; `None` for a low-order point (an all-zero result),
    /// which would let an attacker force a known shared secret.
    pub(crate) fn diffie_hellman(&self, peer: &PublicKey) -> Option<[u8; 32]> {
        let shared = x25519(self.secret.to_bytes(), peer.0);
        // Fold without early exit, so the time taken says nothing about the secret's bytes.
        let contributory = shared.iter().fold(0u8, |acc, b| acc | b) != 0;
        contributory.then_some(shared)
    }
}

/// X25519 (RFC 7748) of `scalar` and the u-coordinate `u`, bit-for-bit.
///
/// Every honestly generated public key lies on the curve itself, and for those the result is
/// computed on the birational Edwards curve, where curve25519-dalek's constant-time
/// variable-base multiplication uses AVX2 when the CPU has it: measured 33 µs against the
/// Montgomery ladder's 52 µs on this project's machine, and a handshake does two per side.
/// Inputs on the quadratic twist (never an honest key) take the ladder, so the function
/// matches RFC 7748 on every input; which path ran depends only on the public input.
pub(crate) fn x25519(scalar: [u8; 32], u: [u8; 32]) -> [u8; 32] {
    // The u-coordinate of [k]P and [k](-P) agree, so either sign of the lifted point works.
    match MontgomeryPoint(u).to_edwards(0) {
        Some(point) => point.mul_clamped(scalar).to_montgomery().to_bytes(),
        None => x25519_dalek::x25519(scalar, u),
    }
}

impl fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeypair").field("public", &self.public).finish_non_exhaustive()
    }
}

/// Packet protection keys for one direction.
pub(crate) struct DirectionalKeys {
    pub(crate) packet: Box<dyn PacketKey>,
    pub(crate) header: Box<dyn HeaderKey>,
    /// The secret these keys came from, kept to derive the next generation on key update.
    secret: [u8; 32],
}

impl fmt::Debug for DirectionalKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectionalKeys").field("suite", &self.packet.suite()).finish_non_exhaustive()
    }
}

/// HKDF-Expand with `secret` as the pseudorandom key.
pub(crate) fn expand<const N: usize>(secret: &[u8; 32], label: &[u8]) -> [u8; N] {
    const { assert!(N <= 255 * 32, "HKDF-SHA256 output limit") };
    let mut out = [0u8; N];
    // A 32-byte PRK is valid for SHA-256 and N is within HKDF's limit (checked above at
    // compile time), so neither call can fail.
    Hkdf::<Sha256>::from_prk(secret).expect("32-byte PRK").expand(label, &mut out).expect("output within HKDF limit");
    out
}

impl DirectionalKeys {
    /// Derives the packet key, IV and header key for `suite` from a traffic secret.
    pub(crate) fn derive(backend: CryptoBackend, suite: CipherSuite, secret: [u8; 32]) -> Result<Self, CryptoError> {
        let key: [u8; 32] = expand(&secret, b"jsp key");
        let iv: [u8; 12] = expand(&secret, b"jsp iv");
        let hp: [u8; 32] = expand(&secret, b"jsp hp");
        Ok(DirectionalKeys {
            packet: backend.packet_key(suite, &key, iv)?,
            header: backend.header_key(suite, &hp)?,
            secret,
        })
    }

    /// The next key generation's packet key (key update, RFC 9001 §6): derived from the next
    /// secret; the header protection key does not change.
    pub(crate) fn next_generation(&self, backend: CryptoBackend) -> Result<NextPacketKey, CryptoError> {
        NextPacketKey::derive(backend, self.packet.suite(), expand(&self.secret, b"jsp ku"))
    }

    /// Switches to the next generation, returning the packet key it replaces.
    pub(crate) fn install(&mut self, next: NextPacketKey) -> Box<dyn PacketKey> {
        self.secret = next.secret;
        core::mem::replace(&mut self.packet, next.packet)
    }
}

/// A packet key of a later key phase, with the secret the generation after it derives from.
pub(crate) struct NextPacketKey {
    pub(crate) packet: Box<dyn PacketKey>,
    secret: [u8; 32],
}

impl fmt::Debug for NextPacketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NextPacketKey").field("suite", &self.packet.suite()).finish_non_exhaustive()
    }
}

impl NextPacketKey {
    fn derive(backend: CryptoBackend, suite: CipherSuite, secret: [u8; 32]) -> Result<Self, CryptoError> {
        let key: [u8; 32] = expand(&secret, b"jsp key");
        let iv: [u8; 12] = expand(&secret, b"jsp iv");
        Ok(NextPacketKey { packet: backend.packet_key(suite, &key, iv)?, secret })
    }

    /// The generation after this one.
    pub(crate) fn next_generation(&self, backend: CryptoBackend) -> Result<NextPacketKey, CryptoError> {
        NextPacketKey::derive(backend, self.packet.suite(), expand(&self.secret, b"jsp ku"))
    }
}

/// Salt for the handshake-packet keys of version 1. These keys only guard against corruption
/// and off-path injection: anyone who sees the client's first destination connection ID can
/// derive them. Confidentiality comes from the handshake messages' own encryption.
const HANDSHAKE_SALT: [u8; 20] = *b"JetStreamProto v1 hs";

/// Keys protecting handshake packets, derived from the client's first destination connection
/// ID: `(client -> server, server -> client)`. Always ChaCha20-Poly1305, which both backends
/// provide.
pub(crate) fn initial_keys(
    backend: CryptoBackend,
    client_dcid: &ConnectionId,
) -> Result<(DirectionalKeys, DirectionalKeys), CryptoError> {
    let (prk, _) = Hkdf::<Sha256>::extract(Some(&HANDSHAKE_SALT), client_dcid.as_bytes());
    let mut prk_bytes = [0u8; 32];
    prk_bytes.copy_from_slice(&prk);
    let client = expand(&prk_bytes, b"jsp client hs");
    let server = expand(&prk_bytes, b"jsp server hs");
    let suite = CipherSuite::ChaCha20Poly1305;
    Ok((DirectionalKeys::derive(backend, suite, client)?, DirectionalKeys::derive(backend, suite, server)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_text_form_round_trips_and_rejects_garbage() {
        let kp = StaticKeypair::from_secret_bytes([7; 32]);
        let text = kp.public_key().to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<PublicKey>(), Ok(kp.public_key()));
        assert_eq!(format!(" {text}\n").parse::<PublicKey>(), Ok(kp.public_key()), "whitespace is trimmed");
        assert_eq!("zz".repeat(32).parse::<PublicKey>(), Err(KeyParseError));
        assert_eq!("ab".parse::<PublicKey>(), Err(KeyParseError));
        assert_eq!("é".repeat(32).parse::<PublicKey>(), Err(KeyParseError));
    }

    #[test]
    fn low_order_points_are_refused() {
        let kp = StaticKeypair::from_secret_bytes([9; 32]);
        assert_eq!(kp.diffie_hellman(&PublicKey([0; 32])), None);
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(kp.diffie_hellman(&PublicKey(one)), None);
    }

    #[test]
    fn initial_keys_pin_known_answer() {
        // Pins the handshake-packet key schedule: a change here breaks interoperability.
        let dcid = ConnectionId::new(&[0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08]).expect("cid");
        let (prk, _) = Hkdf::<Sha256>::extract(Some(&HANDSHAKE_SALT), dcid.as_bytes());
        let mut prk_bytes = [0u8; 32];
        prk_bytes.copy_from_slice(&prk);
        let client: [u8; 32] = expand(&prk_bytes, b"jsp client hs");
        let key: [u8; 32] = expand(&client, b"jsp key");
        let iv: [u8; 12] = expand(&client, b"jsp iv");
        assert_eq!(hex::encode(client), KAT_CLIENT_HS_SECRET);
        assert_eq!(hex::encode(key), KAT_CLIENT_HS_KEY);
        assert_eq!(hex::encode(iv), KAT_CLIENT_HS_IV);
    }

    // Computed independently with Python's hmac/hashlib HKDF.
    const KAT_CLIENT_HS_SECRET: &str = "b984dbebc7a74a823190af14de58f17ee021cf283f34603b784edb5d808311a9";
    const KAT_CLIENT_HS_KEY: &str = "bb1800b33150aceebd6417ccf560dbd2a5a5cb2a84e91a1d5fe3a46748f8e0ab";
    const KAT_CLIENT_HS_IV: &str = "f7238ffa4d157e73b5335470";
}
