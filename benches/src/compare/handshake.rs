//! Handshakes: how fast one server core completes them, and how long a client waits.
//!
//! The server runs on one thread (a current-thread runtime: its endpoint, its crypto and
//! its connection tasks all on that thread) and keeps each connection until the client
//! closes it. Two phases, one client thread:
//! - latency: one handshake at a time, each timed from `connect` to the established
//!   connection (client side), then closed at once;
//! - rate: `concurrency` client tasks connect and close in a loop until the window ends;
//!   handshakes per second is the count completed over the time until the last finished.
//!   The server thread's CPU time (from /proc, in nanoseconds) is read when the phase
//!   starts and again once the server has resolved (established, or seen closed before it
//!   completed) every handshake the clients completed (a TCP server accepts from its
//!   backlog after the client's `connect` returned; ours and quinn's learn of the client's
//!   last flight after it); divided by
//!   the count it is the server's cost per handshake, closing included. One core's capacity is the inverse: on a
//!   2-core machine the client side needs the other core (a client's handshake costs about
//!   as much as a server's), so the measured rate is bounded by the client and the CPU
//!   cost is the figure that scales.
//!
//! With a server CPU quota the server thread is capped to that share of a core for the
//! rate phase (the cgroup v1 `cpu` controller), so that the clients outrun it and it runs
//! saturated, as a loaded server does.
//!
//! jetstream runs its hybrid handshake (X25519 + ML-KEM-768); quinn TLS 1.3 with a
//! self-signed ECDSA P-256 certificate and X25519 (rustls' default key exchange with ring);
//! TCP its three-way handshake (connect only, no TLS), for reference.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cpu_quota::CpuQuota;
use super::percentiles::{Percentiles, Recorder};
use super::server::{Counters, ServerThread, run_client};
use super::transport::{Dialer, Peer};

/// Handshakes before any is recorded (lazy initialisation, caches, socket buffers).
const WARM_UP: u32 = 20;

/// How long the server may take to establish the connections the clients completed.
const CATCH_UP: Duration = Duration::from_secs(5);

/// Handshakes one client task makes at most.
const MAX_PER_TASK: u64 = 10_000_000;

/// What one run measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Handshakes {
    /// Latency of one handshake at a time.
    pub sequential: Percentiles,
    /// Client tasks connecting at once in the rate phase.
    pub concurrency: usize,
    /// The server thread's CPU cap in the rate phase, in percent of a core.
    #[serde(default)]
    pub server_quota: Option<u8>,
    /// Handshakes completed in the rate phase.
    pub completed: u64,
    /// Handshakes that failed in the rate phase.
    pub failed: u64,
    /// Length of the rate phase, until the last handshake finished.
    pub seconds: f64,
    /// CPU time of the server thread over the rate phase.
    pub server_cpu_seconds: f64,
    /// Latency of each handshake in the rate phase (queueing included).
    pub loaded: Percentiles,
}

impl Handshakes {
    /// Handshakes per second in the rate phase.
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.seconds
    }

    /// Server CPU time per handshake, in microseconds.
    pub fn server_cpu_us(&self) -> f64 {
        self.server_cpu_seconds * 1e6 / self.completed as f64
    }

    /// Handshakes one server core could complete per second at that cost.
    pub fn per_core_second(&self) -> f64 {
        self.completed as f64 / self.server_cpu_seconds
    }

    /// Share of one core the server used in the rate phase.
    pub fn server_load(&self) -> f64 {
        self.server_cpu_seconds / self.seconds
    }
}

