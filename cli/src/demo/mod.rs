//! `jetstream demo`: the protocol at work on this machine, with nothing to set up. A perf
//! server and clients on loopback (tokio adapter) perform post-quantum handshakes, move a
//! large stream, run small request/response messages and datagrams; then two simulated
//! networks show loss recovery. One table at the end, and where to go next.

mod datagrams;
mod scenarios;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use jetstream_core::{PublicKey, StaticKeypair, TransportConfig};
use jetstream_driver::Runtime;
use jetstream_sim::Summary;
use jetstream_tokio::TokioRuntime;

use crate::perf::report::{micros, rate, size};
use crate::perf::{self, ClientOptions, Mode, Report};
use crate::progress::steps_bar;
use crate::{net, runtime};

/// What the demo moves (the defaults are the documented demo; tests use less).
#[derive(Debug, Clone)]
pub(crate) struct DemoOptions {
    pub(crate) bytes: u64,
    pub(crate) messages: u64,
    pub(crate) datagrams: u64,
    pub(crate) handshakes: u32,
    pub(crate) progress: bool,
}

/// Bytes of each request, response and datagram.
const SMALL: usize = 64;

/// One line of the table.
struct Row {
    step: String,
    result: String,
    rtt_p50: String,
    rtt_p99: String,
    retransmitted: String,
    recovered: String,
}

/// Runs the demo and prints its table.
pub(crate) fn run(options: &DemoOptions) -> Result<(), String> {
    println!("JetStreamProto demo: a server and a client on loopback (tokio adapter), then two simulated networks.\n");
    let (cipher, mut rows) = runtime::on_tokio(|rt| loopback_steps(rt, options))??;
    for scenario in &scenarios::SCENARIOS {
        let bar =
            bar(options.progress, (scenario.duration_s() * 1000.0) as u64, &format!("simulating {}", scenario.name));
        let summary = scenario.run(&mut |t| bar.set_position((t * 1000.0) as u64))?;
        bar.finish_and_clear();
        rows.push(simulated_row(scenario.link, &summary));
    }
    println!("{}", table(&rows));
    println!("Cipher on loopback: {cipher}; key exchange: X25519 + ML-KEM-768 (hybrid post-quantum).");
    println!("Packets declared lost are recovered by retransmission: every stream byte arrives. Datagrams");
    println!("are never retransmitted; the simulated bufferbloat run carries a voice-like datagram flow.");
    println!("The Wi-Fi row is held down by its random loss, not by the link: loss-based congestion control");
    println!("(TCP's too) shrinks its window at every loss, about once every 50 packets at 2%.\n");
    println!("Next:");
    println!("  jetstream keygen --out server.key           then perf server / recv with --key server.key");
    println!("  jetstream perf client --connect HOST:PORT --server-key KEY   (iperf-like, --json)");
    println!("  jetstream send FILE --to HOST:PORT --server-key KEY          (resumable, SHA-256 checked)");
    println!("  jetstream sim simulations/scenarios/satellite.toml           (replayable network scenarios)");
    println!("  BENCHMARKS.md (against quinn and TCP), docs/protocol.md, simulations/README.md");
    Ok(())
}

fn bar(enabled: bool, len: u64, message: &str) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = steps_bar(len);
    bar.set_message(message.to_string());
    bar
}

