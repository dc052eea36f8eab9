//! The 1-RTT hybrid post-quantum handshake.
//!
//! Two messages, carried in CRYPTO frames of handshake packets (layouts in
//! `docs/protocol.md`):
//!
//! ```text
//! ClientHello  = 0x01 | flags | e_c (32) | ek (1184) | [enc(s_c) (48)] | len | enc(client params)
//! ServerHello  = 0x02 | e_s (32) | ct (1088) | len | enc(server params)
//! ```
//!
//! Key schedule (Noise NK, plus IK's client authentication when `s_c` is present):
//!
//! ```text
//! h = ck = SHA256(protocol name);  MixHash(s_server)
//! client: MixHash(e_c), MixHash(ek), MixKey(DH(e_c, s_server))              "es"
//!         [EncryptAndHash(s_c), MixKey(DH(s_c, s_server))]                  "ss"
//!         EncryptAndHash(client params)
//! server: MixHash(e_s), MixKey(DH(e_s, e_c))                                "ee"
//!         [MixKey(DH(e_s, s_c))]                                            "se"
//!         (ct, K) = ML-KEM.Encaps(ek); MixHash(ct); MixKey(K)               "pq"
//!         EncryptAndHash(server params)
//! traffic secrets = HKDF-Expand(ck, "jsp split c2s " || h), HKDF-Expand(ck, "jsp split s2c " || h)
//! ```
//!
//! The server proves possession of its static key because the client can only decrypt the
//! server's parameters if the server computed `es`; the traffic secrets need both the X25519
//! secrets and the ML-KEM secret (a "harvest now, decrypt later" attacker must break both).
//! All randomness arrives as arguments, so the handshake is a pure function of its inputs and
//! can be pinned by known-answer tests.

use super::aead::{CipherSuite, CryptoBackend, CryptoError};
use super::keys::{PeerKey, PublicKey, StaticKeypair};
use super::symmetric::{SymmetricState, TAG_LEN};
use crate::coding::{Reader, UnexpectedEnd, Writer};
use crate::transport_params::{TransportParameterError, TransportParameters};
use libcrux_ml_kem::mlkem768;
use thiserror::Error;

const CLIENT_HELLO: u8 = 0x01;
const SERVER_HELLO: u8 = 0x02;
const FLAG_CLIENT_STATIC: u8 = 0x01;

const X25519_LEN: usize = 32;
const MLKEM_EK_LEN: usize = 1184;
const MLKEM_CT_LEN: usize = 1088;

/// Upper bound on a ClientHello; handshake data beyond it is refused before any work is done.
pub(crate) const CLIENT_HELLO_MAX_LEN: usize =
    2 + X25519_LEN + MLKEM_EK_LEN + X25519_LEN + TAG_LEN + 2 + TransportParameters::MAX_ENCODED_LEN + TAG_LEN;

/// Total length of the handshake message that starts with `prefix`, once enough of it has
/// arrived to tell (the length field sits after the fixed-size keys).
pub(crate) fn message_len(prefix: &[u8]) -> Option<usize> {
    let len_at = match *prefix.first()? {
        CLIENT_HELLO => {
            let flags = *prefix.get(1)?;
            2 + X25519_LEN + MLKEM_EK_LEN + if flags & FLAG_CLIENT_STATIC != 0 { X25519_LEN + TAG_LEN } else { 0 }
        }
        SERVER_HELLO => 1 + X25519_LEN + MLKEM_CT_LEN,
        // Unknown message type: report the prefix itself so the parser rejects it.
        _ => return Some(prefix.len()),
    };
    let len = prefix.get(len_at..len_at + 2)?;
    Some(len_at + 2 + usize::from(u16::from_be_bytes([len[0], len[1]])))
}

