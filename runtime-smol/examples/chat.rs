//! Chat over JetStreamProto's unreliable datagrams on smol. The server relays every
//! datagram a client sends to all other clients, prefixed with the sender's address; a
//! client sends each line of stdin as one datagram `NAME: line` and prints what arrives.
//!
//! Datagrams are unreliable: a message may be lost or arrive out of order, and one larger
//! than a datagram fits (about a packet) is not sent at all. Nothing is retransmitted.
//!
//! ```sh
//! cargo run -p jetstream-smol --example chat -- server 127.0.0.1:4433
//! # prints the server's public key; then, in two or more other terminals:
//! cargo run -p jetstream-smol --example chat -- client 127.0.0.1:4433 <KEY> alice
//! ```

mod common;

use std::collections::HashMap;
use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::{AsyncBufReadExt, FutureExt, Stream, StreamExt};
use jetstream_smol::{ClientConfig, Connection, ConnectionClosed, DatagramError, Endpoint, PublicKey, TransportConfig};

/// The connected clients, by the number the server gave them.
type Members = Arc<Mutex<HashMap<u64, Connection>>>;

/// Relays datagrams between all clients until the endpoint closes.
async fn relay(endpoint: Endpoint) {
    let members = Members::default();
    let mut next_id = 0;
    while let Some(conn) = endpoint.accept().await {
        next_id += 1;
        smol::spawn(relay_member(next_id, conn, members.clone())).detach();
    }
}

/// Forwards what one client sends to all the others, until it leaves.
async fn relay_member(id: u64, conn: Connection, members: Members) {
    let from = conn.remote_address().map_or_else(|| "?".to_owned(), |a| a.to_string());
    println!("{from} joined");
    members.lock().unwrap_or_else(PoisonError::into_inner).insert(id, conn.clone());
    while let Ok(datagram) = conn.read_datagram().await {
        let message = Bytes::from([format!("[{from}] ").as_bytes(), &datagram].concat());
        for (other, member) in members.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            if *other != id
                && let Err(e) = member.send_datagram(message.clone())
            {
                println!("not relayed to {:?}: {e}", member.remote_address());
            }
        }
    }
    members.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
    println!("{from} left: {}", conn.closed().await);
}

/// What the client waited for.
enum Input {
    Line(Option<io::Result<String>>),
    Datagram(Result<Bytes, ConnectionClosed>),
}

/// Joins the chat as `name`: sends each of `lines` as a datagram and passes each datagram
/// received to `show`, until `lines` ends.
async fn chat(
    addr: SocketAddr,
    key: PublicKey,
    name: &str,
    lines: impl Stream<Item = io::Result<String>>,
    mut show: impl FnMut(&str),
) -> Result<(), Box<dyn Error>> {
    let endpoint = common::client_endpoint(addr)?;
    let mut config = ClientConfig::new(key);
    // A quiet chat would hit the 30 s idle timeout without keep-alives.
    config.transport =
        Arc::new(TransportConfig { keep_alive_interval: Some(Duration::from_secs(10)), ..TransportConfig::default() });
    let conn = endpoint.connect_with(config, addr).await?;
    let mut lines = std::pin::pin!(lines);
    loop {
        let line = async { Input::Line(lines.next().await) };
        match line.or(async { Input::Datagram(conn.read_datagram().await) }).await {
            Input::Line(None) => break,
            Input::Line(Some(line)) => match conn.send_datagram(Bytes::from(format!("{name}: {}", line?))) {
                Err(DatagramError::Closed(e)) => return Err(e.into()),
                Err(e) => eprintln!("not sent: {e}"),
                Ok(()) => {}
            },
            Input::Datagram(datagram) => show(&String::from_utf8_lossy(&datagram?)),
        }
    }
    conn.close(0, b"bye");
    endpoint.wait_idle().await;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    smol::block_on(async {
        match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["server", addr] => {
                relay(common::listen(addr)?).await;
                Ok(())
            }
            ["client", addr, key, name] => {
                let (addr, key) = common::server_args(addr, key)?;
                let stdin = futures_lite::io::BufReader::new(smol::Unblock::new(io::stdin()));
                chat(addr, key, name, stdin.lines(), |message| println!("{message}")).await
            }
            _ => Err("usage: chat server ADDR | chat client ADDR KEY NAME".into()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reaches_the_other_client_with_name_and_address() {
        smol::block_on(common::within(async {
            let (endpoint, key) = common::server_endpoint("127.0.0.1:0".parse().expect("addr")).expect("server");
            let addr = endpoint.local_addr().expect("server address");
            let _server = smol::spawn(relay(endpoint)); // cancelled when dropped
            let (alice_keyboard, alice_lines) = async_channel::unbounded::<String>();
            let (seen, bob_screen) = std::sync::mpsc::channel();
            let alice = chat(addr, key, "alice", alice_lines.map(Ok), |_| {});
            let bob = chat(addr, key, "bob", futures_lite::stream::pending(), move |m| drop(seen.send(m.to_owned())));
            // Bob may join after alice's first line, and datagrams may be lost: say it again.
            let keep_saying = async {
                loop {
                    alice_keyboard.send("hello bob".to_owned()).await.expect("alice types");
                    smol::Timer::after(Duration::from_millis(100)).await;
                    if let Ok(message) = bob_screen.try_recv() {
                        return message;
                    }
                }
            };
            let message = keep_saying
                .or(async { panic!("alice's client ended: {:?}", alice.await) })
                .or(async { panic!("bob's client ended: {:?}", bob.await) })
                .await;
            assert!(message.starts_with("[127.0.0.1:") && message.ends_with("] alice: hello bob"), "{message}");
        }));
    }
}