/// The loopback steps against an in-process perf server; the negotiated cipher and a row
/// per step.
async fn loopback_steps(rt: TokioRuntime, options: &DemoOptions) -> Result<(String, Vec<Row>), String> {
    let (server, server_key) = start_server()?;

    let mut rows = vec![handshakes(&rt, server, server_key, options).await?];
    let client = |mode, msg_size, bytes| ClientOptions {
        server,
        server_key,
        transport: TransportConfig::lan(),
        mode,
        streams: 1,
        msg_size,
        bytes: Some(bytes),
        duration: None,
        connect_timeout: net::CONNECT_TIMEOUT,
        progress: options.progress,
        busy_poll: None,
    };
    let bulk = perf::client::run(rt.clone(), "tokio", client(Mode::Upload, 64 << 10, options.bytes)).await?;
    let cipher = bulk.cipher.clone();
    rows.push(perf_row(
        format!("{} on one stream", size(options.bytes)),
        &bulk,
        format!("{:.2} s, {}", bulk.seconds, rate(bulk.mbps)),
    ));
    let echo =
        perf::client::run(rt.clone(), "tokio", client(Mode::Echo, SMALL, options.messages * SMALL as u64)).await?;
    let result = format!("{} round trips/s", thousands(echo.msgs_per_s as u64));
    rows.push(perf_row(format!("{} requests/responses, {SMALL} B", thousands(options.messages)), &echo, result));
    rows.push(datagram_row(&rt, server, server_key, options).await?);
    Ok((cipher, rows))
}

/// A perf server on a thread of its own (as a real server would be: client and server each
/// get a core), serving until the process ends. Its address and public key.
fn start_server() -> Result<(SocketAddr, PublicKey), String> {
    let key = StaticKeypair::from_secret_bytes(jetstream_driver::random_seed().map_err(|e| e.to_string())?);
    let server_key = key.public_key();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let announce = tx.clone();
        let served = runtime::on_tokio(|rt| async move {
            let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
            let endpoint = match net::server_endpoint(rt.clone(), loopback, key, TransportConfig::lan(), None) {
                Ok(endpoint) => endpoint,
                Err(e) => return Err(e),
            };
            let _ = announce.send(endpoint.local_addr().map_err(|e| e.to_string()));
            perf::server::serve(rt, endpoint, false).await;
            Ok(())
        });
        if let Err(e) | Ok(Err(e)) = served {
            // Only reached when the server never started; the receiver reports it.
            let _ = tx.send(Err(e));
        }
    });
    let addr = rx.recv().map_err(|_| "the demo server did not start".to_string())??;
    Ok((addr, server_key))
}

