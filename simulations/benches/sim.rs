//! Simulator speed: simulated packets per wall second, and the wall time of the
//! `many-connections` scenario and of 60 simulated seconds of a 100 Mbit/s, 50 ms RTT link.
//!
//! `cargo bench -p jetstream-sim --bench sim`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jetstream_sim::{RunSpec, Scenario, run};
use std::path::Path;

fn spec(text: &str) -> RunSpec {
    Scenario::expand(text, Path::new("bench.toml"), Some(&[1])).expect("valid scenario").remove(0)
}

fn shipped(name: &str) -> RunSpec {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&file).expect("shipped scenario");
    Scenario::expand(&text, &file, Some(&[1])).expect("valid scenario").remove(0)
}

const LAN_BULK: &str = r#"
duration = "60s"
[link]
delay = "250us"
rate = "10Gbit"
queue = "4MiB"
[[connections]]
app = { kind = "bulk", bytes = "64MiB" }
[output]
trace = "off"
"#;

const WAN_60S: &str = r#"
duration = "60s"
[link]
delay = "25ms"
rate = "100Mbit"
queue = "1MiB"
[[connections]]
app = { kind = "bulk", bytes = "2GiB" }
[output]
trace = "off"
"#;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    let lan = spec(LAN_BULK);
    let packets = run(&lan, None, &mut |_| {}).expect("run").run.sim_packets;
    g.throughput(Throughput::Elements(packets));
    g.bench_function("lan_bulk_64MiB_packets", |b| b.iter(|| run(&lan, None, &mut |_| {}).expect("run")));

    let wan = spec(WAN_60S);
    let packets = run(&wan, None, &mut |_| {}).expect("run").run.sim_packets;
    g.throughput(Throughput::Elements(packets));
    g.bench_function("100mbit_50ms_60s", |b| b.iter(|| run(&wan, None, &mut |_| {}).expect("run")));

    let mut many = shipped("many-connections");
    many.scenario.output.trace = jetstream_sim::TraceLevel::Off;
    let packets = run(&many, None, &mut |_| {}).expect("run").run.sim_packets;
    g.throughput(Throughput::Elements(packets));
    g.bench_function("many_connections", |b| b.iter(|| run(&many, None, &mut |_| {}).expect("run")));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
