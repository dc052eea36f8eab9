//! Every shipped scenario runs (shortened where it would take long) and shows what a user
//! would expect of it. `run_shipped` also checks, for every run, that every reliable byte
//! arrived intact and that no RTT sample is below the path's propagation delay.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jetstream_core::Duration;
use jetstream_sim::units::SimDuration;

#[test]
fn lan_reaches_ninety_percent_of_the_link_rate() {
    for (_, s) in run_shipped("lan", 4) {
        assert!(s.total.goodput_mbps > 900.0, "goodput {} Mbit/s on a 1 Gbit/s LAN", s.total.goodput_mbps);
    }
}

#[test]
fn wifi_lossy_delivers_everything_intact() {
    for (_, s) in run_shipped("wifi-lossy", 4) {
        assert!(s.links.down.dropped_loss > 0 && s.links.down.duplicated > 0, "the impairments were active");
    }
}

#[test]
fn cellular_handover_survives_the_rebinding() {
    for (_, s) in run_shipped("cellular-handover", 1) {
        assert!(s.connections[0].completion_s.unwrap() > 8.3, "the transfer spanned the handover");
    }
}

#[test]
fn satellite_completes_over_a_long_fat_path() {
    for (_, s) in run_shipped("satellite", 4) {
        assert!(s.total.rtt_p50_ms.unwrap() >= 600.0);
    }
}

#[test]
fn bufferbloat_queue_does_not_stay_full() {
    for (_, s) in run_shipped("bufferbloat-bottleneck", 1) {
        assert!(s.links.up.max_queue_bytes > 900 << 10, "the senders did fill the buffer at times");
        let full = s.links.up_queue_full_fraction;
        assert!(full < 0.5, "queue full in {:.0}% of samples", full * 100.0);
        let voip = s.connections.iter().find(|c| c.app == "datagrams").unwrap();
        assert!(voip.delivered_bytes > voip.expected_bytes * 9 / 10, "most datagrams get through");
    }
}

/// HyStart++ (opt-in) ends the first slow start before the 800 ms buffer overflows: far
/// fewer packets are dropped from the full queue, and the uploads finish as fast.
#[test]
fn hystart_cuts_the_drops_of_a_start_into_a_deep_buffer() {
    let mut spec = shipped("bufferbloat-bottleneck").remove(0);
    let without = run_quiet(&spec);
    spec.scenario.transport.hystart = Some(true);
    let with = run_quiet(&spec);
    assert_all_delivered(&with);
    let (drops_with, drops_without) = (with.links.up.dropped_queue, without.links.up.dropped_queue);
    assert!(drops_with * 4 < drops_without, "queue drops: {drops_with} with HyStart++, {drops_without} without");
    let (goodput_with, goodput_without) = (with.total.goodput_mbps, without.total.goodput_mbps);
    assert!(goodput_with > goodput_without * 0.95, "goodput {goodput_with} with, {goodput_without} without");
}

#[test]
fn burst_loss_sweep_completes_at_every_level() {
    let runs = run_shipped("burst-loss", 2);
    assert_eq!(runs.len(), 3, "one run per sweep value");
    let lost: Vec<u64> = runs.iter().map(|(_, s)| s.links.up.dropped_loss).collect();
    assert!(lost[0] < lost[2], "more bursts lose more: {lost:?}");
}

#[test]
fn many_connections_share_the_bottleneck() {
    for (_, s) in run_shipped("many-connections", 4) {
        assert_eq!((s.total.connections, s.total.completed), (1000, 1000));
    }
}

#[test]
fn blackout_is_survived_when_the_idle_timeout_is_longer_and_fatal_otherwise() {
    for (mut spec, s) in run_shipped("blackout-5s", 2) {
        assert!(s.links.up.dropped_blackout + s.links.down.dropped_blackout > 0, "the partition hit the transfer");

        // The same partition with a 2-second idle timeout (and no keep-alive) ends it.
        spec.scenario.transport.idle_timeout = Some(SimDuration(Duration::from_secs(2)));
        spec.scenario.transport.keep_alive = None;
        let s = run_quiet(&spec);
        let c = &s.connections[0];
        assert!(c.completion_s.is_none() && c.error.as_deref().is_some_and(|e| e.contains("timed out")), "{c:?}");
    }
}
