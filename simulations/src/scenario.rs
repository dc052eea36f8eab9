//! Scenario files: what runs over which network, as TOML (field by field in
//! `simulations/README.md`).
//!
//! Parsing is strict: an unknown field, a value of the wrong kind or out of range is an error
//! naming the file, the line and the field, before anything runs.

use crate::units::{ByteSize, Rate, SimDuration};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A scenario file could not be used.
#[derive(Debug, Error)]
#[error("{file}: {message}")]
pub struct ScenarioError {
    /// The file, as given.
    pub file: PathBuf,
    /// What is wrong, with the line and field where the TOML parser knows them.
    pub message: String,
}

/// One simulation setup: the network, the connections and what they do.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name used in reports (default: the file name).
    #[serde(default)]
    pub name: String,
    /// What the scenario models, for humans.
    #[serde(default)]
    pub description: String,
    /// Simulated time after which the run stops even if applications have not finished.
    pub duration: SimDuration,
    /// Seeds to run; each gives one independent, reproducible run (default `[1]`).
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Packet protection both sides prefer (default `aes`).
    #[serde(default)]
    pub cipher: Cipher,
    /// Transport settings shared by every endpoint.
    #[serde(default)]
    pub transport: TransportSpec,
    /// Impairments of both directions.
    #[serde(default)]
    pub link: LinkSpec,
    /// Overrides for the client-to-server direction.
    #[serde(default)]
    pub uplink: LinkSpec,
    /// Overrides for the server-to-client direction.
    #[serde(default)]
    pub downlink: LinkSpec,
    /// Groups of client connections to the one server, each with its application.
    pub connections: Vec<ConnectionGroup>,
    /// Link settings that change at a given time.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Periods in which a direction (or both: a partition) carries nothing.
    #[serde(default)]
    pub blackouts: Vec<Blackout>,
    /// Moments at which clients' addresses change (a NAT rebinding).
    #[serde(default)]
    pub rebinds: Vec<Rebind>,
    /// Run the scenario once per value of one parameter.
    pub sweep: Option<Sweep>,
    /// What to record.
    #[serde(default)]
    pub output: OutputSpec,
}

fn default_seeds() -> Vec<u64> {
    vec![1]
}

/// The cipher suite both sides prefer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cipher {
    /// AES-256-GCM (the fast choice with hardware AES).
    #[default]
    Aes,
    /// ChaCha20-Poly1305.
    Chacha,
}

/// Transport settings; unset fields keep the core's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportSpec {
    /// `cubic` (default) or `newreno`.
    pub congestion: Option<Congestion>,
    /// HyStart++ on the first slow start (default off).
    pub hystart: Option<bool>,
    /// Idle timeout.
    pub idle_timeout: Option<SimDuration>,
    /// Keep-alive interval.
    pub keep_alive: Option<SimDuration>,
    /// RTT assumed before the first sample.
    pub initial_rtt: Option<SimDuration>,
    /// Per-stream receive window.
    pub stream_window: Option<ByteSize>,
    /// Connection receive window (and send window).
    pub window: Option<ByteSize>,
    /// Pacing on or off.
    pub pacing: Option<bool>,
    /// Longest delay before acknowledging.
    pub max_ack_delay: Option<SimDuration>,
}

/// Congestion controller choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Congestion {
    /// CUBIC (RFC 9438).
    Cubic,
    /// NewReno (RFC 9002).
    Newreno,
}

/// A probability, checked to lie in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Deserialize)]
#[serde(try_from = "f64")]
pub struct Probability(pub f64);

impl TryFrom<f64> for Probability {
    type Error = String;

    fn try_from(p: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&p) { Ok(Probability(p)) } else { Err(format!("{p} is not a probability (0 to 1)")) }
    }
}

/// A link MTU: the largest UDP payload it carries; at least 1200 (the protocol's minimum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u64")]
pub struct Mtu(pub usize);

impl TryFrom<u64> for Mtu {
    type Error = String;

    fn try_from(v: u64) -> Result<Self, String> {
        if (1200..=65527).contains(&v) {
            Ok(Mtu(v as usize))
        } else {
            Err(format!("mtu {v} is outside 1200..=65527 (the protocol needs 1200-byte datagrams)"))
        }
    }
}