/// Fresh connections one after another: the median and p99 handshake time.
async fn handshakes<R: Runtime>(
    rt: &R,
    server: SocketAddr,
    server_key: PublicKey,
    options: &DemoOptions,
) -> Result<Row, String> {
    let bar = bar(options.progress, u64::from(options.handshakes), "handshakes");
    let mut times = perf::new_histogram();
    for _ in 0..options.handshakes {
        let config = net::client_config(server_key, TransportConfig::lan());
        let started = Instant::now();
        let (endpoint, conn) = net::connect(rt.clone(), server, config, net::CONNECT_TIMEOUT, None).await?;
        perf::record(&mut times, started.elapsed());
        conn.close(0, b"demo");
        runtime::timeout(rt, Duration::from_millis(200), endpoint.wait_idle()).await;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let [p50, p99, _] = perf::report::percentiles(&times);
    Ok(Row {
        step: format!("post-quantum handshake (x{})", options.handshakes),
        result: format!("{} median, {} p99", micros(p50), micros(p99)),
        rtt_p50: "-".into(),
        rtt_p99: "-".into(),
        retransmitted: "-".into(),
        recovered: "-".into(),
    })
}

async fn datagram_row(
    rt: &TokioRuntime,
    server: SocketAddr,
    server_key: PublicKey,
    options: &DemoOptions,
) -> Result<Row, String> {
    let config = net::client_config(server_key, TransportConfig::lan());
    let (endpoint, conn) = net::connect(rt.clone(), server, config, net::CONNECT_TIMEOUT, None).await?;
    let bar = bar(options.progress, options.datagrams, "datagrams");
    let outcome = datagrams::echo_datagrams(rt, &conn, options.datagrams, SMALL, &bar).await;
    bar.finish_and_clear();
    conn.close(0, b"demo");
    runtime::timeout(rt, Duration::from_millis(200), endpoint.wait_idle()).await;
    let outcome = outcome?;
    let [p50, p99, _] = perf::report::percentiles(&outcome.rtt);
    Ok(Row {
        step: format!("{} datagrams, {SMALL} B", thousands(outcome.sent)),
        result: format!("{} echoed in {:.2} s", thousands(outcome.echoed), outcome.elapsed.as_secs_f64()),
        rtt_p50: micros(p50),
        rtt_p99: micros(p99),
        retransmitted: "never".into(),
        recovered: format!("{} lost", outcome.sent - outcome.echoed),
    })
}

fn perf_row(step: String, report: &Report, result: String) -> Row {
    Row {
        step,
        result,
        rtt_p50: micros(report.rtt_p50_us),
        rtt_p99: micros(report.rtt_p99_us),
        retransmitted: report.retransmitted_packets.to_string(),
        recovered: recovered(report.lost_packets, true),
    }
}

fn simulated_row(link: &str, summary: &Summary) -> Row {
    let total = &summary.total;
    // Datagram flows lose what the link drops; only stream data must arrive whole.
    let complete = total.corrupted_bytes == 0
        && summary.connections.iter().filter(|c| c.app != "datagrams").all(|c| c.delivered_bytes == c.expected_bytes);
    let ms = |v: Option<f64>| v.map_or_else(|| "-".into(), |ms| micros((ms * 1000.0) as u64));
    let took = total.completion_s.map_or_else(|| "incomplete".into(), |s| format!("{s:.1} s simulated"));
    Row {
        step: format!("simulated: {link}"),
        result: format!("{} in {took}, {}", size(total.delivered_bytes), rate(total.goodput_mbps)),
        rtt_p50: ms(total.rtt_p50_ms),
        rtt_p99: ms(total.rtt_p99_ms),
        retransmitted: total.retransmitted_packets.to_string(),
        recovered: recovered(total.lost_packets, complete),
    }
}

/// "none lost", "759 lost, all data delivered", or that stream data is missing.
fn recovered(lost: u64, complete: bool) -> String {
    match (lost, complete) {
        (0, _) => "none lost".into(),
        (n, true) => format!("{n} lost, all data delivered"),
        (n, false) => format!("{n} lost, stream data missing"),
    }
}

/// `10000` as `10,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The rows as an aligned text table.
fn table(rows: &[Row]) -> String {
    let header = ["step", "result", "RTT p50", "RTT p99", "retransmitted", "loss recovered"];
    let cells: Vec<[&str; 6]> = rows
        .iter()
        .map(|r| [&*r.step, &*r.result, &*r.rtt_p50, &*r.rtt_p99, &*r.retransmitted, &*r.recovered])
        .collect();
    let width = |i: usize| cells.iter().map(|c| c[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0);
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let mut out = String::new();
    for line in std::iter::once(&header).chain(cells.iter()) {
        let cols: Vec<String> = line.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        let _ = writeln!(out, "  {}", cols.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(recovered(0, true), "none lost");
        assert_eq!(recovered(12, true), "12 lost, all data delivered");
        assert_eq!(recovered(12, false), "12 lost, stream data missing");
    }

    #[test]
    fn the_table_aligns_its_columns() {
        let row = |step: &str| Row {
            step: step.into(),
            result: "r".into(),
            rtt_p50: "1 µs".into(),
            rtt_p99: "2 µs".into(),
            retransmitted: "0".into(),
            recovered: "none lost".into(),
        };
        let text = table(&[row("short"), row("a much longer step")]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        // In characters: "µs" takes two bytes but one column.
        let column = |line: &str| {
            let byte = line.find("none lost").or_else(|| line.find("loss recovered")).expect("the last column");
            line[..byte].chars().count()
        };
        assert_eq!(column(lines[1]), column(lines[2]));
        assert_eq!(column(lines[0]), column(lines[1]));
    }
}