/// Measures `peer`: sequential handshakes for a third of `window` (at least `WARM_UP`
/// more than warm-up), then `concurrency` tasks for `window`, with the server thread
/// capped to `server_quota` percent of a core if given.
pub fn run(peer: Peer, concurrency: usize, window: Duration, server_quota: Option<u8>) -> Result<Handshakes, String> {
    if concurrency == 0 {
        return Err("concurrency must be at least 1".into());
    }
    let limit = window * 3 + Duration::from_secs(60);
    let server = ServerThread::spawn(peer, limit, |mut conn| async move { conn.closed().await })?;
    let (ticket, clock) = (server.ticket.clone(), server.clock.clone());
    let counters = server.counters.clone();
    let handshakes = run_client(limit, async move {
        let dialer = Rc::new(Dialer::new(peer, &ticket)?);
        let (sequential, made) = sequential(&dialer, window / 3).await?;
        // Every handshake a client completed has been worked through by the server once it
        // resolved there: established, or (quinn, whose client finishes first and closes at
        // once) ended by that close before the server's side completed. The latency phase's
        // last ones resolve first, so that they do not count for the rate phase.
        let resolved = || Counters::get(&counters.established) + Counters::get(&counters.failed);
        let settled = Instant::now() + CATCH_UP;
        while resolved() < made && Instant::now() < settled {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let quota = server_quota.map(|percent| CpuQuota::confine(clock.tid(), percent)).transpose()?;
        let cpu_before = clock.cpu_time()?;
        let resolved_before = resolved();
        let start = Instant::now();
        let end = start + window;
        let completed = Rc::new(Cell::new(0u64));
        let failed = Rc::new(Cell::new(0u64));
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| tokio::task::spawn_local(connect_loop(dialer.clone(), end, completed.clone(), failed.clone())))
            .collect();
        let mut loaded = Recorder::new();
        for task in tasks {
            loaded.merge(&task.await.map_err(|e| format!("a client task failed: {e}"))?);
        }
        let seconds = start.elapsed().as_secs_f64();
        let caught_up = Instant::now() + CATCH_UP;
        while resolved() - resolved_before < completed.get() && Instant::now() < caught_up {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let handled = resolved() - resolved_before;
        if handled < completed.get() {
            return Err(format!("the server resolved {handled} handshakes, the clients completed {}", completed.get()));
        }
        let server_cpu_seconds = (clock.cpu_time()? - cpu_before).as_secs_f64();
        drop(quota);
        dialer.wait_idle().await;
        let loaded = loaded.percentiles().ok_or("no handshake completed in the rate phase")?;
        Ok(Handshakes {
            sequential,
            concurrency,
            server_quota,
            completed: completed.get(),
            failed: failed.get(),
            seconds,
            server_cpu_seconds,
            loaded,
        })
    })?;
    server.stop()?;
    Ok(handshakes)
}

/// One handshake at a time for `span` (and at least `WARM_UP` recorded).
/// The latency phase: its percentiles and how many handshakes it made (warm-up included).
async fn sequential(dialer: &Dialer, span: Duration) -> Result<(Percentiles, u64), String> {
    let mut recorder = Recorder::new();
    let end = Instant::now() + span;
    let mut made = 0;
    for i in 0..MAX_PER_TASK {
        if i >= 2 * u64::from(WARM_UP) && Instant::now() >= end {
            break;
        }
        made += 1;
        let started = Instant::now();
        let conn = dialer.connect().await?;
        let took = started.elapsed();
        conn.close();
        if i >= u64::from(WARM_UP) {
            recorder.record(took);
        }
    }
    let percentiles = recorder.percentiles().ok_or("no sequential handshake")?;
    Ok((percentiles, made))
}

/// One client task of the rate phase: connect, close, again, until `end`.
async fn connect_loop(dialer: Rc<Dialer>, end: Instant, completed: Rc<Cell<u64>>, failed: Rc<Cell<u64>>) -> Recorder {
    let mut recorder = Recorder::new();
    for _ in 0..MAX_PER_TASK {
        let started = Instant::now();
        if started >= end {
            break;
        }
        match dialer.connect().await {
            Ok(conn) => {
                recorder.record(started.elapsed());
                completed.set(completed.get() + 1);
                conn.close();
            }
            Err(_) => failed.set(failed.get() + 1),
        }
    }
    recorder
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::Cipher;
    use crate::compare::cpu_quota::UNAVAILABLE;
    use crate::compare::latency::assert_sane;

    #[test]
    fn every_peer_completes_handshakes_and_costs_server_cpu() {
        for peer in [Peer::Jetstream(Cipher::Aes256Gcm), Peer::Quinn(Cipher::Aes256Gcm), Peer::Tcp] {
            let h = run(peer, 8, Duration::from_millis(300), None).unwrap_or_else(|e| panic!("{peer}: {e}"));
            assert_sane(&h.sequential, &format!("{peer} sequential"));
            assert_sane(&h.loaded, &format!("{peer} loaded"));
            assert!(h.completed > 0 && h.failed == 0, "{peer}: {h:?}");
            assert!(h.server_cpu_seconds > 0.0 && h.server_load() <= 1.05, "{peer}: {h:?}");
            assert!(h.per_second() > 0.0 && h.per_core_second() > 0.0 && h.server_cpu_us() > 0.0);
        }
    }

    /// A capped server still resolves every handshake, within its share of a core. Where
    /// the machine cannot cap a thread (no cgroup v1 cpu controller, or no root) the run
    /// must fail saying so, and the test is skipped.
    #[test]
    fn a_capped_server_stays_within_its_quota() {
        match run(Peer::Jetstream(Cipher::Aes256Gcm), 8, Duration::from_millis(500), Some(30)) {
            Ok(h) => {
                assert!(h.completed > 0 && h.failed == 0 && h.server_quota == Some(30), "{h:?}");
                assert!(h.server_load() < 0.4, "a 30% quota, a load of {:.2}", h.server_load());
            }
            Err(e) if e.starts_with(UNAVAILABLE) => eprintln!("skipped: {e}"),
            Err(e) => panic!("{e}"),
        }
    }
}
