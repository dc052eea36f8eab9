//! A test peer as a process, for tests that run peers inside network namespaces.
//!
//! `jetstream-peer server ADAPTER BIND_ADDR` prints `LISTEN <addr> <key>` and serves until
//! its standard input closes. `jetstream-peer client ADAPTER SERVER_ADDR KEY BYTES` sends
//! one stream of BYTES bytes and exits 0 when the server's digest matched.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use jetstream_tests::{Adapter, PeerOptions, Server, run_client_to};

fn adapter(name: &str) -> Result<Adapter, String> {
    match name {
        "tokio" => Ok(Adapter::Tokio),
        "smol" => Ok(Adapter::Smol),
        "mio" => Ok(Adapter::Mio),
        other => Err(format!("unknown adapter {other:?} (tokio, smol or mio)")),
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let usage = "usage: jetstream-peer server ADAPTER BIND | client ADAPTER ADDR KEY BYTES";
    match args {
        [mode, a, bind] if mode == "server" => {
            let options = PeerOptions { bind: bind.parse().map_err(|e| format!("{bind}: {e}"))?, ..Default::default() };
            let server = Server::start(adapter(a)?, &options);
            println!("LISTEN {} {}", server.addr, server.key);
            // Serve until the parent closes our stdin (or dies).
            let _ = std::io::stdin().lock().read_to_end(&mut Vec::new());
            server.stop();
            Ok(())
        }
        [mode, a, addr, key, bytes] if mode == "client" => {
            let addr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
            let key = key.parse().map_err(|_| format!("{key}: not a 64-digit hex key"))?;
            let bytes: usize = bytes.parse().map_err(|e| format!("{bytes}: {e}"))?;
            let options = PeerOptions {
                bind: "0.0.0.0:0".parse().expect("valid"),
                time_limit: Duration::from_secs(120),
                ..Default::default()
            };
            run_client_to(adapter(a)?, addr, key, &[bytes], &options)
        }
        _ => Err(usage.to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jetstream-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
