//! What a run measures: the sections, their settings, the jobs of one round, which ratios
//! the tables show, and the targets the results are checked against.

use std::time::Duration;

use super::job::{Job, short_name, size_name};
use super::payload::SIZES;
use super::table::{Grid, Ratio};
use super::transport::{BUSY_POLL, Peer};
use crate::bulk::{Cipher, Writes};

/// A part of the comparison, with a table of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// Bulk throughput per application write size.
    Payload,
    /// Request/response latency of 64-byte messages.
    Latency,
    /// Handshake latency, rate and server CPU cost.
    Handshake,
    /// Server memory with idle connections.
    Memory,
    /// Throughput across a rate-limited lossy link between network namespaces.
    Lossy,
}

impl Section {
    /// Every section, in run order.
    pub const ALL: [Section; 5] =
        [Section::Payload, Section::Latency, Section::Handshake, Section::Memory, Section::Lossy];

    /// The section's name (as `--only` takes it).
    pub fn name(self) -> &'static str {
        match self {
            Section::Payload => "payload",
            Section::Latency => "latency",
            Section::Handshake => "handshake",
            Section::Memory => "memory",
            Section::Lossy => "lossy",
        }
    }
}

/// Sizes, windows and repetitions of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Rounds of the payload, latency and handshake sections (and the lossy link's).
    pub rounds: usize,
    /// Rounds of the memory section (deterministic enough for one).
    pub memory_rounds: usize,
    /// Bytes per payload transfer, for every write size except 64 B.
    pub payload_bytes: u64,
    /// Bytes per payload transfer with 64-byte writes.
    pub small_payload_bytes: u64,
    /// Measurement window of each latency run and of each handshake rate phase.
    pub window: Duration,
    /// Requests outstanding at once in the second latency mode.
    pub in_flight: usize,
    /// Client tasks connecting at once in the handshake rate phase.
    pub handshake_concurrency: usize,
    /// The handshake server thread's CPU cap in the rate phase, percent of a core (`None`:
    /// uncapped).
    pub handshake_server_quota: Option<u8>,
    /// Idle connection counts of the memory section, increasing.
    pub connection_levels: Vec<usize>,
    /// Bytes per transfer across the lossy link.
    pub lossy_bytes: u64,
}

impl Settings {
    /// The full run: at jetstream's speed each payload transfer takes about 1 to 2 s
    /// (slower peers take longer: quinn with ChaCha20 and 512-byte writes ~10 s).
    pub fn full() -> Self {
        Settings {
            rounds: 3,
            memory_rounds: 1,
            payload_bytes: 1 << 30,
            small_payload_bytes: 256 << 20,
            window: Duration::from_secs(2),
            in_flight: 100,
            handshake_concurrency: 32,
            handshake_server_quota: None,
            connection_levels: vec![100, 1000, 10_000],
            lossy_bytes: crate::lossy_link::LossyOptions::default().bytes,
        }
    }

    /// A smoke run of a few seconds per section: small sizes, one round.
    pub fn quick() -> Self {
        Settings {
            rounds: 1,
            memory_rounds: 1,
            payload_bytes: 16 << 20,
            small_payload_bytes: 2 << 20,
            window: Duration::from_millis(300),
            in_flight: 100,
            handshake_concurrency: 16,
            handshake_server_quota: None,
            connection_levels: vec![10, 100],
            lossy_bytes: 1_000_000,
        }
    }

    /// Rounds of `section`.
    pub fn rounds_of(&self, section: Section) -> usize {
        match section {
            Section::Memory => self.memory_rounds,
            _ => self.rounds,
        }
    }
}

const AES: Cipher = Cipher::Aes256Gcm;
const CHACHA: Cipher = Cipher::ChaCha20Poly1305;

/// The peers of the payload and latency sections: both ciphers against quinn, TCP.
const BY_CIPHER: [Peer; 5] =
    [Peer::Jetstream(AES), Peer::Jetstream(CHACHA), Peer::Quinn(AES), Peer::Quinn(CHACHA), Peer::Tcp];

/// The peers of the handshake and memory sections, where the cipher hardly matters.
const AES_ONLY: [Peer; 3] = [Peer::Jetstream(AES), Peer::Quinn(AES), Peer::Tcp];

