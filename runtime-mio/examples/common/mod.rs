//! What the examples share: endpoint setup, the `ADDR KEY` arguments and the poll loop's
//! waiting step.

use std::error::Error;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use jetstream_mio::{
    ConnectionHandle, Dir, Endpoint, EndpointOptions, Event, PublicKey, ServerConfig, StaticKeypair, StreamId,
};
use mio::{Events, Poll, Token};

/// The endpoint's socket.
const SOCKET: Token = Token(0);
/// A `mio::Waker` on the loop's `Poll`: it stops a server, or tells a chat client that a
/// line was typed.
pub(crate) const WAKE: Token = Token(1);

/// A server endpoint on `addr` with a fresh static key, and the public key clients pin.
pub(crate) fn server_endpoint(addr: SocketAddr) -> io::Result<(Endpoint, PublicKey)> {
    let key = StaticKeypair::from_secret_bytes(jetstream_mio::random_seed()?);
    let public = key.public_key();
    Ok((Endpoint::bind(addr, EndpointOptions::server(ServerConfig::new(key))?)?, public))
}

/// A server endpoint on `addr`, announcing its key (for the clients' command line) and address.
pub(crate) fn listen(addr: &str) -> Result<Endpoint, Box<dyn Error>> {
    let (endpoint, key) = server_endpoint(addr.parse().map_err(|e| format!("bad ADDR {addr:?}: {e}"))?)?;
    println!("server key: {key}");
    println!("listening on {}", endpoint.local_addr()?);
    Ok(endpoint)
}

/// A client endpoint on an ephemeral port, in the address family of `server`.
pub(crate) fn client_endpoint(server: SocketAddr) -> io::Result<Endpoint> {
    let any = if server.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    Endpoint::bind(SocketAddr::new(any, 0), EndpointOptions::client()?)
}

/// A client's `ADDR KEY` arguments: where the server is and the key it printed.
pub(crate) fn server_args(addr: &str, key: &str) -> Result<(SocketAddr, PublicKey), Box<dyn Error>> {
    let addr = addr.parse().map_err(|e| format!("bad ADDR {addr:?}: {e}"))?;
    let key = key.parse().map_err(|_| "bad KEY: the server's public key is 64 hex digits")?;
    Ok((addr, key))
}

/// A client's whole life: connects, opens a bidirectional stream once connected, gives
/// `step` a turn after every wake-up (it moves what it can and returns `None` until done),
/// and closes the connection.
#[allow(dead_code, reason = "the chat client uses datagrams only")]
pub(crate) fn run_client<T>(
    addr: SocketAddr,
    key: PublicKey,
    mut step: impl FnMut(&mut Endpoint, ConnectionHandle, StreamId) -> Result<Option<T>, Box<dyn Error>>,
) -> Result<T, Box<dyn Error>> {
    let mut endpoint = client_endpoint(addr)?;
    let mut event_loop = EventLoop::new(Poll::new()?, &mut endpoint)?;
    let conn = endpoint.connect(addr, key)?;
    let mut stream = None;
    let result = loop {
        event_loop.wait(&mut endpoint)?;
        while let Some((_, event)) = endpoint.poll_event() {
            match event {
                Event::Connected => {
                    stream = Some(endpoint.connection(conn).and_then(|c| c.open(Dir::Bi)).ok_or("no stream")?);
                }
                Event::HandshakeFailed(e) | Event::ConnectionLost(e) => return Err(e.into()),
                _ => {}
            }
        }
        if let Some(id) = stream {
            match step(&mut endpoint, conn, id) {
                Ok(None) => {}
                Ok(Some(done)) => break Ok(done),
                Err(e) => break Err(e),
            }
        }
        // Send what the step queued.
        endpoint.drive()?;
    };
    event_loop.close(&mut endpoint, conn)?;
    result
}

/// `Ok(None)` for `WouldBlock`: the call can make progress later, after new input.
#[allow(dead_code, reason = "for streams, which the chat does not use")]
pub(crate) fn unless_blocked<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// A `mio::Poll` with one endpoint registered on it.
pub(crate) struct EventLoop {
    poll: Poll,
    events: Events,
}

impl EventLoop {
    /// Registers `endpoint` on `poll`, on which a `Waker` for [`WAKE`] may exist.
    pub(crate) fn new(poll: Poll, endpoint: &mut Endpoint) -> io::Result<Self> {
        endpoint.register(poll.registry(), SOCKET)?;
        Ok(EventLoop { poll, events: Events::with_capacity(64) })
    }

    /// Sleeps until the socket is ready, the endpoint's deadline passed or the waker fired;
    /// then lets the endpoint receive, fire its timers and send. Says whether the waker fired.
    /// Afterwards: drain `poll_event`, act, then `drive` to send what the actions queued.
    pub(crate) fn wait(&mut self, endpoint: &mut Endpoint) -> io::Result<bool> {
        match self.poll.poll(&mut self.events, endpoint.poll_timeout()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(false),
            result => result?,
        }
        let mut woken = false;
        for event in self.events.iter() {
            match event.token() {
                WAKE => woken = true,
                SOCKET => endpoint.on_event(event)?,
                _ => {}
            }
        }
        endpoint.on_timeout()?;
        Ok(woken)
    }

    /// Closes `conn` and runs the loop until its closing handshake is over (so the peer
    /// learns of the close instead of timing out).
    pub(crate) fn close(&mut self, endpoint: &mut Endpoint, conn: ConnectionHandle) -> io::Result<()> {
        if endpoint.connection(conn).is_none() {
            return Ok(()); // already drained
        }
        endpoint.close(conn, 0, b"bye");
        loop {
            endpoint.drive()?;
            while let Some((handle, event)) = endpoint.poll_event() {
                if handle == conn && event == Event::Drained {
                    return Ok(());
                }
            }
            self.wait(endpoint)?;
        }
    }
}

/// How long a test may take before it fails instead of hanging.
#[cfg(test)]
pub(crate) const LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs `f` with a fresh `Poll` on a thread of its own: a waker for that `Poll` ([`WAKE`]),
/// and where `f`'s result arrives.
#[cfg(test)]
pub(crate) fn spawn<T: Send + 'static>(
    f: impl FnOnce(Poll) -> T + Send + 'static,
) -> (mio::Waker, std::sync::mpsc::Receiver<T>) {
    let poll = Poll::new().expect("poll");
    let waker = mio::Waker::new(poll.registry(), WAKE).expect("waker");
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || drop(done.send(f(poll))));
    (waker, result)
}

/// Runs `f` on a thread of its own, failing the test if it takes longer than [`LIMIT`].
#[cfg(test)]
#[allow(dead_code, reason = "the chat test uses `spawn` only")]
pub(crate) fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn(|_| f()).1.recv_timeout(LIMIT).expect("done within the time limit")
}
