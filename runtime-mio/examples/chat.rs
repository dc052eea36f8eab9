//! Chat over JetStreamProto's unreliable datagrams in a hand-written mio poll loop. The
//! server relays every datagram a client sends to all other clients, prefixed with the
//! sender's address; a client sends each line of stdin as one datagram `NAME: line` and
//! prints what arrives. A helper thread reads stdin and wakes the loop with a `mio::Waker`.
//!
//! Datagrams are unreliable: a message may be lost or arrive out of order, and one larger
//! than a datagram fits (about a packet) is not sent at all. Nothing is retransmitted.
//!
//! ```sh
//! cargo run -p jetstream-mio --example chat -- server 127.0.0.1:4433
//! # prints the server's public key; then, in two or more other terminals:
//! cargo run -p jetstream-mio --example chat -- client 127.0.0.1:4433 <KEY> alice
//! ```

mod common;

use std::error::Error;
use std::io::{self, BufRead};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

use common::EventLoop;
use jetstream_mio::{
    Bytes, ClientConfig, ConnectionHandle, Endpoint, Event, PublicKey, SendDatagramError, TransportConfig,
};
use mio::{Poll, Waker};

/// Relays datagrams between all clients, until `poll`'s waker fires.
fn relay(mut endpoint: Endpoint, poll: Poll) -> io::Result<()> {
    let mut event_loop = EventLoop::new(poll, &mut endpoint)?;
    let mut members: Vec<(ConnectionHandle, SocketAddr)> = Vec::new();
    while !event_loop.wait(&mut endpoint)? {
        while let Some((conn, event)) = endpoint.poll_event() {
            match event {
                Event::Connected => {
                    if let Some(addr) = endpoint.connection(conn).map(|c| c.remote_address()) {
                        println!("{addr} joined");
                        members.push((conn, addr));
                    }
                }
                Event::DatagramReceived => forward(&mut endpoint, conn, &members),
                Event::ConnectionLost(e) => {
                    for (_, addr) in members.iter().filter(|(member, _)| *member == conn) {
                        println!("{addr} left: {e}");
                    }
                    members.retain(|(member, _)| *member != conn);
                }
                _ => {}
            }
        }
        endpoint.drive()?;
    }
    Ok(())
}

/// Sends the datagrams that arrived from `from` to all other members.
fn forward(endpoint: &mut Endpoint, from: ConnectionHandle, members: &[(ConnectionHandle, SocketAddr)]) {
    let Some(&(_, addr)) = members.iter().find(|(member, _)| *member == from) else { return };
    // One event stands for all datagrams that arrived since the last: take them all.
    while let Some(datagram) = endpoint.connection(from).and_then(|c| c.recv_datagram()) {
        let message = Bytes::from([format!("[{addr}] ").as_bytes(), &datagram].concat());
        for &(member, to) in members.iter().filter(|(member, _)| *member != from) {
            if let Some(Err(e)) = endpoint.connection(member).map(|c| c.send_datagram(message.clone())) {
                println!("not relayed to {to}: {e}");
            }
        }
    }
}

/// Joins the chat as `name`: sends each of `lines` as a datagram and passes each datagram
/// received to `show`, until `lines` disconnects. Whoever sends lines wakes `poll` (a
/// `Waker` for `common::WAKE`) after each.
fn chat(
    addr: SocketAddr,
    key: PublicKey,
    name: &str,
    poll: Poll,
    lines: &Receiver<String>,
    mut show: impl FnMut(&str),
) -> Result<(), Box<dyn Error>> {
    let mut endpoint = common::client_endpoint(addr)?;
    let mut event_loop = EventLoop::new(poll, &mut endpoint)?;
    let mut config = ClientConfig::new(key);
    // A quiet chat would hit the 30 s idle timeout without keep-alives.
    config.transport =
        Arc::new(TransportConfig { keep_alive_interval: Some(Duration::from_secs(10)), ..TransportConfig::default() });
    let conn = endpoint.connect_with(config, addr)?;
    let mut connected = false;
    loop {
        event_loop.wait(&mut endpoint)?;
        while let Some((_, event)) = endpoint.poll_event() {
            match event {
                Event::Connected => connected = true,
                Event::DatagramReceived => {
                    while let Some(datagram) = endpoint.connection(conn).and_then(|c| c.recv_datagram()) {
                        show(&String::from_utf8_lossy(&datagram));
                    }
                }
                Event::HandshakeFailed(e) | Event::ConnectionLost(e) => return Err(e.into()),
                _ => {}
            }
        }
        // Lines typed before the handshake completed wait in the channel.
        if connected && !send_lines(&mut endpoint, conn, name, lines)? {
            return Ok(event_loop.close(&mut endpoint, conn)?);
        }
        endpoint.drive()?;
    }
}

