//! Echo server and client over JetStreamProto on tokio.
//!
//! ```sh
//! cargo run -p jetstream-tokio --example echo -- server 127.0.0.1:4433
//! # prints the server's public key; then, in another terminal:
//! cargo run -p jetstream-tokio --example echo -- client 127.0.0.1:4433 <KEY> "hello"
//! ```

mod common;

use std::error::Error;
use std::net::SocketAddr;

use jetstream_tokio::{Connection, Endpoint, PublicKey};
use tokio::io::AsyncWriteExt;

/// Accepts connections until the endpoint closes, each on its own task.
async fn serve(endpoint: Endpoint) {
    while let Some(conn) = endpoint.accept().await {
        tokio::spawn(echo_connection(conn));
    }
}

/// Echoes every bidirectional stream of one connection back to the client.
async fn echo_connection(conn: Connection) {
    println!("{:?} connected", conn.remote_address());
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        tokio::spawn(async move {
            if tokio::io::copy(&mut recv, &mut send).await.is_ok() {
                let _ = send.shutdown().await;
            }
        });
    }
    println!("{:?} gone: {}", conn.remote_address(), conn.closed().await);
}

/// Sends `message` on a new stream and returns what the server echoed.
async fn client(addr: SocketAddr, key: PublicKey, message: &str) -> Result<String, Box<dyn Error>> {
    let endpoint = common::client_endpoint(addr)?;
    let conn = endpoint.connect(addr, key).await?;
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(message.as_bytes()).await?;
    send.shutdown().await?;
    let echoed = recv.read_to_end(1 << 20).await?;
    if let Some(stats) = conn.stats() {
        eprintln!("{stats:?}");
    }
    conn.close(0, b"bye");
    endpoint.wait_idle().await;
    Ok(String::from_utf8_lossy(&echoed).into_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["server", addr] => {
            serve(common::listen(addr)?).await;
            Ok(())
        }
        ["client", addr, key, message] => {
            let (addr, key) = common::server_args(addr, key)?;
            println!("{}", client(addr, key, message).await?);
            Ok(())
        }
        _ => Err("usage: echo server ADDR | echo client ADDR KEY MESSAGE".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_client_gets_its_message_back() {
        let (endpoint, key) = common::server_endpoint("127.0.0.1:0".parse().expect("addr")).expect("server");
        let addr = endpoint.local_addr().expect("server address");
        tokio::spawn(serve(endpoint));
        let echoed = tokio::time::timeout(common::LIMIT, client(addr, key, "hello, echo"))
            .await
            .expect("within the time limit")
            .expect("echo");
        assert_eq!(echoed, "hello, echo");
    }
}