/// Why a handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HandshakeError {
    /// A handshake message did not parse.
    #[error("malformed handshake message")]
    Malformed,
    /// A message failed to authenticate: the client pinned a different server key, or the
    /// message was tampered with.
    #[error("handshake message failed to authenticate (wrong server key or tampering)")]
    AuthenticationFailed,
    /// The peer offered a low-order X25519 point or an invalid ML-KEM key.
    #[error("peer sent an invalid public key")]
    InvalidPeerKey,
    /// The peer's transport parameters were invalid.
    #[error("invalid transport parameters: {0}")]
    TransportParameters(#[from] TransportParameterError),
    /// The peers share no cipher suite.
    #[error("no common cipher suite")]
    NoCommonCipherSuite,
    /// The crypto backend cannot provide the negotiated suite.
    #[error("crypto backend: {0}")]
    Crypto(CryptoError),
}

impl From<UnexpectedEnd> for HandshakeError {
    fn from(_: UnexpectedEnd) -> Self {
        HandshakeError::Malformed
    }
}

impl From<CryptoError> for HandshakeError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::DecryptFailed => HandshakeError::AuthenticationFailed,
            other => HandshakeError::Crypto(other),
        }
    }
}

/// The outcome of a handshake: the traffic secrets for each direction.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionSecrets {
    pub(crate) client_to_server: [u8; 32],
    pub(crate) server_to_client: [u8; 32],
}

impl core::fmt::Debug for SessionSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SessionSecrets(..)")
    }
}

fn encode_params(params: &TransportParameters, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + TransportParameters::MAX_ENCODED_LEN, 0);
    let mut w = Writer::new(&mut out[start..]);
    params.encode(&mut w);
    let n = w.position();
    out.truncate(start + n);
}

/// Appends `len | plaintext | tag` encrypted under the current key.
fn push_encrypted_params(
    sym: &mut SymmetricState,
    params: &TransportParameters,
    out: &mut Vec<u8>,
) -> Result<(), HandshakeError> {
    let mut field = Vec::with_capacity(TransportParameters::MAX_ENCODED_LEN + TAG_LEN);
    encode_params(params, &mut field);
    field.extend_from_slice(&[0; TAG_LEN]);
    sym.encrypt_and_hash(&mut field)?;
    let mut len = [0u8; 2];
    Writer::new(&mut len).put_u16(field.len() as u16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&field);
    Ok(())
}

/// Client side, between sending the ClientHello and receiving the ServerHello.
pub(crate) struct ClientHandshake {
    sym: SymmetricState,
    ephemeral: StaticKeypair,
    kem: Box<mlkem768::MlKem768KeyPair>,
    client_static: Option<StaticKeypair>,
}

