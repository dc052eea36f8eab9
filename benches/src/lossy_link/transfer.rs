//! One bulk transfer across the lossy link: the sockets are made inside the namespaces,
//! then the same exchange as the loopback benchmark runs on them.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use super::link::{LossyLink, Side, address};
use super::{LossyPeer, LossyRound};
use crate::bulk::tcp::TcpPair;
use crate::bulk::{Cipher, Measured, UdpPair, jetstream_async, quinn_peer, tcp};

/// How long the TCP client may take to connect (a lost SYN is retried after 1 s, then 3 s).
const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Moves `bytes` from the client namespace to the server namespace with `peer` and reads
/// the link's counters around it.
pub(super) fn run(link: &LossyLink, peer: LossyPeer, bytes: u64) -> Result<LossyRound, String> {
    let before = link.counters()?;
    let measured = match peer {
        // GSO on: the kernel cuts each batch into datagrams at the veth (gso_max_segs 1).
        LossyPeer::Jetstream => jetstream_async::run_tokio_over(Cipher::Aes256Gcm, true, udp_pair(link)?, bytes)?,
        LossyPeer::Quinn => quinn_peer::run_over(Cipher::Aes256Gcm, true, udp_pair(link)?, bytes)?,
        LossyPeer::Tcp => Measured { transfer: tcp::run_over(tcp_pair(link)?, bytes)?, sender: None },
    };
    let during = link.counters()?.since(&before);
    if measured.transfer.bytes != bytes {
        return Err(format!("{peer} moved {} bytes instead of {bytes}", measured.transfer.bytes));
    }
    Ok(LossyRound {
        bytes: measured.transfer.bytes,
        elapsed: measured.transfer.elapsed,
        goodput_mbit: measured.transfer.gbit_per_s() * 1000.0,
        nft_dropped_forward: during.nft_dropped_at_server,
        nft_dropped_reverse: during.nft_dropped_at_client,
        tbf_dropped: during.tbf_dropped_at_client + during.tbf_dropped_at_server,
        retransmissions: match peer {
            LossyPeer::Tcp => Some(during.client_tcp_retransmitted),
            LossyPeer::Jetstream | LossyPeer::Quinn => measured.sender.and_then(|s| s.packets_retransmitted),
        },
        sender: measured.sender,
    })
}

/// A UDP socket in each namespace.
fn udp_pair(link: &LossyLink) -> Result<UdpPair, String> {
    let bind = |side| link.in_namespace(side, || UdpSocket::bind(SocketAddr::from((address(side), 0))));
    Ok(UdpPair { server: bind(Side::Server)?, client: bind(Side::Client)? })
}

/// A listener in the server namespace and a client in the client namespace connected to
/// it (the accepted connection waits in the listener's backlog).
fn tcp_pair(link: &LossyLink) -> Result<TcpPair, String> {
    let listener =
        link.in_namespace(Side::Server, || TcpListener::bind(SocketAddr::from((address(Side::Server), 0))))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let client = link.in_namespace(Side::Client, || TcpStream::connect_timeout(&addr, TCP_CONNECT_TIMEOUT))?;
    Ok(TcpPair { listener, client })
}
