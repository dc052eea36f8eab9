//! The kernel refusing GSO, for real: a socket with `SO_NO_CHECK` (UDP checksums off) gets
//! `EINVAL` for every `UDP_SEGMENT` send, as a device without checksum offload gets `EIO`.
//! The batch must still arrive, one datagram at a time, and GSO must stay off afterwards.
#![cfg(target_os = "linux")]
// Setting SO_NO_CHECK needs a raw setsockopt; this test file is the only place with unsafe.
#![allow(unsafe_code)]

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use jetstream_driver::udp::{BatchedUdp, Outgoing, SocketConfig};

/// `SO_NO_CHECK` from the kernel's asm-generic/socket.h (the libc crate does not name it).
const SO_NO_CHECK: libc::c_int = 11;

/// Turns UDP checksums off on `socket`, which makes the kernel refuse GSO sends.
fn refuse_gso(socket: &UdpSocket) {
    let on: libc::c_int = 1;
    // SAFETY: a valid fd, and a pointer to a c_int that lives across the call with its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NO_CHECK,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_NO_CHECK): {}", io::Error::last_os_error());
}

/// Receives until `want` datagrams arrived or two seconds passed.
fn recv_all(socket: &UdpSocket, udp: &mut BatchedUdp, want: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        match udp.recv(socket, |_, d| got.push(d.to_vec())) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("recv: {e}"),
        }
    }
    got
}

#[test]
fn a_refused_gso_batch_arrives_datagram_by_datagram_and_gso_stays_off() {
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
    refuse_gso(&sender);
    let (mut out, report) = BatchedUdp::new(&sender, &SocketConfig::default()).expect("sender");
    let (mut inn, _) = BatchedUdp::new(&receiver, &SocketConfig::default()).expect("receiver");
    if report.max_gso_segments < 2 {
        eprintln!("skipped: this kernel has no UDP GSO, so there is nothing to refuse");
        return;
    }

    // Four 1000-byte datagrams and a 250-byte tail, each filled with its index.
    let contents: Vec<u8> = (0..4250).map(|i| (i / 1000) as u8).collect();
    let destination = receiver.local_addr().expect("addr");
    out.send(&sender, Outgoing { destination, contents: &contents, segment_size: Some(1000) })
        .expect("a refused batch is not an error for the caller");

    let got = recv_all(&receiver, &mut inn, 5);
    let expected: Vec<Vec<u8>> = contents.chunks(1000).map(<[u8]>::to_vec).collect();
    assert_eq!(got, expected, "every datagram of the batch, intact and in order");
    let stats = out.stats();
    assert_eq!(stats.gso_fallbacks, 1);
    assert_eq!(stats.datagrams_sent, 5);
    assert_eq!(stats.send_errors, 0);
    assert_eq!(out.max_gso_segments(), 1, "callers stop building GSO batches");
}
