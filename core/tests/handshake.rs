//! Handshake outcomes: success, clean failures, and resilience to loss.

mod common;

use common::{Pair, server_keypair};
use jetstream_core::{
    ClientConfig, ConnectionError, Duration, EndpointConfig, Event, RecvMeta, ServerConfig, StaticKeypair,
    TransportErrorCode,
};
use std::collections::BTreeSet;

fn client_failure(pair: &Pair) -> Option<ConnectionError> {
    pair.client_events.iter().find_map(|(_, e)| match e {
        Event::HandshakeFailed(err) => Some(err.clone()),
        _ => None,
    })
}

/// Runs the pair until the client reports a failed handshake (or `limit` passes); returns it.
fn await_client_failure(pair: &mut Pair, limit: Duration) -> Option<ConnectionError> {
    pair.run_until(limit, |p| client_failure(p).is_some());
    client_failure(pair)
}

#[test]
fn handshake_succeeds_and_both_sides_agree() {
    let mut pair = Pair::new(1);
    let (c, s) = pair.handshake();
    let client = pair.client.connection(c).expect("client conn");
    assert!(client.is_established());
    let suite = client.cipher_suite();
    assert_eq!(pair.server.connection(s).expect("server conn").cipher_suite(), suite);
    let stats = pair.client.connection(c).expect("conn").stats();
    assert!(stats.rtt >= Duration::from_millis(10), "RTT of a 5 ms one-way link: {:?}", stats.rtt);
    assert!(stats.rtt < Duration::from_millis(40), "{:?}", stats.rtt);
    assert_eq!(pair.client_events.iter().filter(|(_, e)| *e == Event::Connected).count(), 1);
    assert_eq!(pair.server.connection_count(), 1);
}

#[test]
fn handshake_takes_one_round_trip_before_client_can_send() {
    let mut pair = Pair::new(2);
    let start = pair.now;
    let c = pair.connect();
    assert!(pair.run_until(Duration::from_secs(1), |p| p.client_connected(c)));
    let rtt = Duration::from_millis(10);
    assert!(pair.now - start <= rtt + Duration::from_millis(1), "1-RTT: connected after {:?}", pair.now - start);
}

#[test]
fn wrong_server_key_fails_on_client_and_leaves_no_server_state() {
    let mut pair = Pair::new(3);
    let wrong = StaticKeypair::from_secret_bytes([0x99; 32]).public_key();
    let c = pair.connect_with(ClientConfig::new(wrong));
    let err = await_client_failure(&mut pair, Duration::from_secs(60)).expect("typed failure event");
    assert_eq!(
        err,
        ConnectionError::ConnectionClosed { code: TransportErrorCode::HANDSHAKE_FAILED, reason: String::new() }
    );
    assert!(pair.client.connection(c).is_none() || pair.client.connection(c).is_some_and(|c| c.is_closed()));
    pair.run_until(Duration::from_secs(5), |_| false);
    assert_eq!(pair.server.connection_count(), 0, "no state left on the server");
    assert!(pair.server_events.is_empty(), "the server application never saw it");
}

#[test]
fn unknown_client_key_is_refused_with_a_typed_error() {
    let allowed = StaticKeypair::from_secret_bytes([0x11; 32]);
    let stranger = StaticKeypair::from_secret_bytes([0x22; 32]);
    let mut sc = ServerConfig::new(server_keypair());
    sc.allowed_clients = Some(BTreeSet::from([allowed.public_key()]));
    let mut pair = Pair::with_configs(4, sc, EndpointConfig::new([3; 32]));
    let mut cfg = pair.client_config();
    cfg.client_key = Some(stranger);
    pair.connect_with(cfg);
    let err = await_client_failure(&mut pair, Duration::from_secs(10)).expect("failure");
    assert!(
        matches!(err, ConnectionError::ConnectionClosed { code: TransportErrorCode::CLIENT_NOT_AUTHORIZED, .. }),
        "{err:?}"
    );
    pair.run_until(Duration::from_secs(5), |_| false);
    assert_eq!(pair.server.connection_count(), 0);
    assert_eq!(pair.server.stats().refused, 1);

    // The allowed key gets in, and the server sees who it is.
    let mut cfg = pair.client_config();
    cfg.client_key = Some(allowed.clone());
    let c = pair.connect_with(cfg);
    assert!(pair.run_until(Duration::from_secs(10), |p| p.client_connected(c) && p.server_handle().is_some()));
    let s = pair.server_handle().expect("server handle");
    assert_eq!(pair.server.connection(s).expect("conn").peer_static_key(), Some(allowed.public_key()));
}

