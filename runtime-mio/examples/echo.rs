//! Echo server and client over JetStreamProto in a hand-written mio poll loop.
//!
//! ```sh
//! cargo run -p jetstream-mio --example echo -- server 127.0.0.1:4433
//! # prints the server's public key; then, in another terminal:
//! cargo run -p jetstream-mio --example echo -- client 127.0.0.1:4433 <KEY> "hello"
//! ```

mod common;

use std::error::Error;
use std::io;
use std::net::SocketAddr;

use common::{EventLoop, unless_blocked};
use jetstream_mio::{ConnectionHandle, Dir, Endpoint, Event, PublicKey, StreamEvent, StreamId};
use mio::Poll;

/// The longest echo the client takes.
const MAX_ECHO: usize = 1 << 20;

/// One stream being echoed.
struct Echo {
    conn: ConnectionHandle,
    id: StreamId,
    /// Read but not yet written back: at most one read's worth.
    unechoed: Vec<u8>,
    end_seen: bool,
}

impl Echo {
    /// Moves what it can: `Ok(true)` once the echo is complete, `WouldBlock` when it waits
    /// for data or flow-control credit (both arrive through the socket).
    fn pump(&mut self, endpoint: &mut Endpoint, buf: &mut [u8]) -> io::Result<bool> {
        loop {
            while !self.unechoed.is_empty() {
                let n = endpoint.stream_write(self.conn, self.id, &self.unechoed)?;
                self.unechoed.drain(..n);
            }
            if self.end_seen {
                endpoint.finish(self.conn, self.id)?;
                return Ok(true);
            }
            match endpoint.stream_read(self.conn, self.id, buf)? {
                0 => self.end_seen = true,
                n => self.unechoed.extend_from_slice(&buf[..n]),
            }
        }
    }
}

/// Echoes every bidirectional stream clients open, until `poll`'s waker fires.
fn serve(mut endpoint: Endpoint, poll: Poll) -> io::Result<()> {
    let mut event_loop = EventLoop::new(poll, &mut endpoint)?;
    let mut echoes = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    while !event_loop.wait(&mut endpoint)? {
        while let Some((conn, event)) = endpoint.poll_event() {
            match event {
                Event::Connected => println!("{:?} connected", endpoint.connection(conn).map(|c| c.remote_address())),
                Event::Stream(StreamEvent::Opened { dir: Dir::Bi }) => {
                    while let Some(id) = endpoint.connection(conn).and_then(|c| c.accept(Dir::Bi)) {
                        echoes.push(Echo { conn, id, unechoed: Vec::new(), end_seen: false });
                    }
                }
                Event::ConnectionLost(e) => {
                    println!("{:?} gone: {e}", endpoint.connection(conn).map(|c| c.remote_address()));
                }
                _ => {}
            }
        }
        // Every stream gets a turn: whatever it waits for has come in through the socket.
        echoes.retain_mut(|echo| match unless_blocked(echo.pump(&mut endpoint, &mut buf)) {
            Ok(done) => done != Some(true),
            Err(e) => {
                println!("{:?}/{:?}: {e}", echo.conn, echo.id);
                false
            }
        });
        endpoint.drive()?;
    }
    Ok(())
}

/// Sends `message` on a new stream and returns what the server echoed.
fn client(addr: SocketAddr, key: PublicKey, message: &str) -> Result<String, Box<dyn Error>> {
    let (mut unsent, mut echoed, mut buf) = (Some(message.as_bytes()), Vec::new(), vec![0; 64 * 1024]);
    common::run_client(addr, key, |endpoint, conn, id| {
        Ok(unless_blocked(exchange(endpoint, conn, id, &mut unsent, &mut echoed, &mut buf))?)
    })
}

/// Writes what is `unsent` of the message (`None` once the stream is finished) and reads the
/// echo: the echo at its end, `WouldBlock` while waiting.
fn exchange(
    endpoint: &mut Endpoint,
    conn: ConnectionHandle,
    id: StreamId,
    unsent: &mut Option<&[u8]>,
    echoed: &mut Vec<u8>,
    buf: &mut [u8],
) -> io::Result<String> {
    if let Some(rest) = unsent {
        while !rest.is_empty() {
            let n = endpoint.stream_write(conn, id, rest)?;
            *rest = &rest[n..];
        }
        endpoint.finish(conn, id)?;
        *unsent = None;
    }
    loop {
        match endpoint.stream_read(conn, id, buf)? {
            0 => return Ok(String::from_utf8_lossy(echoed).into_owned()),
            n if echoed.len() + n > MAX_ECHO => return Err(io::Error::other("the echo is longer than 1 MiB")),
            n => echoed.extend_from_slice(&buf[..n]),
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["server", addr] => Ok(serve(common::listen(addr)?, Poll::new()?)?),
        ["client", addr, key, message] => {
            let (addr, key) = common::server_args(addr, key)?;
            println!("{}", client(addr, key, message)?);
            Ok(())
        }
        _ => Err("usage: echo server ADDR | echo client ADDR KEY MESSAGE".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_gets_its_message_back() {
        let (endpoint, key) = common::server_endpoint("127.0.0.1:0".parse().expect("addr")).expect("server");
        let addr = endpoint.local_addr().expect("server address");
        let (stop, server) = common::spawn(move |poll| serve(endpoint, poll));
        let echoed = common::within(move || client(addr, key, "hello, echo").map_err(|e| e.to_string()));
        assert_eq!(echoed.expect("echo"), "hello, echo");
        stop.wake().expect("wake the server");
        server.recv_timeout(common::LIMIT).expect("the server stops").expect("the server ran without error");
    }
}
