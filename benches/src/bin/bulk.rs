//! Loopback bulk throughput on one connection: JetStreamProto's three adapters (GSO on and
//! off), quinn with the same ciphers, and kernel TCP, measured in one run.
//!
//! ```sh
//! cargo run --release -p jetstream-bench --bin bulk                 # everything, 5 rounds
//! cargo run --release -p jetstream-bench --bin bulk -- --case quinn/aes256/gso --rounds 3
//! ```
//!
//! Every transfer runs in a fresh child process (so no case inherits another's heap or
//! threads). Each round runs every case once, in an order rotated per round, and a ratio
//! to quinn is taken within a round before the median over rounds, so slow phases of the
//! shared machine hit both sides of a ratio alike. A last pass runs each case once under
//! `strace -f -c` to count syscalls.

use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use jetstream_bench::bulk::{Case, TIME_LIMIT, Transfer};
use jetstream_bench::strace::SyscallCounts;
use jetstream_bench::{child, machine, median};

/// Loopback bulk throughput of JetStreamProto's adapters against quinn and kernel TCP.
#[derive(Debug, Parser)]
struct Args {
    /// MiB moved per transfer.
    #[arg(long, default_value_t = 256)]
    mib: u64,
    /// Rounds; each runs every case once.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    rounds: u16,
    /// Measure only this case (repeatable), e.g. `jetstream-tokio/aes256/gso`; all by default.
    #[arg(long = "case")]
    cases: Vec<Case>,
    /// Skip the syscall count (a run per case under strace).
    #[arg(long)]
    no_syscalls: bool,
    #[command(subcommand)]
    internal: Option<Internal>,
}

#[derive(Debug, Subcommand)]
enum Internal {
    /// One transfer in this process; prints `bytes nanoseconds udp_syscalls`.
    #[command(hide = true)]
    One { case: Case, bytes: u64 },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.internal {
        Some(Internal::One { case, bytes }) => case.run(bytes).map(|t| {
            let syscalls = t.udp_syscalls.map_or("-".to_string(), |n| n.to_string());
            println!("{} {} {syscalls}", t.bytes, t.elapsed.as_nanos());
        }),
        None => measure(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What one case measured over all rounds.
struct Row {
    case: Case,
    transfers: Vec<Transfer>,
    syscalls: Option<Result<SyscallCounts, String>>,
}

fn measure(args: &Args) -> Result<(), String> {
    let cases = if args.cases.is_empty() { Case::all() } else { args.cases.clone() };
    let bytes = args.mib << 20;
    println!("{}", machine::describe());
    let runs = (cases.len() * usize::from(args.rounds)) as u64 + if args.no_syscalls { 0 } else { cases.len() as u64 };
    let progress = ProgressBar::new(runs)
        .with_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("a valid progress template"));
    let mut rows: Vec<Row> = cases.iter().map(|&case| Row { case, transfers: Vec::new(), syscalls: None }).collect();
    for round in 0..args.rounds {
        for i in 0..rows.len() {
            let row = &mut rows[(i + usize::from(round)) % cases.len()];
            progress.set_message(format!("round {}: {}", round + 1, row.case));
            row.transfers.push(run_child(row.case, bytes)?);
            progress.inc(1);
        }
    }
    if !args.no_syscalls {
        for row in &mut rows {
            progress.set_message(format!("strace: {}", row.case));
            row.syscalls = Some(SyscallCounts::of(&child_command(row.case, traced_bytes(args))));
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    print_table(&rows, args);
    Ok(())
}

/// Bytes per traced run: syscalls per MiB hardly depend on the size, and 64 MiB keeps the
/// slow traced runs short.
fn traced_bytes(args: &Args) -> u64 {
    (args.mib << 20).min(64 << 20)
}

fn child_command(case: Case, bytes: u64) -> Command {
    let exe = std::env::current_exe().expect("the running binary has a path");
    let mut command = Command::new(exe);
    command.args(["one", &case.to_string(), &bytes.to_string()]);
    command.envs(case.env());
    command
}

/// One transfer in a child process, killed if it outlives the time limit.
fn run_child(case: Case, bytes: u64) -> Result<Transfer, String> {
    let output = child::output_within(&mut child_command(case, bytes), TIME_LIMIT + Duration::from_secs(10))
        .map_err(|e| format!("{case}: {e}"))?;
    parse_transfer(&output).ok_or_else(|| format!("{case}: unreadable result"))
}

fn parse_transfer(line: &str) -> Option<Transfer> {
    let mut fields = line.split_whitespace();
    let bytes = fields.next()?.parse().ok()?;
    let elapsed = Duration::from_nanos(fields.next()?.parse().ok()?);
    let udp_syscalls = fields.next()?.parse().ok();
    Some(Transfer { bytes, elapsed, udp_syscalls })
}

fn print_table(rows: &[Row], args: &Args) {
    println!(
        "{} MiB per transfer, {} rounds, one connection and one stream on loopback, 64 KiB writes\n",
        args.mib, args.rounds
    );
    println!(
        "{:<32} {:>8} {:>15} {:>10} {:>10} {:>10} {:>10}",
        "case", "Gbit/s", "min-max", "vs quinn", "sock sc/MiB", "all sc/MiB", "UDP sc/MiB"
    );
    for row in rows {
        let rates: Vec<f64> = row.transfers.iter().map(Transfer::gbit_per_s).collect();
        let (min, max) = rates.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        let ratio = row.case.quinn_baseline().and_then(|baseline| {
            let quinn = rows.iter().find(|r| r.case == baseline)?;
            let ratios: Vec<f64> = rates.iter().zip(&quinn.transfers).map(|(ours, q)| ours / q.gbit_per_s()).collect();
            median(&ratios)
        });
        let traced_mib = traced_bytes(args) as f64 / (1 << 20) as f64;
        let (io, all) = match &row.syscalls {
            Some(Ok(counts)) => (
                format!("{:.0}", counts.socket_io() as f64 / traced_mib),
                format!("{:.0}", counts.total() as f64 / traced_mib),
            ),
            Some(Err(_)) => ("error".into(), "error".into()),
            None => ("-".into(), "-".into()),
        };
        let driver = median(
            &row.transfers
                .iter()
                .filter_map(|t| t.udp_syscalls.map(|n| n as f64 / (t.bytes as f64 / (1 << 20) as f64)))
                .collect::<Vec<_>>(),
        );
        println!(
            "{:<32} {:>8.2} {:>15} {:>10} {:>10} {:>10} {:>10}",
            row.case.to_string(),
            median(&rates).unwrap_or(0.0),
            format!("{min:.2}-{max:.2}"),
            ratio.map_or("-".into(), |r| format!("{r:.2}x")),
            io,
            all,
            driver.map_or("-".into(), |n| format!("{n:.0}")),
        );
    }
    for row in rows {
        if let Some(Err(e)) = &row.syscalls {
            println!("syscall count of {}: {e}", row.case);
        }
    }
    println!(
        "\nvs quinn: median over rounds of the ratio to quinn with the same cipher and GSO setting.\n\
         sock sc/MiB: send*/recv* syscalls of both endpoints per MiB (strace -f -c, one run of at most 64 MiB);\n\
         all sc/MiB: every syscall; UDP sc/MiB: sendmsg+recvmmsg as our driver counts them (timed runs)."
    );
}
