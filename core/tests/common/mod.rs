//! Deterministic test harness: a client and a server endpoint joined by an in-memory link
//! with configurable latency, random loss, reordering, duplication and MTU, stepping virtual
//! time from deadline to deadline.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use jetstream_core::{
    ClientConfig, ConnectionHandle, Duration, Endpoint, EndpointConfig, Event, Instant, RecvMeta, ServerConfig,
    StaticKeypair, TransportConfig,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::Arc;

/// Impairments of one direction of the link.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub latency: Duration,
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability a datagram is delayed by up to `reorder_delay` extra (overtaken by later ones).
    pub reorder: f64,
    pub reorder_delay: Duration,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Datagrams larger than this are dropped.
    pub mtu: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Duration::from_millis(5),
            loss: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(3),
            duplicate: 0.0,
            mtu: 1500,
        }
    }
}

/// A small deterministic PRNG (SplitMix64) for link decisions.
#[derive(Debug, Clone)]
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        TestRng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

struct InFlight {
    at: Instant,
    seq: u64,
    from: SocketAddr,
    to_server: bool,
    data: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Hook to inspect or alter datagrams on the wire: return false to drop.
pub type Tamper = Box<dyn FnMut(bool, &mut Vec<u8>) -> bool>;

pub struct Pair {
    pub client: Endpoint,
    pub server: Endpoint,
    pub now: Instant,
    pub client_addr: SocketAddr,
    pub server_addr: SocketAddr,
    pub c2s: LinkConfig,
    pub s2c: LinkConfig,
    pub server_key: StaticKeypair,
    /// Transport settings of the client's connections.
    pub client_transport: Arc<TransportConfig>,
    pub client_events: Vec<(ConnectionHandle, Event)>,
    pub server_events: Vec<(ConnectionHandle, Event)>,
    /// Called on every datagram (true = towards the server) before impairments.
    pub tamper: Option<Tamper>,
    /// Every datagram sent, when recording (true = towards the server).
    pub record: Option<Vec<(bool, Vec<u8>)>>,
    wire: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    rng: TestRng,
    buf: Vec<u8>,
    pub datagrams_delivered: u64,
    /// Transmits that carried several GSO segments.
    pub gso_transmits: u64,
}

pub fn server_keypair() -> StaticKeypair {
    StaticKeypair::from_secret_bytes([0x5e; 32])
}

impl Pair {
    pub fn new(seed: u64) -> Self {
        Self::with_configs(seed, ServerConfig::new(server_keypair()), EndpointConfig::new([2; 32]))
    }

    /// Both sides use `transport`.
    pub fn with_transport(seed: u64, transport: TransportConfig) -> Self {
        let transport = Arc::new(transport);
        let mut sc = ServerConfig::new(server_keypair());
        sc.transport = transport.clone();
        let mut pair = Self::with_configs(seed, sc, EndpointConfig::new([2; 32]));
        pair.client_transport = transport;
        pair
    }

    pub fn with_configs(seed: u64, server_config: ServerConfig, client_endpoint: EndpointConfig) -> Self {
        let mut server_seed = [1u8; 32];
        server_seed[..8].copy_from_slice(&seed.to_le_bytes());
        let mut client_endpoint = client_endpoint;
        client_endpoint.rng_seed[8..16].copy_from_slice(&seed.to_le_bytes());
        let server_key = server_config.keypair.clone();
        Pair {
            client: Endpoint::new(client_endpoint, None).expect("valid configuration"),
            server: Endpoint::new(EndpointConfig::new(server_seed), Some(server_config)).expect("valid configuration"),
            now: Instant::from_millis(1_000),
            client_addr: "10.0.0.2:50000".parse().expect("addr"),
            server_addr: "10.0.0.1:4433".parse().expect("addr"),
            c2s: LinkConfig::default(),
            s2c: LinkConfig::default(),
            server_key,
            client_transport: Arc::new(TransportConfig::default()),
            client_events: Vec::new(),
            server_events: Vec::new(),
            tamper: None,
            record: None,
            wire: BinaryHeap::new(),
            seq: 0,
            rng: TestRng::new(seed ^ 0xabcdef),
            buf: vec![0; 65536],
            datagrams_delivered: 0,
            gso_transmits: 0,
        }
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(self.server_key.public_key());
        config.transport = self.client_transport.clone();
        config
    }

    pub fn set_loss(&mut self, loss: f64) {
        self.c2s.loss = loss;
        self.s2c.loss = loss;
    }

    pub fn connect(&mut self) -> ConnectionHandle {
        let cfg = self.client_config();
        self.connect_with(cfg)
    }

