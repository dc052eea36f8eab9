//! In-memory demo: two endpoints perform the hybrid post-quantum handshake and move 256 MiB
//! over a simulated link with 1% random loss in each direction, then report throughput, RTT
//! and retransmissions.
//!
//! Run with `cargo run --release -p jetstream-core --example demo`.
//!
//! Everything runs in one thread and in virtual time: the link delays packets by 5 ms each
//! way, but no real waiting happens, so the wall-clock throughput printed is the protocol's
//! CPU cost (both endpoints, encryption included) on this machine.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{BulkTransfer, Pair};
use jetstream_core::Duration;
use std::time::Instant as WallClock;

const TOTAL: u64 = 256 << 20;

fn main() {
    let mut pair = Pair::new(2024);
    pair.set_loss(0.01);
    println!("JetStreamProto in-memory demo: X25519 + ML-KEM-768 handshake, then 256 MiB at 1% loss");

    let wall = WallClock::now();
    let (c, s) = pair.handshake();
    let handshake_wall = wall.elapsed();
    let suite = pair.client.connection(c).map(|conn| conn.cipher_suite());
    println!("handshake: {:.2} ms of CPU (both sides), cipher suite {suite:?}", handshake_wall.as_secs_f64() * 1e3);

    let start_virtual = pair.now;
    let wall = WallClock::now();
    let mut transfer = BulkTransfer::new(TOTAL);
    let mut last_report = 0;
    let done = pair.run_until(Duration::from_secs(3600), |p| {
        transfer.pump(p, c, s);
        if transfer.received >= last_report + (32 << 20) {
            last_report = transfer.received;
            println!("  {:>4} MiB received", transfer.received >> 20);
        }
        transfer.done
    });
    assert!(done, "transfer did not complete");
    let wall_s = wall.elapsed().as_secs_f64();
    let virtual_s = (pair.now - start_virtual).as_secs_f64();
    let stats = pair.client.connection(c).map(|conn| conn.stats()).unwrap_or_default();

    println!();
    println!("delivered            {} MiB, byte-exact (every byte checked)", TOTAL >> 20);
    println!(
        "CPU throughput       {:.0} Mbit/s ({:.2} s wall, both endpoints on one core)",
        TOTAL as f64 * 8.0 / wall_s / 1e6,
        wall_s
    );
    println!(
        "link goodput         {:.0} Mbit/s ({:.2} s virtual on a 10 ms RTT link)",
        TOTAL as f64 * 8.0 / virtual_s / 1e6,
        virtual_s
    );
    println!(
        "RTT                  smoothed {:.1} ms, min {:.1} ms",
        stats.rtt.as_secs_f64() * 1e3,
        stats.min_rtt.as_secs_f64() * 1e3
    );
    println!(
        "packets              {} sent, {} lost ({:.2}%), {} retransmitted",
        stats.packets_sent,
        stats.packets_lost,
        stats.loss_rate() * 100.0,
        stats.packets_retransmitted
    );
    println!("congestion window    {} KiB at the end", stats.cwnd >> 10);
}
