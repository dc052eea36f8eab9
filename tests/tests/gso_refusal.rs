//! A client whose kernel refuses GSO mid-connection still delivers every byte: its socket
//! has UDP checksums off (`SO_NO_CHECK`), so every `UDP_SEGMENT` send fails with `EINVAL`,
//! as on a device without checksum offload. The driver re-sends the refused batch one
//! datagram at a time and builds no more batches.
#![cfg(target_os = "linux")]
// Setting SO_NO_CHECK needs a raw setsockopt; this test file is the only place with unsafe.
#![allow(unsafe_code)]

use std::os::fd::AsRawFd;
use std::time::Duration;

use jetstream_tests::{ANSWER_LEN, Adapter, PeerOptions, Sender, Server, check_answer};
use jetstream_tokio::{Endpoint, EndpointOptions};

/// `SO_NO_CHECK` from the kernel's asm-generic/socket.h (the libc crate does not name it).
const SO_NO_CHECK: libc::c_int = 11;

fn socket_refusing_gso() -> std::net::UdpSocket {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
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
    assert_eq!(rc, 0, "setsockopt(SO_NO_CHECK): {}", std::io::Error::last_os_error());
    socket
}

#[test]
fn a_transfer_survives_the_kernel_refusing_gso() {
    let server = Server::start(Adapter::Tokio, &PeerOptions::default());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let len = 8 << 20;
    let (answer, sender, client) = rt.block_on(async {
        let client =
            Endpoint::from_socket(socket_refusing_gso(), EndpointOptions::client().expect("OS RNG")).expect("client");
        let conn = client.connect(server.addr, server.key).await.expect("connect");
        let (mut send, mut recv) = conn.open_bi().await.expect("open");
        let mut sender = Sender::new(7, len);
        let transfer = async {
            while !sender.pending().is_empty() {
                let n = send.write(sender.pending()).await.expect("write");
                sender.advance(n);
            }
            send.finish().expect("finish");
            recv.read_to_end(ANSWER_LEN).await.expect("answer")
        };
        let answer = tokio::time::timeout(Duration::from_secs(60), transfer).await.expect("done within 60 s");
        conn.close(0, b"done");
        (answer, sender, client)
    });
    check_answer(sender.into_digest(), &answer).expect("every byte arrived intact");
    server.stop();
    if client.socket_report().max_gso_segments < 2 {
        eprintln!("skipped the GSO assertions: this kernel has no UDP GSO, so nothing was refused");
        return;
    }
    // Batches already built when the first refusal came may be refused too, but no more:
    // thousands of datagrams went out one by one without another refusal.
    let io = client.io_stats();
    assert!((1..=4).contains(&io.gso_fallbacks), "{io:?}");
    assert!(io.datagrams_sent > 5000 && io.send_errors == 0, "{io:?}");
}