/// How jitter is distributed around the fixed delay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JitterDistribution {
    /// Uniform in `delay ± jitter`.
    #[default]
    Uniform,
    /// Normal with standard deviation `jitter` (clamped at zero total delay).
    Normal,
    /// Heavy-tailed extra delay (Pareto, shape 3) with mean `jitter`; never below `delay`.
    Pareto,
}

/// Gilbert-Elliott two-state burst loss (netem's `loss gemodel p r 1-h 1-k`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GilbertElliott {
    /// Chance per packet of moving from the good to the bad state.
    pub p: Probability,
    /// Chance per packet of moving from the bad back to the good state.
    pub r: Probability,
    /// Loss probability in the good state (default 0).
    #[serde(default)]
    pub loss_good: Probability,
    /// Loss probability in the bad state (default 1).
    #[serde(default = "certain")]
    pub loss_bad: Probability,
}

fn certain() -> Probability {
    Probability(1.0)
}

/// Impairments of a link direction; every field is optional so that `[uplink]`, `[downlink]`
/// and timed changes can override just what they name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// One-way propagation delay.
    pub delay: Option<SimDuration>,
    /// Delay variation (see `jitter_distribution`); varying delays also reorder packets.
    pub jitter: Option<SimDuration>,
    /// `uniform` (default), `normal` or `pareto`.
    pub jitter_distribution: Option<JitterDistribution>,
    /// Random loss probability per packet.
    pub loss: Option<Probability>,
    /// Burst loss instead of (in addition to) random loss.
    pub gilbert_elliott: Option<GilbertElliott>,
    /// Probability that a packet is delivered twice.
    pub duplicate: Option<Probability>,
    /// Probability that one random bit of a packet is flipped.
    pub corrupt: Option<Probability>,
    /// Probability that a packet is held back by `reorder_delay`, so that later packets
    /// overtake it.
    pub reorder: Option<Probability>,
    /// How long a reordered packet is held back (default 5 ms).
    pub reorder_delay: Option<SimDuration>,
    /// Bottleneck rate; unset means unlimited.
    pub rate: Option<Rate>,
    /// Drop-tail queue in front of the bottleneck (default 64 KiB; needs `rate`).
    pub queue: Option<ByteSize>,
    /// Largest datagram carried; bigger ones are dropped (default 1500).
    pub mtu: Option<Mtu>,
}

impl LinkSpec {
    /// The fields this sets, as `name=value` pairs (for traces and reports).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut add = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                parts.push(format!("{name}={v}"));
            }
        };
        add("delay", self.delay.map(|d| d.to_string()));
        add("jitter", self.jitter.map(|d| d.to_string()));
        add("jitter_distribution", self.jitter_distribution.map(|d| format!("{d:?}").to_lowercase()));
        add("loss", self.loss.map(|p| p.0.to_string()));
        add("gilbert_elliott", self.gilbert_elliott.map(|g| format!("p={},r={}", g.p.0, g.r.0)));
        add("duplicate", self.duplicate.map(|p| p.0.to_string()));
        add("corrupt", self.corrupt.map(|p| p.0.to_string()));
        add("reorder", self.reorder.map(|p| p.0.to_string()));
        add("reorder_delay", self.reorder_delay.map(|d| d.to_string()));
        add("rate", self.rate.map(|r| format!("{}bit", r.0)));
        add("queue", self.queue.map(|q| format!("{}B", q.0)));
        add("mtu", self.mtu.map(|m| m.0.to_string()));
        parts.join(" ")
    }

    /// `self` with every field `other` sets replaced by `other`'s.
    pub fn overridden_by(&self, other: &LinkSpec) -> LinkSpec {
        LinkSpec {
            delay: other.delay.or(self.delay),
            jitter: other.jitter.or(self.jitter),
            jitter_distribution: other.jitter_distribution.or(self.jitter_distribution),
            loss: other.loss.or(self.loss),
            gilbert_elliott: other.gilbert_elliott.or(self.gilbert_elliott),
            duplicate: other.duplicate.or(self.duplicate),
            corrupt: other.corrupt.or(self.corrupt),
            reorder: other.reorder.or(self.reorder),
            reorder_delay: other.reorder_delay.or(self.reorder_delay),
            rate: other.rate.or(self.rate),
            queue: other.queue.or(self.queue),
            mtu: other.mtu.or(self.mtu),
        }
    }
}

