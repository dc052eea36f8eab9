//! The test protocol on jetstream-mio: hand-written poll loops.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jetstream_core::{ConnectionHandle, Dir, Event, PublicKey, ServerConfig, StaticKeypair, StreamEvent, StreamId};
use jetstream_mio::{Endpoint, EndpointOptions};
use mio::{Events, Poll, Token};

use crate::PeerOptions;
use crate::async_peer::Started;
use crate::digest::{ANSWER_LEN, Digest, Sender, check_answer};

/// An endpoint with its own poll, stepped a little at a time.
struct Looper {
    endpoint: Endpoint,
    poll: Poll,
    events: Events,
}

impl Looper {
    fn new(endpoint: Endpoint) -> io::Result<Self> {
        let mut looper = Looper { endpoint, poll: Poll::new()?, events: Events::with_capacity(64) };
        looper.endpoint.register(looper.poll.registry(), Token(0))?;
        Ok(looper)
    }

    /// Sends what is queued, waits up to 10 ms for the socket or the deadline, handles it.
    fn step(&mut self) -> io::Result<()> {
        self.endpoint.drive()?;
        let timeout = self.endpoint.poll_timeout().unwrap_or(Duration::MAX).min(Duration::from_millis(10));
        self.poll.poll(&mut self.events, Some(timeout))?;
        for event in self.events.iter() {
            self.endpoint.on_event(event)?;
        }
        self.endpoint.on_timeout()
    }
}

/// A stream the server is reading, then answering.
#[derive(Default)]
struct Answering {
    digest: Digest,
    answer: Option<Vec<u8>>,
}

pub(crate) fn start_server(keypair: StaticKeypair, options: &PeerOptions) -> Started {
    let mut endpoint_options = EndpointOptions::server(ServerConfig::new(keypair)).expect("OS RNG");
    endpoint_options.socket = options.socket.clone();
    let endpoint = Endpoint::bind(options.bind, endpoint_options).expect("bind server");
    let addr = endpoint.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = stop.clone();
    let thread = std::thread::spawn(move || serve(Looper::new(endpoint).expect("poll"), &stop_flag));
    (addr, Box::new(move || stop.store(true, Ordering::Relaxed)), thread)
}

fn serve(mut looper: Looper, stop: &AtomicBool) {
    let mut streams: HashMap<(ConnectionHandle, StreamId), Answering> = HashMap::new();
    let mut connections = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut stopping: Option<Instant> = None;
    loop {
        if stopping.is_none() && stop.load(Ordering::Relaxed) {
            for &h in &connections {
                looper.endpoint.close(h, 0, b"server stopped");
            }
            stopping = Some(Instant::now());
        }
        // Done once every connection drained (bounded: the closing period is short).
        if let Some(since) = stopping
            && (looper.endpoint.core().connection_count() == 0 || since.elapsed() > Duration::from_secs(10))
        {
            return;
        }
        looper.step().expect("server socket");
        let ep = &mut looper.endpoint;
        while let Some((h, event)) = ep.poll_event() {
            match event {
                Event::Connected => connections.push(h),
                Event::Stream(StreamEvent::Opened { dir: Dir::Bi }) => {
                    while let Some(id) = ep.connection(h).and_then(|c| c.accept(Dir::Bi)) {
                        streams.insert((h, id), Answering::default());
                    }
                }
                Event::Drained => {
                    streams.retain(|&(c, _), _| c != h);
                    connections.retain(|&c| c != h);
                }
                _ => {}
            }
        }
        // Read every stream as far as possible; answer the finished ones.
        streams.retain(|&(h, id), s| {
            while s.answer.is_none() {
                match ep.stream_read(h, id, &mut buf) {
                    Ok(0) => s.answer = Some(std::mem::take(&mut s.digest).answer()),
                    Ok(n) => s.digest.update(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(_) => return false,
                }
            }
            let answer = s.answer.as_mut().expect("set above");
            match ep.stream_write(h, id, answer) {
                Ok(n) if n == answer.len() => ep.finish(h, id).map(|_| false).unwrap_or(false),
                Ok(n) => {
                    answer.drain(..n);
                    true
                }
                Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            }
        });
    }
}

/// Steps `looper` until `ready` yields a value, failing on connection errors or the deadline.
fn wait_for<T>(
    looper: &mut Looper,
    conn: ConnectionHandle,
    deadline: Instant,
    mut ready: impl FnMut(&mut Endpoint) -> io::Result<Option<T>>,
) -> Result<T, String> {
    loop {
        if let Some(v) = ready(&mut looper.endpoint).map_err(|e| e.to_string())? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err("time limit exceeded".into());
        }
        looper.step().map_err(|e| e.to_string())?;
        while let Some((h, event)) = looper.endpoint.poll_event() {
            if let (true, Event::HandshakeFailed(e) | Event::ConnectionLost(e)) = (h == conn, event) {
                return Err(format!("connection: {e}"));
            }
        }
    }
}

pub(crate) fn client(addr: SocketAddr, key: PublicKey, lens: &[usize], options: &PeerOptions) -> Result<(), String> {
    let deadline = Instant::now() + options.time_limit;
    let mut endpoint_options = EndpointOptions::client().map_err(|e| e.to_string())?;
    endpoint_options.socket = options.socket.clone();
    let endpoint = Endpoint::bind(options.bind, endpoint_options).map_err(|e| e.to_string())?;
    let mut looper = Looper::new(endpoint).map_err(|e| e.to_string())?;
    let conn = looper.endpoint.connect(addr, key).map_err(|e| format!("connect: {e}"))?;
    wait_for(&mut looper, conn, deadline, |ep| {
        Ok(ep.connection(conn).is_some_and(|c| c.is_established()).then_some(()))
    })?;
    for (seed, &len) in lens.iter().enumerate() {
        let id = wait_for(&mut looper, conn, deadline, |ep| Ok(ep.connection(conn).and_then(|c| c.open(Dir::Bi))))?;
        let mut sender = Sender::new(seed as u64, len);
        wait_for(&mut looper, conn, deadline, |ep| {
            loop {
                let piece = sender.pending();
                if piece.is_empty() {
                    ep.finish(conn, id)?;
                    return Ok(Some(()));
                }
                match ep.stream_write(conn, id, piece) {
                    Ok(n) => sender.advance(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
        })?;
        let mut answer = Vec::new();
        let mut buf = [0u8; ANSWER_LEN];
        wait_for(&mut looper, conn, deadline, |ep| {
            loop {
                match ep.stream_read(conn, id, &mut buf) {
                    Ok(0) => return Ok(Some(())),
                    Ok(n) if answer.len() + n <= ANSWER_LEN => answer.extend_from_slice(&buf[..n]),
                    Ok(_) => return Err(io::Error::other("answer too long")),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
        })?;
        check_answer(sender.into_digest(), &answer)?;
    }
    looper.endpoint.close(conn, 0, b"done");
    // Let the close go out (bounded).
    for _ in 0..10 {
        looper.step().map_err(|e| e.to_string())?;
    }
    Ok(())
}