#[test]
fn anonymous_client_is_refused_when_an_allow_list_is_set() {
    let mut sc = ServerConfig::new(server_keypair());
    sc.allowed_clients = Some(BTreeSet::from([StaticKeypair::from_secret_bytes([0x11; 32]).public_key()]));
    let mut pair = Pair::with_configs(5, sc, EndpointConfig::new([3; 32]));
    pair.connect();
    assert!(matches!(
        await_client_failure(&mut pair, Duration::from_secs(10)),
        Some(ConnectionError::ConnectionClosed { code: TransportErrorCode::CLIENT_NOT_AUTHORIZED, .. })
    ));
}

#[test]
fn accept_policy_can_refuse_connections() {
    let mut sc = ServerConfig::new(server_keypair());
    sc.accept_policy = Some(Box::new(|info| info.remote.port() != 50000));
    let mut pair = Pair::with_configs(6, sc, EndpointConfig::new([3; 32]));
    pair.connect();
    assert!(matches!(
        await_client_failure(&mut pair, Duration::from_secs(10)),
        Some(ConnectionError::ConnectionClosed { code: TransportErrorCode::CONNECTION_REFUSED, .. })
    ));
    pair.run_until(Duration::from_secs(1), |_| false);
    assert_eq!(pair.server.connection_count(), 0);
}

#[test]
fn corrupted_first_flight_is_dropped_and_retransmission_recovers() {
    for target in [0usize, 1] {
        let mut pair = Pair::new(7 + target as u64);
        let mut count = 0;
        // Flip one byte of the client's first or second datagram once: the handshake-packet
        // AEAD rejects it (tampering that survives re-sealing is tested in the endpoint's
        // unit tests).
        pair.tamper = Some(Box::new(move |to_server, d: &mut Vec<u8>| {
            if to_server {
                if count == target {
                    d[600] ^= 0x01;
                }
                count += 1;
            }
            true
        }));
        pair.connect();
        pair.run_until(Duration::from_secs(2), |_| false);
        // The corrupted datagram was dropped (counted); the client's retransmission then
        // completes the handshake, since the tampering was not persistent.
        let dropped = pair.server.stats().dropped;
        assert!(dropped.decrypt_failed + dropped.unknown_connection >= 1, "{dropped:?}");
        assert!(pair.server_handle().is_some(), "handshake recovered via retransmission");
    }
}

#[test]
fn version_mismatch_fails_with_typed_error_and_no_server_state() {
    let mut pair = Pair::new(10);
    // Emulate peers of different versions: the client's long headers carry a version this
    // server lacks, and the server's version negotiation lists only another version.
    pair.tamper = Some(Box::new(|to_server, d: &mut Vec<u8>| {
        if to_server && d[0] & 0x80 != 0 {
            d[1..5].copy_from_slice(&0x0bad_0001u32.to_be_bytes());
        }
        if !to_server && d[1..5] == [0, 0, 0, 0] {
            let n = d.len();
            d[n - 4..].copy_from_slice(&0x0bad_0002u32.to_be_bytes());
        }
        true
    }));
    pair.connect();
    assert_eq!(
        await_client_failure(&mut pair, Duration::from_secs(10)),
        Some(ConnectionError::VersionMismatch(0x0bad_0002))
    );
    assert_eq!(pair.server.connection_count(), 0);
    assert!(pair.server.stats().dropped.unsupported_version >= 1);
}

#[test]
fn handshake_completes_under_30_percent_loss() {
    for seed in 0..10 {
        let mut pair = Pair::new(100 + seed);
        pair.set_loss(0.30);
        let c = pair.connect();
        let ok = pair.run_until(Duration::from_secs(30), |p| p.client_connected(c) && p.server_handle().is_some());
        assert!(ok, "seed {seed}: client {:?} server {:?}", pair.client_events, pair.server_events);
    }
}