/// A group of identical client connections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionGroup {
    /// How many (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// When the first connects (default at once).
    #[serde(default)]
    pub start: SimDuration,
    /// Gap between consecutive connections' starts (default none).
    #[serde(default)]
    pub stagger: SimDuration,
    /// What each connection does.
    pub app: App,
}

fn one() -> u32 {
    1
}

/// An application running over one connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum App {
    /// Move `bytes` on one stream.
    Bulk {
        /// How much.
        bytes: ByteSize,
        /// `upload` (client to server, default) or `download`.
        #[serde(default)]
        direction: Direction,
    },
    /// Requests on bidirectional streams, each answered by the server.
    RequestResponse {
        /// Number of requests.
        requests: u64,
        /// Request size.
        request: ByteSize,
        /// Response size.
        response: ByteSize,
        /// Requests in flight at once (default 1).
        #[serde(default = "one_u64")]
        concurrency: u64,
    },
    /// A message every `interval` on one reliable stream (say, game state).
    Periodic {
        /// Time between messages.
        interval: SimDuration,
        /// Message size.
        bytes: ByteSize,
        /// Number of messages.
        count: u64,
    },
    /// A message every `interval` as an unreliable datagram (say, VoIP frames).
    Datagrams {
        /// Time between datagrams.
        interval: SimDuration,
        /// Datagram size (at most what the path allows, about 1150 bytes at MTU 1200).
        bytes: ByteSize,
        /// Number of datagrams.
        count: u64,
    },
}

fn one_u64() -> u64 {
    1
}

/// Which way bulk data flows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Client to server.
    #[default]
    Upload,
    /// Server to client.
    Download,
}

/// Which link directions an event affects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Directions {
    /// Both.
    #[default]
    Both,
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

impl Directions {
    /// Whether this covers the client-to-server direction (`up`) or the other.
    pub fn covers(self, up: bool) -> bool {
        match self {
            Directions::Both => true,
            Directions::Up => up,
            Directions::Down => !up,
        }
    }
}

/// Link settings that change at `at`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// When.
    pub at: SimDuration,
    /// Which directions (default both).
    #[serde(default)]
    pub direction: Directions,
    /// The fields that change.
    pub set: LinkSpec,
}

/// A period in which the link carries nothing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blackout {
    /// When it starts.
    pub at: SimDuration,
    /// How long it lasts.
    pub duration: SimDuration,
    /// Which directions (default both: a partition).
    #[serde(default)]
    pub direction: Directions,
}

/// Clients' addresses change, as when a NAT drops and recreates their mappings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rebind {
    /// When.
    pub at: SimDuration,
    /// Which connections (0-based, in file order); default all.
    pub connections: Option<Vec<usize>>,
}

/// One parameter varied across runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// Dotted path of the field, such as `link.loss` or `connections.0.app.bytes`.
    pub parameter: String,
    /// The values it takes, each a valid value for that field.
    pub values: Vec<toml::Value>,
}

/// What a run records besides the summary.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// `off`, `events` (default: drops, losses, metrics, connection and stream events) or
    /// `packets` (also every packet sent and received by the link).
    #[serde(default)]
    pub trace: TraceLevel,
    /// Spacing of the time series behind the plots and the metrics events (default 100 ms).
    #[serde(default = "default_sample_interval")]
    pub sample_interval: SimDuration,
    /// Connections drawn individually in the plots (default 8; the total is always drawn).
    #[serde(default = "default_plot_connections")]
    pub plot_connections: usize,
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec {
            trace: TraceLevel::default(),
            sample_interval: default_sample_interval(),
            plot_connections: default_plot_connections(),
        }
    }
}

fn default_sample_interval() -> SimDuration {
    SimDuration(jetstream_core::Duration::from_millis(100))
}

fn default_plot_connections() -> usize {
    8
}

/// How much goes into `trace.jsonl`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceLevel {
    /// No trace file.
    Off,
    /// Everything but per-packet link events.
    #[default]
    Events,
    /// Every packet as well.
    Packets,
}

/// One concrete run: a scenario (after applying a sweep value) and a seed.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The scenario.
    pub scenario: Scenario,
    /// `parameter=value` for sweep runs.
    pub sweep_label: Option<String>,
    /// The seed.
    pub seed: u64,
}

