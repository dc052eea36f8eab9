//! jetstream-tokio against quinn 0.11 (same ciphers) and kernel TCP on loopback, in one
//! run: payload-size sweep, request/response latency, handshake rate and cost, memory per
//! idle connection, plus the lossy-link measurement of [`crate::lossy_link`].
//!
//! Each measurement is a [`Job`] that runs in a fresh child process of the `compare`
//! binary and reports an [`Outcome`]; the binary repeats rounds, collects the values in a
//! [`Grid`] per section and prints medians with within-round ratios. Server and client of
//! a measurement are two threads with a current-thread tokio runtime each (the memory
//! section's server is a process of its own), all on 127.0.0.1.

mod cpu_quota;
pub mod handshake;
pub mod job;
pub mod latency;
pub mod memory;
pub mod payload;
pub mod percentiles;
pub mod plan;
mod procfs;
mod server;
pub mod table;
mod transport;

pub use job::{Job, Outcome};
pub use plan::{Section, Settings};
pub use table::{Grid, Ratio};
pub use transport::Peer;
