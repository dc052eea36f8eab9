//! jetstream-smol on real loopback sockets, under smol and under async-std.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use jetstream_smol::{Endpoint, EndpointOptions, ServerConfig, SmolRuntime, StaticKeypair};
use smol::Executor;

/// Fails the test instead of hanging when `f` takes longer than a minute.
async fn within_a_minute<T>(f: impl Future<Output = T>) -> T {
    f.or(async {
        async_io::Timer::after(Duration::from_secs(60)).await;
        panic!("test exceeded its time limit");
    })
    .await
}

fn endpoints_on(runtime: SmolRuntime) -> (Endpoint, Endpoint, jetstream_smol::PublicKey) {
    endpoints_with(runtime, None)
}

/// [`endpoints_on`] with busy polling on both endpoints.
fn endpoints_with(
    runtime: SmolRuntime,
    busy_poll: Option<Duration>,
) -> (Endpoint, Endpoint, jetstream_smol::PublicKey) {
    let key = StaticKeypair::from_secret_bytes([5; 32]);
    let public = key.public_key();
    let socket = || std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let server_options =
        EndpointOptions { busy_poll, ..EndpointOptions::server(ServerConfig::new(key)).expect("options") };
    let server = Endpoint::with_runtime(runtime.clone(), socket(), server_options).expect("server");
    let client_options = EndpointOptions { busy_poll, ..EndpointOptions::client().expect("options") };
    let client = Endpoint::with_runtime(runtime, socket(), client_options).expect("client");
    (client, server, public)
}

fn endpoints() -> (Endpoint, Endpoint, jetstream_smol::PublicKey) {
    endpoints_on(SmolRuntime::default())
}

/// The server echoes one stream; the client checks what comes back.
async fn echo(client: Endpoint, server: Endpoint, key: jetstream_smol::PublicKey, message: &[u8]) {
    let addr = server.local_addr().expect("addr");
    let echo = smol::spawn(async move {
        let conn = server.accept().await.expect("accept");
        let (mut send, mut recv) = conn.accept_bi().await.expect("accept_bi");
        futures_lite::io::copy(&mut recv, &mut send).await.expect("copy");
        send.close().await.expect("finish");
        send.finished().await.expect("acknowledged");
    });
    let conn = client.connect(addr, key).await.expect("connect");
    let (mut send, mut recv) = conn.open_bi().await.expect("open_bi");
    send.write_all(message).await.expect("write");
    send.close().await.expect("finish");
    let mut echoed = Vec::new();
    AsyncReadExt::read_to_end(&mut recv, &mut echoed).await.expect("read");
    assert_eq!(echoed, message);
    echo.await;
}

#[test]
fn echo_under_smol() {
    smol::block_on(within_a_minute(async {
        let (client, server, key) = endpoints();
        echo(client, server, key, b"ping over smol").await;
    }));
}

#[test]
fn the_driver_runs_on_an_executor_of_our_own_and_ends_with_its_endpoints() {
    let executor = Arc::new(Executor::new());
    let (client, server, key) = endpoints_on(SmolRuntime::with_executor(executor.clone()));
    assert!(!executor.is_empty(), "the driver tasks were spawned on our executor");
    smol::block_on(executor.run(within_a_minute(async {
        echo(client, server, key, b"ping on our executor").await;
        // Every handle is gone: the driver tasks finish their closing and end.
        for _ in 0..600 {
            if executor.is_empty() {
                return;
            }
            async_io::Timer::after(Duration::from_millis(50)).await;
        }
        panic!("driver tasks still alive 30 s after every endpoint was dropped");
    })));
}

#[test]
fn transfer_under_async_std() {
    async_std::task::block_on(within_a_minute(async {
        let (client, server, key) = endpoints();
        let addr = server.local_addr().expect("addr");
        const LEN: usize = 16 << 20;
        let reader = async_std::task::spawn(async move {
            let conn = server.accept().await.expect("accept");
            let mut recv = conn.accept_uni().await.expect("accept_uni");
            recv.read_to_end(LEN).await.expect("read")
        });
        let conn = client.connect(addr, key).await.expect("connect");
        let mut send = conn.open_uni().await.expect("open_uni");
        let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        send.write_all(&data).await.expect("write");
        send.finish().expect("finish");
        let got = reader.await;
        assert!(got == data, "16 MiB arrive byte-exact");
    }));
}

/// Busy polling on smol's executor: the echo works while the driver checks the socket
/// instead of sleeping, and the driver stops polling once traffic has stopped.
#[test]
fn busy_polling_answers_and_then_sleeps() {
    smol::block_on(within_a_minute(async {
        let window = Duration::from_millis(30);
        let (client, server, public) = endpoints_with(SmolRuntime::default(), Some(window));
        echo(client.clone(), server, public, &[7; 100_000]).await;
        let before = client.io_stats().empty_recv_calls;
        async_io::Timer::after(Duration::from_millis(10)).await;
        let polled = client.io_stats().empty_recv_calls - before;
        assert!(polled > 10, "{polled} receive calls in the 10 ms after traffic");
        // The echo dropped its connection: let the close and the draining period (three
        // probe timeouts) pass, so that no timer wakes the driver below.
        async_io::Timer::after(Duration::from_millis(300)).await;
        let asleep = client.io_stats().empty_recv_calls;
        async_io::Timer::after(window * 2).await;
        assert_eq!(client.io_stats().empty_recv_calls, asleep, "the idle driver kept polling");
    }));
}
