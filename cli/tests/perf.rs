//! `jetstream perf` as a user runs it: a server process and client processes on loopback,
//! every runtime against every other, and the errors a user can run into.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_jetstream");
const RUNTIMES: [&str; 3] = ["tokio", "smol", "mio"];

/// A perf server process, killed on drop (also when a test fails).
struct Server {
    child: Child,
    addr: String,
    key: String,
    dir: PathBuf,
}

impl Server {
    fn start(runtime: &str) -> Server {
        Server::start_with(runtime, &[])
    }

    /// A server with extra command-line arguments.
    fn start_with(runtime: &str, extra: &[&str]) -> Server {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("jetstream-perf-{}-{n}-{runtime}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key_file = dir.join("server.key");
        let _ = std::fs::remove_file(&key_file);
        let keygen = Command::new(BIN).args(["keygen", "--out"]).arg(&key_file).output().expect("keygen runs");
        assert!(keygen.status.success());
        let mut child = Command::new(BIN)
            .args(["perf", "server", "--listen", "127.0.0.1:0", "--runtime", runtime, "--key"])
            .arg(&key_file)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut next = || lines.next().expect("a line from the server").expect("utf-8");
        let key = next().strip_prefix("server key: ").expect("the key line").to_string();
        let listening = next();
        let addr = listening.strip_prefix("listening on ").and_then(|l| l.split(' ').next()).expect("address line");
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, addr: addr.to_string(), key, dir }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client(args: &[&str]) -> Output {
    Command::new(BIN).args(["perf", "client"]).args(args).output().expect("the client runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn field(report: &serde_json::Value, name: &str) -> f64 {
    report[name].as_f64().unwrap_or_else(|| panic!("{name} in {report}"))
}

#[test]
fn every_client_runtime_measures_every_server_runtime() {
    for server_runtime in RUNTIMES {
        let server = Server::start(server_runtime);
        for runtime in RUNTIMES {
            let case = format!("server {server_runtime}, client {runtime}");
            let common = ["--connect", &server.addr, "--server-key", &server.key, "--runtime", runtime, "--json"];
            let upload =
                json(&client(&[&common[..], &["--bytes", "3M", "--streams", "2", "--msg-size", "10000"]].concat()));
            assert_eq!(field(&upload, "bytes"), f64::from(3 << 20), "{case}: every byte confirmed");
            assert!(field(&upload, "mbps") > 1.0, "{case}: {upload}");
            // 3 MiB in writes of at most 10000 bytes, shared by two streams.
            assert!(field(&upload, "msgs_per_s") * field(&upload, "seconds") >= 314.0, "{case}: {upload}");
            let [p50, p99, p999] = ["rtt_p50_us", "rtt_p99_us", "rtt_p999_us"].map(|f| field(&upload, f));
            assert!(0.0 < p50 && p50 <= p99 && p99 <= p999, "{case}: {upload}");
            assert!(upload["retransmitted_packets"].is_u64() && upload["lost_packets"].is_u64(), "{case}");
            assert!(upload["server_cpu_s"].is_f64(), "{case}: the server reports its CPU time");

            let echo = json(&client(&[&common[..], &["--echo", "--duration", "0.3", "--streams", "4"]].concat()));
            assert_eq!(echo["rtt_source"], "messages", "{case}");
            let round_trips = field(&echo, "messages");
            assert!(round_trips >= 100.0, "{case}: {echo}");
            assert_eq!(field(&echo, "bytes"), round_trips * 64.0, "{case}: 64-byte messages by default");
            assert_eq!(field(&echo, "rtt_samples"), round_trips, "{case}: one latency per round trip");
        }
    }
}

/// Busy polling works on every runtime; without it a client sleeps between round trips
/// (a loop that spun by accident would use a whole core: CPU time equal to wall time).
#[test]
fn busy_polling_echoes_on_every_runtime_and_is_off_by_default() {
    for runtime in RUNTIMES {
        let server = Server::start_with(runtime, &["--busy-poll", "200"]);
        let args = ["--connect", &server.addr, "--server-key", &server.key, "--runtime", runtime, "--json"];
        let echo = json(&client(&[&args[..], &["--echo", "--duration", "0.3", "--busy-poll", "200"]].concat()));
        let round_trips = field(&echo, "messages");
        assert!(round_trips >= 100.0, "{runtime}: {echo}");
        assert_eq!(field(&echo, "rtt_samples"), round_trips, "{runtime}: one latency per round trip");
        let sleepy = json(&client(&[&args[..], &["--echo", "--duration", "0.5"]].concat()));
        let busy = field(&sleepy, "client_cpu_s") / field(&sleepy, "seconds");
        assert!(busy < 0.9, "{runtime}: the client was busy {:.0}% of the time: {sleepy}", busy * 100.0);
    }
    let out = client(&["--connect", "127.0.0.1:9", "--server-key", &"11".repeat(32), "--busy-poll", "0"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses a zero window");
}

#[test]
fn the_table_names_what_was_measured() {
    let server = Server::start("tokio");
    let out = client(&["--connect", &server.addr, "--server-key", &server.key, "--bytes", "1M"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    for label in ["throughput", "messages", "RTT (transport)", "p99.9", "retransmitted", "CPU, server"] {
        assert!(table.contains(label), "{label} in:\n{table}");
    }
}

/// A one-line error on stderr and exit code 1.
fn assert_fails_with(out: &Output, words: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains(words), "{words:?} in {err}");
}

#[test]
fn mistakes_are_one_line_errors_not_hangs() {
    let server = Server::start("tokio");
    let wrong_key = "11".repeat(32);
    for runtime in RUNTIMES {
        let out = client(&["--connect", &server.addr, "--server-key", &wrong_key, "--runtime", runtime]);
        assert_fails_with(&out, "a wrong server key looks like this");
    }
    // Nobody listens on the discard port of loopback; the connect gives up in time.
    let started = std::time::Instant::now();
    let out = client(&["--connect", "127.0.0.1:9", "--server-key", &server.key, "--connect-timeout", "1"]);
    assert_fails_with(&out, "127.0.0.1:9");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let out = client(&["--connect", &server.addr, "--server-key", "not-a-key"]);
    assert_fails_with(&out, "64 hex digits");
    let out = Command::new(BIN)
        .args(["perf", "server", "--listen", "127.0.0.1:0", "--key", "/nonexistent/server.key"])
        .output()
        .expect("runs");
    assert_fails_with(&out, "/nonexistent/server.key");
    // Invalid values are clap's usage errors (exit 2), before any network work.
    for bad in [&["--msg-size", "0"][..], &["--duration", "-1"], &["--streams", "0"], &["--bytes", "lots"]] {
        let out = client(&[&["--connect", &server.addr, "--server-key", &server.key][..], bad].concat());
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}
