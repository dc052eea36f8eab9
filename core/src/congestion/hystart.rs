//! HyStart++ (RFC 9406): leaving the first slow start when round-trip times start to rise.
//!
//! Slow start doubles the window every round trip until a packet is lost. On a path with a
//! deep drop-tail queue that loss comes only once the queue is full, and by then a whole
//! window's worth of packets overflows it. HyStart++ watches the minimum RTT of each round:
//! once it rises by an eighth of the previous round's (at least 4 ms, at most 16 ms) the
//! queue is building, and the window grows at a quarter of the slow-start rate
//! ("conservative slow start") for up to five rounds, then congestion avoidance takes over.
//! If the RTT falls back below where it rose, the rise was jitter and slow start resumes.
//!
//! It is opt-in ([`CubicConfig::hystart`](super::CubicConfig::hystart)); the measurements
//! behind that choice are in its docs.
//!
//! Deviations from the RFC: rounds are delimited by send times instead of packet numbers
//! (the controller sees no packet numbers; packets leave in number order, so it is the same
//! boundary, except that a packet sent in the very instant of the ACK that ends a round
//! counts in the next round). An RTT sample counts once, however many packets its ACK frame
//! acknowledged. The window is not limited to `L` datagrams per ACK, since our sender paces.

use core::time::Duration;

use crate::connection::rtt::RttEstimator;
use crate::time::Instant;

/// `N_RTT_SAMPLE`: samples a round needs before its minimum is compared.
const RTT_SAMPLES: u32 = 8;
/// `MIN_RTT_THRESH` and `MAX_RTT_THRESH`: the RTT rise that ends slow start is an eighth of
/// the last round's minimum, within these bounds.
const MIN_RTT_RISE: Duration = Duration::from_millis(4);
const MAX_RTT_RISE: Duration = Duration::from_millis(16);
/// `CSS_ROUNDS`: rounds of conservative slow start before congestion avoidance.
const CSS_ROUNDS: u32 = 5;
/// `CSS_GROWTH_DIVISOR`: conservative slow start grows by this fraction of the acked bytes.
pub(super) const CSS_GROWTH_DIVISOR: u64 = 4;

/// How the window should grow for one acknowledged packet in slow start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Growth {
    /// By the acknowledged bytes (slow start).
    Full,
    /// By a quarter of them (conservative slow start).
    Conservative,
    /// Not at all: slow start is over, congestion avoidance begins at the current window.
    Stop,
}

/// HyStart++ state for one initial slow start.
#[derive(Debug, Clone, Default)]
pub(super) struct HyStart {
    /// Packets sent at or after this instant belong to the next round; `None` before the
    /// first acknowledgement.
    round_start: Option<Instant>,
    last_round_min: Option<Duration>,
    current_round_min: Option<Duration>,
    /// RTT samples in the current round (`rttSampleCount`).
    samples: u32,
    /// The estimator's sample count when last seen: a packet whose ACK brought no new
    /// sample adds none.
    seen_samples: u64,
    /// Set while in conservative slow start.
    css: Option<Css>,
}

#[derive(Debug, Clone, Copy)]
struct Css {
    /// The round minimum that ended slow start (`cssBaselineMinRtt`).
    baseline: Duration,
    /// Rounds completed in conservative slow start.
    rounds: u32,
}