impl core::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientHandshake").finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Builds the ClientHello. `ephemeral_seed` and `kem_seed` must come from a CSPRNG.
    pub(crate) fn start(
        backend: CryptoBackend,
        server: &PeerKey,
        client_static: Option<&StaticKeypair>,
        params: &TransportParameters,
        ephemeral_seed: [u8; 32],
        kem_seed: [u8; 64],
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        let mut sym = SymmetricState::new(backend);
        sym.mix_hash(server.public_key().as_bytes());
        let (ephemeral, es) =
            StaticKeypair::generate_and_agree(ephemeral_seed, &[server]).ok_or(HandshakeError::InvalidPeerKey)?;
        let kem = Box::new(mlkem768::generate_key_pair(kem_seed));

        let mut msg = Vec::with_capacity(CLIENT_HELLO_MAX_LEN);
        msg.push(CLIENT_HELLO);
        msg.push(if client_static.is_some() { FLAG_CLIENT_STATIC } else { 0 });
        let e_pub = ephemeral.public_key();
        msg.extend_from_slice(e_pub.as_bytes());
        sym.mix_hash(e_pub.as_bytes());
        msg.extend_from_slice(kem.pk());
        sym.mix_hash(kem.pk());
        sym.mix_key(&es[0]);

        if let Some(s) = client_static {
            let mut field = [0u8; X25519_LEN + TAG_LEN];
            field[..X25519_LEN].copy_from_slice(s.public_key().as_bytes());
            sym.encrypt_and_hash(&mut field)?;
            msg.extend_from_slice(&field);
            sym.mix_key(&s.diffie_hellman(server).ok_or(HandshakeError::InvalidPeerKey)?);
        }
        push_encrypted_params(&mut sym, params, &mut msg)?;
        Ok((ClientHandshake { sym, ephemeral, kem, client_static: client_static.cloned() }, msg))
    }

    /// Processes the ServerHello (decrypted in place); returns the traffic secrets and the
    /// server's transport parameters.
    pub(crate) fn finish(mut self, msg: &mut [u8]) -> Result<(SessionSecrets, TransportParameters), HandshakeError> {
        let (head, rest) = msg.split_at_mut_checked(1 + X25519_LEN + MLKEM_CT_LEN).ok_or(HandshakeError::Malformed)?;
        let mut r = Reader::new(head);
        if r.u8()? != SERVER_HELLO {
            return Err(HandshakeError::Malformed);
        }
        let e_s = PeerKey::new(PublicKey(r.array()?));
        let ct: [u8; MLKEM_CT_LEN] = r.array()?;

        self.sym.mix_hash(e_s.public_key().as_bytes());
        self.sym.mix_key(&self.ephemeral.diffie_hellman(&e_s).ok_or(HandshakeError::InvalidPeerKey)?);
        if let Some(s) = &self.client_static {
            self.sym.mix_key(&s.diffie_hellman(&e_s).ok_or(HandshakeError::InvalidPeerKey)?);
        }
        self.sym.mix_hash(&ct);
        let ct = mlkem768::MlKem768Ciphertext::from(ct);
        let shared = mlkem768::decapsulate(self.kem.private_key(), &ct);
        self.sym.mix_key(&shared);

        let field = length_prefixed_field(rest)?;
        let plain = self.sym.decrypt_and_hash(field)?;
        let params = TransportParameters::decode(plain)?;
        let (c2s, s2c) = self.sym.split();
        Ok((SessionSecrets { client_to_server: c2s, server_to_client: s2c }, params))
    }
}

/// Splits `len(u16) | field` off the front of `buf`, requiring nothing after it.
fn length_prefixed_field(buf: &mut [u8]) -> Result<&mut [u8], HandshakeError> {
    let (len, field) = buf.split_at_mut_checked(2).ok_or(HandshakeError::Malformed)?;
    let n = usize::from(u16::from_be_bytes([len[0], len[1]]));
    if field.len() != n || n < TAG_LEN {
        return Err(HandshakeError::Malformed);
    }
    Ok(field)
}

/// Server side, after reading a ClientHello and before answering it.
pub(crate) struct ServerHandshake {
    sym: SymmetricState,
    client_ephemeral: PeerKey,
    client_static: Option<PeerKey>,
    kem_ek: Box<mlkem768::MlKem768PublicKey>,
}

impl core::fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerHandshake").field("client_static", &self.client_static).finish_non_exhaustive()
    }
}

impl ServerHandshake {
    /// Authenticates and decrypts a ClientHello (in place). Costs one X25519 operation (two
    /// with a client key) and no ML-KEM work before authenticating, so garbage is rejected
    /// cheaply.
    pub(crate) fn read_client_hello(
        backend: CryptoBackend,
        server: &StaticKeypair,
        msg: &mut [u8],
    ) -> Result<(Self, TransportParameters), HandshakeError> {
        let mut sym = SymmetricState::new(backend);
        sym.mix_hash(server.public_key().as_bytes());
        let (head, rest) = msg.split_at_mut_checked(2 + X25519_LEN + MLKEM_EK_LEN).ok_or(HandshakeError::Malformed)?;
        let mut r = Reader::new(head);
        if r.u8()? != CLIENT_HELLO {
            return Err(HandshakeError::Malformed);
        }
        let flags = r.u8()?;
        if flags & !FLAG_CLIENT_STATIC != 0 {
            return Err(HandshakeError::Malformed);
        }
        let e_c = PeerKey::new(PublicKey(r.array()?));
        let ek: [u8; MLKEM_EK_LEN] = r.array()?;
        sym.mix_hash(e_c.public_key().as_bytes());
        sym.mix_hash(&ek);
        sym.mix_key(&server.diffie_hellman(&e_c).ok_or(HandshakeError::InvalidPeerKey)?);

        let (client_static, rest) = if flags & FLAG_CLIENT_STATIC != 0 {
            let (field, rest) = rest.split_at_mut_checked(X25519_LEN + TAG_LEN).ok_or(HandshakeError::Malformed)?;
            let plain = sym.decrypt_and_hash(field)?;
            let key = PeerKey::new(PublicKey(plain.try_into().map_err(|_| HandshakeError::Malformed)?));
            sym.mix_key(&server.diffie_hellman(&key).ok_or(HandshakeError::InvalidPeerKey)?);
            (Some(key), rest)
        } else {
            (None, rest)
        };
        let field = length_prefixed_field(rest)?;
        let params = TransportParameters::decode(sym.decrypt_and_hash(field)?)?;
        let kem_ek = Box::new(mlkem768::MlKem768PublicKey::from(ek));
        if !mlkem768::validate_public_key(&kem_ek) {
            return Err(HandshakeError::InvalidPeerKey);
        }
        Ok((ServerHandshake { sym, client_ephemeral: e_c, client_static, kem_ek }, params))
    }

