//! Helpers shared by the simulator's integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use jetstream_sim::scenario::App;
use jetstream_sim::units::ByteSize;
use jetstream_sim::{RunSpec, Scenario, Summary, run};
use std::path::{Path, PathBuf};

/// The shipped scenario `name`, every run it expands to (sweep values and seeds).
pub fn shipped(name: &str) -> Vec<RunSpec> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&file).unwrap();
    Scenario::expand(&text, &file, None).unwrap()
}

/// Divides every application's volume by `factor` (keeping at least one message), so a
/// shipped scenario fits the test suite's time budget.
pub fn shorten(spec: &mut RunSpec, factor: u64) {
    for g in &mut spec.scenario.connections {
        match &mut g.app {
            App::Bulk { bytes, .. } => *bytes = ByteSize((bytes.0 / factor).max(1)),
            App::RequestResponse { requests, .. } => *requests = (*requests / factor).max(1),
            App::Periodic { count, .. } | App::Datagrams { count, .. } => *count = (*count / factor).max(1),
        }
    }
}

/// A fresh output directory under the target directory.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `spec` without writing files.
pub fn run_quiet(spec: &RunSpec) -> Summary {
    run(spec, None, &mut |_| {}).unwrap()
}

/// Every reliable byte arrived intact, and nothing anywhere was corrupted.
pub fn assert_all_delivered(s: &Summary) {
    for c in &s.connections {
        assert_eq!(c.corrupted_bytes, 0, "connection {} received corrupted bytes", c.connection);
        if c.app != "datagrams" {
            assert_eq!(c.delivered_bytes, c.expected_bytes, "connection {}: {}", c.connection, s.table(5));
            assert!(c.completion_s.is_some(), "connection {} did not complete: {}", c.connection, s.table(5));
        }
    }
}

/// No RTT sample is below what the path's propagation delay allows (samples are bucketed
/// within 1%).
pub fn assert_rtt_floor(spec: &RunSpec, s: &Summary) {
    let floor_ms = jetstream_sim::Simulation::new(spec, None).unwrap().path_min_rtt().as_secs_f64() * 1e3;
    for c in &s.connections {
        if let Some(min) = c.rtt_min_ms {
            assert!(
                min >= floor_ms * 0.99 - 0.001,
                "connection {}: RTT sample {min} ms below the path's {floor_ms} ms",
                c.connection
            );
        }
    }
}

/// Runs every expansion of the shipped scenario `name`, shortened by `factor`, and checks
/// what holds for all of them: reliable bytes delivered intact, RTT never below the path's.
pub fn run_shipped(name: &str, factor: u64) -> Vec<(RunSpec, Summary)> {
    shipped(name)
        .into_iter()
        .map(|mut spec| {
            shorten(&mut spec, factor);
            let s = run_quiet(&spec);
            assert_all_delivered(&s);
            assert_rtt_floor(&spec, &s);
            (spec, s)
        })
        .collect()
}