impl Scenario {
    /// Parses a scenario file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Scenario, ScenarioError> {
        let err = |message: String| ScenarioError { file: file.to_path_buf(), message };
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        if scenario.name.is_empty() {
            scenario.name = file.file_stem().map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
        }
        scenario.validate().map_err(err)?;
        Ok(scenario)
    }

    /// Reads and parses a scenario file.
    pub fn load(file: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| ScenarioError { file: file.to_path_buf(), message: format!("cannot read: {e}") })?;
        Scenario::parse(&text, file)
    }

    /// Checks what one field alone cannot (the TOML parser checks the rest).
    fn validate(&self) -> Result<(), String> {
        if self.connections.is_empty() {
            return Err("at least one [[connections]] group is needed".into());
        }
        if self.seeds.is_empty() {
            return Err("`seeds` must list at least one seed".into());
        }
        if self.duration.0.is_zero() {
            return Err("`duration` must be positive".into());
        }
        for (name, spec) in [("uplink", &self.uplink), ("downlink", &self.downlink)] {
            let merged = self.link.overridden_by(spec);
            if merged.queue.is_some() && merged.rate.is_none() {
                return Err(format!("the {name} has a `queue` but no `rate`: a queue needs a bottleneck"));
            }
        }
        for (i, g) in self.connections.iter().enumerate() {
            if g.count == 0 {
                return Err(format!("connections[{i}].count must be at least 1"));
            }
            match g.app {
                App::RequestResponse { concurrency: 0, .. } => {
                    return Err(format!("connections[{i}].app.concurrency must be at least 1"));
                }
                App::Periodic { interval, .. } | App::Datagrams { interval, .. } if interval.0.is_zero() => {
                    return Err(format!("connections[{i}].app.interval must be positive"));
                }
                _ => {}
            }
        }
        let total = self.connection_count();
        for (i, r) in self.rebinds.iter().enumerate() {
            if let Some(bad) = r.connections.iter().flatten().find(|&&c| c >= total) {
                return Err(format!("rebinds[{i}] names connection {bad}, but there are {total}"));
            }
        }
        if self.output.sample_interval.0.is_zero() {
            return Err("output.sample_interval must be positive".into());
        }
        Ok(())
    }

    /// Total number of connections over all groups.
    pub fn connection_count(&self) -> usize {
        self.connections.iter().map(|g| g.count as usize).sum()
    }

    /// The runs a file asks for: one per sweep value (if any) and seed, in that order.
    /// `seed_override` replaces the file's seeds.
    pub fn expand(text: &str, file: &Path, seed_override: Option<&[u64]>) -> Result<Vec<RunSpec>, ScenarioError> {
        let base = Scenario::parse(text, file)?;
        let seeds = seed_override.map_or_else(|| base.seeds.clone(), <[u64]>::to_vec);
        let variants: Vec<(Option<String>, Scenario)> = match &base.sweep {
            None => vec![(None, base.clone())],
            Some(sweep) => {
                let table: toml::Table =
                    toml::from_str(text).map_err(|e| ScenarioError { file: file.into(), message: e.to_string() })?;
                sweep
                    .values
                    .iter()
                    .map(|value| {
                        let label = format!("{}={}", sweep.parameter, value);
                        let scenario = with_value(&table, &sweep.parameter, value.clone())
                            .and_then(|t| {
                                let mut s: Scenario =
                                    Scenario::deserialize(toml::Value::Table(t)).map_err(|e| e.to_string())?;
                                s.name.clone_from(&base.name);
                                s.validate()?;
                                Ok(s)
                            })
                            .map_err(|e| ScenarioError {
                                file: file.into(),
                                message: format!("sweep value {value} for `{}`: {e}", sweep.parameter),
                            })?;
                        Ok((Some(label), scenario))
                    })
                    .collect::<Result<_, ScenarioError>>()?
            }
        };
        Ok(variants
            .into_iter()
            .flat_map(|(label, scenario)| {
                seeds.iter().map(move |&seed| RunSpec { scenario: scenario.clone(), sweep_label: label.clone(), seed })
            })
            .collect())
    }
}

