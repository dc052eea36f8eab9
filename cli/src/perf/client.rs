//! The perf client on the async adapters (tokio, smol), written once over the driver.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_lite::future;
use futures_util::future::try_join_all;
use hdrhistogram::Histogram;
use jetstream_driver::{Connection, RecvStream, Runtime, SendStream, StreamError};

use super::protocol::{CPU_UNKNOWN, StreamKind, decode_u64};
use super::{Budget, ClientOptions, Measured, Mode, Report, Setup, StreamOutcome, new_histogram, payload, record};
use crate::progress::TransferBar;
use crate::{cpu, net, runtime};

/// How often the monitor samples the connection's RTT and redraws the progress bar.
const SAMPLE_EVERY: Duration = Duration::from_millis(1);

/// Runs a perf client on `runtime` and reports what it measured.
pub(crate) async fn run<R: Runtime>(
    runtime: R,
    runtime_name: &'static str,
    options: ClientOptions,
) -> Result<Report, String> {
    let config = net::client_config(options.server_key, options.transport.clone());
    let started = Instant::now();
    let (endpoint, conn) =
        net::connect(runtime.clone(), options.server, config, options.connect_timeout, options.busy_poll).await?;
    let handshake = started.elapsed();
    let cipher = conn.cipher_suite().map_or_else(|| "unknown cipher".into(), |suite| format!("{suite:?}"));
    let result = measure(&runtime, &conn, &options).await;
    conn.close(0, b"done");
    // Long enough for the close to go out; the server times out otherwise.
    runtime::timeout(&runtime, Duration::from_secs(1), endpoint.wait_idle()).await;
    let setup = Setup { runtime: runtime_name, cipher, handshake };
    Ok(result?.into_report(&options, setup))
}

async fn measure<R: Runtime>(runtime: &R, conn: &Connection, options: &ClientOptions) -> Result<Measured, String> {
    let (mut cpu_send, mut cpu_recv) = conn.open_bi().await.map_err(|e| format!("connection lost: {e}"))?;
    cpu_send.write_all(&[StreamKind::Cpu.byte()]).await.map_err(stream_error("CPU stream"))?;
    let cpu_before = cpu::process_cpu_time();
    let start = Instant::now();
    let budget = Arc::new(Budget::new(options.bytes, options.duration, start));
    let bar = TransferBar::new(options.progress, budget.total_bytes(), budget.deadline());
    let finished = AtomicBool::new(false);
    let data = payload(options.msg_size);
    let streams = (0..options.streams).map(|i| {
        let (budget, data) = (budget.clone(), &data);
        async move {
            let (send, recv) = conn.open_bi().await.map_err(|e| format!("connection lost: {e}"))?;
            let outcome = match options.mode {
                Mode::Upload => upload(send, recv, &budget, data).await,
                Mode::Echo => echo(send, recv, &budget, data).await,
            };
            outcome.map_err(|e| format!("stream {i}: {e}"))
        }
    });
    let work = async {
        let outcomes = try_join_all(streams).await;
        finished.store(true, Ordering::Relaxed);
        outcomes
    };
    let (outcomes, transport_rtt) = future::zip(work, monitor(runtime, conn, &budget, &bar, &finished)).await;
    let outcomes = outcomes?;
    let elapsed = start.elapsed();
    bar.finish();
    let client_cpu = cpu::process_cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));

    cpu_send.finish().map_err(stream_error("CPU stream"))?;
    let answer = cpu_recv.read_to_end(8).await.map_err(|e| format!("CPU stream: {e}"))?;
    let server_cpu = match decode_u64(&answer)? {
        CPU_UNKNOWN => None,
        us => Some(Duration::from_micros(us)),
    };
    let mut rtt = match options.mode {
        Mode::Upload => transport_rtt,
        Mode::Echo => new_histogram(),
    };
    for outcome in &outcomes {
        rtt.add(&outcome.latencies).map_err(|e| format!("merging latencies: {e}"))?;
    }
    Ok(Measured {
        bytes: outcomes.iter().map(|o| o.bytes).sum(),
        messages: outcomes.iter().map(|o| o.messages).sum(),
        elapsed,
        rtt,
        stats: conn.stats().unwrap_or_default(),
        client_cpu,
        server_cpu,
    })
}