/// The jobs of one round of `section`, in table column order (the lossy link runs its own).
pub fn jobs(section: Section, settings: &Settings) -> Vec<Job> {
    let window_ms = settings.window.as_millis() as u64;
    match section {
        Section::Payload => SIZES
            .iter()
            .flat_map(|&size| {
                let bytes = if size == 64 { settings.small_payload_bytes } else { settings.payload_bytes };
                let copying = BY_CIPHER.map(|peer| Job::Payload { peer, writes: Writes { size, copy: true }, bytes });
                let chunks = Job::Payload { peer: Peer::Jetstream(AES), writes: Writes { size, copy: false }, bytes };
                copying.into_iter().chain([chunks])
            })
            .collect(),
        Section::Latency => [1, settings.in_flight]
            .iter()
            .flat_map(|&in_flight| {
                let peers = BY_CIPHER.into_iter().chain([Peer::JetstreamBusyPoll(AES)]);
                peers.map(move |peer| Job::Latency { peer, in_flight, window_ms })
            })
            .collect(),
        Section::Handshake => AES_ONLY
            .map(|peer| Job::Handshake {
                peer,
                concurrency: settings.handshake_concurrency,
                window_ms,
                server_quota: settings.handshake_server_quota,
            })
            .to_vec(),
        Section::Memory => {
            AES_ONLY.map(|peer| Job::Memory { peer, levels: settings.connection_levels.clone() }).to_vec()
        }
        Section::Lossy => Vec::new(),
    }
}

fn ratio(ours: Peer, theirs: Peer, title: &str) -> Ratio {
    Ratio { ours: short_name(ours), theirs: short_name(theirs), title: title.into() }
}

/// The ratio columns of `section`'s table.
pub fn ratios(section: Section) -> Vec<Ratio> {
    let mut ratios = vec![ratio(Peer::Jetstream(AES), Peer::Quinn(AES), "js/quinn aes")];
    if matches!(section, Section::Payload | Section::Latency) {
        ratios.push(ratio(Peer::Jetstream(CHACHA), Peer::Quinn(CHACHA), "js/quinn chacha"));
    }
    if section == Section::Latency {
        ratios.push(ratio(Peer::JetstreamBusyPoll(AES), Peer::Quinn(AES), "js-busy/quinn aes"));
    }
    ratios.push(ratio(Peer::Jetstream(AES), Peer::Tcp, "js/tcp aes"));
    ratios
}

/// The section's heading and how to read its table.
pub fn describe(section: Section, settings: &Settings) -> String {
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    match section {
        Section::Payload => format!(
            "Payload sweep: one connection, one stream, client to server; {:.0} MiB per transfer ({:.0} MiB with 64 B \
             writes); the clock runs from the established connection until the server's byte count arrives.\n\
             Writes copy a slice (SendStream::write_all(&[u8]) on jetstream and quinn, write_all on the TCP socket, TCP_NODELAY); \
             js-aes-chunk hands over Bytes without copying (SendStream::write_chunk). msg/s = writes per second.",
            mib(settings.payload_bytes),
            mib(settings.small_payload_bytes)
        ),
        Section::Latency => format!(
            "Request/response latency, 64-byte request and 64-byte echo, round trip timed at the client; {:.1} s window \
             after a warm-up.\n1 in flight: one stream, one request at a time. {} in flight: {} tasks each doing one \
             request at a time on its own stream of one connection (TCP: a connection each; TCP_NODELAY).\njs-aes-busy: both \
             jetstream endpoints with busy polling ({} µs window, opt-in): they check the socket instead of sleeping \
             while traffic flows, which keeps their cores busy.",
            settings.window.as_secs_f64(),
            settings.in_flight,
            settings.in_flight,
            BUSY_POLL.as_micros()
        ),
        Section::Handshake => format!(
            "Handshakes against a one-thread server (current-thread runtime); client on another thread. jetstream: \
             hybrid X25519 + ML-KEM-768; quinn: TLS 1.3, self-signed P-256 certificate, X25519; tcp: connect only.\n\
             Rate phase: {} clients connect and close in a loop for {:.1} s; server CPU from /proc (schedstat) over the \
             same span. Handshakes per core-second = handshakes / server CPU seconds (the client needs the other core, \
             so the measured rate is client-bound on 2 cores). Latency: connect to established, client side.{}",
            settings.handshake_concurrency,
            settings.window.as_secs_f64(),
            settings.handshake_server_quota.map_or(String::new(), |percent| format!(
                "\nServer CPU quota: in the rate phase the server thread may use {percent}% of a core (cgroup cpu \
                 controller), so the clients outrun it and it runs saturated; its load is then about {percent}%. (TCP's \
                 handshake runs in the kernel's softirq work, which the cap hardly binds.)"
            ))
        ),
        Section::Memory => format!(
            "Memory: VmRSS of a server process holding {:?} idle connections (handshake done, nothing sent, idle \
             timeout 600 s); the live count is checked on the server before each reading. KiB per conn = (RSS(N) - RSS \
             with no connection) / N. RSS is user-space memory: kernel socket state and buffers (all of TCP's) are not \
             in it.",
            settings.connection_levels
        ),
        Section::Lossy => format!(
            "Lossy link: bulk transfers of {:.1} MB across a rate-limited veth pair between network namespaces with \
             random loss (lossy_link).",
            settings.lossy_bytes as f64 / 1e6
        ),
    }
}

