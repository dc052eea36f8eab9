use super::*;
use crate::coding::Reader;
use crate::crypto::{CryptoBackend, initial_keys};
use crate::{ConnectionError, Event};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// Removes packet protection with the handshake-packet keys, lets `edit` change the
/// plaintext payload, and seals the packet again: what an on-path attacker who saw the
/// connection ID can do.
fn reseal_client_packet(datagram: &mut [u8], edit: impl FnOnce(&mut [u8])) {
    let partial = PartialPacket::parse(datagram).expect("parse");
    let dcid = *partial.form.dcid();
    let (client_keys, _) = initial_keys(CryptoBackend::default(), &dcid).expect("keys");
    let pn_offset = partial.pn_offset;
    let len = partial.len;
    let packet = &mut datagram[..len];
    let mask = client_keys.header.mask(packet::sample(packet, pn_offset).expect("sample"));
    packet[0] ^= mask[0] & 0x0f;
    let pn_len = packet::pn_len_from_first_byte(packet[0]);
    for i in 0..pn_len {
        packet[pn_offset + i] ^= mask[1 + i];
    }
    let mut pn = 0u64;
    for b in &packet[pn_offset..pn_offset + pn_len] {
        pn = (pn << 8) | u64::from(*b);
    }
    let header_len = pn_offset + pn_len;
    let (header, body) = packet.split_at_mut(header_len);
    let plain_len = client_keys.packet.open(pn, header, body).expect("authentic").len();
    edit(&mut body[..plain_len]);
    client_keys.packet.seal(pn, header, body).expect("seal");
    let mask = client_keys.header.mask(packet::sample(packet, pn_offset).expect("sample"));
    packet::xor_header_mask(packet, pn_offset, pn_len, &mask, true);
}

#[test]
fn resealed_tampered_client_hello_is_rejected_without_server_state() {
    let server_key = StaticKeypair::from_secret_bytes([5; 32]);
    let server_addr = addr("10.1.0.1:443");
    let client_addr = addr("10.1.0.2:5000");
    let mut server = Endpoint::new(EndpointConfig::new([1; 32]), Some(ServerConfig::new(server_key.clone())))
        .expect("valid configuration");
    let mut client = Endpoint::new(EndpointConfig::new([2; 32]), None).expect("valid configuration");
    let now = Instant::from_millis(10);
    client.connect(now, ClientConfig::new(server_key.public_key()), server_addr).expect("connect");
    let mut buf = vec![0u8; 65536];
    let mut flight = Vec::new();
    while let Some(t) = client.poll_transmit(now, &mut buf).expect("buffer holds a datagram") {
        flight.push(buf[..t.size].to_vec());
    }
    assert_eq!(flight.len(), 2, "the ClientHello spans two datagrams");

    // Flip one bit of the client's ML-KEM encapsulation key inside the CRYPTO frame.
    reseal_client_packet(&mut flight[0], |payload| {
        let mut r = Reader::new(payload);
        assert_eq!(r.varint(), Ok(crate::frame::ty::CRYPTO));
        r.varint().expect("offset");
        r.varint().expect("length");
        let data_start = r.position();
        payload[data_start + 500] ^= 0x10;
    });
    for d in &mut flight {
        server.handle_datagram(now, RecvMeta::from_source(client_addr), d);
    }
    assert_eq!(server.stats().dropped.decrypt_failed, 0, "the re-sealed packets authenticate as packets");
    // The server answers with a close and keeps nothing.
    let mut replies = Vec::new();
    while let Some(t) = server.poll_transmit(now, &mut buf).expect("buffer holds a datagram") {
        replies.push(buf[..t.size].to_vec());
    }
    assert_eq!(replies.len(), 1, "one close packet");
    assert!(replies[0].len() < 200, "the refusal is small (no amplification)");
    assert_eq!(server.connection_count(), 0, "no connection state left on the server");
    assert_eq!(server.poll_event(), None, "the server application never hears of it");
    for r in &mut replies {
        client.handle_datagram(now, RecvMeta::from_source(server_addr), r);
    }
    let event = client.poll_event().map(|(_, e)| e);
    assert_eq!(
        event,
        Some(Event::HandshakeFailed(ConnectionError::ConnectionClosed {
            code: TransportErrorCode::HANDSHAKE_FAILED,
            reason: String::new()
        }))
    );
}

#[test]
fn handles_are_not_confused_after_reuse() {
    let mut ep = Endpoint::new(EndpointConfig::new([3; 32]), None).expect("valid configuration");
    let key = StaticKeypair::from_secret_bytes([4; 32]).public_key();
    let now = Instant::ZERO;
    let h1 = ep.connect(now, ClientConfig::new(key), addr("10.2.0.1:1")).expect("connect");
    ep.connection(h1).expect("live").close(now, 0, b"");
    // Run the close timer out.
    let mut t = now;
    for _ in 0..100 {
        let mut buf = vec![0u8; 2048];
        while ep.poll_transmit(t, &mut buf).expect("buffer holds a datagram").is_some() {}
        while ep.poll_event().is_some() {}
        match ep.poll_timeout() {
            Some(d) if d > t => t = d,
            Some(_) => {}
            None => break,
        }
        ep.handle_timeout(t);
    }
    assert_eq!(ep.connection_count(), 0);
    let h2 = ep.connect(t, ClientConfig::new(key), addr("10.2.0.1:1")).expect("connect");
    assert_ne!(h1, h2, "a reused slot gets a new generation");
    assert!(ep.connection(h1).is_none(), "the stale handle does not reach the new connection");
    assert!(ep.connection(h2).is_some());
}

#[test]
fn too_small_transmit_buffer_is_an_error_and_loses_nothing() {
    let mut ep = Endpoint::new(EndpointConfig::new([5; 32]), None).expect("valid configuration");
    let key = StaticKeypair::from_secret_bytes([6; 32]).public_key();
    let now = Instant::ZERO;
    ep.connect(now, ClientConfig::new(key), addr("10.3.0.1:1")).expect("connect");
    let mut small = [0u8; 600];
    let err = ep.poll_transmit(now, &mut small).unwrap_err();
    assert_eq!(err, crate::BufferTooSmall { needed: 1200, given: 600 });
    // The ClientHello is still there for a proper buffer.
    let mut buf = vec![0u8; 1500];
    let t = ep.poll_transmit(now, &mut buf).expect("fits").expect("the first datagram");
    assert_eq!(t.size, 1200);
}
