//! Identity keys and packet-key derivation.

use super::aead::{CipherSuite, CryptoBackend, CryptoError, HeaderKey, PacketKey};
use crate::packet::ConnectionId;
use core::fmt;
use core::str::FromStr;
use curve25519_dalek::edwards::EdwardsPoint;
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

    /// X25519 with a peer's key; `None` for a low-order point (an all-zero result), which
    /// would let an attacker force a known shared secret.
    pub(crate) fn diffie_hellman(&self, peer: &PeerKey) -> Option<[u8; 32]> {
        let shared = x25519_batch(self.secret.to_bytes(), &[Some(peer)])[0];
        contributory(&shared).then_some(shared)
    }

    /// A key pair from fresh `secret` bytes together with its shared secrets with each of
    /// `peers`, the way a handshake uses an ephemeral key: all results share one field
    /// inversion. `None` if any peer key is low-order.
    pub(crate) fn generate_and_agree(secret: [u8; 32], peers: &[&PeerKey]) -> Option<(Self, Vec<[u8; 32]>)> {
        let mut ops = Vec::with_capacity(1 + peers.len());
        ops.push(None);
        ops.extend(peers.iter().map(|&p| Some(p)));
        let mut results = x25519_batch(secret, &ops);
        let shared = results.split_off(1);
        // Bitwise `&` rather than `all`: no early exit that would time the secrets' bytes.
        let all_contributory = shared.iter().fold(true, |ok, s| ok & contributory(s));
        let keypair = StaticKeypair { secret: x25519_dalek::StaticSecret::from(secret), public: PublicKey(results[0]) };
        all_contributory.then_some((keypair, shared))
    }
}

/// Whether an X25519 result is non-zero, folded without early exit so the time taken says
/// nothing about the secret's bytes.
fn contributory(shared: &[u8; 32]) -> bool {
    shared.iter().fold(0u8, |acc, b| acc | b) != 0
}

/// A peer's X25519 public key, lifted to the birational Edwards curve once so that several
/// shared secrets with it (a handshake computes two with the client's ephemeral key) pay for
/// the lift once.
#[derive(Clone, Copy)]
pub(crate) struct PeerKey {
    key: PublicKey,
    /// `None` when the key lies on the quadratic twist (never an honest key).
    edwards: Option<EdwardsPoint>,
}

impl PeerKey {
    pub(crate) fn new(key: PublicKey) -> Self {
        // The u-coordinate of [k]P and [k](-P) agree, so either sign of the lifted point works.
        PeerKey { key, edwards: MontgomeryPoint(key.0).to_edwards(0) }
    }

    pub(crate) fn public_key(&self) -> PublicKey {
        self.key
    }
}

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PeerKey").field(&self.key).finish()
    }
}

/// X25519 (RFC 7748) of `scalar` and the u-coordinate `u`, bit-for-bit.
pub(crate) fn x25519(scalar: [u8; 32], u: [u8; 32]) -> [u8; 32] {
    x25519_batch(scalar, &[Some(&PeerKey::new(PublicKey(u)))])[0]
}

/// X25519 of `scalar` with each of `peers` (`None`: the base point, giving the public key),
/// bit-for-bit as RFC 7748 defines it.
///
/// Every honestly generated public key lies on the curve itself, and for those the product is
/// computed on the birational Edwards curve, where curve25519-dalek's constant-time
/// variable-base multiplication is vectorised (AVX2, or AVX-512 IFMA when built with the
/// workspace's `curve25519_dalek_backend` setting): about half the Montgomery ladder's time on
/// this project's machine. Going back to u-coordinates costs a field inversion per result, so
/// all results share one (Montgomery's trick). Keys on the quadratic twist take the ladder;
/// which path runs depends only on the public input.
fn x25519_batch(scalar: [u8; 32], peers: &[Option<&PeerKey>]) -> Vec<[u8; 32]> {
    let mut out = vec![[0u8; 32]; peers.len()];
    let mut points = Vec::with_capacity(peers.len());
    let mut slots = Vec::with_capacity(peers.len());
    for (slot, peer) in peers.iter().enumerate() {
        let point = match peer {
            None => EdwardsPoint::mul_base_clamped(scalar),
            Some(PeerKey { edwards: Some(p), .. }) => p.mul_clamped(scalar),
            Some(PeerKey { key, edwards: None }) => {
                out[slot] = x25519_dalek::x25519(scalar, key.0);
                continue;
            }
        };
        points.push(point);
        slots.push(slot);
    }
    for (slot, u) in slots.into_iter().zip(EdwardsPoint::to_montgomery_batch(&points)) {
        out[slot] = u.to_bytes();
    }
    out
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

/// HKDF-SHA256 keyed with one pseudorandom key, for expanding several labels: the HMAC key
/// schedule (two SHA-256 blocks) is computed once rather than per label.
pub(crate) struct Expander(Hkdf<Sha256>);

impl Expander {
    /// Keyed with `prk`, which is already uniformly random (a traffic secret).
    pub(crate) fn new(prk: &[u8; 32]) -> Self {
        // A 32-byte PRK is always valid for SHA-256.
        Expander(Hkdf::<Sha256>::from_prk(prk).expect("32-byte PRK"))
    }

    /// HKDF-Extract of `ikm` with `salt`, ready to expand.
    pub(crate) fn extract(salt: &[u8], ikm: &[u8]) -> Self {
        Expander(Hkdf::<Sha256>::new(Some(salt), ikm))
    }

    /// HKDF-Expand of `label` to N bytes.
    pub(crate) fn expand<const N: usize>(&self, label: &[u8]) -> [u8; N] {
        const { assert!(N <= 255 * 32, "HKDF-SHA256 output limit") };
        let mut out = [0u8; N];
        // N is within HKDF's limit (checked above at compile time), so this cannot fail.
        self.0.expand(label, &mut out).expect("output within HKDF limit");
        out
    }
}

/// HKDF-Expand with `secret` as the pseudorandom key, for a single label.
pub(crate) fn expand<const N: usize>(secret: &[u8; 32], label: &[u8]) -> [u8; N] {
    Expander::new(secret).expand(label)
}

impl DirectionalKeys {
    /// Derives the packet key, IV and header key for `suite` from a traffic secret.
    pub(crate) fn derive(backend: CryptoBackend, suite: CipherSuite, secret: [u8; 32]) -> Result<Self, CryptoError> {
        let hkdf = Expander::new(&secret);
        let key: [u8; 32] = hkdf.expand(b"jsp key");
        let iv: [u8; 12] = hkdf.expand(b"jsp iv");
        let hp: [u8; 32] = hkdf.expand(b"jsp hp");
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
        let hkdf = Expander::new(&secret);
        let key: [u8; 32] = hkdf.expand(b"jsp key");
        let iv: [u8; 12] = hkdf.expand(b"jsp iv");
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
    let hkdf = Expander::extract(&HANDSHAKE_SALT, client_dcid.as_bytes());
    let client = hkdf.expand(b"jsp client hs");
    let server = hkdf.expand(b"jsp server hs");
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
        assert_eq!(kp.diffie_hellman(&PeerKey::new(PublicKey([0; 32]))), None);
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(kp.diffie_hellman(&PeerKey::new(PublicKey(one))), None);
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
