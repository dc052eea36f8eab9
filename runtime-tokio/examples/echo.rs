//! Echo server and client over JetStreamProto on tokio.
//!
//! ```sh
//! cargo run -p jetstream-tokio --example echo -- server 127.0.0.1:4433
//! # prints the server's public key; then, in another terminal:
//! cargo run -p jetstream-tokio --example echo -- client 127.0.0.1:4433 <KEY> "hello"
//! ```

use std::error::Error;

use jetstream_tokio::{Connection, Endpoint, EndpointOptions, PublicKey, ServerConfig, StaticKeypair};
use tokio::io::AsyncWriteExt;

async fn serve(addr: &str) -> Result<(), Box<dyn Error>> {
    let key = StaticKeypair::from_secret_bytes(jetstream_tokio::random_seed()?);
    println!("server key: {}", key.public_key());
    let endpoint = Endpoint::bind(addr.parse()?, EndpointOptions::server(ServerConfig::new(key))?)?;
    println!("listening on {}", endpoint.local_addr()?);
    while let Some(conn) = endpoint.accept().await {
        tokio::spawn(echo_connection(conn));
    }
    Ok(())
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

async fn client(addr: &str, key: &str, message: &str) -> Result<(), Box<dyn Error>> {
    let key: PublicKey = key.parse().map_err(|_| "the key is 64 hex digits")?;
    let endpoint = Endpoint::bind("0.0.0.0:0".parse()?, EndpointOptions::client()?)?;
    let conn = endpoint.connect(addr.parse()?, key).await?;
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(message.as_bytes()).await?;
    send.shutdown().await?;
    let echoed = recv.read_to_end(1 << 20).await?;
    println!("{}", String::from_utf8_lossy(&echoed));
    if let Some(stats) = conn.stats() {
        println!("{stats:?}");
    }
    conn.close(0, b"bye");
    endpoint.wait_idle().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["server", addr] => serve(addr).await,
        ["client", addr, key, message] => client(addr, key, message).await,
        _ => Err("usage: echo server ADDR | echo client ADDR KEY MESSAGE".into()),
    }
}
