//! Every shipped scenario runs (shortened where it would take long) and shows what a user
//! would expect of it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jetstream_core::Duration;
use jetstream_sim::units::SimDuration;

#[test]
fn lan_reaches_ninety_percent_of_the_link_rate() {
    for mut spec in shipped("lan") {
        shorten(&mut spec, 4);
        let s = run_quiet(&spec);
        assert_all_delivered(&s);
        assert_rtt_floor(&spec, &s);
        assert!(s.total.goodput_mbps > 900.0, "goodput {} Mbit/s on a 1 Gbit/s LAN", s.total.goodput_mbps);
    }
}

#[test]
fn wifi_lossy_delivers_everything_intact() {
    for mut spec in shipped("wifi-lossy") {
        shorten(&mut spec, 4);
        let s = run_quiet(&spec);
        assert_all_delivered(&s);
        assert_rtt_floor(&spec, &s);
        assert!(s.links.down.dropped_loss > 0 && s.links.down.duplicated > 0, "the impairments were active");
    }
}

#[test]
fn cellular_handover_survives_the_rebinding() {
    for spec in shipped("cellular-handover") {
        let s = run_quiet(&spec);
        assert_all_delivered(&s);
        assert_rtt_floor(&spec, &s);
        assert!(s.connections[0].completion_s.unwrap() > 8.3, "the transfer spanned the handover");
    }
}

#[test]
fn satellite_completes_over_a_long_fat_path() {
    for mut spec in shipped("satellite") {
        shorten(&mut spec, 4);
        let s = run_quiet(&spec);
        assert_all_delivered(&s);
        assert_rtt_floor(&spec, &s);
        assert!(s.total.rtt_p50_ms.unwrap() >= 600.0);
    }
}

#[test]
fn bufferbloat_queue_does_not_stay_full() {
    for spec in shipped("bufferbloat-bottleneck") {
        let s = run_quiet(&spec);
        assert_all_delivered(&s);
        assert_rtt_floor(&spec, &s);
        assert!(s.links.up.max_queue_bytes > 900 << 10, "the senders did fill the buffer at times");
        assert!(
            s.links.up_queue_full_fraction < 0.5,
            "queue full in {:.0}% of samples",
            s.links.up_queue_full_fraction * 100.0
        );
        let voip = s.connections.iter().find(|c| c.app == "datagrams").unwrap();
        assert!(voip.delivered_bytes > voip.expected_bytes * 9 / 10, "most datagrams get through");
    }
}

#[test]
fn burst_loss_sweep_completes_at_every_level() {
    let specs = shipped("burst-loss");
    assert_eq!(specs.len(), 3, "one run per sweep value");
    let mut lost = Vec::new();
    for mut spec in specs {
        shorten(&mut spec, 2);
        let s = run_quiet(&spec);
        assert_all_delivered(&s);
        assert_rtt_floor(&spec, &s);
        lost.push(s.links.up.dropped_loss);
    }
    assert!(lost[0] < lost[2], "more bursts lose more: {lost:?}");
}

#[test]
fn many_connections_share_the_bottleneck() {
    for mut spec in shipped("many-connections") {
        shorten(&mut spec, 4);
        let s = run_quiet(&spec);
        assert_eq!(s.total.connections, 1000);
        assert_all_delivered(&s);
        assert_rtt_floor(&spec, &s);
        assert_eq!(s.total.completed, 1000);
    }
}

#[test]
fn blackout_is_survived_when_the_idle_timeout_is_longer_and_fatal_otherwise() {
    for mut spec in shipped("blackout-5s") {
        shorten(&mut spec, 2);
        let s = run_quiet(&spec);
        assert_all_delivered(&s);
        assert_rtt_floor(&spec, &s);
        assert!(s.links.up.dropped_blackout + s.links.down.dropped_blackout > 0);

        // The same partition with a 2-second idle timeout (and no keep-alive) ends it.
        spec.scenario.transport.idle_timeout = Some(SimDuration(Duration::from_secs(2)));
        spec.scenario.transport.keep_alive = None;
        let s = run_quiet(&spec);
        let c = &s.connections[0];
        assert!(c.completion_s.is_none() && c.error.as_deref().is_some_and(|e| e.contains("timed out")), "{c:?}");
    }
}
