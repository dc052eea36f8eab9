//! The scenario runner: `jetstream-sim run SCENARIO.toml --seed N --out DIR`.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use jetstream_sim::{Scenario, run};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "jetstream-sim", version, about = "Deterministic network simulator for JetStreamProto")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario file (every sweep value and seed it lists).
    Run {
        /// The scenario (see simulations/README.md and simulations/scenarios/).
        scenario: PathBuf,
        /// Run these seeds instead of the file's (repeatable).
        #[arg(long)]
        seed: Vec<u64>,
        /// Output directory (per run: summary.json, trace.jsonl, SVG plots).
        #[arg(long, default_value = "sim-out")]
        out: PathBuf,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
}

fn main() -> ExitCode {
    let Command::Run { scenario, seed, out, quiet } = Cli::parse().command;
    let text = match std::fs::read_to_string(&scenario) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", scenario.display());
            return ExitCode::FAILURE;
        }
    };
    let seeds = (!seed.is_empty()).then_some(seed.as_slice());
    let specs = match Scenario::expand(&text, &scenario, seeds) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let many = specs.len() > 1;
    let mut failed = false;
    for spec in &specs {
        let mut dir = out.clone();
        if let Some(label) = &spec.sweep_label {
            dir.push(label.replace(['/', ' '], "_"));
        }
        if many {
            dir.push(format!("seed-{}", spec.seed));
        }
        let limit = spec.scenario.duration.0.as_secs_f64();
        let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new((limit * 1000.0) as u64) };
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ms simulated, {elapsed} wall")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("{} seed {}", spec.scenario.name, spec.seed));
        let result = run(spec, Some(&dir), &mut |t| bar.set_position((t * 1000.0) as u64));
        bar.finish_and_clear();
        match result {
            Ok(summary) => {
                println!("{}", summary.table(20));
                println!("results in {}\n", dir.display());
                failed |= summary.total.corrupted_bytes > 0;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
