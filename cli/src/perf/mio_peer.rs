//! The perf client and server on jetstream-mio: the same exchange as the async versions
//! (see [`super::protocol`]), written as poll loops with a state machine per stream.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use jetstream_mio::{ConnectionHandle, Dir, Endpoint, EndpointOptions, Event, StaticKeypair, StreamEvent, StreamId};
use jetstream_mio::{ServerConfig, TransportConfig};
use mio::{Events, Poll, Token};

use super::protocol::{CPU_UNKNOWN, StreamKind, UNKNOWN_KIND, decode_u64};
use super::{Budget, ClientOptions, Measured, Mode, Report, Setup, new_histogram, payload, record};
use crate::cpu;
use crate::progress::TransferBar;

const SOCKET: Token = Token(0);
/// Bytes per read.
const READ_SIZE: usize = 64 * 1024;
/// The longest sleep of the client's loop: it samples the RTT and moves the bar this often.
const SAMPLE_EVERY: Duration = Duration::from_millis(1);

/// An endpoint registered with a fresh poll instance.
struct Looper {
    endpoint: Endpoint,
    poll: Poll,
    events: Events,
}

impl Looper {
    fn new(mut endpoint: Endpoint) -> io::Result<Self> {
        let poll = Poll::new()?;
        endpoint.register(poll.registry(), SOCKET)?;
        Ok(Looper { endpoint, poll, events: Events::with_capacity(64) })
    }

    /// Sleeps until the socket is ready, the endpoint's deadline or `longest`, then lets
    /// the endpoint react.
    fn turn(&mut self, longest: Option<Duration>) -> io::Result<()> {
        let timeout = match (self.endpoint.poll_timeout(), longest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => other?,
        }
        for event in self.events.iter() {
            self.endpoint.on_event(event)?;
        }
        self.endpoint.on_timeout()
    }
}

// ----- server ----------------------------------------------------------------------------

/// Serves clients forever on `listen` (the loop ends only on a socket error).
pub(crate) fn serve(endpoint: Endpoint) -> Result<(), String> {
    let mut looper = Looper::new(endpoint).map_err(|e| e.to_string())?;
    let mut streams: HashMap<(ConnectionHandle, StreamId), ServerStream> = HashMap::new();
    let mut started: HashMap<ConnectionHandle, (Instant, String)> = HashMap::new();
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        looper.turn(None).map_err(|e| format!("socket: {e}"))?;
        let endpoint = &mut looper.endpoint;
        while let Some((conn, event)) = endpoint.poll_event() {
            match event {
                Event::Connected => {
                    if let Some(c) = endpoint.connection(conn) {
                        let peer = c.remote_address().to_string();
                        println!("{peer}: connected ({:?})", c.cipher_suite());
                        started.insert(conn, (Instant::now(), peer));
                    }
                }
                Event::Stream(StreamEvent::Opened { dir: Dir::Bi }) => {
                    while let Some(id) = endpoint.connection(conn).and_then(|c| c.accept(Dir::Bi)) {
                        streams.insert((conn, id), ServerStream::default());
                        serve_stream(endpoint, conn, id, &mut streams, &mut buf);
                    }
                }
                Event::Stream(StreamEvent::Readable { id } | StreamEvent::Writable { id }) => {
                    serve_stream(endpoint, conn, id, &mut streams, &mut buf);
                }
                Event::DatagramReceived => {
                    if let Some(c) = endpoint.connection(conn) {
                        while let Some(datagram) = c.recv_datagram() {
                            let _ = c.send_datagram(datagram); // a full queue drops it, as datagrams may be
                        }
                    }
                }
                Event::ConnectionLost(why) => {
                    let received = endpoint.connection(conn).map_or(0, |c| c.stats().stream_bytes_received);
                    let (since, peer) = started.remove(&conn).unwrap_or_else(|| (Instant::now(), "?".into()));
                    let secs = since.elapsed().as_secs_f64();
                    println!("{peer}: closed after {secs:.2} s, {received} stream bytes received ({why})");
                }
                Event::Drained => {
                    streams.retain(|(c, _), _| *c != conn);
                    started.remove(&conn);
                }
                _ => {}
            }
        }
        endpoint.drive().map_err(|e| format!("socket: {e}"))?;
    }
}

/// A server stream's progress.
#[derive(Debug, Default)]
struct ServerStream {
    /// Set by the first byte; `Some(None)` for a kind we do not know.
    kind: Option<Option<StreamKind>>,
    /// Upload: bytes read after the kind byte.
    count: u64,
    /// CPU: the process's CPU time when the stream began.
    cpu_before: Option<Duration>,
    /// Bytes to write before anything else (echo backlog, the answer).
    out: Vec<u8>,
    /// The client finished its side; finish ours once `out` is written.
    read_done: bool,
}

