//! Every input from the network is hostile: tampered, truncated, replayed, oversized and
//! random datagrams never panic, are counted by reason, and leave connections working.

mod common;

use common::{Pair, TestRng, run_bulk};
use jetstream_core::{Duration, RecvMeta};

fn total_drops(d: &jetstream_core::DropStats) -> u64 {
    d.malformed
        + d.oversized
        + d.unknown_connection
        + d.decrypt_failed
        + d.duplicate
        + d.unsupported_version
        + d.no_keys
        + d.short_initial
        + d.capacity
        + d.closing
}

#[test]
fn tampered_truncated_replayed_and_random_datagrams_are_dropped_and_counted() {
    let mut pair = Pair::new(30);
    pair.record = Some(Vec::new());
    run_bulk(&mut pair, 1 << 20, Duration::from_secs(60));
    let recorded: Vec<Vec<u8>> =
        pair.record.take().expect("recorded").into_iter().filter(|(to_s, _)| *to_s).map(|(_, d)| d).collect();
    assert!(recorded.len() > 100);
    let mut rng = TestRng::new(99);
    let from = pair.client_addr;
    let now = pair.now;
    let before = pair.server.stats().dropped;
    let mut injected = 0u64;
    let mut feed = |pair: &mut Pair, mut d: Vec<u8>| {
        pair.server.handle_datagram(now, RecvMeta::from_source(from), &mut d);
        injected += 1;
    };
    for d in recorded.iter().skip(5) {
        // Replayed verbatim.
        feed(&mut pair, d.clone());
        // One bit flipped somewhere.
        let mut t = d.clone();
        let i = rng.below(t.len() as u64) as usize;
        t[i] ^= 1 << rng.below(8);
        feed(&mut pair, t);
        // Truncated.
        let cut = rng.below(d.len() as u64) as usize;
        feed(&mut pair, d[..cut].to_vec());
    }
    // Oversized and random datagrams, including ones that look like our short headers.
    feed(&mut pair, vec![0x40; 70_000]);
    let dcid = recorded.last().expect("one")[1..9].to_vec();
    for k in 0..20_000u64 {
        let len = rng.below(1500) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if k % 3 == 0 && len > 30 {
            d[0] = 0x40 | (d[0] & 0x3f);
            d[1..9].copy_from_slice(&dcid);
        }
        feed(&mut pair, d);
    }
    let after = pair.server.stats().dropped;
    assert_eq!(
        total_drops(&after) - total_drops(&before),
        injected,
        "every hostile datagram was counted once: {after:?}"
    );
    assert!(after.duplicate > before.duplicate, "replays rejected as duplicates");
    assert!(after.decrypt_failed > before.decrypt_failed, "tampering rejected by authentication");
    assert!(after.oversized > before.oversized);
    assert!(after.malformed > before.malformed);

    // The established connection still works.
    let s = pair.server_handle().expect("server conn");
    assert!(pair.server.connection(s).expect("alive").is_established());
    let mut t = common::BulkTransfer::new(256 << 10);
    let c = pair.client_events[0].0;
    // A second transfer on a fresh stream of the same connection.
    let ok = pair.run_until(Duration::from_secs(30), |p| {
        t.pump(p, c, s);
        t.done
    });
    assert!(ok, "connection works after the attack");
}

#[test]
fn random_datagrams_to_a_fresh_server_never_create_lasting_state() {
    let mut pair = Pair::new(31);
    let mut rng = TestRng::new(7);
    let from = pair.client_addr;
    for _ in 0..20_000 {
        let len = 1200 + rng.below(300) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        // Make most of them plausible handshake packets of our version.
        if rng.chance(0.8) {
            d[0] = 0xc0 | (d[0] & 0x0f);
            d[1..5].copy_from_slice(&jetstream_core::packet::VERSION.to_be_bytes());
            d[5] = 8;
            d[14] = 8;
        }
        pair.server.handle_datagram(pair.now, RecvMeta::from_source(from), &mut d);
    }
    assert_eq!(pair.server.connection_count(), 0, "unauthenticated junk leaves nothing behind");
    let mut buf = vec![0u8; 65536];
    let mut replies = 0;
    while pair.server.poll_transmit(pair.now, &mut buf).expect("buffer holds a datagram").is_some() {
        replies += 1;
    }
    assert!(replies <= 64, "stateless replies are bounded: {replies}");
    // A real client still gets in.
    pair.handshake();
}

