//! Bulk transfer in memory as a share of the raw cipher, measured in interleaved rounds.
//!
//! The ratio is the figure that matters (the target is 70% of raw seal+open), and on a shared
//! machine the two halves drift apart when measured minutes apart, as separate criterion
//! benchmarks are. Here each round times the raw cipher and then the transfer back to back,
//! and the median of the per-round ratios is reported.
//!
//! `cargo bench -p jetstream-core --bench bulk_ratio [-- ROUNDS]`

mod support;

use std::time::Instant;
use support::{Bulk, PACKET, RawCipher, suites};

/// Stream bytes per bulk round, and raw packets per raw round (the same bytes).
const BULK_BYTES: u64 = 16 << 20;
const RAW_PACKETS: u64 = BULK_BYTES / PACKET as u64;

fn main() {
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(21);
    println!("{rounds} rounds of {} MiB; each round: raw seal+open, then the transfer", BULK_BYTES >> 20);
    for (suite, name) in suites() {
        let mut raw = RawCipher::new(suite);
        let mut bulk = Bulk::new(suite);
        bulk.transfer(BULK_BYTES); // warm-up: congestion window open, buffers allocated
        let mut ratios = Vec::with_capacity(rounds);
        let (mut raw_rates, mut bulk_rates) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let start = Instant::now();
            for _ in 0..RAW_PACKETS {
                raw.seal_open();
            }
            let raw_rate = (RAW_PACKETS * PACKET as u64) as f64 / start.elapsed().as_secs_f64();
            let start = Instant::now();
            bulk.transfer(BULK_BYTES);
            let bulk_rate = BULK_BYTES as f64 / start.elapsed().as_secs_f64();
            ratios.push(bulk_rate / raw_rate);
            raw_rates.push(raw_rate);
            bulk_rates.push(bulk_rate);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let mib = |r: f64| r / f64::from(1 << 20);
        let (lo, hi) = (ratios.iter().copied().fold(f64::MAX, f64::min), ratios.iter().copied().fold(0.0, f64::max));
        println!(
            "{name:>17}: bulk {:7.1} MiB/s, raw {:7.1} MiB/s (medians); bulk/raw median {:.1}% (rounds {:.1}%..{:.1}%)",
            mib(median(&mut bulk_rates)),
            mib(median(&mut raw_rates)),
            100.0 * median(&mut ratios),
            100.0 * lo,
            100.0 * hi,
        );
    }
}