    pub fn connect_with(&mut self, cfg: ClientConfig) -> ConnectionHandle {
        self.client.connect(self.now, cfg, self.server_addr).expect("connect")
    }

    /// Moves every pending transmit onto the wire and every due datagram into its endpoint.
    pub fn drive(&mut self) {
        for _ in 0..1000 {
            let mut progressed = false;
            while let Some(t) = self.client.poll_transmit(self.now, &mut self.buf).expect("buffer holds a datagram") {
                self.send(true, t.size, t.segment_size);
                progressed = true;
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf).expect("buffer holds a datagram") {
                self.send(false, t.size, t.segment_size);
                progressed = true;
            }
            while let Some(Reverse(top)) = self.wire.peek() {
                if top.at > self.now {
                    break;
                }
                let Some(Reverse(mut d)) = self.wire.pop() else { break };
                let meta = RecvMeta::from_source(d.from);
                self.datagrams_delivered += 1;
                if d.to_server {
                    self.server.handle_datagram(self.now, meta, &mut d.data);
                } else {
                    self.client.handle_datagram(self.now, meta, &mut d.data);
                }
                progressed = true;
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            if !progressed {
                return;
            }
        }
    }

    fn send(&mut self, to_server: bool, size: usize, segment: Option<usize>) {
        let seg = segment.unwrap_or(size);
        self.gso_transmits += u64::from(seg < size);
        let mut offset = 0;
        while offset < size {
            let end = (offset + seg).min(size);
            let data = self.buf[offset..end].to_vec();
            offset = end;
            self.put_on_wire(to_server, data);
        }
    }

    fn put_on_wire(&mut self, to_server: bool, mut data: Vec<u8>) {
        if let Some(rec) = self.record.as_mut() {
            rec.push((to_server, data.clone()));
        }
        if let Some(t) = self.tamper.as_mut()
            && !t(to_server, &mut data)
        {
            return;
        }
        let link = if to_server { &self.c2s } else { &self.s2c };
        if data.len() > link.mtu || self.rng.chance(link.loss) {
            return;
        }
        let mut at = self.now + link.latency;
        if self.rng.chance(link.reorder) {
            at += Duration::from_nanos(self.rng.below(link.reorder_delay.as_nanos() as u64 + 1));
        }
        let copies = if self.rng.chance(link.duplicate) { 2 } else { 1 };
        let from = if to_server { self.client_addr } else { self.server_addr };
        for _ in 0..copies {
            self.seq += 1;
            self.wire.push(Reverse(InFlight { at, seq: self.seq, from, to_server, data: data.clone() }));
        }
    }

    /// Injects a datagram as if it came from `from` (towards the server if `to_server`).
    pub fn inject(&mut self, to_server: bool, from: SocketAddr, data: Vec<u8>) {
        self.seq += 1;
        self.wire.push(Reverse(InFlight { at: self.now, seq: self.seq, from, to_server, data }));
    }

    /// Advances virtual time to the next event (delivery or timer), but not beyond `until`.
    /// False when nothing is left to do before `until`.
    pub fn step_until(&mut self, until: Instant) -> bool {
        self.drive();
        let next_wire = self.wire.peek().map(|Reverse(d)| d.at);
        let next = [next_wire, self.client.poll_timeout(), self.server.poll_timeout()].into_iter().flatten().min();
        let Some(next) = next.filter(|n| *n <= until) else {
            self.now = self.now.max(until);
            return false;
        };
        if next > self.now {
            self.now = next;
        }
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.drive();
        true
    }

    /// Steps until `done` holds; false if virtual `limit` passes or nothing is left to do.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let end = self.now + limit;
        for _ in 0..50_000_000u64 {
            if done(self) {
                return true;
            }
            if !self.step_until(end) {
                return done(self);
            }
        }
        false
    }

    pub fn client_connected(&self, h: ConnectionHandle) -> bool {
        self.client_events.iter().any(|(ch, e)| *ch == h && *e == Event::Connected)
    }

    pub fn server_handle(&self) -> Option<ConnectionHandle> {
        self.server_events.iter().find(|(_, e)| *e == Event::Connected).map(|(h, _)| *h)
    }