/// Until `finished`: records each new RTT sample of the connection and moves the bar.
async fn monitor<R: Runtime>(
    runtime: &R,
    conn: &Connection,
    budget: &Budget,
    bar: &TransferBar,
    finished: &AtomicBool,
) -> Histogram<u64> {
    let mut rtt = new_histogram();
    let mut samples_seen = 0;
    while !finished.load(Ordering::Relaxed) {
        if let Some(stats) = conn.stats()
            && stats.rtt_samples != samples_seen
        {
            samples_seen = stats.rtt_samples;
            record(&mut rtt, stats.latest_rtt);
        }
        bar.update(budget.taken());
        runtime::sleep_until(runtime, Instant::now() + SAMPLE_EVERY).await;
    }
    rtt
}

/// Writes messages until the budget is spent, then checks the server's byte count.
async fn upload(
    mut send: SendStream,
    mut recv: RecvStream,
    budget: &Budget,
    data: &[u8],
) -> Result<StreamOutcome, String> {
    send.write_all(&[StreamKind::Upload.byte()]).await.map_err(stream_error("write"))?;
    let (mut sent, mut messages) = (0u64, 0u64);
    loop {
        let n = budget.take(data.len());
        if n == 0 {
            break;
        }
        send.write_all(&data[..n]).await.map_err(stream_error("write"))?;
        sent += n as u64;
        messages += 1;
    }
    send.finish().map_err(stream_error("finish"))?;
    let answer = recv.read_to_end(8).await.map_err(|e| format!("the server's count: {e}"))?;
    let counted = decode_u64(&answer)?;
    if counted != sent {
        return Err(format!("the server counted {counted} bytes of the {sent} sent"));
    }
    Ok(StreamOutcome { bytes: sent, messages, latencies: new_histogram() })
}

/// Sends one message at a time and waits for its echo, timing each round trip.
async fn echo(
    mut send: SendStream,
    mut recv: RecvStream,
    budget: &Budget,
    data: &[u8],
) -> Result<StreamOutcome, String> {
    send.write_all(&[StreamKind::Echo.byte()]).await.map_err(stream_error("write"))?;
    let (mut bytes, mut messages, mut latencies) = (0u64, 0u64, new_histogram());
    let mut back = vec![0u8; data.len()];
    loop {
        let n = budget.take(data.len());
        if n == 0 {
            break;
        }
        let sent_at = Instant::now();
        send.write_all(&data[..n]).await.map_err(stream_error("write"))?;
        read_exact(&mut recv, &mut back[..n]).await?;
        record(&mut latencies, sent_at.elapsed());
        if back[..n] != data[..n] {
            return Err("the echo differs from the message".into());
        }
        bytes += n as u64;
        messages += 1;
    }
    send.finish().map_err(stream_error("finish"))?;
    recv.read_to_end(0).await.map_err(|e| format!("the echo's end: {e}"))?;
    Ok(StreamOutcome { bytes, messages, latencies })
}

/// Fills `buf` from the stream; an early end is an error.
async fn read_exact(recv: &mut RecvStream, buf: &mut [u8]) -> Result<(), String> {
    let mut filled = 0;
    while filled < buf.len() {
        match recv.read(&mut buf[filled..]).await.map_err(stream_error("read"))? {
            Some(n) => filled += n,
            None => return Err("the server ended the stream early".into()),
        }
    }
    Ok(())
}

fn stream_error(what: &'static str) -> impl Fn(StreamError) -> String {
    move |e| format!("{what}: {e}")
}