/// Sends the lines typed so far as datagrams; false once the input ended.
fn send_lines(
    endpoint: &mut Endpoint,
    conn: ConnectionHandle,
    name: &str,
    lines: &Receiver<String>,
) -> Result<bool, Box<dyn Error>> {
    loop {
        let line = match lines.try_recv() {
            Ok(line) => line,
            Err(TryRecvError::Empty) => return Ok(true),
            Err(TryRecvError::Disconnected) => return Ok(false),
        };
        match endpoint.connection(conn).map(|c| c.send_datagram(Bytes::from(format!("{name}: {line}")))) {
            None | Some(Err(SendDatagramError::NotConnected)) => return Err("the connection is gone".into()),
            Some(Err(e)) => eprintln!("not sent: {e}"),
            Some(Ok(())) => {}
        }
    }
}

/// Reads stdin on a thread of its own, passing each line on and waking the loop; the
/// channel disconnects at the end of the input. The caller keeps a clone of `waker` while
/// the loop runs: dropping the last one closes it, and a wake-up not yet seen goes with it.
fn read_stdin(waker: Arc<Waker>) -> Receiver<String> {
    let (typed, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if typed.send(line).is_err() {
                break;
            }
            let _ = waker.wake();
        }
        drop(typed); // the loop sees the end of the input
        let _ = waker.wake();
    });
    lines
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["server", addr] => Ok(relay(common::listen(addr)?, Poll::new()?)?),
        ["client", addr, key, name] => {
            let (addr, key) = common::server_args(addr, key)?;
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), common::WAKE)?);
            let lines = read_stdin(waker.clone());
            chat(addr, key, name, poll, &lines, |message| println!("{message}"))
        }
        _ => Err("usage: chat server ADDR | chat client ADDR KEY NAME".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reaches_the_other_client_with_name_and_address() {
        let (endpoint, key) = common::server_endpoint("127.0.0.1:0".parse().expect("addr")).expect("server");
        let addr = endpoint.local_addr().expect("server address");
        let (stop, server) = common::spawn(move |poll| relay(endpoint, poll));
        let (alice_keyboard, alice_lines) = mpsc::channel();
        let (alice_wakes, alice) =
            common::spawn(move |poll| chat(addr, key, "alice", poll, &alice_lines, |_| {}).map_err(|e| e.to_string()));
        let (bob_keyboard, bob_lines) = mpsc::channel::<String>();
        let (seen, bob_screen) = mpsc::channel();
        let (bob_wakes, bob) = common::spawn(move |poll| {
            chat(addr, key, "bob", poll, &bob_lines, |m| drop(seen.send(m.to_owned()))).map_err(|e| e.to_string())
        });
        // Bob may join after alice's first line, and datagrams may be lost: say it again.
        let deadline = std::time::Instant::now() + common::LIMIT;
        let message = loop {
            assert!(std::time::Instant::now() < deadline, "bob heard nothing within the time limit");
            alice_keyboard.send("hello bob".to_owned()).expect("alice's client runs");
            alice_wakes.wake().expect("wake alice's loop");
            if let Ok(message) = bob_screen.recv_timeout(Duration::from_millis(100)) {
                break message;
            }
        };
        assert!(message.starts_with("[127.0.0.1:") && message.ends_with("] alice: hello bob"), "{message}");

        // The end of the input ends the clients; the waker stops the server.
        for (keyboard, wakes, client) in [(alice_keyboard, alice_wakes, alice), (bob_keyboard, bob_wakes, bob)] {
            drop(keyboard);
            wakes.wake().expect("wake the client");
            client.recv_timeout(common::LIMIT).expect("the client ends").expect("the client ran without error");
        }
        stop.wake().expect("wake the server");
        server.recv_timeout(common::LIMIT).expect("the server stops").expect("the server ran without error");
    }
}
