//! jetstream-tokio on real loopback sockets.

use std::time::Duration;

use bytes::Bytes;
use jetstream_tokio::{
    ConnectError, Connection, ConnectionClosed, Endpoint, EndpointOptions, ServerConfig, SocketConfig, StaticKeypair,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(60);

fn server(socket: SocketConfig, busy_poll: Option<Duration>) -> (Endpoint, jetstream_tokio::PublicKey) {
    let key = StaticKeypair::from_secret_bytes([3; 32]);
    let public = key.public_key();
    let options =
        EndpointOptions { socket, busy_poll, ..EndpointOptions::server(ServerConfig::new(key)).expect("options") };
    (Endpoint::bind("127.0.0.1:0".parse().expect("addr"), options).expect("bind server"), public)
}

fn client(socket: SocketConfig, busy_poll: Option<Duration>) -> Endpoint {
    let options = EndpointOptions { socket, busy_poll, ..EndpointOptions::client().expect("options") };
    Endpoint::bind("127.0.0.1:0".parse().expect("addr"), options).expect("bind client")
}

/// A connected pair: (client endpoint, client connection, server endpoint, server connection).
async fn connected(socket: SocketConfig) -> (Endpoint, Connection, Endpoint, Connection) {
    connected_with(socket, None).await
}

/// [`connected`] with busy polling on both endpoints.
async fn connected_with(
    socket: SocketConfig,
    busy_poll: Option<Duration>,
) -> (Endpoint, Connection, Endpoint, Connection) {
    let (srv, key) = server(socket.clone(), busy_poll);
    let cli = client(socket, busy_poll);
    let addr = srv.local_addr().expect("addr");
    let (conn, accepted) = tokio::join!(cli.connect(addr, key), srv.accept());
    (cli, conn.expect("connect"), srv, accepted.expect("accept"))
}

/// Deterministic bytes that make reordering or corruption visible.
fn pattern(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn echo_on_a_bidirectional_stream() {
    tokio::time::timeout(LIMIT, async {
        let (_cli, conn, _srv, accepted) = connected(SocketConfig::default()).await;
        let echo = tokio::spawn(async move {
            let (mut send, mut recv) = accepted.accept_bi().await.expect("accept_bi");
            tokio::io::copy(&mut recv, &mut send).await.expect("copy");
            send.shutdown().await.expect("finish");
            send.finished().await.expect("acknowledged");
        });
        let (mut send, mut recv) = conn.open_bi().await.expect("open_bi");
        send.write_all(b"hello, post-quantum world").await.expect("write");
        send.shutdown().await.expect("finish");
        let mut echoed = Vec::new();
        AsyncReadExt::read_to_end(&mut recv, &mut echoed).await.expect("read");
        assert_eq!(echoed, b"hello, post-quantum world");
        echo.await.expect("echo task");
    })
    .await
    .expect("within the time limit");
}

async fn bulk_transfer(len: usize, socket: SocketConfig) {
    let (_cli, conn, _srv, accepted) = connected(socket).await;
    let data = pattern(len);
    let expected = data.clone();
    let reader = tokio::spawn(async move {
        let mut recv = accepted.accept_uni().await.expect("accept_uni");
        recv.read_to_end(len + 1).await.expect("read")
    });
    let mut send = conn.open_uni().await.expect("open_uni");
    let data = Bytes::from(data);
    for chunk in 0..len.div_ceil(1 << 20) {
        send.write_chunk(data.slice(chunk << 20..((chunk + 1) << 20).min(len))).await.expect("write");
    }
    send.finish().expect("finish");
    let got = reader.await.expect("reader task");
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "received bytes differ from the sent ones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_transfer_arrives_byte_exact_on_the_multi_thread_runtime() {
    tokio::time::timeout(LIMIT, bulk_transfer(64 << 20, SocketConfig::default())).await.expect("within the time limit");
}

#[tokio::test]
async fn bulk_transfer_with_gso_forced_off() {
    let socket = SocketConfig { gso: false, ..SocketConfig::default() };
    tokio::time::timeout(LIMIT, bulk_transfer(16 << 20, socket)).await.expect("within the time limit");
}

#[tokio::test]
async fn datagrams_arrive_intact_or_not_at_all() {
    tokio::time::timeout(LIMIT, async {
        let (_cli, conn, _srv, accepted) = connected(SocketConfig::default()).await;
        for i in 0..50u8 {
            conn.send_datagram(Bytes::from(vec![i; 500])).expect("send datagram");
            // Spread them out so the receive queue never overflows.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut seen = 0;
        while let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(500), accepted.read_datagram()).await {
            assert_eq!(d.len(), 500);
            assert!(d.iter().all(|&b| b == d[0]), "datagram intact");
            seen += 1;
        }
        assert!(seen >= 45, "loopback loses next to nothing; got {seen} of 50");
    })
    .await
    .expect("within the time limit");
}

#[tokio::test]
async fn wrong_server_key_fails_the_connect() {
    tokio::time::timeout(LIMIT, async {
        let (srv, _) = server(SocketConfig::default(), None);
        let cli = client(SocketConfig::default(), None);
        let wrong = StaticKeypair::from_secret_bytes([4; 32]).public_key();
        let err = cli.connect(srv.local_addr().expect("addr"), wrong).await.expect_err("wrong key");
        assert!(matches!(err, ConnectError::Failed(ConnectionClosed::Lost(_))), "{err}");
    })
    .await
    .expect("within the time limit");
}

#[tokio::test]
async fn close_reaches_the_peer_with_code_and_reason() {
    tokio::time::timeout(LIMIT, async {
        let (_cli, conn, _srv, accepted) = connected(SocketConfig::default()).await;
        conn.close(42, b"bye");
        let why = accepted.closed().await;
        assert!(why.to_string().contains("42") && why.to_string().contains("bye"), "{why}");
        assert_eq!(conn.closed().await, ConnectionClosed::LocallyClosed);
    })
    .await
    .expect("within the time limit");
}

/// Sends `data` and its end on a new stream from `conn` and waits for the acknowledgement:
/// `accepted` holds it all, unread, on the stream this returns.
async fn acknowledged_unread(conn: &Connection, accepted: &Connection, data: &[u8]) -> jetstream_tokio::RecvStream {
    let mut send = conn.open_uni().await.expect("open_uni");
    send.write_all(data).await.expect("write");
    send.shutdown().await.expect("finish");
    send.finished().await.expect("acknowledged");
    accepted.accept_uni().await.expect("accept_uni")
}

/// The peer acknowledged the data, so it was delivered: a close right after it must not
/// take it away from a reader that had not got to it yet.
#[tokio::test]
async fn data_acknowledged_before_the_peer_closes_stays_readable() {
    tokio::time::timeout(LIMIT, async {
        let (_cli, conn, _srv, accepted) = connected(SocketConfig::default()).await;
        let data = pattern(50_000);
        let mut recv = acknowledged_unread(&conn, &accepted, &data).await;
        conn.close(7, b"done");
        // The reader starts only once the server knows the connection ended.
        let why = accepted.closed().await;
        assert!(why.to_string().contains("done"), "{why}");
        assert_eq!(recv.read_to_end(data.len() + 1).await.expect("the acknowledged data and its end"), data);
    })
    .await
    .expect("within the time limit");
}

/// A local close ends every call at once, data already received or not (as
/// `Connection::close` documents).
#[tokio::test]
async fn a_local_close_ends_reads_at_once() {
    tokio::time::timeout(LIMIT, async {
        let (_cli, conn, _srv, accepted) = connected(SocketConfig::default()).await;
        let mut recv = acknowledged_unread(&conn, &accepted, &pattern(10_000)).await;
        accepted.close(0, b"cancel");
        let err = recv.read_to_end(20_000).await.expect_err("closed locally");
        assert!(err.to_string().contains("closed locally"), "{err}");
    })
    .await
    .expect("within the time limit");
}

#[test]
fn dropping_everything_ends_the_driver_tasks() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(LIMIT, async {
            let (cli, conn, srv, accepted) = connected(SocketConfig::default()).await;
            let mut send = conn.open_uni().await.expect("open");
            send.write_all(b"x").await.expect("write");
            drop(send);
            drop(conn);
            // Dropping the last handle closes the connection; the peer sees it.
            let why = accepted.closed().await;
            assert!(matches!(why, ConnectionClosed::Lost(_)), "{why}");
            drop(accepted);
            drop(cli);
            drop(srv);
        })
        .await
        .expect("within the time limit");
        // Both driver tasks end once their connections drained (the closing period).
        let metrics = tokio::runtime::Handle::current().metrics();
        for _ in 0..500 {
            if metrics.num_alive_tasks() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} driver task(s) still alive 5 s after every handle was dropped", metrics.num_alive_tasks());
    });
}