/// Checks the results against the section's targets; a line each.
pub fn targets(section: Section, grid: &Grid, settings: &Settings) -> Vec<String> {
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    let value = |row: &str, peer: &str| grid.median(row, peer);
    match section {
        Section::Payload => {
            let row = format!("{} msg/s", size_name(64));
            ["js-aes", "js-chacha", "js-aes-chunk"]
                .iter()
                .filter_map(|&col| {
                    let rate = value(&row, col)?;
                    Some(format!(
                        "target: 64-byte messages >= 2,000,000/s one way on one connection: {col} {rate:.0}/s: {}",
                        verdict(rate >= 2e6)
                    ))
                })
                .collect()
        }
        Section::Latency => {
            let many = format!("{} in flight: req/s", settings.in_flight);
            let single = "1 in flight: p50 µs";
            ratios(section)
                .iter()
                .filter(|r| r.theirs.starts_with("quinn"))
                .flat_map(|r| {
                    let rate = grid.ratio(&many, r).map(|x| {
                        format!(
                            "target: {} in flight rate >= 2x quinn's: {} {x:.2}x: {}",
                            settings.in_flight,
                            r.title,
                            verdict(x >= 2.0)
                        )
                    });
                    let p50 = grid.ratio(single, r).map(|x| {
                        format!("target: one-at-a-time p50 <= half quinn's: {} {x:.2}x: {}", r.title, verdict(x <= 0.5))
                    });
                    [rate, p50]
                })
                .flatten()
                .collect()
        }
        Section::Handshake => value("server handshakes per core-second", "js-aes")
            .map(|rate| {
                format!(
                    "target: >= 10,000 server-side PQ handshakes per second per core: {rate:.0}: {}",
                    verdict(rate >= 10_000.0)
                )
            })
            .into_iter()
            .collect(),
        Section::Memory => value("RSS MiB, 10000 conns", "js-aes")
            .map(|mib| {
                format!("target: 10,000 idle connections under 300 MiB RSS: {mib:.1} MiB: {}", verdict(mib < 300.0))
            })
            .into_iter()
            .collect(),
        Section::Lossy => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_but_lossy_has_jobs_for_its_ratio_columns() {
        let settings = Settings::quick();
        for section in Section::ALL {
            let jobs = jobs(section, &settings);
            assert_eq!(jobs.is_empty(), section == Section::Lossy, "{section:?}");
            let columns: Vec<String> = jobs.iter().map(Job::column).collect();
            for r in ratios(section).iter().filter(|_| section != Section::Lossy) {
                assert!(columns.contains(&r.ours) && columns.contains(&r.theirs), "{section:?}: {r:?}");
            }
        }
        assert_eq!(jobs(Section::Payload, &settings).len(), SIZES.len() * 6);
    }

    #[test]
    fn the_server_quota_reaches_every_handshake_job() {
        let settings = Settings { handshake_server_quota: Some(50), ..Settings::quick() };
        let jobs = jobs(Section::Handshake, &settings);
        assert!(!jobs.is_empty());
        for job in &jobs {
            assert!(matches!(job, Job::Handshake { server_quota: Some(50), .. }), "{job:?}");
        }
        assert!(describe(Section::Handshake, &settings).contains("50% of a core"));
        // A job written without the field (an older runner) still reads, uncapped.
        let old = r#"{"Handshake":{"peer":"Tcp","concurrency":4,"window_ms":100}}"#;
        let job: Job = serde_json::from_str(old).expect("an old handshake job");
        assert!(matches!(job, Job::Handshake { server_quota: None, .. }), "{job:?}");
    }

    #[test]
    fn targets_read_the_right_rows() {
        let settings = Settings::quick();
        let mut grid = Grid::default();
        grid.record(0, "64 B msg/s", "js-aes", Some(2.5e6));
        let lines = targets(Section::Payload, &grid, &settings);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].ends_with(": met"), "{lines:?}");
        grid.record(0, "100 in flight: req/s", "js-aes", Some(100.0));
        grid.record(0, "100 in flight: req/s", "quinn-aes", Some(80.0));
        let lines = targets(Section::Latency, &grid, &settings);
        assert!(lines.iter().any(|l| l.contains("1.25x: NOT met")), "{lines:?}");
    }
}
