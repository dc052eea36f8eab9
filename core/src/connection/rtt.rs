//! Round-trip time estimation (RFC 9002 §5).
//!
//! Loss detection, the probe timeout and congestion control all read the path's RTT from one
//! [`RttEstimator`]. It is fed one sample per ACK frame that newly acknowledges the largest
//! packet number and at least one ack-eliciting packet (RFC 9002 §5.1); choosing those samples
//! is the caller's job.

use crate::time::Duration;

/// Timer granularity, `kGranularity` in RFC 9002 §6.1.2: the loss delay and the PTO variance
/// term never go below it, so that timers are not armed for less than a clock tick.
const GRANULARITY: Duration = Duration::from_millis(1);

/// Default `max_ack_delay` transport parameter (RFC 9000 §18.2), used until the peer's is known.
const DEFAULT_MAX_ACK_DELAY: Duration = Duration::from_millis(25);

/// RFC 9002 §5 RTT estimator: minimum, latest and smoothed RTT plus the RTT variation.
///
/// Before the first sample, [`smoothed`](Self::smoothed), [`latest`](Self::latest) and
/// [`min`](Self::min) report the initial RTT and [`variance`](Self::variance) half of it
/// (RFC 9002 §5.3, §6.2.2); [`has_sample`](Self::has_sample) tells the two cases apart.
#[derive(Debug, Clone, Copy)]
pub struct RttEstimator {
    /// `latest_rtt`: the most recent sample, without ACK delay adjustment.
    latest: Duration,
    /// `smoothed_rtt`: EWMA of ACK-delay-adjusted samples.
    smoothed: Duration,
    /// `rttvar`: mean deviation of the adjusted samples.
    var: Duration,
    /// `min_rtt`: smallest unadjusted sample seen on this path.
    min: Duration,
    /// The peer's `max_ack_delay` transport parameter.
    max_ack_delay: Duration,
    /// How many times `update` was called since construction or the last reset.
    samples: u64,
}

impl RttEstimator {
    /// An estimator with no samples, assuming `initial_rtt` (RFC 9002 §6.2.2 recommends
    /// 333 ms when nothing better is known) and the default 25 ms `max_ack_delay`.
    pub fn new(initial_rtt: Duration) -> Self {
        RttEstimator {
            latest: initial_rtt,
            smoothed: initial_rtt,
            var: initial_rtt / 2,
            min: initial_rtt,
            max_ack_delay: DEFAULT_MAX_ACK_DELAY,
            samples: 0,
        }
    }

    /// Records the peer's `max_ack_delay` transport parameter (RFC 9000 §18.2).
    ///
    /// Once the handshake is confirmed, reported ACK delays are capped at this value: larger
    /// delays are then treated as path delay rather than as the peer's deliberate delay
    /// (RFC 9002 §5.3).
    pub fn set_max_ack_delay(&mut self, max_ack_delay: Duration) {
        self.max_ack_delay = max_ack_delay;
    }

    /// The peer's `max_ack_delay`, which the application-data PTO adds to
    /// [`pto_base`](Self::pto_base) (RFC 9002 §6.2.1).
    pub fn max_ack_delay(&self) -> Duration {
        self.max_ack_delay
    }

