//! The bulk exchange on jetstream-mio: one hand-written poll loop per side.

use std::io;
use std::time::{Duration, Instant};

use jetstream_core::{ConnectionHandle, Dir, Event, StreamEvent, StreamId, WriteError};
use jetstream_mio::Endpoint;
use mio::{Events, Poll, Token};

use super::{Cipher, JetstreamSetup, TIME_LIMIT, Transfer, check_count, check_suite, encode_count, pieces};

/// An endpoint with its own poll.
struct Looper {
    endpoint: Endpoint,
    poll: Poll,
    events: Events,
    deadline: Instant,
}

impl Looper {
    fn new(mut endpoint: Endpoint) -> io::Result<Self> {
        let poll = Poll::new()?;
        endpoint.register(poll.registry(), Token(0))?;
        Ok(Looper { endpoint, poll, events: Events::with_capacity(64), deadline: Instant::now() + TIME_LIMIT })
    }

    /// Sends what is queued, sleeps until the socket is ready or the endpoint's deadline,
    /// handles it; then hands each event to `on_event`.
    fn step(
        &mut self,
        mut on_event: impl FnMut(&mut Endpoint, ConnectionHandle, Event) -> Result<(), String>,
    ) -> Result<(), String> {
        if Instant::now() > self.deadline {
            return Err("time limit exceeded".into());
        }
        let io = |e: io::Error| e.to_string();
        self.endpoint.drive().map_err(io)?;
        let timeout = self.endpoint.poll_timeout().unwrap_or(Duration::MAX).min(Duration::from_millis(100));
        self.poll.poll(&mut self.events, Some(timeout)).map_err(io)?;
        for event in self.events.iter() {
            self.endpoint.on_event(event).map_err(io)?;
        }
        self.endpoint.on_timeout().map_err(io)?;
        while let Some((conn, event)) = self.endpoint.poll_event() {
            on_event(&mut self.endpoint, conn, event)?;
        }
        Ok(())
    }
}

pub(super) fn run(cipher: Cipher, gso: bool, bytes: u64) -> Result<Transfer, String> {
    let setup = JetstreamSetup::new(cipher, gso)?;
    let server = Endpoint::bind("127.0.0.1:0".parse().expect("an address"), setup.server).map_err(|e| e.to_string())?;
    let server_addr = server.local_addr().map_err(|e| e.to_string())?;
    let server = std::thread::spawn(move || serve_one(Looper::new(server).map_err(|e| e.to_string())?));

    let client = Endpoint::bind("127.0.0.1:0".parse().expect("an address"), setup.client).map_err(|e| e.to_string())?;
    let mut looper = Looper::new(client).map_err(|e| e.to_string())?;
    let conn = looper.endpoint.connect_with(setup.client_config, server_addr).map_err(|e| format!("connect: {e}"))?;
    let mut connected = false;
    while !connected {
        looper.step(|_, _, event| {
            connected |= matches!(event, Event::Connected);
            failed(event)
        })?;
    }
    let c = looper.endpoint.connection(conn).ok_or("connection gone")?;
    check_suite(Some(c.cipher_suite()), cipher)?;
    let id = c.open(Dir::Bi).ok_or("no stream credit")?;
    let start = Instant::now();
    let mut pieces = pieces(bytes).peekable();
    let mut finished = false;
    let mut answer = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        // Write until flow control blocks (zero-copy: a piece goes in whole or waits); the
        // driver sends in the next step.
        while let Some(piece) = pieces.peek() {
            let c = looper.endpoint.connection(conn).ok_or("connection gone")?;
            match c.write_bytes(id, piece.clone()) {
                Ok(()) => drop(pieces.next()),
                Err(WriteError::Blocked) => break,
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        if !finished && pieces.peek().is_none() {
            looper.endpoint.finish(conn, id).map_err(|e| e.to_string())?;
            finished = true;
        }
        if read_answer(&mut looper.endpoint, conn, id, &mut buf, &mut answer)? {
            break;
        }
        looper.step(|_, _, event| failed(event))?;
    }
    let elapsed = start.elapsed();
    check_count(&answer, bytes)?;
    looper.endpoint.close(conn, 0, b"done");
    let mut drained = false;
    while !drained {
        looper.step(|_, _, event| {
            drained |= matches!(event, Event::Drained);
            Ok(())
        })?;
    }
    let server_io = server.join().map_err(|_| "server thread panicked".to_string())??;
    let client_io = looper.endpoint.io_stats();
    let udp_syscalls = [client_io, server_io].iter().map(|io| io.recv_calls + io.send_calls).sum();
    Ok(Transfer { bytes, elapsed, udp_syscalls: Some(udp_syscalls) })
}

/// Reads one stream to its end, answers with the count, returns once the client closed.
fn serve_one(mut looper: Looper) -> Result<jetstream_mio::IoStats, String> {
    let mut stream: Option<(ConnectionHandle, StreamId)> = None;
    let mut count = 0u64;
    let mut closed = false;
    let mut buf = vec![0u8; super::WRITE_SIZE];
    while !closed {
        looper.step(|endpoint, conn, event| {
            match event {
                Event::Stream(StreamEvent::Opened { dir: Dir::Bi }) if stream.is_none() => {
                    stream = endpoint.connection(conn).and_then(|c| c.accept(Dir::Bi)).map(|id| (conn, id));
                }
                Event::ConnectionLost(_) | Event::Drained => closed = true,
                _ => {}
            }
            Ok(())
        })?;
        let Some((conn, id)) = stream else { continue };
        let endpoint = &mut looper.endpoint;
        loop {
            match endpoint.stream_read(conn, id, &mut buf) {
                Ok(0) => {
                    // 8 bytes against the client's fresh stream window: they fit at once.
                    let written = endpoint.stream_write(conn, id, &encode_count(count)).map_err(|e| e.to_string())?;
                    if written != 8 {
                        return Err("the answer did not fit the window".into());
                    }
                    endpoint.finish(conn, id).map_err(|e| e.to_string())?;
                    stream = None;
                    break;
                }
                Ok(n) => count += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }
    Ok(looper.endpoint.io_stats())
}

/// An error for the events that end a connection early.
fn failed(event: Event) -> Result<(), String> {
    match event {
        Event::HandshakeFailed(e) | Event::ConnectionLost(e) => Err(format!("connection: {e}")),
        _ => Ok(()),
    }
}

/// Reads what has arrived of the server's answer; true once it is complete.
fn read_answer(
    endpoint: &mut Endpoint,
    conn: ConnectionHandle,
    id: StreamId,
    buf: &mut [u8],
    answer: &mut Vec<u8>,
) -> Result<bool, String> {
    loop {
        match endpoint.stream_read(conn, id, buf) {
            Ok(0) => return Ok(true),
            Ok(n) if answer.len() + n <= 8 => answer.extend_from_slice(&buf[..n]),
            Ok(_) => return Err("answer too long".into()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(format!("answer: {e}")),
        }
    }
}
