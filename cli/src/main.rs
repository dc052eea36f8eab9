//! `jetstream`: the JetStreamProto command-line tool.
//!
//! ```sh
//! jetstream demo                                     # everything on loopback, one table
//! jetstream keygen --out server.key                  # writes a key pair, prints the public key
//! jetstream perf server --listen 0.0.0.0:4433 --key server.key
//! jetstream perf client --connect 192.0.2.7:4433 --server-key <PUBLIC KEY> --duration 10
//! jetstream recv --listen 0.0.0.0:4433 --key server.key --out inbox/
//! jetstream send big.iso notes.txt --to 192.0.2.7:4433 --server-key <PUBLIC KEY>
//! jetstream sim simulations/scenarios/wifi-lossy.toml --seed 7 --out out/wifi
//! ```

#![forbid(unsafe_code)]

mod cpu;
mod demo;
mod keys;
mod net;
mod perf;
mod progress;
mod runtime;
mod size;
mod transfer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jetstream_sim::runner::{RunOptions, run_file};

use crate::net::Preset;
use crate::runtime::RuntimeKind;

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
    /// Shows the protocol at work on loopback and in two simulated networks, with one
    /// table of results: no arguments, no files, a few seconds.
    Demo {
        /// Bytes moved on one stream (suffixes K, M, G).
        #[arg(long, default_value = "1G", value_parser = size::parse)]
        bytes: u64,
        /// Request/response round trips (64 bytes each way).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
        messages: u64,
        /// Datagrams echoed (64 bytes each).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
        datagrams: u64,
        /// Handshakes timed.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
        handshakes: u32,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
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
    /// Measures a link, like iperf: `perf server` on one machine, `perf client` on another.
    Perf {
        #[command(subcommand)]
        side: PerfSide,
    },
    /// Sends files to a `jetstream recv`, each checked end to end by SHA-256; an
    /// interrupted transfer continues where it stopped (on reconnect, or when the same
    /// command runs again).
    Send {
        /// The files to send (each under its own file name).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The receiver's address, e.g. 192.0.2.7:4433.
        #[arg(long)]
        to: SocketAddr,
        /// The receiver's public key (64 hex digits, printed by `jetstream keygen`).
        #[arg(long)]
        server_key: String,
        /// Reconnections allowed after a lost connection.
        #[arg(long, default_value_t = 3)]
        retries: u32,
        /// Seconds to wait for the handshake.
        #[arg(long, default_value = "5", value_parser = parse_seconds)]
        connect_timeout: Duration,
        /// Transport settings for the network kind.
        #[arg(long, value_enum, default_value_t = Preset::Default)]
        preset: Preset,
    },
    /// Receives files from `jetstream send` into a directory until interrupted. Files
    /// appear only once their SHA-256 matched; names that would leave the directory and
    /// existing files with other content are refused.
    Recv {
        /// Address and port to listen on, e.g. 0.0.0.0:4433.
        #[arg(long)]
        listen: SocketAddr,
        /// The receiver's key file (`jetstream keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The directory files go to.
        #[arg(long)]
        out: PathBuf,
        /// Transport settings for the network kind.
        #[arg(long, value_enum, default_value_t = Preset::Default)]
        preset: Preset,
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

#[derive(Debug, Subcommand)]
enum PerfSide {
    /// Answers perf clients until interrupted: counts uploads, echoes messages and
    /// datagrams, reports its CPU time to each client.
    Server {
        /// Address and port to listen on, e.g. 0.0.0.0:4433.
        #[arg(long)]
        listen: SocketAddr,
        /// The server's key file (`jetstream keygen`).
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Measures throughput (upload, the default) or request/response latency (`--echo`)
    /// against a perf server.
    Client {
        /// The server's address, e.g. 192.0.2.7:4433.
        #[arg(long)]
        connect: SocketAddr,
        /// The server's public key (64 hex digits, printed by `jetstream keygen`).
        #[arg(long)]
        server_key: String,
        /// Stop after this many bytes (suffixes K, M, G: powers of 1024).
        #[arg(long, value_parser = size::parse)]
        bytes: Option<u64>,
        /// Streams used at once (with --echo: messages in flight).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
        streams: u16,
        /// Bytes per write, or per message with --echo [default: 64K, with --echo 64].
        #[arg(long, value_parser = size::parse_nonzero_usize)]
        msg_size: Option<usize>,
        /// Stop after this many seconds [default: 10 when --bytes is not given].
        #[arg(long, value_parser = parse_seconds)]
        duration: Option<Duration>,
        /// Request/response: each stream sends a message and waits for its echo.
        #[arg(long)]
        echo: bool,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Seconds to wait for the handshake.
        #[arg(long, default_value = "5", value_parser = parse_seconds)]
        connect_timeout: Duration,
        #[command(flatten)]
        common: Common,
    },
}

/// Options every network command has.
#[derive(Debug, Clone, Copy, Args)]
struct Common {
    /// The async runtime (adapter crate) that carries the connection.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Tokio)]
    runtime: RuntimeKind,
    /// Transport settings for the network kind; `lan` uses 1452-byte datagrams (the
    /// default's 1200 are safe on any path; there is no path MTU discovery yet).
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    preset: Preset,
    /// Keep checking the socket for this many microseconds after traffic instead of
    /// sleeping: lower latency for a busy core while traffic flows (e.g. 200).
    #[arg(long, value_name = "MICROS", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    busy_poll: Option<u64>,
}

impl Common {
    fn busy_poll(&self) -> Option<Duration> {
        self.busy_poll.map(Duration::from_micros)
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
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
        Command::Demo { bytes, messages, datagrams, handshakes, quiet } => {
            demo::run(&demo::DemoOptions { bytes, messages, datagrams, handshakes, progress: !quiet })
        }
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
        Command::Perf { side: PerfSide::Server { listen, key, common } } => perf_server(listen, &key, common),
        Command::Perf {
            side:
                PerfSide::Client {
                    connect,
                    server_key,
                    bytes,
                    streams,
                    msg_size,
                    duration,
                    echo,
                    json,
                    connect_timeout,
                    common,
                },
        } => {
            let mode = if echo { perf::Mode::Echo } else { perf::Mode::Upload };
            let options = perf::ClientOptions {
                server: connect,
                server_key: net::parse_server_key(&server_key)?,
                transport: common.preset.transport(),
                mode,
                streams,
                msg_size: msg_size.unwrap_or(if echo { 64 } else { 64 * 1024 }),
                bytes,
                duration: duration.or(bytes.is_none().then_some(Duration::from_secs(10))),
                connect_timeout,
                progress: !json,
                busy_poll: common.busy_poll(),
            };
            let report = match common.runtime {
                RuntimeKind::Tokio => runtime::on_tokio(|rt| perf::client::run(rt, "tokio", options))??,
                RuntimeKind::Smol => runtime::on_smol(|rt| perf::client::run(rt, "smol", options))??,
                RuntimeKind::Mio => perf::mio_peer::run(&options)?,
            };
            if json {
                println!("{}", serde_json::to_string(&report).map_err(|e| e.to_string())?);
            } else {
                println!("{report}");
            }
            Ok(())
        }
        Command::Send { files, to, server_key, retries, connect_timeout, preset } => {
            let options = transfer::send::SendOptions {
                server: to,
                server_key: net::parse_server_key(&server_key)?,
                transport: preset.transport(),
                files,
                retries,
                connect_timeout,
                progress: true,
            };
            let started = std::time::Instant::now();
            let sent = runtime::on_tokio(|rt| async move { transfer::send::send_files(rt, &options).await })??;
            for file in &sent {
                match (file.already_there, file.resumed_from) {
                    (true, _) => println!("{}: the receiver already has it (identical)", file.name),
                    (false, 0) => {
                        println!("sent {} ({} bytes), SHA-256 verified by the receiver", file.name, file.size)
                    }
                    (false, from) => println!(
                        "sent {} ({} bytes, resumed at byte {from}), SHA-256 verified by the receiver",
                        file.name, file.size
                    ),
                }
            }
            let bytes: u64 = sent.iter().filter(|f| !f.already_there).map(|f| f.size - f.resumed_from).sum();
            let secs = started.elapsed().as_secs_f64();
            println!("{} file(s), {bytes} bytes sent in {secs:.2} s", sent.len());
            Ok(())
        }
        Command::Recv { listen, key, out, preset } => {
            let key = keys::read_key_file(&key).map_err(|e| e.to_string())?;
            let inbox = transfer::recv::Inbox::new(out)?;
            runtime::on_tokio(|rt| async move {
                println!("server key: {}", key.public_key());
                let endpoint = net::server_endpoint(rt.clone(), listen, key, preset.transport(), None)?;
                println!("listening on {}", endpoint.local_addr().map_err(|e| e.to_string())?);
                transfer::recv::serve(rt, endpoint, inbox).await;
                Ok(())
            })?
        }
        Command::Sim { scenario, seed, out, quiet } => {
            run_file(&scenario, &RunOptions { seeds: seed, out, quiet }).map(drop)
        }
    }
}

/// `jetstream perf server`: serves until interrupted.
fn perf_server(listen: SocketAddr, key: &std::path::Path, common: Common) -> Result<(), String> {
    let key = keys::read_key_file(key).map_err(|e| e.to_string())?;
    let public = key.public_key();
    let transport = common.preset.transport();
    let busy_poll = common.busy_poll();
    let announce = |addr: std::io::Result<SocketAddr>| -> Result<(), String> {
        println!("server key: {public}");
        println!("listening on {} ({} runtime)", addr.map_err(|e| e.to_string())?, common.runtime.name());
        Ok(())
    };
    match common.runtime {
        RuntimeKind::Tokio => {
            runtime::on_tokio(|rt| async_perf_server(rt, listen, key, transport, busy_poll, announce))?
        }
        RuntimeKind::Smol => runtime::on_smol(|rt| async_perf_server(rt, listen, key, transport, busy_poll, announce))?,
        RuntimeKind::Mio => {
            let endpoint = perf::mio_peer::server_endpoint(listen, key, transport, busy_poll)?;
            announce(endpoint.local_addr())?;
            perf::mio_peer::serve(endpoint)
        }
    }
}

/// The perf server on an async adapter: `announce` gets the bound address, then it serves.
async fn async_perf_server<R: jetstream_driver::Runtime>(
    rt: R,
    listen: SocketAddr,
    key: jetstream_core::StaticKeypair,
    transport: jetstream_core::TransportConfig,
    busy_poll: Option<Duration>,
    announce: impl FnOnce(std::io::Result<SocketAddr>) -> Result<(), String>,
) -> Result<(), String> {
    let endpoint = net::server_endpoint(rt.clone(), listen, key, transport, busy_poll)?;
    announce(endpoint.local_addr())?;
    perf::server::serve(rt, endpoint, true).await;
    Ok(())
}