impl HyStart {
    /// A packet sent at `sent` was acknowledged at `now`; `rtt` holds the connection's RTT
    /// samples. Says how the window grows for it.
    pub(super) fn on_ack(&mut self, now: Instant, sent: Instant, rtt: &RttEstimator) -> Growth {
        if self.round_start.is_none_or(|start| sent >= start) {
            // A packet of the current round was acknowledged: the next round begins.
            self.round_start = Some(now);
            self.last_round_min = self.current_round_min.take();
            self.samples = 0;
            if let Some(css) = &mut self.css {
                css.rounds += 1;
                if css.rounds >= CSS_ROUNDS {
                    return Growth::Stop;
                }
            }
        }
        if rtt.samples() != self.seen_samples {
            self.seen_samples = rtt.samples();
            let latest = rtt.latest();
            self.current_round_min = Some(self.current_round_min.map_or(latest, |min| min.min(latest)));
            self.samples = self.samples.saturating_add(1);
        }
        let Some(current) = self.current_round_min else { return Growth::Full };
        let enough = self.samples >= RTT_SAMPLES;
        match self.css {
            Some(css) if enough && current < css.baseline => {
                // The rise did not last: it was jitter, not a queue.
                self.css = None;
                Growth::Full
            }
            Some(_) => Growth::Conservative,
            None => match self.last_round_min {
                Some(last) if enough && current >= last + (last / 8).clamp(MIN_RTT_RISE, MAX_RTT_RISE) => {
                    self.css = Some(Css { baseline: current, rounds: 0 });
                    Growth::Conservative
                }
                _ => Growth::Full,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds one round of `n` acknowledgements, each with an RTT sample of its own: packets
    /// sent at `round_ms`, acknowledged a little later with RTT `rtt_ms`. Returns the growth
    /// of each.
    fn round(h: &mut HyStart, rtt: &mut RttEstimator, round_ms: u64, n: u32, rtt_ms: u64) -> Vec<Growth> {
        let sent = Instant::from_millis(round_ms);
        (0..n)
            .map(|i| {
                rtt.update(Duration::ZERO, Duration::from_millis(rtt_ms), true);
                h.on_ack(Instant::from_millis(round_ms + rtt_ms) + Duration::from_micros(u64::from(i)), sent, rtt)
            })
            .collect()
    }

    fn start() -> (HyStart, RttEstimator) {
        (HyStart::default(), RttEstimator::new(Duration::from_millis(333)))
    }

    #[test]
    fn a_steady_rtt_keeps_slow_start() {
        let (mut h, mut rtt) = start();
        for r in 0..10 {
            assert!(round(&mut h, &mut rtt, r * 100, 20, 20).iter().all(|g| *g == Growth::Full), "round {r}");
        }
    }

    #[test]
    fn a_rising_rtt_leads_through_conservative_slow_start_to_its_end() {
        let (mut h, mut rtt) = start();
        assert!(round(&mut h, &mut rtt, 0, 20, 20).iter().all(|g| *g == Growth::Full));
        // A rise needs max(an eighth, 4 ms): 23 ms is under 20 + 4, and 28 ms is 23 + 5.
        assert!(round(&mut h, &mut rtt, 100, 20, 23).iter().all(|g| *g == Growth::Full));
        let rising = round(&mut h, &mut rtt, 200, 20, 28);
        assert_eq!(rising[..7], [Growth::Full; 7], "fewer than 8 samples decide nothing");
        assert_eq!(rising[7..], [Growth::Conservative; 13]);
        for r in 3..7 {
            assert!(round(&mut h, &mut rtt, r * 100, 20, 28).iter().all(|g| *g == Growth::Conservative), "round {r}");
        }
        assert_eq!(round(&mut h, &mut rtt, 700, 1, 28), [Growth::Stop], "five rounds later: congestion avoidance");
    }

    #[test]
    fn an_rtt_that_falls_back_resumes_slow_start() {
        let (mut h, mut rtt) = start();
        round(&mut h, &mut rtt, 0, 20, 20);
        assert_eq!(round(&mut h, &mut rtt, 100, 20, 40).last(), Some(&Growth::Conservative));
        let recovered = round(&mut h, &mut rtt, 200, 20, 30);
        assert_eq!(recovered[..7], [Growth::Conservative; 7]);
        assert_eq!(recovered[7..], [Growth::Full; 13], "30 ms is below the 40 ms that ended slow start");
    }

    /// Eight packets acknowledged by one ACK frame are one RTT sample, not eight: its ACK
    /// delay could otherwise end slow start on its own.
    #[test]
    fn packets_of_one_ack_frame_share_one_sample() {
        let (mut h, mut rtt) = start();
        round(&mut h, &mut rtt, 0, 20, 20);
        rtt.update(Duration::ZERO, Duration::from_millis(45), true);
        let sent = Instant::from_millis(100);
        let growth: Vec<Growth> = (0..12).map(|_| h.on_ack(Instant::from_millis(145), sent, &rtt)).collect();
        assert_eq!(growth, [Growth::Full; 12], "one slow sample is not a round's worth");
    }

    #[test]
    fn the_rise_threshold_is_an_eighth_of_the_rtt_within_4_and_16_ms() {
        for (base, needed) in [(8, 12), (80, 90), (200, 216)] {
            for (next, growth) in [(needed - 1, Growth::Full), (needed, Growth::Conservative)] {
                let (mut h, mut rtt) = start();
                round(&mut h, &mut rtt, 0, 10, base);
                assert_eq!(round(&mut h, &mut rtt, 1000, 10, next).last(), Some(&growth), "{base} ms, then {next} ms");
            }
        }
    }
}
