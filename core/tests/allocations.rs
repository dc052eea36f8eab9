//! Steady-state bulk transfer performs (almost) no heap allocation per packet.
//!
//! A counting global allocator attributes every allocation to the side whose code is running
//! (a thread-local marker set around each endpoint call). The driving loop reuses all its
//! buffers, so whatever is counted comes from the endpoints.

use jetstream_core::{
    ClientConfig, Dir, Endpoint, EndpointConfig, Event, Instant, ReadError, RecvMeta, ServerConfig, StaticKeypair,
    WriteError,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

struct Counting;

static ALLOCS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

thread_local! {
    /// 0: harness, 1: client endpoint, 2: server endpoint.
    static SIDE: Cell<usize> = const { Cell::new(0) };
}

#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let side = SIDE.try_with(Cell::get).unwrap_or(0);
        ALLOCS[side].fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarding to the system allocator with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarding a pointer the system allocator produced.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let side = SIDE.try_with(Cell::get).unwrap_or(0);
        ALLOCS[side].fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarding to the system allocator with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn as_side<T>(side: usize, f: impl FnOnce() -> T) -> T {
    SIDE.with(|s| s.set(side));
    let out = f();
    SIDE.with(|s| s.set(0));
    out
}

#[test]
fn steady_state_bulk_transfer_allocates_less_than_once_per_100_packets() {
    let key = StaticKeypair::from_secret_bytes([9; 32]);
    let server_addr: SocketAddr = "10.9.0.1:443".parse().expect("addr");
    let client_addr: SocketAddr = "10.9.0.2:5000".parse().expect("addr");
    let mut server = Endpoint::new(EndpointConfig::new([1; 32]), Some(ServerConfig::new(key.clone())));
    let mut client = Endpoint::new(EndpointConfig::new([2; 32]), None);
    let mut now = Instant::from_millis(1);
    let c = client.connect(now, ClientConfig::new(key.public_key()), server_addr).expect("connect");

    // Reused buffers: a pool of datagram buffers and the two queues between the sides.
    let mut pool: Vec<Vec<u8>> = (0..4096).map(|_| vec![0u8; 2048]).collect();
    let mut to_server: VecDeque<(Vec<u8>, usize)> = VecDeque::with_capacity(4096);
    let mut to_client: VecDeque<(Vec<u8>, usize)> = VecDeque::with_capacity(4096);
    let mut tx = vec![0u8; 65536];
    let payload = vec![0xabu8; 1 << 20];
    let mut read_buf = vec![0u8; 1 << 20];
    let mut stream = None;
    let mut server_conn = None;
    let mut server_stream = None;
    let mut received: u64 = 0;
    let mut baseline: Option<([u64; 3], u64, u64)> = None;
    const WARMUP: u64 = 16 << 20;
    const MEASURED: u64 = 64 << 20;

    for _ in 0..2_000_000 {
        as_side(1, || {
            while let Some(t) = client.poll_transmit(now, &mut tx) {
                let mut b = pool.pop().expect("pool");
                b[..t.size].copy_from_slice(&tx[..t.size]);
                to_server.push_back((b, t.size));
            }
        });
        as_side(2, || {
            while let Some(t) = server.poll_transmit(now, &mut tx) {
                let mut b = pool.pop().expect("pool");
                b[..t.size].copy_from_slice(&tx[..t.size]);
                to_client.push_back((b, t.size));
            }
        });
        while let Some((mut b, n)) = to_server.pop_front() {
            as_side(2, || server.handle_datagram(now, RecvMeta::from_source(client_addr), &mut b[..n]));
            pool.push(b);
        }
        while let Some((mut b, n)) = to_client.pop_front() {
            as_side(1, || client.handle_datagram(now, RecvMeta::from_source(server_addr), &mut b[..n]));
            pool.push(b);
        }
        as_side(1, || {
            while let Some((_, e)) = client.poll_event() {
                if e == Event::Connected {
                    stream = client.connection(c).and_then(|conn| conn.open(Dir::Uni));
                }
            }
            if let (Some(id), Some(conn)) = (stream, client.connection(c)) {
                loop {
                    match conn.write(id, &payload) {
                        Ok(_) => {}
                        Err(WriteError::Blocked) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        as_side(2, || {
            while let Some((h, e)) = server.poll_event() {
                if e == Event::Connected {
                    server_conn = Some(h);
                }
            }
            if let Some(conn) = server_conn.and_then(|h| server.connection(h)) {
                if server_stream.is_none() {
                    server_stream = conn.accept(Dir::Uni);
                }
                if let Some(id) = server_stream {
                    loop {
                        match conn.read(id, &mut read_buf) {
                            Ok(Some(n)) => received += n as u64,
                            Ok(None) | Err(ReadError::Blocked) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            }
        });
        if baseline.is_none() && received >= WARMUP {
            let counts = [0, 1, 2].map(|i| ALLOCS[i].load(Ordering::Relaxed));
            let cp = client.connection(c).map(|x| x.stats()).expect("c");
            let sp = server.connection(server_conn.expect("s")).map(|x| x.stats()).expect("s");
            baseline = Some((counts, cp.packets_sent + cp.packets_received, sp.packets_sent + sp.packets_received));
        }
        if received >= WARMUP + MEASURED {
            break;
        }
        // 100 µs per turn: a short but non-zero RTT.
        now += Duration::from_micros(100);
        as_side(1, || client.handle_timeout(now));
        as_side(2, || server.handle_timeout(now));
    }
    assert!(received >= WARMUP + MEASURED, "transfer stalled at {received} bytes");
    let (base, base_cp, base_sp) = baseline.expect("warmed up");
    let cp = client.connection(c).map(|x| x.stats()).expect("c");
    let sp = server.connection(server_conn.expect("s")).map(|x| x.stats()).expect("s");
    let client_packets = cp.packets_sent + cp.packets_received - base_cp;
    let server_packets = sp.packets_sent + sp.packets_received - base_sp;
    let client_allocs = ALLOCS[1].load(Ordering::Relaxed) - base[1];
    let server_allocs = ALLOCS[2].load(Ordering::Relaxed) - base[2];
    let per_client = client_allocs as f64 / client_packets as f64;
    let per_server = server_allocs as f64 / server_packets as f64;
    eprintln!(
        "client: {client_allocs} allocations / {client_packets} packets = {per_client:.5}; \
         server: {server_allocs} / {server_packets} = {per_server:.5}"
    );
    assert!(client_packets > 50_000 && server_packets > 50_000);
    assert!(per_client < 0.01, "client allocates {per_client} per packet");
    assert!(per_server < 0.01, "server allocates {per_server} per packet");
}
