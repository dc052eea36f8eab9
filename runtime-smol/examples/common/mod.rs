//! What the examples share: endpoint setup and the `ADDR KEY` arguments.

use std::error::Error;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use jetstream_smol::{Endpoint, EndpointOptions, PublicKey, ServerConfig, StaticKeypair};

/// Runs `f` to completion, or fails the test after 20 s instead of hanging.
#[cfg(test)]
pub(crate) async fn within<T>(f: impl Future<Output = T>) -> T {
    use futures_lite::FutureExt;
    f.or(async {
        smol::Timer::after(std::time::Duration::from_secs(20)).await;
        panic!("not done within the time limit");
    })
    .await
}

/// A server endpoint on `addr` with a fresh static key, and the public key clients pin.
pub(crate) fn server_endpoint(addr: SocketAddr) -> std::io::Result<(Endpoint, PublicKey)> {
    let key = StaticKeypair::from_secret_bytes(jetstream_smol::random_seed()?);
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
pub(crate) fn client_endpoint(server: SocketAddr) -> std::io::Result<Endpoint> {
    let any = if server.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    Endpoint::bind(SocketAddr::new(any, 0), EndpointOptions::client()?)
}

/// A client's `ADDR KEY` arguments: where the server is and the key it printed.
pub(crate) fn server_args(addr: &str, key: &str) -> Result<(SocketAddr, PublicKey), Box<dyn Error>> {
    let addr = addr.parse().map_err(|e| format!("bad ADDR {addr:?}: {e}"))?;
    let key = key.parse().map_err(|_| "bad KEY: the server's public key is 64 hex digits")?;
    Ok((addr, key))
}
