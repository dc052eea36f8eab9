//! Entry points for the criterion benchmarks into internals that have no public API (packet
//! protection, ACK processing, X25519). Not part of the supported API.

use crate::config::ClientConfig;
use crate::connection::Connection;
use crate::crypto::{CipherSuite, CryptoBackend, DirectionalKeys, StaticKeypair};
use crate::packet::{self, ConnectionId};
use crate::time::Instant;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The handshake's X25519, as the key pairs compute it (Edwards form for on-curve keys).
pub fn x25519(scalar: [u8; 32], u: [u8; 32]) -> [u8; 32] {
    crate::crypto::x25519(scalar, u)
}

/// Packet protection of one direction, as connections use it.
#[derive(Debug)]
pub struct PacketProtection {
    keys: DirectionalKeys,
}

impl PacketProtection {
    /// Keys for `suite` from a fixed secret.
    pub fn new(backend: CryptoBackend, suite: CipherSuite) -> Self {
        PacketProtection { keys: DirectionalKeys::derive(backend, suite, [0x42; 32]).expect("suite supported") }
    }

    /// Seals `packet` (a 9-byte short header, payload, 16 bytes of room for the tag) and
    /// applies header protection, then removes both again, as sender and receiver would.
    pub fn seal_and_open(&self, pn: u64, packet: &mut [u8]) -> bool {
        const HEADER: usize = 1 + packet::LOCAL_CID_LEN + 4;
        let pn_offset = HEADER - 4;
        let (header, body) = packet.split_at_mut(HEADER);
        if self.keys.packet.seal(pn, header, body).is_err() {
            return false;
        }
        let Some(sample) = packet::sample(packet, pn_offset) else { return false };
        let mask = self.keys.header.mask(sample);
        packet::xor_header_mask(packet, pn_offset, 4, &mask, false);
        let Some(sample) = packet::sample(packet, pn_offset) else { return false };
        let mask = self.keys.header.mask(sample);
        packet::xor_header_mask(packet, pn_offset, 4, &mask, false);
        let (header, body) = packet.split_at_mut(HEADER);
        self.keys.packet.open(pn, header, body).is_ok()
    }
}

/// A connection with `2 * ranges` packets in flight and an ACK frame acknowledging every
/// other one: `ranges` disjoint ranges.
#[derive(Debug)]
pub struct AckFixture {
    conn: Connection,
    ack: Vec<u8>,
}

impl AckFixture {
    /// Builds the fixture.
    pub fn new(ranges: u64) -> Self {
        let server = StaticKeypair::from_secret_bytes([1; 32]).public_key();
        let cid = ConnectionId::new(&[7; packet::LOCAL_CID_LEN]).expect("cid");
        let remote = "127.0.0.1:9".parse().expect("addr");
        let rng = ChaCha20Rng::from_seed([3; 32]);
        let mut conn = Connection::new_client(Instant::ZERO, &ClientConfig::new(server), cid, remote, rng)
            .expect("client connection");
        conn.fake_data_packets_in_flight(Instant::from_millis(1), 2 * ranges);
        let mut set = crate::range_set::RangeSet::new();
        for i in 0..ranges {
            set.insert(2 * i..2 * i + 1);
        }
        let mut buf = vec![0u8; 4096];
        let mut w = crate::coding::Writer::new(&mut buf);
        assert!(crate::frame::encode_ack(&mut w, &set, 0));
        let n = w.position();
        buf.truncate(n);
        AckFixture { conn, ack: buf }
    }

    /// Processes the ACK frame (the fixture is spent afterwards).
    pub fn process(&mut self) {
        self.conn.process_ack_for_bench(Instant::from_millis(20), &self.ack);
    }
}
