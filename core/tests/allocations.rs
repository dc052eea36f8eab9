//! Heap use of the core: steady-state bulk transfer performs (almost) no allocation per
//! packet, and an idle connection holds little memory.
//!
//! A counting global allocator attributes every allocation to the side whose code is running
//! (a thread-local marker set around each endpoint call), per test thread. The driving loops
//! reuse their buffers, so whatever is counted comes from the endpoints.

use jetstream_core::{
    ClientConfig, Dir, Endpoint, EndpointConfig, Event, Instant, ReadError, RecvMeta, ServerConfig, StaticKeypair,
    WriteError,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

struct Counting;

thread_local! {
    /// 0: harness, 1: client endpoint, 2: server endpoint.
    static SIDE: Cell<usize> = const { Cell::new(0) };
    /// Allocations (including reallocations) per side, on this thread.
    static ALLOCS: [Cell<u64>; 3] = const { [Cell::new(0), Cell::new(0), Cell::new(0)] };
    /// Bytes allocated minus bytes freed per side, on this thread.
    static NET_BYTES: [Cell<i64>; 3] = const { [Cell::new(0), Cell::new(0), Cell::new(0)] };
}

fn record(delta_bytes: i64, counts_as_allocation: bool) {
    let side = SIDE.try_with(Cell::get).unwrap_or(0);
    let _ = NET_BYTES.try_with(|n| n[side].set(n[side].get() + delta_bytes));
    if counts_as_allocation {
        let _ = ALLOCS.try_with(|a| a[side].set(a[side].get() + 1));
    }
}

fn allocations(side: usize) -> u64 {
    ALLOCS.with(|a| a[side].get())
}

fn net_bytes(side: usize) -> i64 {
    NET_BYTES.with(|n| n[side].get())
}

#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as i64, true);
        // SAFETY: forwarding to the system allocator with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(-(layout.size() as i64), false);
        // SAFETY: forwarding a pointer the system allocator produced.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size as i64 - layout.size() as i64, true);
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
    let mut server =
        Endpoint::new(EndpointConfig::new([1; 32]), Some(ServerConfig::new(key.clone()))).expect("valid configuration");
    let mut client = Endpoint::new(EndpointConfig::new([2; 32]), None).expect("valid configuration");
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
            while let Some(t) = client.poll_transmit(now, &mut tx).expect("buffer holds a datagram") {
                let mut b = pool.pop().expect("pool");
                b[..t.size].copy_from_slice(&tx[..t.size]);
                to_server.push_back((b, t.size));
            }
        });
        as_side(2, || {
            while let Some(t) = server.poll_transmit(now, &mut tx).expect("buffer holds a datagram") {
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
            let counts = [0, 1, 2].map(allocations);
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
    let client_allocs = allocations(1) - base[1];
    let server_allocs = allocations(2) - base[2];
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

/// Moves datagrams between the endpoints until neither has anything to send.
fn exchange(
    client: &mut Endpoint,
    server: &mut Endpoint,
    now: Instant,
    client_addr: SocketAddr,
    server_addr: SocketAddr,
) {
    let mut tx = vec![0u8; 65536];
    for _ in 0..100 {
        let mut to_server = Vec::new();
        as_side(1, || {
            while let Some(t) = client.poll_transmit(now, &mut tx).expect("buffer holds a datagram") {
                to_server.push(tx[..t.size].to_vec());
            }
        });
        let mut to_client = Vec::new();
        as_side(2, || {
            while let Some(t) = server.poll_transmit(now, &mut tx).expect("buffer holds a datagram") {
                to_client.push(tx[..t.size].to_vec());
            }
        });
        if to_server.is_empty() && to_client.is_empty() {
            return;
        }
        for mut d in to_server {
            as_side(2, || server.handle_datagram(now, RecvMeta::from_source(client_addr), &mut d));
        }
        for mut d in to_client {
            as_side(1, || client.handle_datagram(now, RecvMeta::from_source(server_addr), &mut d));
        }
    }
}

#[test]
fn an_idle_connection_holds_less_than_16_kib() {
    const CONNECTIONS: usize = 1000;
    let key = StaticKeypair::from_secret_bytes([9; 32]);
    let server_addr: SocketAddr = "10.9.1.1:443".parse().expect("addr");
    let client_addr: SocketAddr = "10.9.1.2:5000".parse().expect("addr");
    let mut server = as_side(2, || {
        Endpoint::new(EndpointConfig::new([1; 32]), Some(ServerConfig::new(key.clone()))).expect("valid configuration")
    });
    let mut client = as_side(1, || Endpoint::new(EndpointConfig::new([2; 32]), None).expect("valid configuration"));
    let now = Instant::from_millis(1);
    // Everything the endpoints allocate from here on is charged to the connections,
    // including their share of the endpoints' tables.
    let before = [net_bytes(1), net_bytes(2)];
    for _ in 0..CONNECTIONS {
        as_side(1, || client.connect(now, ClientConfig::new(key.public_key()), server_addr).expect("connect"));
        exchange(&mut client, &mut server, now, client_addr, server_addr);
    }
    let mut connected = [0usize; 2];
    as_side(1, || {
        while let Some((_, e)) = client.poll_event() {
            connected[0] += usize::from(e == Event::Connected);
        }
    });
    as_side(2, || {
        while let Some((_, e)) = server.poll_event() {
            connected[1] += usize::from(e == Event::Connected);
        }
    });
    assert_eq!(connected, [CONNECTIONS, CONNECTIONS], "all handshakes completed");
    let per_client = (net_bytes(1) - before[0]) / CONNECTIONS as i64;
    let per_server = (net_bytes(2) - before[1]) / CONNECTIONS as i64;
    eprintln!("idle connection heap: client {per_client} bytes, server {per_server} bytes (endpoint tables included)");
    assert!(per_client < 16 << 10, "client side: {per_client} bytes per idle connection");
    assert!(per_server < 16 << 10, "server side: {per_server} bytes per idle connection");
}
