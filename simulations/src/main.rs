//! The scenario runner: `jetstream-sim run SCENARIO.toml --seed N --out DIR`.

use clap::{Parser, Subcommand};
use jetstream_sim::runner::{RunOptions, run_file};
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
    match run_file(&scenario, &RunOptions { seeds: seed, out, quiet }) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
