//! The ACK exchange on lossy, window-limited paths: a sender whose congestion window is full
//! asks for an immediate ACK (IMMEDIATE_ACK), its probe timeout then skips the peer's ACK
//! delay, and ACK frames stop repeating ranges the peer has already seen.

mod common;

use common::{Pair, run_bulk};
use jetstream_core::congestion::CubicConfig;
use jetstream_core::{Duration, TransportConfig};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

/// A receiver that acknowledges only when asked or when `max_ack_delay` runs out, and a
/// sender whose window starts at two packets: every flight ends window-limited.
fn lazy_acks_small_window(max_ack_delay: Duration) -> TransportConfig {
    TransportConfig {
        ack_eliciting_threshold: 1_000,
        max_ack_delay,
        congestion_controller: Arc::new(CubicConfig::default().initial_window_packets(2).minimum_window_packets(2)),
        ..TransportConfig::default()
    }
}

#[test]
fn a_window_limited_sender_is_not_stalled_by_the_peers_ack_delay() {
    let mut pair = Pair::with_transport(1, lazy_acks_small_window(Duration::from_millis(25)));
    // 64 KiB from a 2-packet window takes about 6 slow-start round trips of 10 ms. Were each
    // flight's ACK held for the receiver's 25 ms delay, it would take over 200 ms.
    let run = run_bulk(&mut pair, 64 << 10, Duration::from_secs(10));
    assert!(run.took < Duration::from_millis(100), "took {:?}", run.took);
    let stats = pair.client.connection(run.client).expect("open").stats();
    assert_eq!(stats.probe_timeouts, 0, "no flight waited for a probe timeout");
}

#[test]
fn a_lost_window_tail_is_probed_without_waiting_for_the_peers_ack_delay() {
    // A 200 ms ACK delay: a probe timeout that included it would show in the transfer time.
    let mut pair = Pair::with_transport(2, lazy_acks_small_window(Duration::from_millis(200)));
    let (c, s) = pair.handshake();
    // Drop the second full-size datagram to the server: the tail of the first 2-packet flight.
    let full_size_seen = Rc::new(Cell::new(0u32));
    let seen = full_size_seen.clone();
    pair.tamper = Some(Box::new(move |to_server, d: &mut Vec<u8>| {
        if to_server && d.len() >= 1000 {
            seen.set(seen.get() + 1);
            return seen.get() != 2;
        }
        true
    }));
    let start = pair.now;
    let mut transfer = common::BulkTransfer::new(16 << 10);
    let done = pair.run_until(Duration::from_secs(10), |p| {
        transfer.pump(p, c, s);
        transfer.done
    });
    assert!(done, "transfer incomplete");
    assert!(full_size_seen.get() >= 2, "the tail was dropped");
    let stats = pair.client.connection(c).expect("open").stats();
    assert!(stats.probe_timeouts >= 1, "the tail loss was found by a probe: {stats:?}");
    let took = pair.now - start;
    assert!(took < Duration::from_millis(150), "took {took:?}: the probe waited for the ACK delay");
}

#[test]
fn ack_frames_stay_small_when_acknowledgements_are_lost() {
    // 5% loss both ways leaves gaps in what each side receives. Without pruning the ranges
    // the peer has seen acknowledged, every ACK frame would repeat up to 64 of them: over a
    // hundred bytes in each of the receiver's ACK packets and in each of the sender's data
    // packets that carry an ACK of them.
    let mut pair = Pair::new(3);
    pair.set_loss(0.05);
    let total = 2u64 << 20;
    let run = run_bulk(&mut pair, total, Duration::from_secs(60));
    let client = pair.client.connection(run.client).expect("open").stats();
    let on_wire = total + client.stream_bytes_retransmitted;
    let overhead = client.bytes_sent as f64 / on_wire as f64 - 1.0;
    assert!(overhead < 0.05, "sender overhead {:.1}% of stream bytes: {client:?}", overhead * 100.0);
    let server = pair.server.connection(run.server).expect("open").stats();
    let mean_ack_packet = server.bytes_sent / server.packets_sent;
    assert!(mean_ack_packet < 80, "the receiver's packets average {mean_ack_packet} bytes: {server:?}");
}