    /// Feeds one RTT sample (RFC 9002 §5.3).
    ///
    /// `rtt_sample` is the time from sending the largest newly acknowledged packet to receiving
    /// its ACK; `ack_delay` is the delay the peer reported in that ACK frame. The first sample
    /// after construction or [`reset`](Self::reset) replaces the initial values outright so no
    /// guessed history survives. Afterwards:
    ///
    /// * `min_rtt` tracks the smallest raw sample; ACK delay is never subtracted from it, so it
    ///   is a lower bound the peer cannot talk down (§5.2).
    /// * Once `handshake_confirmed`, `ack_delay` is capped at the peer's `max_ack_delay`; before
    ///   that, handshake ACKs can be legitimately late and are used as reported.
    /// * The ACK delay is subtracted only if the result stays at or above `min_rtt`, which limits
    ///   underestimation by a misreporting peer.
    /// * `rttvar` and `smoothed_rtt` are then updated as EWMAs with gains 1/4 and 1/8. `rttvar`
    ///   uses the smoothed RTT from *before* this sample, as in RFC 6298 §2.3 and RFC 9002
    ///   Appendix A.7 (the prose of §5.3 lists the two assignments the other way round).
    pub fn update(&mut self, ack_delay: Duration, rtt_sample: Duration, handshake_confirmed: bool) {
        self.latest = rtt_sample;
        self.samples = self.samples.saturating_add(1);
        if self.samples == 1 {
            self.min = rtt_sample;
            self.smoothed = rtt_sample;
            self.var = rtt_sample / 2;
            return;
        }
        self.min = self.min.min(rtt_sample);
        let ack_delay = if handshake_confirmed { ack_delay.min(self.max_ack_delay) } else { ack_delay };
        let adjusted =
            if rtt_sample >= self.min.saturating_add(ack_delay) { rtt_sample - ack_delay } else { rtt_sample };
        let var_sample = self.smoothed.abs_diff(adjusted);
        self.var = self.var.saturating_mul(3).saturating_add(var_sample) / 4;
        self.smoothed = self.smoothed.saturating_mul(7).saturating_add(adjusted) / 8;
    }

    /// Restarts `min_rtt` from the latest sample once persistent congestion is declared
    /// (RFC 9002 §5.2). The path's RTT may have grown for good; restarting avoids declaring
    /// persistent congestion again and again and lets the estimates recover.
    pub fn on_persistent_congestion(&mut self) {
        if self.has_sample() {
            self.min = self.latest;
        }
    }

    /// `smoothed_rtt`: the ACK-delay-adjusted moving average.
    pub fn smoothed(&self) -> Duration {
        self.smoothed
    }

    /// `min_rtt`: the smallest sample seen on this path, not adjusted for ACK delay.
    pub fn min(&self) -> Duration {
        self.min
    }

    /// `latest_rtt`: the most recent sample, not adjusted for ACK delay.
    pub fn latest(&self) -> Duration {
        self.latest
    }

    /// `rttvar`: the mean deviation of the RTT.
    pub fn variance(&self) -> Duration {
        self.var
    }

    /// Whether at least one sample was taken since construction or the last reset.
    pub fn has_sample(&self) -> bool {
        self.samples > 0
    }

    /// How many samples were taken since construction or the last reset. A change between
    /// two acknowledged packets tells a congestion controller that the ACK frame carrying
    /// the second brought a sample of its own ([`latest`](Self::latest) is otherwise a
    /// sample shared by all packets of one ACK frame, or an older one).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// `smoothed_rtt + max(4 * rttvar, kGranularity)`: the probe timeout before the
    /// `max_ack_delay` term and exponential backoff are applied (RFC 9002 §6.2.1).
    pub fn pto_base(&self) -> Duration {
        self.smoothed.saturating_add(self.var.saturating_mul(4).max(GRANULARITY))
    }

    /// The probe timeout after a packet that asked for an immediate ACK: RACK-TLP's
    /// `2 × smoothed_rtt` (RFC 8985 §7.2), at least `kGranularity` and at most
    /// [`pto_base`](Self::pto_base). The peer answers such a packet at once, so no ACK delay
    /// and no variance allowance beyond one more round trip need be waited for.
    pub fn tail_probe_timeout(&self) -> Duration {
        self.smoothed.saturating_mul(2).max(GRANULARITY).min(self.pto_base())
    }

    /// `max(9/8 * max(smoothed_rtt, latest_rtt), kGranularity)`: the time threshold of
    /// RFC 9002 §6.1.2. A packet sent before an acknowledged one is declared lost once it has
    /// been outstanding this long; the 1/8 slack tolerates reordering and jitter without
    /// waiting for a full PTO.
    pub fn loss_delay(&self) -> Duration {
        let rtt = self.smoothed.max(self.latest);
        (rtt.saturating_mul(9) / 8).max(GRANULARITY)
    }