/// Appends a QUIC-style variable-length integer.
fn varint(out: &mut Vec<u8>, v: u64) {
    let v = v & ((1 << 62) - 1);
    if v < 1 << 6 {
        out.push(v as u8);
    } else if v < 1 << 14 {
        out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes());
    } else if v < 1 << 30 {
        out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes());
    } else {
        out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes());
    }
}

/// A hostile but well-formed-looking value: small, near a limit, or huge.
fn value(rng: &mut TestRng) -> u64 {
    match rng.below(6) {
        0 => rng.below(4),
        1 => rng.below(1 << 16),
        2 => (1 << 20) + rng.below(1 << 12) - (1 << 11),
        3 => (16 << 20) + rng.below(1 << 12) - (1 << 11),
        4 => (1 << 62) - 1 - rng.below(1 << 10),
        _ => rng.next_u64(),
    }
}

fn random_frame(rng: &mut TestRng, out: &mut Vec<u8>) {
    let stream_id = |rng: &mut TestRng| if rng.chance(0.7) { rng.below(16) } else { value(rng) };
    match rng.below(14) {
        0 => out.push(0x01), // PING
        1 => {
            // ACK with ranges, possibly of packets never sent.
            out.push(0x02);
            let largest = value(rng);
            varint(out, largest);
            varint(out, value(rng));
            let n = rng.below(5);
            varint(out, n);
            varint(out, rng.below(largest.saturating_add(2)));
            for _ in 0..n {
                varint(out, rng.below(100));
                varint(out, rng.below(100));
            }
        }
        2 => {
            out.push(0x04);
            for f in [stream_id(rng), value(rng), value(rng)] {
                varint(out, f);
            }
        }
        3 => {
            out.push(0x05);
            varint(out, stream_id(rng));
            varint(out, value(rng));
        }
        4..=6 => {
            // STREAM with offset, length and maybe FIN.
            let fin = rng.chance(0.3);
            out.push(0x08 | 0x04 | 0x02 | u8::from(fin));
            varint(out, stream_id(rng));
            varint(out, if rng.chance(0.5) { rng.below(4096) } else { value(rng) });
            let len = rng.below(300) as usize;
            varint(out, len as u64);
            out.extend((0..len).map(|_| rng.next_u64() as u8));
        }
        7 => {
            out.push(0x10);
            varint(out, value(rng));
        }
        8 => {
            out.push(0x11);
            varint(out, stream_id(rng));
            varint(out, value(rng));
        }
        9 => {
            out.push(0x12 + rng.below(2) as u8);
            varint(out, value(rng));
        }
        10 => {
            out.push(0x1a + rng.below(2) as u8);
            out.extend((0..8).map(|_| rng.next_u64() as u8));
        }
        11 => {
            out.push(0x31);
            let len = rng.below(1500) as usize;
            varint(out, len as u64);
            out.extend((0..len).map(|_| rng.next_u64() as u8));
        }
        12 => {
            out.push(0x14 + rng.below(4) as u8);
            if out.last() == Some(&0x15) {
                varint(out, stream_id(rng));
            }
            varint(out, value(rng));
        }
        _ => {
            // HANDSHAKE_DONE from a client, CRYPTO in 1-RTT, or a reserved type.
            let t = [0x1e, 0x06, 0x40, 0x48, 0x51][rng.below(5) as usize];
            varint(out, t);
        }
    }
}

#[test]
fn hostile_frames_from_an_authenticated_peer_never_panic() {
    let mut rng = TestRng::new(4242);
    let mut pair = jetstream_core::fuzz_support::Established::new();
    for i in 0..1500 {
        let mut payload = Vec::new();
        for _ in 0..1 + rng.below(4) {
            random_frame(&mut rng, &mut payload);
        }
        if rng.chance(0.1) {
            let cut = rng.below(payload.len() as u64) as usize;
            payload.truncate(cut);
        }
        pair.decrypted_payload(&payload);
        // Protocol violations close the connection (a clean error); start over then.
        if i % 25 == 24 || !pair.client_established() {
            pair = jetstream_core::fuzz_support::Established::new();
        }
    }
}

#[test]
fn random_datagrams_carrying_a_live_connection_id_never_panic() {
    let mut rng = TestRng::new(777);
    let mut pair = jetstream_core::fuzz_support::Established::new();
    for _ in 0..5000 {
        let len = rng.below(1500) as usize;
        let d: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        pair.datagram(&d, rng.chance(0.8));
    }
    assert!(pair.client_established(), "garbage cannot break an authenticated connection");
}
