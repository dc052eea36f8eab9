//! A transfer across two network namespaces joined by a veth pair, with the link
//! rate-limited by `tc qdisc tbf` and 5% of the UDP packets dropped at random by `nft` on
//! the receiving namespace's input hook (a drop on the sender's output hook would be
//! reported to the sender as a send error, not a loss).
//!
//! Needs root (CI runs as root and must run it). Skips, saying so, only when the machine
//! does not permit creating namespaces. Namespaces and processes are removed on every exit
//! path, failures included.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PEER: &str = env!("CARGO_BIN_EXE_jetstream-peer");

/// Runs a command, failing with its stderr.
fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Two namespaces and the veth pair between them; deleted on drop.
struct Namespaces {
    client: String,
    server: String,
}

impl Namespaces {
    /// `None` when namespaces cannot be created for lack of permission.
    fn create() -> Result<Option<Namespaces>, String> {
        let id = std::process::id();
        let ns = Namespaces { client: format!("jsc{id}"), server: format!("jss{id}") };
        if let Err(e) = run(&["ip", "netns", "add", &ns.client]) {
            if e.contains("Operation not permitted") || e.contains("Permission denied") {
                return Ok(None);
            }
            return Err(e);
        }
        // From here `ns` is dropped (and cleaned up) on any error.
        run(&["ip", "netns", "add", &ns.server])?;
        let (vc, vs) = (format!("jvc{id}"), format!("jvs{id}"));
        run(&["ip", "link", "add", &vc, "type", "veth", "peer", "name", &vs])?;
        run(&["ip", "link", "set", &vc, "netns", &ns.client])?;
        run(&["ip", "link", "set", &vs, "netns", &ns.server])?;
        for (n, dev, addr) in [(&ns.client, &vc, "10.201.0.1/24"), (&ns.server, &vs, "10.201.0.2/24")] {
            run(&["ip", "-n", n, "addr", "add", addr, "dev", dev])?;
            run(&["ip", "-n", n, "link", "set", dev, "up"])?;
            run(&["ip", "-n", n, "link", "set", "lo", "up"])?;
        }
        // 200 Mbit/s from the client to the server, with a 2 MB queue.
        run(&[
            "tc", "-n", &ns.client, "qdisc", "add", "dev", &vc, "root", "tbf", "rate", "200mbit", "burst", "256kb",
            "limit", "2mb",
        ])?;
        // 5% random loss of UDP arriving at the server.
        let nft = |rule: &str| run(&["ip", "netns", "exec", &ns.server, "nft", rule]);
        nft("add table inet jsloss")?;
        nft("add chain inet jsloss input { type filter hook input priority 0 ; }")?;
        nft("add rule inet jsloss input meta l4proto udp numgen random mod 100 < 5 counter drop")?;
        Ok(Some(ns))
    }

    fn dropped_packets(&self) -> Result<u64, String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.server, "nft", "list", "chain", "inet", "jsloss", "input"])
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        let packets = text
            .split_whitespace()
            .skip_while(|w| *w != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("no drop counter in: {text}"))?;
        Ok(packets)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and with it the peer.
        let _ = run(&["ip", "netns", "del", &self.client]);
        let _ = run(&["ip", "netns", "del", &self.server]);
    }
}

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn netns_exec(ns: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, PEER]).args(args);
    cmd
}

#[test]
fn transfer_survives_rate_limit_and_five_percent_loss_between_namespaces() {
    let Some(ns) = Namespaces::create().unwrap_or_else(|e| panic!("setting up namespaces: {e}")) else {
        eprintln!("SKIPPED: this machine does not permit creating network namespaces (run as root)");
        return;
    };
    let mut server = Process(
        netns_exec(&ns.server, &["server", "tokio", "10.201.0.2:4433"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start server"),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().expect("stdout")).read_line(&mut line).expect("server announces itself");
    let mut words = line.split_whitespace();
    let (Some("LISTEN"), Some(addr), Some(key)) = (words.next(), words.next(), words.next()) else {
        panic!("unexpected server output: {line:?}");
    };

    const BYTES: &str = "33554432"; // 32 MiB
    let started = Instant::now();
    let mut client = Process(
        netns_exec(&ns.client, &["client", "mio", addr, key, BYTES]).stderr(Stdio::piped()).spawn().expect("client"),
    );
    let status = loop {
        if let Some(status) = client.0.try_wait().expect("client status") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(150), "client still running after 150 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut client.0.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    assert!(status.success(), "transfer failed: {stderr}");
    let dropped = ns.dropped_packets().expect("nft counter");
    // A GSO batch crosses the veth pair as one packet, so nft drops whole batches: 32 MiB
    // are ~28,000 datagrams in ~3,000-28,000 packets, 5% of which is at least ~150.
    assert!(dropped >= 100, "nft dropped only {dropped} packets: the loss rule did not act");
    eprintln!("32 MiB byte-exact across namespaces in {:?} with {dropped} packets dropped", started.elapsed());
    drop(server); // stdin closes: the server stops
}
