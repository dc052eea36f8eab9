//! Entry points for fuzz targets (see `fuzz/`). Not part of the supported API.
//!
//! Random datagrams cannot get past packet authentication, so besides the datagram entry
//! point these reach the parsers directly and feed arbitrary *decrypted* payloads to an
//! established connection, which is where a peer that holds the keys can attack.

use crate::config::{ClientConfig, EndpointConfig, ServerConfig};
use crate::crypto::{CryptoBackend, ServerHandshake, StaticKeypair};
use crate::endpoint::{ConnectionHandle, Endpoint, RecvMeta};
use crate::frame::{Frame, FrameIter};
use crate::time::{Duration, Instant};
use crate::transport_params::TransportParameters;
use crate::{Event, packet};
use std::net::SocketAddr;

/// Decodes a frame sequence completely, walking ACK ranges.
pub fn frames(data: &[u8]) {
    for frame in FrameIter::new(data) {
        if let Ok(Frame::Ack(ack)) = frame {
            for r in ack.ranges() {
                assert!(r.start < r.end);
            }
        }
    }
}

/// Decodes transport parameters.
pub fn transport_parameters(data: &[u8]) {
    let _ = TransportParameters::decode(data);
}

/// Parses a packet header, as routing does for every datagram.
pub fn packet_header(data: &[u8]) {
    if let Ok(p) = packet::PartialPacket::parse(data) {
        assert!(p.pn_offset <= p.len && p.len <= data.len());
    }
}

/// Runs a ClientHello through the server side of the handshake.
pub fn client_hello(data: &[u8]) {
    let server = StaticKeypair::from_secret_bytes([5; 32]);
    let mut msg = data.to_vec();
    let _ = ServerHandshake::read_client_hello(CryptoBackend::default(), &server, &mut msg);
    let _ = crate::crypto::message_len(data);
}

/// Two endpoints with an established connection, to receive fuzzed input.
#[derive(Debug)]
pub struct Established {
    client: Endpoint,
    server: Endpoint,
    client_handle: ConnectionHandle,
    server_handle: ConnectionHandle,
    now: Instant,
}

const CLIENT: &str = "10.7.0.2:5000";
const SERVER: &str = "10.7.0.1:443";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("constant address")
}

impl Established {
    /// Connects a fresh pair.
    pub fn new() -> Self {
        let key = StaticKeypair::from_secret_bytes([5; 32]);
        let server = Endpoint::new(EndpointConfig::new([1; 32]), Some(ServerConfig::new(key.clone())))
            .expect("valid configuration");
        let mut client = Endpoint::new(EndpointConfig::new([2; 32]), None).expect("valid configuration");
        let now = Instant::from_millis(1);
        let client_handle = client.connect(now, ClientConfig::new(key.public_key()), addr(SERVER)).expect("connect");
        let mut pair = Established { client, server, client_handle, server_handle: client_handle, now };
        pair.exchange();
        while let Some((h, e)) = pair.server.poll_event() {
            if e == Event::Connected {
                pair.server_handle = h;
            }
        }
        while pair.client.poll_event().is_some() {}
        pair
    }

    fn exchange(&mut self) {
        let mut buf = vec![0u8; 65536];
        for _ in 0..50 {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit(self.now, &mut buf).expect("buffer holds a datagram") {
                let mut d = buf[..t.size].to_vec();
                self.server.handle_datagram(self.now, RecvMeta::from_source(addr(CLIENT)), &mut d);
                moved = true;
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut buf).expect("buffer holds a datagram") {
                let mut d = buf[..t.size].to_vec();
                self.client.handle_datagram(self.now, RecvMeta::from_source(addr(SERVER)), &mut d);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    /// Delivers `payload` to the server connection as the plaintext of an authenticated
    /// 1-RTT packet, then lets both sides run: drains events, sends, fires timers.
    pub fn decrypted_payload(&mut self, payload: &[u8]) {
        let mut copy = payload.to_vec();
        if let Some(conn) = self.server.connection(self.server_handle) {
            conn.inject_decrypted_for_fuzzing(self.now, &mut copy);
        }
        while self.server.poll_event().is_some() {}
        self.exchange();
        self.now += Duration::from_millis(5);
        self.server.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.exchange();
        while self.client.poll_event().is_some() {}
        while self.server.poll_event().is_some() {}
    }

    /// Delivers `data` to the server as a datagram from the client's address; when
    /// `with_cid` is set its connection ID is written into a short header first, so the
    /// datagram reaches the connection's decryption path.
    pub fn datagram(&mut self, data: &[u8], with_cid: bool) {
        let mut d = data.to_vec();
        if with_cid && d.len() > 1 + packet::LOCAL_CID_LEN {
            if let Some(conn) = self.server.connection(self.server_handle) {
                d[0] = 0x40 | (d[0] & 0x3f);
                d[1..1 + packet::LOCAL_CID_LEN].copy_from_slice(conn.local_cid().as_bytes());
            }
        }
        self.server.handle_datagram(self.now, RecvMeta::from_source(addr(CLIENT)), &mut d);
        self.exchange();
    }

    /// The client handle (for assertions in tests).
    pub fn client_established(&mut self) -> bool {
        self.client.connection(self.client_handle).is_some_and(|c| c.is_established())
    }
}

impl Default for Established {
    fn default() -> Self {
        Self::new()
    }
}
