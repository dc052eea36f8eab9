//! The demo's simulated networks: two of the scenario files in `simulations/scenarios/`,
//! built in, run with one seed each.

use jetstream_sim::{Scenario, Summary};

/// A built-in scenario: its name, a description of the link for the table, and the file.
pub(crate) struct BuiltIn {
    pub(crate) name: &'static str,
    pub(crate) link: &'static str,
    text: &'static str,
}

/// What the demo runs.
pub(crate) const SCENARIOS: [BuiltIn; 2] = [
    BuiltIn {
        name: "wifi-lossy",
        link: "Wi-Fi, 50 Mbit/s, 2% loss",
        text: include_str!("../../../simulations/scenarios/wifi-lossy.toml"),
    },
    BuiltIn {
        name: "bufferbloat-bottleneck",
        link: "10 Mbit/s uplink, 800 ms buffer",
        text: include_str!("../../../simulations/scenarios/bufferbloat-bottleneck.toml"),
    },
];

/// The seed the demo runs (any fixed seed makes the run repeatable).
const SEED: u64 = 1;

impl BuiltIn {
    /// Runs the scenario in virtual time; `progress` gets the simulated seconds.
    pub(crate) fn run(&self, progress: &mut dyn FnMut(f64)) -> Result<Summary, String> {
        let path = std::path::Path::new(self.name);
        let specs = Scenario::expand(self.text, path, Some(&[SEED])).map_err(|e| e.to_string())?;
        let spec = specs.first().ok_or("the built-in scenario expands to no run")?;
        jetstream_sim::run(spec, None, progress).map_err(|e| format!("{}: {e}", self.name))
    }

    /// The scenario's simulated duration limit, in seconds (for a progress bar).
    pub(crate) fn duration_s(&self) -> f64 {
        Scenario::expand(self.text, std::path::Path::new(self.name), Some(&[SEED]))
            .ok()
            .and_then(|specs| specs.first().map(|s| s.scenario.duration.0.as_secs_f64()))
            .unwrap_or(60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_scenarios_deliver_everything_intact() {
        for scenario in &SCENARIOS {
            let summary = scenario.run(&mut |_| {}).expect("runs");
            assert_eq!(summary.total.completed, summary.total.connections, "{}", scenario.name);
            assert_eq!(summary.total.corrupted_bytes, 0, "{}", scenario.name);
            assert!(summary.total.lost_packets > 0, "{}: the demo shows loss being recovered", scenario.name);
        }
    }
}
