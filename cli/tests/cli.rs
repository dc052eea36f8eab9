//! The `jetstream` binary as a user runs it: exit codes, one-line errors, files it writes.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

fn jetstream(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jetstream")).args(args).output().expect("the binary runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jetstream-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn keygen_writes_a_private_key_file_and_prints_the_public_key() {
    let dir = temp_dir("keygen");
    let key = dir.join("server.key");
    let out = jetstream(&["keygen", "--out", key.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let public = String::from_utf8(out.stdout).expect("utf-8");
    let public = public.trim();
    assert_eq!(public.len(), 64, "{public}");
    assert!(public.chars().all(|c| c.is_ascii_hexdigit()));
    let text = std::fs::read_to_string(&key).expect("key file");
    assert!(text.contains(&format!("public-key = {public}")));
    assert_eq!(std::fs::metadata(&key).expect("metadata").permissions().mode() & 0o777, 0o600);
    let shown = jetstream(&["pubkey", "--key", key.to_str().expect("utf-8 path")]);
    assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), public, "pubkey prints the same key");

    // A second keygen does not destroy the first key unless asked to.
    let again = jetstream(&["keygen", "--out", key.to_str().expect("utf-8 path")]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(&key).expect("key file"), text);
    let forced = jetstream(&["keygen", "--out", key.to_str().expect("utf-8 path"), "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(std::fs::read_to_string(&key).expect("key file"), text);
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn sim_runs_a_scenario_and_writes_its_summary() {
    let dir = temp_dir("sim");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/../simulations/scenarios/lan.toml");
    let out = jetstream(&["sim", scenario, "--seed", "3", "--out", dir.to_str().expect("utf-8 path"), "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("completed"));
    let summary = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    assert!(summary.contains("\"seed\": 3") || summary.contains("\"seed\":3"), "{summary}");
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn demo_prints_one_table_of_everything_it_did() {
    let args = ["demo", "--bytes", "8M", "--messages", "200", "--datagrams", "200", "--handshakes", "3", "--quiet"];
    let out = jetstream(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for row in [
        "post-quantum handshake (x3)",
        "8.00 MiB on one stream",
        "200 requests/responses, 64 B",
        "200 datagrams, 64 B",
        "simulated: Wi-Fi, 50 Mbit/s, 2% loss",
        "simulated: 10 Mbit/s uplink",
    ] {
        assert!(text.lines().any(|l| l.trim_start().starts_with(row)), "{row:?} in:\n{text}");
    }
    assert_eq!(text.matches("all data delivered").count(), 2, "both simulations recover every loss:\n{text}");
    assert!(text.contains("200 echoed"), "loopback loses no datagram:\n{text}");
    assert!(text.contains("BENCHMARKS.md"), "it says where to go next");
}

#[test]
fn bad_input_is_a_one_line_error_and_a_failure() {
    for args in [
        &["sim", "/nonexistent/scenario.toml"][..],
        &["keygen", "--out", "/nonexistent/dir/key"][..],
        &["pubkey", "--key", "/nonexistent/key"][..],
        &["send", "/nonexistent/file.bin", "--to", "127.0.0.1:9", "--server-key", &"ab".repeat(32)][..],
    ] {
        let out = jetstream(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains("/nonexistent"), "{args:?}: {err}");
    }
    // The receiver checks its directory before anything else.
    let dir = temp_dir("recv-key");
    let key = dir.join("k");
    assert!(jetstream(&["keygen", "--out", key.to_str().expect("utf-8 path")]).status.success());
    let out = jetstream(&[
        "recv",
        "--listen",
        "127.0.0.1:0",
        "--key",
        key.to_str().expect("utf-8"),
        "--out",
        "/nonexistent/inbox",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).trim(), "error: /nonexistent/inbox is not a directory");
    std::fs::remove_dir_all(dir).expect("cleanup");
    // Unknown subcommands and missing arguments: clap's usage error, exit code 2.
    assert_eq!(jetstream(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(jetstream(&["keygen"]).status.code(), Some(2));
    assert_eq!(jetstream(&["send", "--to", "127.0.0.1:1", "--server-key", "x"]).status.code(), Some(2), "no files");
}
