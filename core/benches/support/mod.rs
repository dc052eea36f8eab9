//! Shared by the benchmarks: the raw cipher loop, an in-memory link between two endpoints and
//! a bulk transfer over it.

#![allow(dead_code, unreachable_pub)] // each bench binary uses its own subset

use jetstream_core::{
    CipherSuite, ClientConfig, ConnectionHandle, Dir, Endpoint, EndpointConfig, Event, Instant, ReadError, RecvMeta,
    ServerConfig, StaticKeypair, StreamId, TransportConfig, WriteError,
};
use std::collections::VecDeque;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant as Wall};

pub const PACKET: usize = 1200;
pub const TAG: usize = 16;

pub fn suites() -> [(CipherSuite, &'static str); 2] {
    [(CipherSuite::ChaCha20Poly1305, "chacha20poly1305"), (CipherSuite::Aes256Gcm, "aes256gcm")]
}

pub fn raw_ring_key(suite: CipherSuite) -> ring::aead::LessSafeKey {
    let alg = match suite {
        CipherSuite::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
        CipherSuite::Aes256Gcm => &ring::aead::AES_256_GCM,
    };
    ring::aead::LessSafeKey::new(ring::aead::UnboundKey::new(alg, &[0x42; 32]).expect("key"))
}

/// The cipher alone: ring seal + open of one 1200-byte packet, the ceiling for bulk transfer.
pub struct RawCipher {
    key: ring::aead::LessSafeKey,
    buf: Vec<u8>,
}

impl RawCipher {
    pub fn new(suite: CipherSuite) -> Self {
        RawCipher { key: raw_ring_key(suite), buf: vec![0u8; PACKET] }
    }

    pub fn seal_open(&mut self) -> bool {
        let (header, body) = self.buf.split_at_mut(13);
        let (payload, tag_room) = body.split_at_mut(PACKET - 13 - TAG);
        let nonce = ring::aead::Nonce::assume_unique_for_key([1; 12]);
        let tag = self.key.seal_in_place_separate_tag(nonce, ring::aead::Aad::from(&*header), payload).expect("seal");
        tag_room.copy_from_slice(tag.as_ref());
        let nonce = ring::aead::Nonce::assume_unique_for_key([1; 12]);
        let ok = self.key.open_in_place(nonce, ring::aead::Aad::from(&*header), body).is_ok();
        black_box(ok)
    }
}

pub struct Link {
    pub client: Endpoint,
    pub server: Endpoint,
    pub client_addr: SocketAddr,
    pub server_addr: SocketAddr,
    /// Transmit buffers (room for a full GSO batch each), handed across without copying.
    pool: Vec<Vec<u8>>,
    to_server: VecDeque<InFlight>,
    to_client: VecDeque<InFlight>,
    pub now: Instant,
    /// Wall time spent inside server calls.
    pub server_time: Duration,
    /// Client settings, built once (with the pinned server key) as an application would.
    pub client_config: ClientConfig,
}

/// One transmit on its way: the buffer it was written into, its length and segment size.
struct InFlight {
    buf: Vec<u8>,
    size: usize,
    segment_size: usize,
}

impl Link {
    /// `pool_size` transmit buffers must cover one turn's worth of transmits in both directions.
    pub fn new(seed: u8, transport: TransportConfig, pool_size: usize) -> Self {
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
    pub fn turn(&mut self, step: Duration) {
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

pub fn handshake(link: &mut Link) -> (jetstream_core::ConnectionHandle, jetstream_core::ConnectionHandle) {
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

/// One stream carrying bulk data from the client to the server over a [`Link`]: the client
/// writes with the zero-copy `write_bytes`, the server reads with the zero-copy `read_chunk`.
pub struct Bulk {
    link: Link,
    client: ConnectionHandle,
    server: ConnectionHandle,
    send: StreamId,
    recv: Option<StreamId>,
    payload: bytes::Bytes,
    offset: usize,
}

impl Bulk {
    pub fn new(suite: CipherSuite) -> Self {
        let prefer_aes = suite == CipherSuite::Aes256Gcm;
        let transport = TransportConfig { prefer_aes, ..Default::default() };
        let mut link = Link::new(7, transport, 256);
        let (client, server) = handshake(&mut link);
        let conn = link.client.connection(client).expect("conn");
        assert_eq!(conn.cipher_suite(), suite, "negotiated suite");
        let send = conn.open(Dir::Uni).expect("stream");
        let payload = bytes::Bytes::from(vec![0x5au8; 1 << 20]);
        Bulk { link, client, server, send, recv: None, payload, offset: 0 }
    }

    /// Moves at least `bytes` of stream data across.
    pub fn transfer(&mut self, bytes: u64) {
        const WRITE: usize = 64 << 10;
        let link = &mut self.link;
        let mut got = 0u64;
        while got < bytes {
            let conn = link.client.connection(self.client).expect("conn");
            loop {
                if self.offset + WRITE > self.payload.len() {
                    self.offset = 0;
                }
                match conn.write_bytes(self.send, self.payload.slice(self.offset..self.offset + WRITE)) {
                    Ok(()) => self.offset += WRITE,
                    Err(WriteError::Blocked) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            link.turn(Duration::from_micros(100));
            while link.client.poll_event().is_some() {}
            while link.server.poll_event().is_some() {}
            let conn = link.server.connection(self.server).expect("conn");
            if self.recv.is_none() {
                self.recv = conn.accept(Dir::Uni);
            }
            if let Some(r) = self.recv {
                loop {
                    match conn.read_chunk(r, usize::MAX) {
                        Ok(Some(chunk)) => got += black_box(chunk).len() as u64,
                        Ok(None) | Err(ReadError::Blocked) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }
    }
}