#[test]
fn unresponsive_server_times_out_the_handshake() {
    let mut pair = Pair::new(11);
    pair.c2s.loss = 1.0;
    pair.connect();
    assert_eq!(await_client_failure(&mut pair, Duration::from_secs(120)), Some(ConnectionError::TimedOut));
}

#[test]
fn server_sends_at_most_three_times_what_it_received_before_validation() {
    let mut pair = Pair::new(12);
    pair.record = Some(Vec::new());
    // The client's confirmation never arrives: only the client's first flight counts.
    let mut client_datagrams = 0;
    pair.tamper = Some(Box::new(move |to_server, _| {
        if to_server {
            client_datagrams += 1;
            client_datagrams <= 2
        } else {
            true
        }
    }));
    pair.connect();
    pair.run_until(Duration::from_secs(20), |_| false);
    let rec = pair.record.take().expect("recorded");
    let received: usize = rec.iter().filter(|(to_s, _)| *to_s).take(2).map(|(_, d)| d.len()).sum();
    let sent: usize = rec.iter().filter(|(to_s, _)| !*to_s).map(|(_, d)| d.len()).sum();
    assert!(sent > 0);
    assert!(sent <= 3 * received, "server sent {sent} bytes after receiving {received}");
}

#[test]
fn server_ignores_small_first_datagrams() {
    let mut pair = Pair::new(13);
    let mut data = vec![0xc0u8, 0x4a, 0x53, 0x50, 0x01, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x40, 0x20];
    data.resize(300, 0);
    pair.server.handle_datagram(pair.now, RecvMeta::from_source(pair.client_addr), &mut data);
    assert_eq!(pair.server.stats().dropped.short_initial, 1);
    assert_eq!(pair.server.connection_count(), 0);
}

/// A hello that needs two datagrams leaves in one send when the socket does GSO, so the
/// peer reads both together (and a server under load answers a whole ClientHello at once,
/// without an ACK for its first half).
#[test]
fn two_datagram_hellos_leave_as_one_gso_batch() {
    let mut pair = Pair::new(14);
    pair.client.set_max_gso_segments(16);
    pair.server.set_max_gso_segments(16);
    pair.connect();
    let mut buf = vec![0u8; 65536];
    let hello = pair.client.poll_transmit(pair.now, &mut buf).expect("buffer").expect("the ClientHello");
    assert_eq!((hello.size, hello.segment_size), (2400, Some(1200)), "both ClientHello datagrams, padded");
    assert!(pair.client.poll_transmit(pair.now, &mut buf).expect("buffer").is_none());
    let meta = RecvMeta::from_source(pair.client_addr);
    for segment in buf[..2400].chunks_mut(1200) {
        pair.server.handle_datagram(pair.now, meta, segment);
    }
    let reply = pair.server.poll_transmit(pair.now, &mut buf).expect("buffer").expect("the ServerHello");
    assert_eq!(reply.segment_size, Some(1200), "{reply:?}");
    assert!(reply.size > 1200 && reply.size < 2400, "a full datagram and the rest: {reply:?}");
    assert!(pair.server.poll_transmit(pair.now, &mut buf).expect("buffer").is_none(), "no separate ACK");
}

#[test]
fn invalid_server_configuration_is_refused_at_construction() {
    let mut sc = ServerConfig::new(server_keypair());
    sc.transport = std::sync::Arc::new(jetstream_core::TransportConfig { initial_mtu: 1000, ..Default::default() });
    let err = jetstream_core::Endpoint::new(EndpointConfig::new([1; 32]), Some(sc)).unwrap_err();
    assert!(err.to_string().contains("initial_mtu"), "{err}");
}

#[test]
fn a_failed_handshake_reports_exactly_one_failure_then_drains() {
    let mut pair = Pair::new(14);
    let wrong = StaticKeypair::from_secret_bytes([0x98; 32]).public_key();
    pair.connect_with(ClientConfig::new(wrong));
    pair.run_until(Duration::from_secs(30), |p| p.client_events.iter().any(|(_, e)| *e == Event::Drained));
    let failures = pair.client_events.iter().filter(|(_, e)| matches!(e, Event::HandshakeFailed(_))).count();
    assert_eq!(failures, 1, "{:?}", pair.client_events);
    assert_eq!(pair.client_events.last().map(|(_, e)| e.clone()), Some(Event::Drained));
    assert_eq!(pair.client.connection_count(), 0);
}
