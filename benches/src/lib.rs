//! # jetstream-bench
//!
//! End-to-end benchmarks of JetStreamProto on real sockets, side by side with quinn and
//! kernel TCP in the same run (this machine is shared and noisy, so ratios measured
//! together mean more than absolute numbers).
//!
//! `cargo run --release -p jetstream-bench --bin bulk` measures loopback bulk throughput on
//! one connection for every runtime adapter with GSO on and off, quinn with the same
//! ciphers, and TCP, plus the syscalls each spends per MiB. BENCHMARKS.md has the results.
//!
//! `cargo run --release -p jetstream-bench --bin compare` sets jetstream-tokio against quinn
//! (same ciphers) and kernel TCP on loopback: payload-size sweep, request/response latency,
//! handshake rate and cost, memory per idle connection (see [`compare`]).
//!
//! [`lossy_link`] moves the bulk transfer of jetstream-tokio, quinn and TCP across a
//! 100 Mbit/s link between two network namespaces with random packet loss (needs root).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bulk;
pub mod child;
pub mod compare;
pub mod lossy_link;
pub mod machine;
pub mod strace;

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