    /// Forgets every sample and starts over from `initial_rtt`, as required when the
    /// connection moves to a new path (RFC 9000 §9.4). The peer's `max_ack_delay` is a
    /// connection property and is kept.
    pub fn reset(&mut self, initial_rtt: Duration) {
        *self = RttEstimator { max_ack_delay: self.max_ack_delay, ..RttEstimator::new(initial_rtt) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn tail_probe_timeout_is_two_round_trips_within_granularity_and_the_pto() {
        let mut rtt = RttEstimator::new(ms(333));
        rtt.update(Duration::ZERO, ms(100), true);
        // srtt 100, rttvar 50: the PTO base is 300, the tail probe 200.
        assert_eq!(rtt.pto_base(), ms(300));
        assert_eq!(rtt.tail_probe_timeout(), ms(200));
        let mut steady = RttEstimator::new(ms(333));
        for _ in 0..200 {
            steady.update(Duration::ZERO, ms(100), true);
        }
        // The variance has decayed: never later than the PTO itself.
        assert_eq!(steady.tail_probe_timeout(), steady.pto_base());
        let mut fast = RttEstimator::new(ms(333));
        fast.update(Duration::ZERO, Duration::from_micros(200), true);
        assert_eq!(fast.tail_probe_timeout(), ms(1), "at least kGranularity");
    }

    #[test]
    fn initial_values_follow_rfc() {
        let rtt = RttEstimator::new(ms(333));
        assert!(!rtt.has_sample());
        assert_eq!(rtt.smoothed(), ms(333));
        assert_eq!(rtt.variance(), Duration::from_micros(166_500));
        // 333 + 4 * 166.5
        assert_eq!(rtt.pto_base(), ms(999));
        assert_eq!(rtt.max_ack_delay(), ms(25));
    }

    #[test]
    fn first_sample_replaces_initial_values_and_ignores_ack_delay() {
        let mut rtt = RttEstimator::new(ms(333));
        rtt.update(ms(10), ms(100), false);
        assert!(rtt.has_sample());
        assert_eq!(rtt.smoothed(), ms(100));
        assert_eq!(rtt.variance(), ms(50));
        assert_eq!(rtt.min(), ms(100));
        assert_eq!(rtt.latest(), ms(100));
    }

    #[test]
    fn later_samples_are_ewma_with_gains_one_eighth_and_one_quarter() {
        let mut rtt = RttEstimator::new(ms(333));
        rtt.update(Duration::ZERO, ms(100), true);
        rtt.update(Duration::ZERO, ms(200), true);
        // rttvar = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; smoothed = 7/8 * 100 + 1/8 * 200 = 112.5
        assert_eq!(rtt.variance(), Duration::from_micros(62_500));
        assert_eq!(rtt.smoothed(), Duration::from_micros(112_500));
        assert_eq!(rtt.min(), ms(100));
        assert_eq!(rtt.latest(), ms(200));

        rtt.update(Duration::ZERO, ms(80), true);
        // rttvar = 3/4 * 62.5 + 1/4 * |112.5 - 80| = 55; smoothed = 7/8 * 112.5 + 10 = 108.4375
        assert_eq!(rtt.variance(), ms(55));
        assert_eq!(rtt.smoothed(), Duration::from_micros(108_437) + Duration::from_nanos(500));
        assert_eq!(rtt.min(), ms(80));
    }

    #[test]
    fn ack_delay_is_subtracted_when_plausible() {
        let mut rtt = RttEstimator::new(ms(333));
        rtt.update(Duration::ZERO, ms(100), true);
        rtt.update(ms(20), ms(140), true);
        // adjusted = 120: rttvar = 3/4 * 50 + 1/4 * 20 = 42.5; smoothed = 7/8 * 100 + 15 = 102.5
        assert_eq!(rtt.variance(), Duration::from_micros(42_500));
        assert_eq!(rtt.smoothed(), Duration::from_micros(102_500));
        assert_eq!(rtt.latest(), ms(140), "latest_rtt is the raw sample");
    }

    #[test]
    fn ack_delay_never_pushes_sample_below_min_rtt() {
        let mut rtt = RttEstimator::new(ms(333));
        rtt.update(Duration::ZERO, ms(100), true);
        // 110 - 30 = 80 < min_rtt 100: the delay is not subtracted at all.
        rtt.update(ms(30), ms(110), true);
        assert_eq!(rtt.smoothed(), Duration::from_micros(101_250));
        assert_eq!(rtt.variance(), Duration::from_micros(40_000));
    }

    #[test]
    fn ack_delay_is_capped_by_max_ack_delay_only_after_handshake_confirmation() {
        let mut confirmed = RttEstimator::new(ms(333));
        confirmed.set_max_ack_delay(ms(10));
        let mut handshaking = confirmed;
        for rtt in [&mut confirmed, &mut handshaking] {
            rtt.update(Duration::ZERO, ms(100), false);
        }
        confirmed.update(ms(50), ms(180), true);
        handshaking.update(ms(50), ms(180), false);
        // Confirmed: adjusted = 180 - 10 = 170 -> smoothed = 87.5 + 21.25.
        assert_eq!(confirmed.smoothed(), Duration::from_micros(108_750));
        // Handshaking: adjusted = 180 - 50 = 130 -> smoothed = 87.5 + 16.25.
        assert_eq!(handshaking.smoothed(), Duration::from_micros(103_750));
    }

    #[test]
    fn timers_have_granularity_floor() {
        let mut rtt = RttEstimator::new(ms(333));
        rtt.update(Duration::ZERO, Duration::from_micros(100), true);
        for _ in 0..64 {
            rtt.update(Duration::ZERO, Duration::from_micros(100), true);
        }
        assert_eq!(rtt.loss_delay(), ms(1));
        assert!(rtt.variance() < Duration::from_micros(1));
        assert_eq!(rtt.pto_base(), Duration::from_micros(100) + ms(1));
    }

    #[test]
    fn loss_delay_uses_larger_of_smoothed_and_latest() {
        let mut rtt = RttEstimator::new(ms(333));
        rtt.update(Duration::ZERO, ms(80), true);
        assert_eq!(rtt.loss_delay(), ms(90));
        rtt.update(Duration::ZERO, ms(160), true);
        // latest 160 > smoothed 90
        assert_eq!(rtt.loss_delay(), ms(180));
    }

    #[test]
    fn persistent_congestion_restarts_min_rtt_from_latest_sample() {
        let mut rtt = RttEstimator::new(ms(333));
        rtt.on_persistent_congestion();
        assert_eq!(rtt.min(), ms(333), "no sample yet: nothing to restart from");
        rtt.update(Duration::ZERO, ms(20), true);
        rtt.update(Duration::ZERO, ms(150), true);
        assert_eq!(rtt.min(), ms(20));
        rtt.on_persistent_congestion();
        assert_eq!(rtt.min(), ms(150));
    }

    #[test]
    fn reset_forgets_samples_but_keeps_max_ack_delay() {
        let mut rtt = RttEstimator::new(ms(333));
        rtt.set_max_ack_delay(ms(5));
        rtt.update(Duration::ZERO, ms(20), true);
        rtt.reset(ms(100));
        assert!(!rtt.has_sample());
        assert_eq!(rtt.smoothed(), ms(100));
        assert_eq!(rtt.min(), ms(100));
        assert_eq!(rtt.max_ack_delay(), ms(5));
        rtt.update(Duration::ZERO, ms(300), true);
        assert_eq!(rtt.min(), ms(300), "min_rtt restarts with the new path");
    }

    #[test]
    fn extreme_values_saturate_instead_of_panicking() {
        let mut rtt = RttEstimator::new(Duration::MAX);
        rtt.update(Duration::MAX, Duration::MAX, true);
        rtt.update(Duration::MAX, Duration::MAX, false);
        rtt.update(Duration::ZERO, Duration::ZERO, true);
        let _ = (rtt.pto_base(), rtt.loss_delay());
        assert_eq!(rtt.min(), Duration::ZERO);
    }
}
