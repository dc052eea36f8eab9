//! Micro and in-memory benchmarks of the core. Results and the command that made them are
//! recorded in BENCHMARKS.md.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use jetstream_core::bench_support::{AckFixture, PacketProtection};
use jetstream_core::{
    CipherSuite, ClientConfig, CryptoBackend, Dir, Endpoint, EndpointConfig, Event, Instant, ReadError, RecvMeta,
    ServerConfig, StaticKeypair, TransportConfig, WriteError,
};
use std::collections::VecDeque;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant as Wall};

const PACKET: usize = 1200;
const TAG: usize = 16;

fn suites() -> [(CipherSuite, &'static str); 2] {
    [(CipherSuite::ChaCha20Poly1305, "chacha20poly1305"), (CipherSuite::Aes256Gcm, "aes256gcm")]
}

fn raw_ring_key(suite: CipherSuite) -> ring::aead::LessSafeKey {
    let alg = match suite {
        CipherSuite::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
        CipherSuite::Aes256Gcm => &ring::aead::AES_256_GCM,
    };
    ring::aead::LessSafeKey::new(ring::aead::UnboundKey::new(alg, &[0x42; 32]).expect("key"))
}

/// The cipher alone: ring seal + open of a 1200-byte packet, the ceiling for bulk transfer.
fn bench_raw_aead(c: &mut Criterion) {
    let mut g = c.benchmark_group("raw_ring_seal_open_1200B");
    g.throughput(Throughput::Bytes(PACKET as u64));
    for (suite, name) in suites() {
        let key = raw_ring_key(suite);
        let mut buf = vec![0u8; PACKET];
        g.bench_function(name, |b| {
            b.iter(|| {
                let (header, body) = buf.split_at_mut(13);
                let (payload, tag_room) = body.split_at_mut(PACKET - 13 - TAG);
                let nonce = ring::aead::Nonce::assume_unique_for_key([1; 12]);
                let tag =
                    key.seal_in_place_separate_tag(nonce, ring::aead::Aad::from(&*header), payload).expect("seal");
                tag_room.copy_from_slice(tag.as_ref());
                let nonce = ring::aead::Nonce::assume_unique_for_key([1; 12]);
                let ok = key.open_in_place(nonce, ring::aead::Aad::from(&*header), body).is_ok();
                black_box(ok)
            })
        });
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

struct Link {
    client: Endpoint,
    server: Endpoint,
    client_addr: SocketAddr,
    server_addr: SocketAddr,
    /// Transmit buffers (room for a full GSO batch each), handed across without copying.
    pool: Vec<Vec<u8>>,
    to_server: VecDeque<InFlight>,
    to_client: VecDeque<InFlight>,
    now: Instant,
    /// Wall time spent inside server calls.
    server_time: Duration,
    /// Client settings, built once (with the pinned server key) as an application would.
    client_config: ClientConfig,
}

/// One transmit on its way: the buffer it was written into, its length and segment size.
struct InFlight {
    buf: Vec<u8>,
    size: usize,
    segment_size: usize,
}

impl Link {
    /// `pool_size` transmit buffers must cover one turn's worth of transmits in both directions.
    fn new(seed: u8, transport: TransportConfig, pool_size: usize) -> Self {
        let key = StaticKeypair::from_secret_bytes([9; 32]);
        let mut client_config = ClientConfig::new(key.public_key());
        client_config.transport = Arc::new(transport.clone());
        let mut sc = ServerConfig::new(key);
        sc.transport = Arc::new(transport);
        // Up to 10 segments per transmit, as the socket adapters use with GSO.
        let endpoint_config = |s: u8| EndpointConfig { max_gso_segments: 10, ..EndpointConfig::new([s; 32]) };
        Link {
            client: Endpoint::new(endpoint_config(seed), None).expect("valid configuration"),
            server: Endpoint::new(endpoint_config(seed.wrapping_add(1)), Some(sc)).expect("valid configuration"),
            client_addr: "10.0.0.2:5000".parse().expect("addr"),
            server_addr: "10.0.0.1:443".parse().expect("addr"),
            pool: (0..pool_size).map(|_| vec![0u8; 10 * 1500]).collect(),
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            now: Instant::from_millis(1),
            server_time: Duration::ZERO,
            client_config,
        }
    }

    /// Drains `endpoint`'s transmits into pooled buffers queued for the other side: like a
    /// kernel's socket buffer, but handing the buffer over instead of copying it.
    fn send_all(now: Instant, endpoint: &mut Endpoint, pool: &mut Vec<Vec<u8>>, queue: &mut VecDeque<InFlight>) {
        loop {
            let mut buf = pool.pop().expect("pool holds a turn's transmits");
            match endpoint.poll_transmit(now, &mut buf).expect("buffer holds a GSO batch") {
                Some(t) => {
                    queue.push_back(InFlight { buf, size: t.size, segment_size: t.segment_size.unwrap_or(t.size) })
                }
                None => {
                    pool.push(buf);
                    return;
                }
            }
        }
    }

    /// Hands every queued datagram to `endpoint`, segment by segment, decrypting in place.
    fn deliver_all(
        now: Instant,
        endpoint: &mut Endpoint,
        from: SocketAddr,
        pool: &mut Vec<Vec<u8>>,
        queue: &mut VecDeque<InFlight>,
    ) {
        while let Some(mut t) = queue.pop_front() {
            for segment in t.buf[..t.size].chunks_mut(t.segment_size) {
                endpoint.handle_datagram(now, RecvMeta::from_source(from), segment);
            }
            pool.push(t.buf);
        }
    }

    /// Moves all pending datagrams across (no loss, `step` of virtual time per turn).
    fn turn(&mut self, step: Duration) {
        Self::send_all(self.now, &mut self.client, &mut self.pool, &mut self.to_server);
        let start = Wall::now();
        Self::send_all(self.now, &mut self.server, &mut self.pool, &mut self.to_client);
        Self::deliver_all(self.now, &mut self.server, self.client_addr, &mut self.pool, &mut self.to_server);
        self.server_time += start.elapsed();
        Self::deliver_all(self.now, &mut self.client, self.server_addr, &mut self.pool, &mut self.to_client);
        self.now += step;
        self.client.handle_timeout(self.now);
        let start = Wall::now();
        self.server.handle_timeout(self.now);
        self.server_time += start.elapsed();
    }
}

fn handshake(link: &mut Link) -> (jetstream_core::ConnectionHandle, jetstream_core::ConnectionHandle) {
    let cfg = link.client_config.clone();
    let c = link.client.connect(link.now, cfg, link.server_addr).expect("connect");
    let (mut client_ok, mut server) = (false, None);
    for _ in 0..100 {
        link.turn(Duration::from_micros(50));
        while let Some((_, e)) = link.client.poll_event() {
            client_ok |= e == Event::Connected;
        }
        let start = Wall::now();
        while let Some((h, e)) = link.server.poll_event() {
            if e == Event::Connected {
                server = Some(h);
            }
        }
        link.server_time += start.elapsed();
        if let (true, Some(s)) = (client_ok, server) {
            return (c, s);
        }
    }
    panic!("handshake did not complete");
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

/// Bulk stream transfer between two in-memory endpoints on one core.
fn bench_bulk(c: &mut Criterion) {
    const CHUNK: u64 = 16 << 20;
    let mut g = c.benchmark_group("bulk_in_memory");
    g.throughput(Throughput::Bytes(CHUNK));
    g.sample_size(10);
    for (prefer_aes, name) in [(false, "chacha20poly1305"), (true, "aes256gcm")] {
        let transport = TransportConfig { prefer_aes, ..Default::default() };
        let mut link = Link::new(7, transport, 256);
        let cfg = link.client_config.clone();
        let ch = link.client.connect(link.now, cfg, link.server_addr).expect("connect");
        let mut server_conn = None;
        while server_conn.is_none() {
            link.turn(Duration::from_micros(50));
            while link.client.poll_event().is_some() {}
            while let Some((h, e)) = link.server.poll_event() {
                if e == Event::Connected {
                    server_conn = Some(h);
                }
            }
        }
        let sh = server_conn.expect("server");
        let suite = link.client.connection(ch).expect("conn").cipher_suite();
        assert_eq!(suite == CipherSuite::Aes256Gcm, prefer_aes, "negotiated {suite:?}");
        let id = link.client.connection(ch).expect("conn").open(Dir::Uni).expect("stream");
        // The zero-copy write path: the application hands over `Bytes` it already owns.
        let payload = bytes::Bytes::from(vec![0x5au8; 1 << 20]);
        let mut offset = 0usize;
        let mut rid = None;
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut got = 0u64;
                while got < CHUNK {
                    let conn = link.client.connection(ch).expect("conn");
                    loop {
                        if offset + (64 << 10) > payload.len() {
                            offset = 0;
                        }
                        match conn.write_bytes(id, payload.slice(offset..offset + (64 << 10))) {
                            Ok(()) => offset += 64 << 10,
                            Err(WriteError::Blocked) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    link.turn(Duration::from_micros(100));
                    while link.client.poll_event().is_some() {}
                    while link.server.poll_event().is_some() {}
                    let conn = link.server.connection(sh).expect("conn");
                    if rid.is_none() {
                        rid = conn.accept(Dir::Uni);
                    }
                    if let Some(r) = rid {
                        loop {
                            match conn.read_chunk(r, usize::MAX) {
                                Ok(Some(chunk)) => got += black_box(chunk).len() as u64,
                                Ok(None) | Err(ReadError::Blocked) => break,
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                }
            })
        });
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
