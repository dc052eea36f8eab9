//! The bulk exchange on the async adapters (tokio, smol), written once over the shared
//! driver types.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures_lite::FutureExt;
use jetstream_core::ConnectionStats;
use jetstream_driver::{Endpoint, Runtime};

use super::sender_stats::{Sample, traced};
use super::{
    Cipher, JetstreamSetup, Measured, SenderStats, TIME_LIMIT, Transfer, UdpPair, check_count, check_suite,
    encode_count, pieces,
};

/// How one side runs: an executor on this thread, and the adapter's runtime on it.
trait Host {
    type Runtime: Runtime;
    /// Runs the future `make` builds from the runtime to completion on this thread.
    fn run<F: Future>(make: impl FnOnce(Self::Runtime) -> F) -> F::Output;
    fn sleep(duration: std::time::Duration) -> impl Future<Output = ()>;
}

/// A current-thread tokio runtime per side (the driver task runs on it too).
struct TokioHost;

impl Host for TokioHost {
    type Runtime = jetstream_tokio::TokioRuntime;

    fn run<F: Future>(make: impl FnOnce(Self::Runtime) -> F) -> F::Output {
        let rt = super::tokio_current_thread();
        let runtime = jetstream_tokio::TokioRuntime::new(rt.handle().clone());
        rt.block_on(make(runtime))
    }

    async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// `smol::block_on` per side; the driver tasks run on smol's global executor.
struct SmolHost;

impl Host for SmolHost {
    type Runtime = jetstream_smol::SmolRuntime;

    fn run<F: Future>(make: impl FnOnce(Self::Runtime) -> F) -> F::Output {
        smol::block_on(make(jetstream_smol::SmolRuntime::default()))
    }

    async fn sleep(duration: std::time::Duration) {
        smol::Timer::after(duration).await;
    }
}

/// An executor of its own per side, run by `smol::block_on` on the side's thread, with
/// the driver task on it.
struct SmolExecutorHost;

impl Host for SmolExecutorHost {
    type Runtime = jetstream_smol::SmolRuntime;

    fn run<F: Future>(make: impl FnOnce(Self::Runtime) -> F) -> F::Output {
        let executor = Arc::new(smol::Executor::new());
        smol::block_on(executor.run(make(jetstream_smol::SmolRuntime::with_executor(executor.clone()))))
    }

    async fn sleep(duration: std::time::Duration) {
        smol::Timer::after(duration).await;
    }
}

pub(super) fn run_tokio(cipher: Cipher, gso: bool, bytes: u64) -> Result<Transfer, String> {
    run::<TokioHost>(cipher, gso, UdpPair::loopback()?, bytes).map(|m| m.transfer)
}

pub(super) fn run_smol(cipher: Cipher, gso: bool, bytes: u64) -> Result<Transfer, String> {
    run::<SmolHost>(cipher, gso, UdpPair::loopback()?, bytes).map(|m| m.transfer)
}

pub(super) fn run_smol_executor(cipher: Cipher, gso: bool, bytes: u64) -> Result<Transfer, String> {
    run::<SmolExecutorHost>(cipher, gso, UdpPair::loopback()?, bytes).map(|m| m.transfer)
}

/// The exchange through jetstream-tokio on `sockets`, with the client's sender statistics.
pub(crate) fn run_tokio_over(cipher: Cipher, gso: bool, sockets: UdpPair, bytes: u64) -> Result<Measured, String> {
    run::<TokioHost>(cipher, gso, sockets, bytes)
}

fn run<H: Host>(cipher: Cipher, gso: bool, sockets: UdpPair, bytes: u64) -> Result<Measured, String> {
    let setup = JetstreamSetup::new(cipher, gso)?;
    let UdpPair { server: server_socket, client: client_socket } = sockets;
    let server_addr = server_socket.local_addr().map_err(|e| e.to_string())?;
    let server_options = setup.server;
    let server = std::thread::spawn(move || {
        H::run(|runtime| {
            limited::<H, _>(async move {
                let endpoint = Endpoint::with_runtime(runtime, server_socket, server_options)
                    .map_err(|e| format!("server endpoint: {e}"))?;
                serve_one(&endpoint).await?;
                Ok(endpoint.io_stats())
            })
        })
    });
    let client = H::run(|runtime| {
        limited::<H, _>(async move {
            let endpoint = Endpoint::with_runtime(runtime, client_socket, setup.client)
                .map_err(|e| format!("client endpoint: {e}"))?;
            let conn =
                endpoint.connect_with(setup.client_config, server_addr).await.map_err(|e| format!("connect: {e}"))?;
            check_suite(conn.cipher_suite(), cipher)?;
            let start = Instant::now();
            let (answer, trace) = traced(
                async {
                    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| format!("open: {e}"))?;
                    for piece in pieces(bytes) {
                        send.write_chunk(piece).await.map_err(|e| format!("write: {e}"))?;
                    }
                    send.finish().map_err(|e| format!("finish: {e}"))?;
                    recv.read_to_end(8).await.map_err(|e| format!("answer: {e}"))
                },
                H::sleep,
                || conn.stats().map(|s| Sample { cwnd: s.cwnd, rtt: s.rtt }),
            )
            .await;
            let elapsed = start.elapsed();
            check_count(&answer?, bytes)?;
            let sender = conn.stats().map(|s| trace.finish(sender_stats(&s)));
            conn.close(0, b"done");
            endpoint.wait_idle().await;
            Ok((elapsed, sender, endpoint.io_stats()))
        })
    });
    let server = server.join().map_err(|_| "server thread panicked".to_string())?;
    let (elapsed, sender, client_io) = client?;
    let server_io = server?;
    let udp_syscalls = [client_io, server_io].iter().map(|io| io.recv_calls + io.send_calls).sum();
    Ok(Measured { transfer: Transfer { bytes, elapsed, udp_syscalls: Some(udp_syscalls) }, sender })
}

/// Our connection's counters as [`SenderStats`] (the means are filled in from the trace).
fn sender_stats(s: &ConnectionStats) -> SenderStats {
    SenderStats {
        packets_sent: s.packets_sent,
        packets_lost: s.packets_lost,
        packets_retransmitted: Some(s.packets_retransmitted),
        congestion_events: s.congestion_events,
        probe_timeouts: Some(s.probe_timeouts),
        final_cwnd: s.cwnd,
        min_rtt: s.min_rtt,
        ..SenderStats::default()
    }
}

/// Accepts one connection and one stream, reads it to the end, answers with the count and
/// waits for the client to close.
async fn serve_one<R: Runtime>(endpoint: &Endpoint<R>) -> Result<(), String> {
    let conn = endpoint.accept().await.ok_or("endpoint closed before a connection arrived")?;
    let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| format!("accept stream: {e}"))?;
    let mut buf = vec![0u8; super::WRITE_SIZE];
    let mut count = 0u64;
    while let Some(n) = recv.read(&mut buf).await.map_err(|e| format!("read: {e}"))? {
        count += n as u64;
    }
    send.write_all(&encode_count(count)).await.map_err(|e| format!("answer: {e}"))?;
    send.finish().map_err(|e| format!("finish: {e}"))?;
    conn.closed().await;
    Ok(())
}

/// `future`, failed after [`TIME_LIMIT`].
async fn limited<H: Host, T>(future: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    future
        .or(async {
            H::sleep(TIME_LIMIT).await;
            Err("time limit exceeded".to_string())
        })
        .await
}
