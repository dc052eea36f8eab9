//! jetstream-tokio against quinn (same ciphers) and kernel TCP on loopback, in one run:
//! payload-size sweep, request/response latency, handshakes, memory per idle connection,
//! and the lossy netns link.
//!
//! ```sh
//! cargo run --release -p jetstream-bench --bin compare                        # everything
//! cargo run --release -p jetstream-bench --bin compare -- --quick             # smoke run
//! cargo run --release -p jetstream-bench --bin compare -- --only latency --rounds 5
//! cargo run --release -p jetstream-bench --bin compare -- --json results.json
//! cargo run --release -p jetstream-bench --bin compare -- --only handshake --server-cpu-quota 50  # saturated server (root)
//! ```
//!
//! Every measurement runs in a fresh child process. Each round runs every job of a section
//! once, in an order rotated per round; a ratio is taken within a round before the median
//! over rounds, so slow phases of the shared machine hit both sides of a ratio alike.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use jetstream_bench::compare::plan::{describe, jobs, ratios, targets};
use jetstream_bench::compare::{Grid, Job, Outcome, Section, Settings, memory};
use jetstream_bench::lossy_link::{self, LossyOptions, LossyRow};
use jetstream_bench::{child, machine};
use serde::Serialize;

/// Compares jetstream-tokio with quinn and kernel TCP on loopback.
#[derive(Debug, Parser)]
struct Args {
    /// Run only this section (repeatable); all by default.
    #[arg(long = "only", value_enum)]
    only: Vec<Section>,
    /// Small sizes and one round: a smoke run of a few seconds per section. Other flags
    /// still override.
    #[arg(long)]
    quick: bool,
    /// Rounds of the payload, latency, handshake and lossy sections.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    rounds: Option<u16>,
    /// Rounds of the memory section.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    memory_rounds: Option<u16>,
    /// MiB per payload transfer (write sizes of 512 B and up).
    #[arg(long)]
    payload_mib: Option<u64>,
    /// MiB per payload transfer with 64-byte writes.
    #[arg(long)]
    small_payload_mib: Option<u64>,
    /// Seconds of each latency window and handshake rate phase.
    #[arg(long)]
    seconds: Option<f64>,
    /// Requests in flight in the second latency mode (1 to 100).
    #[arg(long)]
    in_flight: Option<usize>,
    /// Clients connecting at once in the handshake rate phase.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Caps the handshake server thread to this percent of a core in the rate phase, so
    /// that the clients saturate it (needs root and the cgroup v1 cpu controller).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    server_cpu_quota: Option<u8>,
    /// Idle connection counts of the memory section, comma-separated and increasing.
    #[arg(long, value_delimiter = ',')]
    connections: Option<Vec<usize>>,
    /// Bytes per transfer across the lossy link.
    #[arg(long)]
    lossy_bytes: Option<u64>,
    /// Also write every result (per round) to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    internal: Option<Internal>,
}

