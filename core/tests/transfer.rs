//! Bulk data arrives byte-exact under loss, reordering and duplication; many concurrent
//! streams; unreliable datagrams arrive intact or not at all.

mod common;

use bytes::Bytes;
use common::{Pair, fill_pattern, pattern_byte, run_bulk};
use jetstream_core::{Dir, DropStats, Duration, Event, ReadError, StreamEvent, StreamId, TransportConfig};
use std::collections::HashMap;

const MIB: u64 = 1 << 20;

#[test]
fn bulk_64mib_no_loss() {
    let mut pair = Pair::new(10);
    let run = run_bulk(&mut pair, 64 * MIB, Duration::from_secs(600));
    // 64 MiB over a 10 ms RTT link with no bandwidth limit: the window must open up.
    assert!(run.took < Duration::from_secs(5), "took {:?}", run.took);
    let stats = pair.client.connection(run.client).expect("conn").stats();
    assert_eq!(stats.packets_lost, 0);
    // RTT samples are counted and the latest is exposed: never below the 10 ms path RTT.
    assert!(stats.rtt_samples > 1000, "{stats:?}");
    assert!(stats.latest_rtt >= Duration::from_millis(10) && stats.min_rtt >= Duration::from_millis(10));
}

#[test]
fn bulk_64mib_5_percent_loss() {
    let mut pair = Pair::new(11);
    pair.set_loss(0.05);
    let run = run_bulk(&mut pair, 64 * MIB, Duration::from_secs(3600));
    let stats = pair.client.connection(run.client).expect("conn").stats();
    assert!(stats.packets_lost > 0 && stats.packets_retransmitted > 0, "{stats:?}");
    let rate = stats.loss_rate();
    assert!((0.02..0.10).contains(&rate), "measured loss rate {rate}");
}

#[test]
fn bulk_64mib_20_percent_loss() {
    let mut pair = Pair::new(12);
    pair.set_loss(0.20);
    run_bulk(&mut pair, 64 * MIB, Duration::from_secs(36_000));
}

#[test]
fn bulk_64mib_with_reordering_and_duplication() {
    let mut pair = Pair::new(13);
    for link in [&mut pair.c2s, &mut pair.s2c] {
        link.reorder = 0.1;
        link.reorder_delay = Duration::from_millis(8);
        link.duplicate = 0.05;
        link.loss = 0.01;
    }
    run_bulk(&mut pair, 64 * MIB, Duration::from_secs(3600));
    assert!(pair.server.stats().dropped.duplicate > 0, "duplicates were delivered and rejected");
}