    /// The client's authenticated static key, if it sent one.
    pub(crate) fn client_key(&self) -> Option<PublicKey> {
        self.client_static.map(|k| k.public_key())
    }

    /// Builds the ServerHello. `ephemeral_seed` and `encaps_seed` must come from a CSPRNG.
    pub(crate) fn write_server_hello(
        mut self,
        params: &TransportParameters,
        ephemeral_seed: [u8; 32],
        encaps_seed: [u8; 32],
    ) -> Result<(Vec<u8>, SessionSecrets), HandshakeError> {
        // `ee`, then `se` when the client authenticated: one batch with the key pair itself.
        let mut peers = vec![&self.client_ephemeral];
        peers.extend(self.client_static.as_ref());
        let (ephemeral, shared) =
            StaticKeypair::generate_and_agree(ephemeral_seed, &peers).ok_or(HandshakeError::InvalidPeerKey)?;
        let mut msg =
            Vec::with_capacity(1 + X25519_LEN + MLKEM_CT_LEN + 2 + TransportParameters::MAX_ENCODED_LEN + TAG_LEN);
        msg.push(SERVER_HELLO);
        let e_pub = ephemeral.public_key();
        msg.extend_from_slice(e_pub.as_bytes());
        self.sym.mix_hash(e_pub.as_bytes());
        shared.iter().for_each(|k| self.sym.mix_key(k));
        let (ct, shared) = mlkem768::encapsulate(&self.kem_ek, encaps_seed);
        msg.extend_from_slice(ct.as_slice());
        self.sym.mix_hash(ct.as_slice());
        self.sym.mix_key(&shared);
        push_encrypted_params(&mut self.sym, params, &mut msg)?;
        let (c2s, s2c) = self.sym.split();
        Ok((msg, SessionSecrets { client_to_server: c2s, server_to_client: s2c }))
    }
}

/// Chooses the suite for a connection: AES-256-GCM only when the client lists it first (it
/// prefers it, typically for hardware AES) and the server also prefers it; otherwise
/// ChaCha20-Poly1305, which every implementation offers.
pub(crate) fn choose_suite(
    client_offer: impl Iterator<Item = CipherSuite> + Clone,
    server_prefers_aes: bool,
    backend: CryptoBackend,
) -> Result<CipherSuite, HandshakeError> {
    let client_first = client_offer.clone().next();
    if server_prefers_aes && client_first == Some(CipherSuite::Aes256Gcm) && backend.supports(CipherSuite::Aes256Gcm) {
        return Ok(CipherSuite::Aes256Gcm);
    }
    let mut offer = client_offer;
    if offer.any(|s| s == CipherSuite::ChaCha20Poly1305) {
        Ok(CipherSuite::ChaCha20Poly1305)
    } else if client_first.is_some_and(|s| backend.supports(s)) {
        client_first.ok_or(HandshakeError::NoCommonCipherSuite)
    } else {
        Err(HandshakeError::NoCommonCipherSuite)
    }
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