/// Busy polling with the driver and the application on different worker threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_polling_echoes_on_the_multi_thread_runtime() {
    tokio::time::timeout(LIMIT, async {
        let (_cli, conn, _srv, accepted) =
            connected_with(SocketConfig::default(), Some(Duration::from_micros(200))).await;
        let echo = tokio::spawn(async move {
            let (mut send, mut recv) = accepted.accept_bi().await.expect("accept_bi");
            tokio::io::copy(&mut recv, &mut send).await.expect("copy");
            send.shutdown().await.expect("finish");
        });
        let (mut send, mut recv) = conn.open_bi().await.expect("open_bi");
        let mut echoed = [0u8; 64];
        for i in 0..500u32 {
            let message = [i as u8; 64];
            send.write_all(&message).await.expect("write");
            recv.read_exact(&mut echoed).await.expect("read");
            assert_eq!(echoed, message, "round trip {i}");
        }
        send.shutdown().await.expect("finish");
        echo.await.expect("echo task");
    })
    .await
    .expect("within the time limit");
}

/// Busy polling on a current-thread runtime whose tasks live in a `LocalSet`, the case a
/// plain self-wake would starve: request/response works, the driver keeps checking the
/// socket right after traffic, and it goes back to sleep once the window has passed.
#[test]
fn busy_polling_answers_and_then_sleeps() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    tokio::task::LocalSet::new().block_on(&runtime, async {
        tokio::time::timeout(LIMIT, async {
            let window = Duration::from_millis(30);
            let (cli, conn, _srv, accepted) = connected_with(SocketConfig::default(), Some(window)).await;
            tokio::task::spawn_local(async move {
                let (mut send, mut recv) = accepted.accept_bi().await.expect("accept_bi");
                let mut message = [0u8; 64];
                while recv.read_exact(&mut message).await.is_ok() && send.write_all(&message).await.is_ok() {}
            });
            let (mut send, mut recv) = conn.open_bi().await.expect("open_bi");
            let mut echoed = [0u8; 64];
            for i in 0..1000u32 {
                let message = [i as u8; 64];
                send.write_all(&message).await.expect("write");
                recv.read_exact(&mut echoed).await.expect("read");
                assert_eq!(echoed, message, "round trip {i}");
            }
            let before = cli.io_stats().empty_recv_calls;
            tokio::time::sleep(Duration::from_millis(10)).await;
            let polled = cli.io_stats().empty_recv_calls - before;
            assert!(polled > 10, "{polled} receive calls in the 10 ms after traffic");
            // Delayed ACKs are done within 25 ms and probe timeouts soon after; then nothing
            // moves.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let asleep = cli.io_stats().empty_recv_calls;
            tokio::time::sleep(window * 2).await;
            assert_eq!(cli.io_stats().empty_recv_calls, asleep, "the idle driver kept polling");
        })
        .await
        .expect("within the time limit")
    });
}
