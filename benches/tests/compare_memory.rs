//! The memory section end to end: a server process from the `compare` binary holds idle
//! connections of each peer, and its RSS is read at each level.

use std::path::Path;

use jetstream_bench::bulk::Cipher;
use jetstream_bench::compare::{Peer, memory};

#[test]
fn every_peer_reaches_each_level_and_reports_its_rss() {
    let server = Path::new(env!("CARGO_BIN_EXE_compare"));
    for peer in [Peer::Jetstream(Cipher::Aes256Gcm), Peer::Quinn(Cipher::Aes256Gcm), Peer::Tcp] {
        let footprint = memory::run(peer, &[20, 60], server).unwrap_or_else(|e| panic!("{peer}: {e}"));
        assert!(footprint.baseline_kib > 0, "{peer}");
        let counts: Vec<usize> = footprint.levels.iter().map(|l| l.connections).collect();
        assert_eq!(counts, [20, 60], "{peer}");
        for level in &footprint.levels {
            assert!(level.rss_kib > 0, "{peer}: {level:?}");
            // Far above any implementation's cost: catches a unit mix-up, not a regression.
            assert!(footprint.per_connection_kib(level) < 1024.0, "{peer}: {footprint:?}");
        }
    }
    assert!(memory::run(Peer::Tcp, &[60, 20], server).is_err());
}
