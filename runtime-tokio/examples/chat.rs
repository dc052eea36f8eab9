//! Chat over JetStreamProto's unreliable datagrams on tokio. The server relays every
//! datagram a client sends to all other clients, prefixed with the sender's address; a
//! client sends each line of stdin as one datagram `NAME: line` and prints what arrives.
//!
//! Datagrams are unreliable: a message may be lost or arrive out of order, and one larger
//! than a datagram fits (about a packet) is not sent at all. Nothing is retransmitted.
//!
//! ```sh
//! cargo run -p jetstream-tokio --example chat -- server 127.0.0.1:4433
//! # prints the server's public key; then, in two or more other terminals:
//! cargo run -p jetstream-tokio --example chat -- client 127.0.0.1:4433 <KEY> alice
//! ```

mod common;

use std::collections::HashMap;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use jetstream_tokio::{ClientConfig, Connection, DatagramError, Endpoint, PublicKey, TransportConfig};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The connected clients, by the number the server gave them.
type Members = Arc<Mutex<HashMap<u64, Connection>>>;

/// Relays datagrams between all clients until the endpoint closes.
async fn relay(endpoint: Endpoint) {
    let members = Members::default();
    let mut next_id = 0;
    while let Some(conn) = endpoint.accept().await {
        next_id += 1;
        tokio::spawn(relay_member(next_id, conn, members.clone()));
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

/// Joins the chat as `name`: sends each line of `input` as a datagram and passes each
/// datagram received to `show`, until `input` ends.
async fn chat(
    addr: SocketAddr,
    key: PublicKey,
    name: &str,
    input: impl AsyncBufRead + Unpin,
    mut show: impl FnMut(&str),
) -> Result<(), Box<dyn Error>> {
    let endpoint = common::client_endpoint(addr)?;
    let mut config = ClientConfig::new(key);
    // A quiet chat would hit the 30 s idle timeout without keep-alives.
    config.transport =
        Arc::new(TransportConfig { keep_alive_interval: Some(Duration::from_secs(10)), ..TransportConfig::default() });
    let conn = endpoint.connect_with(config, addr).await?;
    let mut lines = input.lines();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                match conn.send_datagram(Bytes::from(format!("{name}: {line}"))) {
                    Err(DatagramError::Closed(e)) => return Err(e.into()),
                    Err(e) => eprintln!("not sent: {e}"),
                    Ok(()) => {}
                }
            }
            datagram = conn.read_datagram() => show(&String::from_utf8_lossy(&datagram?)),
        }
    }
    conn.close(0, b"bye");
    endpoint.wait_idle().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["server", addr] => {
            relay(common::listen(addr)?).await;
            Ok(())
        }
        ["client", addr, key, name] => {
            let (addr, key) = common::server_args(addr, key)?;
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            chat(addr, key, name, stdin, |message| println!("{message}")).await
        }
        _ => Err("usage: chat server ADDR | chat client ADDR KEY NAME".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, BufReader};

    #[tokio::test]
    async fn a_line_reaches_the_other_client_with_name_and_address() {
        let (endpoint, key) = common::server_endpoint("127.0.0.1:0".parse().expect("addr")).expect("server");
        let addr = endpoint.local_addr().expect("server address");
        tokio::spawn(relay(endpoint));
        let (mut alice_keyboard, alice_input) = tokio::io::duplex(4096);
        let (_bob_keyboard, bob_input) = tokio::io::duplex(4096);
        let (seen, bob_screen) = std::sync::mpsc::channel();
        let alice = chat(addr, key, "alice", BufReader::new(alice_input), |_| {});
        let bob = chat(addr, key, "bob", BufReader::new(bob_input), move |m| drop(seen.send(m.to_owned())));
        // Bob may join after alice's first line, and datagrams may be lost: say it again.
        let keep_saying = async {
            loop {
                alice_keyboard.write_all(b"hello bob\n").await.expect("alice types");
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Ok(message) = bob_screen.try_recv() {
                    return message;
                }
            }
        };
        let message = tokio::time::timeout(common::LIMIT, async {
            tokio::select! {
                message = keep_saying => message,
                r = alice => panic!("alice's client ended: {r:?}"),
                r = bob => panic!("bob's client ended: {r:?}"),
            }
        })
        .await
        .expect("within the time limit");
        assert!(message.starts_with("[127.0.0.1:") && message.ends_with("] alice: hello bob"), "{message}");
    }
}
