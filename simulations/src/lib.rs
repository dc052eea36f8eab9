//! jetstream-sim: a deterministic network simulator for JetStreamProto.
//!
//! It drives the unmodified `jetstream-core` state machine (no sockets, virtual time) through
//! the network conditions a scenario file describes: delay and jitter, random and burst loss,
//! duplication, corruption, reordering, a rate-limited bottleneck with a drop-tail queue,
//! MTU limits, blackouts, NAT rebinding and timed changes of any of these. Many connections
//! share the path; the same scenario and seed always give the same results, byte for byte.
//!
//! ```no_run
//! use jetstream_sim::{Scenario, run};
//! use std::path::Path;
//!
//! let file = Path::new("simulations/scenarios/lan.toml");
//! let text = std::fs::read_to_string(file)?;
//! for spec in Scenario::expand(&text, file, Some(&[7]))? {
//!     let summary = run(&spec, Some(Path::new("out/lan")), &mut |_| {})?;
//!     println!("{}", summary.table(10));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Scenario files are documented field by field in `simulations/README.md`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app;
mod engine;
mod link;
mod plot;
mod queue;
mod report;
mod rng;
pub mod runner;
pub mod scenario;
mod trace;
pub mod units;

pub use engine::{SimError, Simulation, run};
pub use link::{DropReason, LinkStats};
pub use report::{ConnectionSummary, LinkSummary, RunInfo, Summary, Totals};
pub use scenario::{RunSpec, Scenario, ScenarioError, TraceLevel};
