//! The same scenario and seed give byte-identical output; other seeds give other runs; and
//! random impairment mixes never lose, reorder or corrupt a reliable byte.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jetstream_sim::{Scenario, run};
use std::path::Path;

const LOSSY: &str = r#"
duration = "60s"
[link]
delay = "10ms"
jitter = "2ms"
loss = 0.05
duplicate = 0.01
corrupt = 0.01
reorder = 0.02
rate = "20Mbit"
queue = "64KiB"
[[connections]]
count = 2
app = { kind = "bulk", bytes = "1MiB" }
[[connections]]
app = { kind = "request_response", requests = 20, request = "300B", response = "8KiB", concurrency = 2 }
[[connections]]
app = { kind = "datagrams", interval = "10ms", bytes = "200B", count = 50 }
[output]
trace = "packets"
"#;

fn run_into(seed: u64, name: &str) -> (Vec<u8>, serde_json::Value) {
    let spec = Scenario::expand(LOSSY, Path::new("lossy.toml"), Some(&[seed])).unwrap().remove(0);
    let dir = out_dir(name);
    let summary = run(&spec, Some(&dir), &mut |_| {}).unwrap();
    assert_all_delivered(&summary);
    let trace = std::fs::read(dir.join("trace.jsonl")).unwrap();
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    json["run"]["wall_s"] = 0.into();
    for plot in ["goodput.svg", "cwnd.svg", "rtt.svg", "queue.svg"] {
        assert!(dir.join(plot).exists(), "{plot} written");
    }
    (trace, json)
}

#[test]
fn same_seed_same_bytes_other_seed_other_run() {
    let (trace_a, summary_a) = run_into(11, "det-a");
    let (trace_b, summary_b) = run_into(11, "det-b");
    assert!(trace_a.len() > 10_000, "a packet-level trace was written");
    assert!(trace_a == trace_b, "trace.jsonl differs between identical runs");
    assert_eq!(summary_a, summary_b);
    let (trace_c, summary_c) = run_into(12, "det-c");
    assert!(trace_a != trace_c, "another seed gives another trace");
    assert_ne!(summary_a["total"], summary_c["total"]);
    for line in String::from_utf8(trace_a).unwrap().lines().take(2000) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["t_us"].is_u64() && v["event"].is_string(), "{line}");
    }
}

/// Property: whatever mix of loss (up to 30%), reordering, duplication and corruption, every
/// reliable byte arrives, in order and intact (the receivers check each byte's value at its
/// offset).
#[test]
fn random_impairment_mixes_deliver_every_byte_in_order() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    for seed in 0..24u64 {
        let (loss, reorder, dup, corrupt) = (next() * 0.3, next() * 0.2, next() * 0.1, next() * 0.1);
        let delay_ms = 1 + (next() * 40.0) as u64;
        let text = format!(
            r#"
duration = "600s"
[transport]
idle_timeout = "120s"
[link]
delay = "{delay_ms}ms"
jitter = "{}ms"
loss = {loss}
reorder = {reorder}
duplicate = {dup}
corrupt = {corrupt}
[[connections]]
app = {{ kind = "bulk", bytes = "96KiB" }}
[[connections]]
app = {{ kind = "request_response", requests = 3, request = "2KiB", response = "16KiB" }}
"#,
            delay_ms / 2
        );
        let spec = Scenario::expand(&text, Path::new("mix.toml"), Some(&[seed])).unwrap().remove(0);
        let s = run_quiet(&spec);
        assert_all_delivered(&s);
        assert_rtt_floor(&spec, &s);
    }
}
