//! Micro and in-memory benchmarks of the core. Results and the command that made them are
//! recorded in BENCHMARKS.md.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use jetstream_core::bench_support::{AckFixture, PacketProtection};
use jetstream_core::{CryptoBackend, TransportConfig};
use std::hint::black_box;
use std::time::Duration;

mod support;
use support::{Bulk, Link, PACKET, RawCipher, handshake, suites};

/// The cipher alone: ring seal + open of a 1200-byte packet, the ceiling for bulk transfer.
fn bench_raw_aead(c: &mut Criterion) {
    let mut g = c.benchmark_group("raw_ring_seal_open_1200B");
    g.throughput(Throughput::Bytes(PACKET as u64));
    for (suite, name) in suites() {
        let mut raw = RawCipher::new(suite);
        g.bench_function(name, |b| b.iter(|| raw.seal_open()));
    }
    g.finish();
}

/// Our packet protection: AEAD plus header protection, both directions.
fn bench_packet_protection(c: &mut Criterion) {
    let mut g = c.benchmark_group("packet_seal_open_1200B");
    g.throughput(Throughput::Bytes(PACKET as u64));
    for (suite, name) in suites() {
        let p = PacketProtection::new(CryptoBackend::default(), suite);
        let mut buf = vec![0u8; PACKET];
        let mut pn = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                pn += 1;
                assert!(p.seal_and_open(pn, &mut buf));
            })
        });
    }
    g.finish();
}

/// The handshake's building blocks, to know its floor on this machine.
fn bench_primitives(c: &mut Criterion) {
    let mut g = c.benchmark_group("primitive");
    let secret = x25519_dalek::StaticSecret::from([0x11; 32]);
    let peer = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([0x22; 32]));
    g.bench_function("x25519_dh_ladder", |b| b.iter(|| black_box(secret.diffie_hellman(black_box(&peer)))));
    let (scalar, u) = (secret.to_bytes(), peer.to_bytes());
    g.bench_function("x25519_dh_edwards_form", |b| {
        b.iter(|| black_box(jetstream_core::bench_support::x25519(black_box(scalar), black_box(u))))
    });
    g.bench_function("x25519_public_key", |b| b.iter(|| black_box(x25519_dalek::PublicKey::from(black_box(&secret)))));
    use libcrux_ml_kem::mlkem768;
    let kp = mlkem768::generate_key_pair([7; 64]);
    let (ct, _) = mlkem768::encapsulate(kp.public_key(), [8; 32]);
    g.bench_function("mlkem768_keygen", |b| b.iter(|| black_box(mlkem768::generate_key_pair(black_box([7; 64])))));
    g.bench_function("mlkem768_encaps", |b| b.iter(|| black_box(mlkem768::encapsulate(kp.public_key(), [8; 32]))));
    g.bench_function("mlkem768_decaps", |b| b.iter(|| black_box(mlkem768::decapsulate(kp.private_key(), &ct))));
    g.bench_function("mlkem768_validate_ek", |b| b.iter(|| black_box(mlkem768::validate_public_key(kp.public_key()))));
    g.finish();
}

fn bench_ack_processing(c: &mut Criterion) {
    c.bench_function("ack_64_ranges", |b| {
        b.iter_batched(
            || AckFixture::new(64),
            |mut f| {
                f.process();
                f // dropped outside the measurement
            },
            BatchSize::SmallInput,
        )
    });
}

/// One full hybrid handshake, both sides, in memory; also reports the server's share.
fn bench_handshake(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    g.bench_function("both_sides", |b| {
        let mut seed = 0u8;
        b.iter_batched(
            || {
                seed = seed.wrapping_add(2);
                Link::new(seed, TransportConfig::default(), 16)
            },
            |mut link| {
                handshake(&mut link);
                link // dropped outside the measurement
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("server_share", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let mut link = Link::new(i as u8, TransportConfig::default(), 16);
                handshake(&mut link);
                total += link.server_time;
            }
            total
        })
    });
    g.finish();
}

/// Bulk stream transfer between two in-memory endpoints on one core (see `support::Bulk`).
/// `cargo bench --bench bulk_ratio` sets it against the raw cipher in interleaved rounds.
fn bench_bulk(c: &mut Criterion) {
    const CHUNK: u64 = 16 << 20;
    let mut g = c.benchmark_group("bulk_in_memory");
    g.throughput(Throughput::Bytes(CHUNK));
    g.sample_size(10);
    for (suite, name) in suites() {
        let mut bulk = Bulk::new(suite);
        g.bench_function(name, |b| b.iter(|| bulk.transfer(CHUNK)));
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_primitives,
    bench_raw_aead,
    bench_packet_protection,
    bench_ack_processing,
    bench_handshake,
    bench_bulk
);
criterion_main!(benches);
