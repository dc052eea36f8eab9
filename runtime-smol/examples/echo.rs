//! Echo server and client over JetStreamProto on smol.
//!
//! ```sh
//! cargo run -p jetstream-smol --example echo -- server 127.0.0.1:4433
//! # prints the server's public key; then, in another terminal:
//! cargo run -p jetstream-smol --example echo -- client 127.0.0.1:4433 <KEY> "hello"
//! ```

mod common;

use std::error::Error;
use std::net::SocketAddr;

use futures_lite::AsyncWriteExt;
use jetstream_smol::{Connection, Endpoint, PublicKey};

/// Accepts connections until the endpoint closes, each on its own task.
async fn serve(endpoint: Endpoint) {
    while let Some(conn) = endpoint.accept().await {
        smol::spawn(echo_connection(conn)).detach();
    }
}

/// Echoes every bidirectional stream of one connection back to the client.
async fn echo_connection(conn: Connection) {
    println!("{:?} connected", conn.remote_address());
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        smol::spawn(async move {
            if futures_lite::io::copy(&mut recv, &mut send).await.is_ok() {
                let _ = send.close().await;
            }
        })
        .detach();
    }
    println!("{:?} gone: {}", conn.remote_address(), conn.closed().await);
}

/// Sends `message` on a new stream and returns what the server echoed.
async fn client(addr: SocketAddr, key: PublicKey, message: &str) -> Result<String, Box<dyn Error>> {
    let endpoint = common::client_endpoint(addr)?;
    let conn = endpoint.connect(addr, key).await?;
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(message.as_bytes()).await?;
    send.close().await?;
    let echoed = recv.read_to_end(1 << 20).await?;
    conn.close(0, b"bye");
    endpoint.wait_idle().await;
    Ok(String::from_utf8_lossy(&echoed).into_owned())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    smol::block_on(async {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_gets_its_message_back() {
        smol::block_on(common::within(async {
            let (endpoint, key) = common::server_endpoint("127.0.0.1:0".parse().expect("addr")).expect("server");
            let addr = endpoint.local_addr().expect("server address");
            let _server = smol::spawn(serve(endpoint)); // cancelled when dropped
            let echoed = client(addr, key, "hello, echo").await.expect("echo");
            assert_eq!(echoed, "hello, echo");
        }));
    }
}