    /// Connects and runs until both sides report `Connected`.
    pub fn handshake(&mut self) -> (ConnectionHandle, ConnectionHandle) {
        let c = self.connect();
        let ok = self.run_until(Duration::from_secs(30), |p| p.client_connected(c) && p.server_handle().is_some());
        assert!(ok, "handshake did not complete: client {:?} server {:?}", self.client_events, self.server_events);
        (c, self.server_handle().expect("server handle"))
    }
}

/// The byte at stream offset `i` of test transfers: position-dependent, so a misplaced,
/// duplicated or corrupted byte is caught.
pub fn pattern_byte(i: u64) -> u8 {
    (i.wrapping_mul(0x9e37_79b1) >> 13) as u8 ^ (i >> 20) as u8
}

pub fn fill_pattern(offset: u64, out: &mut [u8]) {
    for (k, b) in out.iter_mut().enumerate() {
        *b = pattern_byte(offset + k as u64);
    }
}

/// One stream carrying `total` pattern bytes from client to server.
pub struct BulkTransfer {
    pub total: u64,
    pub sent: u64,
    pub received: u64,
    stream: Option<jetstream_core::StreamId>,
    finished: bool,
    recv_stream: Option<jetstream_core::StreamId>,
    pub done: bool,
    buf: Vec<u8>,
    /// Reads so far; odd ones use `read_chunk`, even ones `read`.
    reads: u64,
    /// Pattern bytes from `sent` onwards, generated once and written as flow control allows.
    out: Vec<u8>,
    out_pos: usize,
}

impl BulkTransfer {
    pub fn new(total: u64) -> Self {
        BulkTransfer {
            total,
            sent: 0,
            received: 0,
            stream: None,
            finished: false,
            recv_stream: None,
            done: false,
            buf: vec![0; 256 << 10],
            reads: 0,
            out: Vec::new(),
            out_pos: 0,
        }
    }

    /// Writes what flow control allows and reads what arrived; panics on corrupted data.
    pub fn pump(&mut self, pair: &mut Pair, c: ConnectionHandle, s: ConnectionHandle) {
        if let Some(conn) = pair.client.connection(c) {
            let id = *self.stream.get_or_insert_with(|| conn.open(jetstream_core::Dir::Uni).expect("open stream"));
            while self.sent < self.total {
                if self.out_pos == self.out.len() {
                    let n = ((self.total - self.sent) as usize).min(256 << 10);
                    self.out.resize(n, 0);
                    fill_pattern(self.sent, &mut self.out);
                    self.out_pos = 0;
                }
                match conn.write(id, &self.out[self.out_pos..]) {
                    Ok(w) => {
                        self.sent += w as u64;
                        self.out_pos += w;
                    }
                    Err(jetstream_core::WriteError::Blocked) => break,
                    Err(e) => panic!("write failed: {e}"),
                }
            }
            if self.sent == self.total && !self.finished {
                conn.finish(id).expect("finish");
                self.finished = true;
            }
        }
        let Some(conn) = pair.server.connection(s) else { return };
        if self.recv_stream.is_none() {
            self.recv_stream = conn.accept(jetstream_core::Dir::Uni);
        }
        let Some(id) = self.recv_stream else { return };
        // Alternate the copying and the zero-copy read so every transfer checks both.
        loop {
            self.reads += 1;
            let outcome = if self.reads % 2 == 0 {
                conn.read(id, &mut self.buf).map(|n| n.map(|n| &self.buf[..n]))
            } else {
                conn.read_chunk(id, 256 << 10)
            };
            match outcome {
                Ok(Some(data)) => {
                    for (k, b) in data.iter().enumerate() {
                        let at = self.received + k as u64;
                        assert_eq!(*b, pattern_byte(at), "corrupted byte at offset {at}");
                    }
                    self.received += data.len() as u64;
                }
                Ok(None) => {
                    assert_eq!(self.received, self.total, "stream ended early");
                    self.done = true;
                    return;
                }
                Err(jetstream_core::ReadError::Blocked) => return,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }
}

/// A completed bulk transfer.
pub struct BulkRun {
    /// Virtual time from the end of the handshake to the last byte read.
    pub took: Duration,
    pub client: ConnectionHandle,
    pub server: ConnectionHandle,
}

/// Connects and runs a full bulk transfer of `total` bytes, checking every byte.
pub fn run_bulk(pair: &mut Pair, total: u64, limit: Duration) -> BulkRun {
    let (c, s) = pair.handshake();
    let start = pair.now;
    let mut t = BulkTransfer::new(total);
    let ok = pair.run_until(limit, |p| {
        t.pump(p, c, s);
        t.done
    });
    assert!(
        ok,
        "transfer incomplete: {} of {} bytes received, client {:?}",
        t.received,
        total,
        pair.client.connection(c).map(|c| c.stats())
    );
    BulkRun { took: pair.now - start, client: c, server: s }
}
