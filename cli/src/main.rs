//! `jetstream`: the JetStreamProto command-line tool.
//!
//! ```sh
//! jetstream keygen --out server.key          # writes a key pair, prints the public key
//! jetstream pubkey --key server.key          # prints it again
//! jetstream sim simulations/scenarios/lan.toml --seed 7 --out out/lan
//! ```

#![forbid(unsafe_code)]

mod keys;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use jetstream_sim::runner::{RunOptions, run_file};

#[derive(Debug, Parser)]
#[command(
    name = "jetstream",
    version,
    about = "JetStreamProto: post-quantum encrypted, multiplexed transport over UDP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes a new static key pair to a file (mode 0600) and prints its public key, the
    /// text clients pass as `--server-key`.
    Keygen {
        /// Where to write the key pair.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Prints the public key of a key file (what clients pass as `--server-key`).
    Pubkey {
        /// A file written by `jetstream keygen`.
        #[arg(long)]
        key: PathBuf,
    },
    /// Runs a simulator scenario file (see simulations/README.md): a table per run, and
    /// summary.json, trace.jsonl and SVG plots in the output directory.
    Sim {
        /// The scenario, e.g. simulations/scenarios/wifi-lossy.toml.
        scenario: PathBuf,
        /// Run these seeds instead of the file's (repeatable).
        #[arg(long)]
        seed: Vec<u64>,
        /// Output directory.
        #[arg(long, default_value = "sim-out")]
        out: PathBuf,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Keygen { out, force } => {
            let secret = jetstream_driver::random_seed().map_err(|e| format!("OS random generator: {e}"))?;
            let public = keys::write_key_file(&out, secret, force).map_err(|e| match e {
                keys::KeyFileError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
                    format!("{} exists; pass --force to replace it", out.display())
                }
                e => e.to_string(),
            })?;
            eprintln!("wrote {} (keep it secret); the public key:", out.display());
            println!("{public}");
            Ok(())
        }
        Command::Pubkey { key } => {
            println!("{}", keys::read_key_file(&key).map_err(|e| e.to_string())?.public_key());
            Ok(())
        }
        Command::Sim { scenario, seed, out, quiet } => {
            run_file(&scenario, &RunOptions { seeds: seed, out, quiet }).map(drop)
        }
    }
}