#[test]
fn thousand_concurrent_streams_of_64kib_arrive_intact() {
    let transport = TransportConfig { max_concurrent_uni_streams: 1000, ..Default::default() };
    let mut pair = Pair::with_transport(14, transport);
    pair.set_loss(0.01);
    let (c, s) = pair.handshake();
    const STREAMS: usize = 1000;
    const SIZE: usize = 64 << 10;
    // Stream i carries the pattern shifted by i, so crossed streams would be caught.
    let mut payloads: Vec<(StreamId, Vec<u8>, usize)> = Vec::new();
    {
        let conn = pair.client.connection(c).expect("conn");
        for i in 0..STREAMS {
            let id = conn.open(Dir::Uni).expect("stream limit allows 1000");
            let mut data = vec![0u8; SIZE];
            fill_pattern(i as u64 * 7919, &mut data);
            payloads.push((id, data, 0));
        }
    }
    let mut received: HashMap<StreamId, Vec<u8>> = HashMap::new();
    let mut finished = 0usize;
    let mut buf = vec![0u8; 65536];
    let ok = pair.run_until(Duration::from_secs(600), |p| {
        let conn = p.client.connection(c).expect("conn");
        for (id, data, pos) in payloads.iter_mut() {
            if *pos < data.len() {
                match conn.write(*id, &data[*pos..]) {
                    Ok(n) => *pos += n,
                    Err(jetstream_core::WriteError::Blocked) => continue,
                    Err(e) => panic!("{e}"),
                }
                if *pos == data.len() {
                    conn.finish(*id).expect("finish");
                }
            }
        }
        let conn = p.server.connection(s).expect("conn");
        while let Some(id) = conn.accept(Dir::Uni) {
            received.insert(id, Vec::new());
        }
        let ids: Vec<StreamId> = received.keys().copied().collect();
        for id in ids {
            loop {
                match conn.read(id, &mut buf) {
                    Ok(Some(n)) => received.get_mut(&id).expect("known").extend_from_slice(&buf[..n]),
                    Ok(None) => {
                        finished += 1;
                        break;
                    }
                    Err(ReadError::Blocked) | Err(ReadError::ClosedStream) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        finished == STREAMS
    });
    assert!(ok, "only {finished} of {STREAMS} streams finished");
    for (i, (id, data, _)) in payloads.iter().enumerate() {
        assert_eq!(received.get(id).map(Vec::len), Some(SIZE), "stream {i}");
        assert!(received[id] == *data, "stream {i} content differs");
    }
}

#[test]
fn datagrams_arrive_intact_or_not_at_all() {
    let mut pair = Pair::new(15);
    pair.set_loss(0.1);
    // Corrupt some datagrams on the wire: authentication must reject them.
    let mut n = 0u32;
    pair.tamper = Some(Box::new(move |_, d: &mut Vec<u8>| {
        n += 1;
        if n % 17 == 0 && d.len() > 40 {
            let i = d.len() / 2;
            d[i] ^= 0x40;
        }
        true
    }));
    let (c, s) = pair.handshake();
    let max = pair.client.connection(c).expect("conn").max_datagram_size().expect("enabled");
    assert!(max >= 1100, "max datagram {max}");
    let sent: Vec<Bytes> = (0..500u32)
        .map(|i| {
            let len = 1 + (i as usize * 37) % max;
            let mut v = vec![0u8; len];
            v[..4.min(len)].copy_from_slice(&i.to_be_bytes()[..4.min(len)]);
            for (k, b) in v.iter_mut().enumerate().skip(4) {
                *b = pattern_byte(u64::from(i) * 10_000 + k as u64);
            }
            Bytes::from(v)
        })
        .collect();
    let mut got = Vec::new();
    for chunk in sent.chunks(20) {
        for d in chunk {
            let Some(conn) = pair.client.connection(c) else {
                panic!("client gone: {:?} / server {:?}", pair.client_events, pair.server_events)
            };
            conn.send_datagram(d.clone()).expect("send");
        }
        pair.run_until(Duration::from_millis(50), |_| false);
        while let Some(d) = pair.server.connection(s).expect("conn").recv_datagram() {
            got.push(d);
        }
    }
    // Let the congestion-controlled queue drain.
    pair.run_until(Duration::from_secs(5), |_| false);
    while let Some(d) = pair.server.connection(s).expect("conn").recv_datagram() {
        got.push(d);
    }
    assert!(got.len() > 350 && got.len() < 490, "about 15% lost or corrupted: got {}", got.len());
    for d in &got {
        assert!(sent.contains(d), "a received datagram matches one that was sent, byte for byte");
    }
    assert!(pair.server.stats().dropped.decrypt_failed > 0, "corrupted packets were rejected");
    let too_big = Bytes::from(vec![0u8; max + 1]);
    assert!(pair.client.connection(c).expect("conn").send_datagram(too_big).is_err());
    assert!(pair.server_events.iter().any(|(_, e)| *e == Event::DatagramReceived));
    let _ = StreamEvent::Available { dir: Dir::Bi };
}

#[test]
fn key_updates_during_a_lossy_reordered_transfer_keep_data_intact() {
    let transport = TransportConfig { key_update_interval: 500, ..Default::default() };
    let mut pair = Pair::with_transport(16, transport);
    for link in [&mut pair.c2s, &mut pair.s2c] {
        link.loss = 0.02;
        link.reorder = 0.1;
        link.reorder_delay = Duration::from_millis(4);
    }
    let run = run_bulk(&mut pair, 16 * MIB, Duration::from_secs(600));
    let (c, s) = (run.client, run.server);
    let client = pair.client.connection(c).expect("conn").stats();
    let server = pair.server.connection(s).expect("conn").stats();
    // ~15,000 data packets at 500 per key: both sides followed many updates.
    assert!(client.key_updates >= 10, "client key updates: {}", client.key_updates);
    assert!(client.key_updates.abs_diff(server.key_updates) <= 1, "{} vs {}", client.key_updates, server.key_updates);
    assert_eq!(pair.server.stats().dropped.decrypt_failed, 0, "no packet was opened with the wrong key");
}

#[test]
fn newreno_is_selectable_and_recovers_from_loss() {
    let transport = TransportConfig {
        congestion_controller: std::sync::Arc::new(jetstream_core::congestion::NewRenoConfig::default()),
        ..Default::default()
    };
    let mut pair = Pair::with_transport(17, transport);
    pair.set_loss(0.03);
    let run = run_bulk(&mut pair, 8 * MIB, Duration::from_secs(600));
    let c = run.client;
    let stats = pair.client.connection(c).expect("conn").stats();
    assert!(stats.congestion_events > 0 && stats.packets_retransmitted > 0, "{stats:?}");
}

/// Runs a lossy transfer and returns every datagram that crossed the link.
fn recorded_run(seed: u64) -> Vec<(bool, Vec<u8>)> {
    let mut pair = Pair::new(seed);
    pair.set_loss(0.05);
    pair.record = Some(Vec::new());
    run_bulk(&mut pair, 2 * MIB, Duration::from_secs(600));
    pair.record.take().expect("recorded")
}

#[test]
fn same_seeds_give_byte_identical_wire_traffic() {
    let a = recorded_run(18);
    let b = recorded_run(18);
    assert!(a.len() > 1000);
    assert!(a == b, "the core is deterministic: no hidden clock, randomness or hash order");
    let c = recorded_run(19);
    assert!(a != c, "different seeds give different keys and traffic");
}

#[test]
fn a_flow_control_limited_transfer_does_not_inflate_the_congestion_window() {
    // A 256 KiB stream window over a 10 ms RTT caps the sender far below what the path
    // (no loss, no rate limit) would allow; the window must stay near what is really used.
    let window = 256 << 10;
    let transport = TransportConfig { stream_receive_window: window, receive_window: window, ..Default::default() };
    let mut pair = Pair::with_transport(15, transport);
    let run = run_bulk(&mut pair, 32 * MIB, Duration::from_secs(600));
    let stats = pair.client.connection(run.client).expect("conn").stats();
    assert!(stats.cwnd <= 4 * window, "cwnd {} grew past 4x the {window}-byte flow-control window", stats.cwnd);
}

#[test]
fn gso_batches_arrive_intact_with_either_cipher_suite() {
    // Each segment of a batch carries its own header protection, applied for the batch at once.
    for prefer_aes in [false, true] {
        let mut pair = Pair::with_transport(17, TransportConfig { prefer_aes, ..Default::default() });
        pair.client.set_max_gso_segments(10);
        pair.server.set_max_gso_segments(10);
        let run = run_bulk(&mut pair, 8 * MIB, Duration::from_secs(60));
        assert!(pair.gso_transmits > 100, "prefer_aes = {prefer_aes}: only {} GSO batches", pair.gso_transmits);
        let stats = pair.server.stats();
        assert_eq!(stats.dropped, DropStats::default(), "prefer_aes = {prefer_aes}: every datagram was accepted");
        let conn = pair.client.connection(run.client).expect("conn");
        assert_eq!(conn.stats().packets_lost, 0, "prefer_aes = {prefer_aes}");
    }
}

#[test]
fn the_largest_datagram_fits_with_either_cipher_suite() {
    for prefer_aes in [false, true] {
        let mut pair = Pair::with_transport(16, TransportConfig { prefer_aes, ..Default::default() });
        let (c, s) = pair.handshake();
        let conn = pair.client.connection(c).expect("conn");
        let max = conn.max_datagram_size().expect("enabled");
        let payload = Bytes::from(vec![0xa5; max]);
        conn.send_datagram(payload.clone()).expect("the advertised maximum is accepted");
        let too_big = Bytes::from(vec![0; max + 1]);
        assert!(conn.send_datagram(too_big).is_err(), "one byte more is refused");
        let mut got = None;
        pair.run_until(Duration::from_secs(1), |p| {
            got = p.server.connection(s).and_then(|c| c.recv_datagram());
            got.is_some()
        });
        assert_eq!(got, Some(payload), "prefer_aes = {prefer_aes}: the largest datagram arrives");
    }
}