/// Moves one server stream as far as it can go now; drops it when done or failed.
fn serve_stream(
    endpoint: &mut Endpoint,
    conn: ConnectionHandle,
    id: StreamId,
    streams: &mut HashMap<(ConnectionHandle, StreamId), ServerStream>,
    buf: &mut [u8],
) {
    let Some(stream) = streams.get_mut(&(conn, id)) else { return };
    match advance_server_stream(endpoint, conn, id, stream, buf) {
        Ok(true) => {}
        // Done, or the stream failed (a reset, a lost connection): forget it.
        Ok(false) | Err(_) => {
            streams.remove(&(conn, id));
        }
    }
}

/// `Ok(true)` while the stream has more to do.
fn advance_server_stream(
    endpoint: &mut Endpoint,
    conn: ConnectionHandle,
    id: StreamId,
    s: &mut ServerStream,
    buf: &mut [u8],
) -> io::Result<bool> {
    loop {
        // The backlog first: echo waits for the client to take what it sent.
        while !s.out.is_empty() {
            match endpoint.stream_write(conn, id, &s.out) {
                Ok(n) => drop(s.out.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
        if s.read_done {
            endpoint.finish(conn, id)?;
            return Ok(false);
        }
        let n = match endpoint.stream_read(conn, id, buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) => return Err(e),
        };
        let mut data = &buf[..n];
        if s.kind.is_none() && !data.is_empty() {
            let kind = StreamKind::from_byte(data[0]);
            s.kind = Some(kind);
            data = &data[1..];
            match kind {
                Some(StreamKind::Cpu) => s.cpu_before = cpu::process_cpu_time(),
                Some(_) => {}
                None => {
                    if let Some(c) = endpoint.connection(conn) {
                        let _ = c.stop(id, UNKNOWN_KIND);
                        let _ = c.reset(id, UNKNOWN_KIND);
                    }
                    return Ok(false);
                }
            }
        }
        match s.kind.flatten() {
            Some(StreamKind::Upload) => s.count += data.len() as u64,
            Some(StreamKind::Echo) => s.out.extend_from_slice(data),
            Some(StreamKind::Cpu) | None => {}
        }
        if n == 0 {
            s.read_done = true;
            match s.kind.flatten() {
                Some(StreamKind::Upload) => s.out.extend_from_slice(&s.count.to_be_bytes()),
                Some(StreamKind::Cpu) => {
                    let used = cpu::process_cpu_time().zip(s.cpu_before).map(|(a, b)| a.saturating_sub(b));
                    let micros = used.map_or(CPU_UNKNOWN, |d| u64::try_from(d.as_micros()).unwrap_or(CPU_UNKNOWN));
                    s.out.extend_from_slice(&micros.to_be_bytes());
                }
                Some(StreamKind::Echo) | None => {}
            }
        }
    }
}

// ----- client ----------------------------------------------------------------------------

/// A client stream's progress.
#[derive(Debug)]
struct ClientStream {
    id: StreamId,
    /// The kind byte went out.
    started: bool,
    /// Bytes of the current message still to write (from the end of `payload[..len]`).
    unsent: usize,
    /// The current message's length.
    len: usize,
    /// Echo: bytes of the current echo received; the time its message went out.
    echoed: usize,
    sent_at: Instant,
    /// The budget is spent and the stream finished.
    finished: bool,
    /// The answer (upload) or the echo's end arrived: the stream is done.
    done: bool,
    answer: Vec<u8>,
    bytes: u64,
    messages: u64,
}

impl ClientStream {
    fn new(id: StreamId) -> Self {
        ClientStream {
            id,
            started: false,
            unsent: 0,
            len: 0,
            echoed: 0,
            sent_at: Instant::now(),
            finished: false,
            done: false,
            answer: Vec::new(),
            bytes: 0,
            messages: 0,
        }
    }
}

/// Runs a perf client in a poll loop on this thread.
pub(crate) fn run(options: &ClientOptions) -> Result<Report, String> {
    let started = Instant::now();
    let endpoint_options = EndpointOptions {
        busy_poll: options.busy_poll,
        ..EndpointOptions::client().map_err(|e| format!("client setup: {e}"))?
    };
    let socket = crate::net::client_socket(options.server)?;
    let endpoint = Endpoint::from_socket(socket, endpoint_options).map_err(|e| format!("cannot open a socket: {e}"))?;
    let mut looper = Looper::new(endpoint).map_err(|e| e.to_string())?;
    let config = crate::net::client_config(options.server_key, options.transport.clone());
    let conn = looper.endpoint.connect_with(config, options.server).map_err(|e| format!("cannot connect: {e}"))?;
    wait_connected(&mut looper, conn, options)?;
    let handshake = started.elapsed();
    let result = measure(&mut looper, conn, options);
    looper.endpoint.close(conn, 0, b"done");
    // Long enough for the close to go out; the server times out otherwise.
    let closing = Instant::now() + Duration::from_secs(1);
    while Instant::now() < closing && looper.endpoint.connection(conn).is_some_and(|c| !c.is_closed()) {
        looper.turn(Some(SAMPLE_EVERY)).map_err(|e| format!("socket: {e}"))?;
    }
    let (measured, cipher) = result?;
    Ok(measured.into_report(options, Setup { runtime: "mio", cipher, handshake }))
}

fn wait_connected(looper: &mut Looper, conn: ConnectionHandle, options: &ClientOptions) -> Result<(), String> {
    let deadline = Instant::now() + options.connect_timeout;
    let server = options.server;
    while Instant::now() < deadline {
        looper.turn(Some(deadline.saturating_duration_since(Instant::now()))).map_err(|e| format!("socket: {e}"))?;
        while let Some((c, event)) = looper.endpoint.poll_event() {
            match event {
                Event::Connected if c == conn => return Ok(()),
                Event::HandshakeFailed(e) | Event::ConnectionLost(e) if c == conn => {
                    return Err(crate::net::handshake_failed(server, &e));
                }
                _ => {}
            }
        }
    }
    Err(crate::net::no_answer(server, options.connect_timeout))
}

/// The client's side of a run: the CPU stream, then the data streams until all are done.
fn measure(looper: &mut Looper, conn: ConnectionHandle, options: &ClientOptions) -> Result<(Measured, String), String> {
    let lost = || "the connection ended".to_string();
    let c = looper.endpoint.connection(conn).ok_or_else(lost)?;
    let cipher = format!("{:?}", c.cipher_suite());
    let cpu_stream = c.open(Dir::Bi).ok_or("the server allows no stream")?;
    looper
        .endpoint
        .stream_write(conn, cpu_stream, &[StreamKind::Cpu.byte()])
        .map_err(|e| format!("CPU stream: {e}"))?;
    let cpu_before = cpu::process_cpu_time();
    let start = Instant::now();
    let budget = Budget::new(options.bytes, options.duration, start);
    let bar = TransferBar::new(options.progress, budget.total_bytes(), budget.deadline());
    let data = payload(options.msg_size);
    let kind = match options.mode {
        Mode::Upload => StreamKind::Upload,
        Mode::Echo => StreamKind::Echo,
    };
    let mut streams = Vec::with_capacity(usize::from(options.streams));
    let mut latencies = new_histogram();
    let mut transport_rtt = new_histogram();
    let mut samples_seen = 0;
    let mut buf = vec![0u8; READ_SIZE];
    while streams.iter().any(|s: &ClientStream| !s.done) || streams.len() < usize::from(options.streams) {
        // Open what the peer's limit allows.
        while streams.len() < usize::from(options.streams) {
            match looper.endpoint.connection(conn).ok_or_else(lost)?.open(Dir::Bi) {
                Some(id) => streams.push(ClientStream::new(id)),
                None => break,
            }
        }
        for s in streams.iter_mut().filter(|s| !s.done) {
            let i = s.id;
            advance_client_stream(&mut looper.endpoint, conn, s, kind, &budget, &data, &mut buf, &mut latencies)
                .map_err(|e| format!("stream {i:?}: {e}"))?;
        }
        looper.endpoint.drive().map_err(|e| format!("socket: {e}"))?;
        // Events first: the endpoint's timeout is zero while any wait, and the loop would
        // spin instead of sleeping (the streams are polled above, so they need no event).
        while let Some((c, event)) = looper.endpoint.poll_event() {
            if let (true, Event::ConnectionLost(e)) = (c == conn, event) {
                return Err(format!("connection lost: {e}"));
            }
        }
        looper.turn(Some(SAMPLE_EVERY)).map_err(|e| format!("socket: {e}"))?;
        let stats = looper.endpoint.connection(conn).ok_or_else(lost)?.stats();
        if stats.rtt_samples != samples_seen {
            samples_seen = stats.rtt_samples;
            record(&mut transport_rtt, stats.latest_rtt);
        }
        bar.update(budget.taken());
    }
    let elapsed = start.elapsed();
    bar.finish();
    let client_cpu = cpu::process_cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    looper.endpoint.finish(conn, cpu_stream).map_err(|e| format!("CPU stream: {e}"))?;
    let mut answer = Vec::new();
    let deadline = Instant::now() + crate::net::CONNECT_TIMEOUT;
    loop {
        match looper.endpoint.stream_read(conn, cpu_stream, &mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err("the server did not report its CPU time".into());
                }
                looper.endpoint.drive().map_err(|e| format!("socket: {e}"))?;
                looper.turn(Some(SAMPLE_EVERY)).map_err(|e| format!("socket: {e}"))?;
            }
            Err(e) => return Err(format!("CPU stream: {e}")),
        }
    }
    let server_cpu = match decode_u64(&answer)? {
        CPU_UNKNOWN => None,
        us => Some(Duration::from_micros(us)),
    };
    let rtt = match options.mode {
        Mode::Upload => transport_rtt,
        Mode::Echo => latencies,
    };
    let stats = looper.endpoint.connection(conn).ok_or_else(lost)?.stats();
    let measured = Measured {
        bytes: streams.iter().map(|s| s.bytes).sum(),
        messages: streams.iter().map(|s| s.messages).sum(),
        elapsed,
        rtt,
        stats,
        client_cpu,
        server_cpu,
    };
    Ok((measured, cipher))
}

