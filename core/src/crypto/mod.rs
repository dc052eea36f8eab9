//! Cryptography: packet protection, the hybrid post-quantum handshake and the key schedule.
//!
//! * `aead`: the small cipher trait (`PacketKey`, `HeaderKey`) and its two backends
//!   (`ring`, the fast default, and pure-Rust RustCrypto behind the `rustcrypto` feature).
//! * `keys`: static identity keys and the derivation of packet keys from secrets.
//! * `symmetric`: the Noise-style transcript hash and chaining key.
//! * `handshake`: the 1-RTT X25519 + ML-KEM-768 handshake, Noise NK (server known) with
//!   optional IK-style client authentication.

mod aead;
mod chacha_mask;
mod handshake;
mod keys;
#[cfg(test)]
mod primitive_kats;
#[cfg(feature = "ring")]
mod ring_backend;
#[cfg(feature = "rustcrypto")]
mod rustcrypto_backend;
mod symmetric;

pub use aead::{CipherSuite, CryptoBackend, CryptoError};
pub(crate) use aead::{HeaderKey, PacketKey};
pub use handshake::HandshakeError;
pub(crate) use handshake::{
    CLIENT_HELLO_MAX_LEN, ClientHandshake, ServerHandshake, SessionSecrets, choose_suite, message_len,
};
pub(crate) use keys::{DirectionalKeys, NextPacketKey, PeerKey, initial_keys, x25519};
pub use keys::{KeyParseError, PublicKey, StaticKeypair};