#[derive(Debug, Subcommand)]
enum Internal {
    /// Runs one job (JSON) in this process and prints its outcome as JSON.
    #[command(hide = true)]
    One { job: String },
    /// The memory section's server process.
    #[command(name = "idle-server", hide = true)]
    IdleServer { peer: String },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match &args.internal {
        Some(Internal::One { job }) => run_one(job),
        Some(Internal::IdleServer { peer }) => memory::serve_idle(peer),
        None => settings(&args).and_then(|settings| measure(&args, &settings)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn settings(args: &Args) -> Result<Settings, String> {
    let mut s = if args.quick { Settings::quick() } else { Settings::full() };
    if let Some(n) = args.rounds {
        s.rounds = n.into();
    }
    if let Some(n) = args.memory_rounds {
        s.memory_rounds = n.into();
    }
    if let Some(mib) = args.payload_mib {
        s.payload_bytes = mib << 20;
    }
    if let Some(mib) = args.small_payload_mib {
        s.small_payload_bytes = mib << 20;
    }
    if let Some(seconds) = args.seconds {
        s.window = Duration::try_from_secs_f64(seconds).map_err(|e| format!("--seconds {seconds}: {e}"))?;
    }
    if let Some(n) = args.in_flight {
        s.in_flight = n;
    }
    if let Some(n) = args.concurrency {
        s.handshake_concurrency = n;
    }
    if let Some(percent) = args.server_cpu_quota {
        s.handshake_server_quota = Some(percent);
    }
    if let Some(levels) = &args.connections {
        s.connection_levels = levels.clone();
    }
    if let Some(bytes) = args.lossy_bytes {
        s.lossy_bytes = bytes;
    }
    Ok(s)
}

fn this_binary() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("the running binary has no path: {e}"))
}

fn run_one(job: &str) -> Result<(), String> {
    let job: Job = serde_json::from_str(job).map_err(|e| format!("job {job:?}: {e}"))?;
    let outcome = job.run(&this_binary()?)?;
    println!("{}", serde_json::to_string(&outcome).map_err(|e| e.to_string())?);
    Ok(())
}

/// A job in a child process, killed if it outlives its limit.
fn run_child(job: &Job) -> Result<Outcome, String> {
    let mut command = Command::new(this_binary()?);
    command.args(["one", &serde_json::to_string(job).map_err(|e| e.to_string())?]);
    let output = child::output_within(&mut command, job.time_limit())?;
    serde_json::from_str(output.trim()).map_err(|e| format!("unreadable outcome {output:?}: {e}"))
}

/// One run of one job, for the JSON file.
#[derive(Debug, Serialize)]
struct Run {
    round: usize,
    job: Job,
    outcome: Result<Outcome, String>,
}

/// A section's results, for the JSON file.
#[derive(Debug, Serialize)]
struct SectionReport {
    section: &'static str,
    description: String,
    /// The table as printed.
    table: String,
    runs: Vec<Run>,
    grid: Grid,
    /// Median ratios by row and ratio title.
    ratios: Vec<(String, String, Option<f64>)>,
    targets: Vec<String>,
    lossy: Vec<LossyJson>,
    skipped: Option<String>,
}

/// The lossy link's rows, for the JSON file.
#[derive(Debug, Serialize)]
struct LossyJson {
    peer: String,
    loss_percent: u8,
    rate_mbit: u32,
    goodput_mbit: f64,
    completion_s: f64,
    nft_dropped: u64,
    retransmissions: Option<u64>,
    rounds: usize,
}

impl From<&LossyRow> for LossyJson {
    fn from(row: &LossyRow) -> Self {
        LossyJson {
            peer: row.peer.name().to_string(),
            loss_percent: row.loss_percent,
            rate_mbit: row.rate_mbit,
            goodput_mbit: row.goodput_mbit,
            completion_s: row.completion.as_secs_f64(),
            nft_dropped: row.nft_dropped,
            retransmissions: row.retransmissions,
            rounds: row.rounds.len(),
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    machine: String,
    sections: Vec<SectionReport>,
}

fn measure(args: &Args, settings: &Settings) -> Result<(), String> {
    let sections: Vec<Section> =
        Section::ALL.into_iter().filter(|s| args.only.is_empty() || args.only.contains(s)).collect();
    let machine = machine::describe();
    println!("{machine}\n");
    let total: usize = sections.iter().map(|&s| jobs(s, settings).len() * settings.rounds_of(s)).sum();
    let progress = ProgressBar::new(total as u64)
        .with_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("a valid progress template"));
    let mut report = Report { machine, sections: Vec::new() };
    for section in sections {
        let section_report = match section {
            Section::Lossy => progress.suspend(|| lossy(settings)),
            _ => measure_section(section, settings, &progress),
        };
        progress.suspend(|| print_section(&section_report));
        report.sections.push(section_report);
    }
    progress.finish_and_clear();
    print_legend();
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("results written to {}", path.display());
    }
    Ok(())
}

fn measure_section(section: Section, settings: &Settings, progress: &ProgressBar) -> SectionReport {
    let jobs = jobs(section, settings);
    let columns: Vec<String> = jobs.iter().map(Job::column).fold(Vec::new(), |mut columns, c| {
        if !columns.contains(&c) {
            columns.push(c);
        }
        columns
    });
    let mut grid = Grid::new(columns);
    let mut runs = Vec::new();
    for round in 0..settings.rounds_of(section) {
        for i in 0..jobs.len() {
            let job = &jobs[(i + round) % jobs.len()];
            progress.set_message(format!("{} round {}: {}", section.name(), round + 1, describe_job(job)));
            let outcome = run_child(job);
            match &outcome {
                Ok(outcome) => {
                    for (row, value) in outcome.cells() {
                        grid.record(round, &row, &job.column(), Some(value));
                    }
                }
                Err(e) => progress.suspend(|| eprintln!("{}: {}: {e}", section.name(), describe_job(job))),
            }
            runs.push(Run { round, job: job.clone(), outcome });
            progress.inc(1);
        }
    }
    // Rows in the order the jobs list them, not the order rounds happened to record them.
    grid.rows = ordered_rows(&jobs, &runs);
    let ratio_columns = ratios(section);
    let ratios = grid
        .rows
        .iter()
        .flat_map(|row| ratio_columns.iter().map(|r| (row.clone(), r.title.clone(), grid.ratio(row, r))))
        .collect();
    SectionReport {
        section: section.name(),
        description: describe(section, settings),
        table: grid.render("", &ratio_columns),
        targets: targets(section, &grid, settings),
        runs,
        grid,
        ratios,
        lossy: Vec::new(),
        skipped: None,
    }
}

fn ordered_rows(jobs: &[Job], runs: &[Run]) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    for job in jobs {
        let Some(Ok(outcome)) = runs.iter().find(|r| &r.job == job).map(|r| &r.outcome) else { continue };
        for (row, _) in outcome.cells() {
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
    }
    rows
}

fn describe_job(job: &Job) -> String {
    match job {
        Job::Payload { writes, .. } => format!("{} {} B", job.column(), writes.size),
        Job::Latency { in_flight, .. } => format!("{} x{in_flight}", job.column()),
        _ => job.column(),
    }
}

fn lossy(settings: &Settings) -> SectionReport {
    let mut report = SectionReport {
        section: Section::Lossy.name(),
        description: describe(Section::Lossy, settings),
        table: String::new(),
        runs: Vec::new(),
        grid: Grid::default(),
        ratios: Vec::new(),
        targets: Vec::new(),
        lossy: Vec::new(),
        skipped: None,
    };
    if let Err(e) = lossy_link::available() {
        report.skipped = Some(format!("the lossy link cannot run here: {e}"));
        return report;
    }
    let options = LossyOptions {
        bytes: settings.lossy_bytes,
        rounds: u16::try_from(settings.rounds).unwrap_or(u16::MAX),
        ..LossyOptions::default()
    };
    match lossy_link::measure(&options) {
        Ok(rows) => {
            report.table = lossy_link::table(&rows);
            report.lossy = rows.iter().map(LossyJson::from).collect();
        }
        Err(e) => report.skipped = Some(format!("the lossy link failed: {e}")),
    }
    report
}

fn print_section(report: &SectionReport) {
    println!("== {} ==\n{}\n", report.section, report.description);
    if let Some(reason) = &report.skipped {
        println!("skipped: {reason}\n");
        return;
    }
    println!("{}", report.table);
    for line in &report.targets {
        println!("{line}");
    }
    println!();
}

fn print_legend() {
    println!(
        "Columns: js = jetstream-tokio, quinn = quinn 0.11 (rustls, ring), tcp = kernel TCP (plaintext); aes = AES-256-GCM \
         (quinn: TLS_AES_256_GCM_SHA384), chacha = ChaCha20-Poly1305. Values are medians over rounds.\n\
         Ratio columns: jetstream / peer, the median over rounds of the ratio within each round; above 1 is better for \
         rates, below 1 is better for latencies, CPU time and memory."
    );
}