/// `table` with the value at dotted `path` set to `value` (array elements by index; missing
/// tables on the way are created).
fn with_value(table: &toml::Table, path: &str, value: toml::Value) -> Result<toml::Table, String> {
    let mut root = toml::Value::Table(table.clone());
    let mut node = &mut root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        node = match node {
            toml::Value::Table(t) => {
                if last {
                    t.insert((*part).to_string(), value);
                    break;
                }
                t.entry((*part).to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            toml::Value::Array(a) => {
                let index: usize = part.parse().map_err(|_| format!("`{part}` is not an array index"))?;
                let len = a.len();
                let slot = a.get_mut(index).ok_or_else(|| format!("index {index} is beyond the {len} elements"))?;
                if last {
                    *slot = value;
                    break;
                }
                slot
            }
            _ => return Err(format!("`{part}` is inside a plain value")),
        };
    }
    match root {
        toml::Value::Table(t) => Ok(t),
        _ => Err("the scenario is not a table".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
duration = "10s"
[link]
delay = "5ms"
[[connections]]
app = { kind = "bulk", bytes = "1MiB" }
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn a_minimal_scenario_parses_with_defaults() {
        let s = parse(MINIMAL).expect("valid");
        assert_eq!(s.name, "test");
        assert_eq!(s.seeds, vec![1]);
        assert_eq!(s.connection_count(), 1);
        assert!(matches!(s.connections[0].app, App::Bulk { bytes: ByteSize(1_048_576), direction: Direction::Upload }));
    }

    #[test]
    fn unknown_fields_name_the_file_line_and_field() {
        let text = MINIMAL.replace("delay = \"5ms\"", "delay = \"5ms\"\nlossy = 0.1");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.starts_with("test.toml: "), "{e}");
        assert!(e.contains("line 5"), "{e}");
        assert!(e.contains("lossy"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_errors_with_their_line() {
        let e = parse(&MINIMAL.replace("delay = \"5ms\"", "loss = 1.5")).unwrap_err().to_string();
        assert!(e.contains("line 4") && e.contains("not a probability"), "{e}");
        let e = parse(&MINIMAL.replace("delay = \"5ms\"", "mtu = 576")).unwrap_err().to_string();
        assert!(e.contains("mtu 576"), "{e}");
        let e = parse(&MINIMAL.replace("\"5ms\"", "\"5 fortnights\"")).unwrap_err().to_string();
        assert!(e.contains("unknown time unit"), "{e}");
        let e = parse(&MINIMAL.replace("bulk", "teleport")).unwrap_err().to_string();
        assert!(e.contains("teleport"), "{e}");
        let e = parse(&MINIMAL.replace("delay = \"5ms\"", "queue = \"10KiB\"")).unwrap_err().to_string();
        assert!(e.contains("but no `rate`"), "{e}");
    }

    #[test]
    fn a_sweep_expands_into_one_run_per_value_and_seed() {
        let text = format!("seeds = [1, 2]\n{MINIMAL}\n[sweep]\nparameter = \"link.loss\"\nvalues = [0.0, 0.1]\n");
        let runs = Scenario::expand(&text, Path::new("s.toml"), None).expect("valid");
        assert_eq!(runs.len(), 4);
        assert_eq!(runs[2].sweep_label.as_deref(), Some("link.loss=0.1"));
        assert_eq!(runs[2].scenario.link.loss, Some(Probability(0.1)));
        assert_eq!(runs[3].seed, 2);
        let bad = text.replace("[0.0, 0.1]", "[0.0, 7.0]");
        let e = Scenario::expand(&bad, Path::new("s.toml"), None).unwrap_err().to_string();
        assert!(e.contains("sweep value 7.0 for `link.loss`"), "{e}");
        let runs = Scenario::expand(&text, Path::new("s.toml"), Some(&[9])).expect("valid");
        assert!(runs.iter().all(|r| r.seed == 9));
    }

    #[test]
    fn sweeps_reach_into_arrays() {
        let text = format!("{MINIMAL}\n[sweep]\nparameter = \"connections.0.app.bytes\"\nvalues = [\"2MiB\"]\n");
        let runs = Scenario::expand(&text, Path::new("s.toml"), None).expect("valid");
        assert!(matches!(runs[0].scenario.connections[0].app, App::Bulk { bytes: ByteSize(2_097_152), .. }));
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        let base = LinkSpec { loss: Some(Probability(0.1)), mtu: Some(Mtu(1500)), ..Default::default() };
        let over = LinkSpec { loss: Some(Probability(0.2)), ..Default::default() };
        let merged = base.overridden_by(&over);
        assert_eq!(merged.loss, Some(Probability(0.2)));
        assert_eq!(merged.mtu, Some(Mtu(1500)));
    }
}