/// Moves one client stream as far as it can go now.
#[allow(clippy::too_many_arguments)]
fn advance_client_stream(
    endpoint: &mut Endpoint,
    conn: ConnectionHandle,
    s: &mut ClientStream,
    kind: StreamKind,
    budget: &Budget,
    data: &[u8],
    buf: &mut [u8],
    latencies: &mut Histogram<u64>,
) -> Result<(), String> {
    let blocked = |e: &io::Error| e.kind() == io::ErrorKind::WouldBlock;
    if !s.started {
        match endpoint.stream_write(conn, s.id, &[kind.byte()]) {
            Ok(_) => s.started = true,
            Err(e) if blocked(&e) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
    loop {
        // Write the current message.
        while s.unsent > 0 {
            match endpoint.stream_write(conn, s.id, &data[s.len - s.unsent..s.len]) {
                Ok(n) => s.unsent -= n,
                Err(e) if blocked(&e) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
        // Echo: wait for the whole echo before the next message.
        if kind == StreamKind::Echo && s.len > 0 {
            while s.echoed < s.len {
                match endpoint.stream_read(conn, s.id, &mut buf[..s.len - s.echoed]) {
                    Ok(0) => return Err("the server ended the stream early".into()),
                    Ok(n) => {
                        if buf[..n] != data[s.echoed..s.echoed + n] {
                            return Err("the echo differs from the message".into());
                        }
                        s.echoed += n;
                    }
                    Err(e) if blocked(&e) => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                }
            }
            record(latencies, s.sent_at.elapsed());
            s.bytes += s.len as u64;
            s.messages += 1;
            s.len = 0;
        }
        if s.finished {
            break;
        }
        let n = budget.take(data.len());
        if n == 0 {
            endpoint.finish(conn, s.id).map_err(|e| e.to_string())?;
            s.finished = true;
            break;
        }
        (s.len, s.unsent, s.echoed, s.sent_at) = (n, n, 0, Instant::now());
        if kind == StreamKind::Upload {
            s.bytes += n as u64;
            s.messages += 1;
        }
    }
    // Finished: read the answer (upload) or the echo's end.
    loop {
        match endpoint.stream_read(conn, s.id, buf) {
            Ok(0) => break,
            Ok(n) => s.answer.extend_from_slice(&buf[..n]),
            Err(e) if blocked(&e) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
    if kind == StreamKind::Upload {
        let counted = decode_u64(&s.answer)?;
        if counted != s.bytes {
            return Err(format!("the server counted {counted} bytes of the {} sent", s.bytes));
        }
    } else if !s.answer.is_empty() {
        return Err("the server echoed more than was sent".into());
    }
    s.done = true;
    Ok(())
}

/// A server endpoint for [`serve`].
pub(crate) fn server_endpoint(
    listen: std::net::SocketAddr,
    key: StaticKeypair,
    transport: TransportConfig,
    busy_poll: Option<Duration>,
) -> Result<Endpoint, String> {
    let mut config = ServerConfig::new(key);
    config.transport = std::sync::Arc::new(transport);
    let options =
        EndpointOptions { busy_poll, ..EndpointOptions::server(config).map_err(|e| format!("server setup: {e}"))? };
    Endpoint::bind(listen, options).map_err(|e| format!("cannot listen on {listen}: {e}"))
}
