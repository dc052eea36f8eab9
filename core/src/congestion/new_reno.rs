//! NewReno congestion control as specified for QUIC in RFC 9002 §7.

use super::{Controller, ControllerFactory, ControllerState, Window, WindowConfig, sanitize_factor, scale};
use crate::connection::rtt::RttEstimator;
use crate::time::Instant;

/// `kLossReductionFactor` (RFC 9002 §7.2): a congestion event halves the window.
const DEFAULT_LOSS_REDUCTION_FACTOR: f64 = 0.5;

/// Settings for [`NewReno`]; also its [`ControllerFactory`].
///
/// ```
/// # use jetstream_core::congestion::{ControllerFactory, NewRenoConfig};
/// # use jetstream_core::time::Instant;
/// let factory = NewRenoConfig::default().initial_window_packets(20);
/// let controller = factory.build(Instant::ZERO, 1200);
/// assert_eq!(controller.window(), 24_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewRenoConfig {
    window: WindowConfig,
    loss_reduction_factor: f64,
}

impl Default for NewRenoConfig {
    fn default() -> Self {
        NewRenoConfig { window: WindowConfig::default(), loss_reduction_factor: DEFAULT_LOSS_REDUCTION_FACTOR }
    }
}

impl NewRenoConfig {
    /// Initial window in datagrams, default 10 (RFC 9002 §7.2). The window is
    /// `min(n × mtu, max(2 × mtu, n × 1472))` bytes, which for 10 is RFC 9002's
    /// `min(10 × mtu, max(2 × mtu, 14720))`; it is never below the minimum window.
    #[must_use]
    pub fn initial_window_packets(mut self, packets: u32) -> Self {
        self.window.initial_packets = packets;
        self
    }

    /// Minimum window in datagrams, default 4 (above RFC 9002's `kMinimumWindow` of 2, see
    /// the crate's congestion module); values below 1 are treated as 1 so that the
    /// connection can always send.
    #[must_use]
    pub fn minimum_window_packets(mut self, packets: u32) -> Self {
        self.window.minimum_packets = packets;
        self
    }

    /// HyStart++ (RFC 9406), default off: the first slow start ends when round-trip times
    /// rise, before a deep queue overflows, instead of only at the first loss. Why it is
    /// off by default, with measurements: [`CubicConfig::hystart`](super::CubicConfig::hystart).
    #[must_use]
    pub fn hystart(mut self, enabled: bool) -> Self {
        self.window.hystart = enabled;
        self
    }

    /// The factor a congestion event multiplies the window by, default 0.5
    /// (`kLossReductionFactor`, RFC 9002 §7.2). Clamped to `[0, 1]`; NaN selects the default.
    #[must_use]
    pub fn loss_reduction_factor(mut self, factor: f64) -> Self {
        self.loss_reduction_factor = sanitize_factor(factor, DEFAULT_LOSS_REDUCTION_FACTOR);
        self
    }
}

impl ControllerFactory for NewRenoConfig {
    fn build(&self, _now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(NewReno::new(*self, current_mtu))
    }
}

/// The NewReno controller of RFC 9002 §7.
///
/// * Slow start: each acknowledged byte adds a byte to the window, doubling it every round trip.
/// * A congestion event multiplies the window by the loss reduction factor (0.5), at most once
///   per round trip: losses of packets sent before the reduction belong to the same event.
/// * Congestion avoidance adds one datagram per window of acknowledged bytes ("byte counting",
///   RFC 3465), i.e. one datagram per round trip however the peer batches its ACKs.
/// * Persistent congestion (RFC 9002 §7.6) drops the window to the minimum.
/// * ACKs for application-limited packets never grow the window (RFC 9002 §7.8).
#[derive(Debug, Clone)]
pub struct NewReno {
    window: Window,
    loss_reduction_factor: f64,
    /// Bytes acknowledged in congestion avoidance since the window last grew.
    bytes_acked: u64,
}

impl NewReno {
    /// A controller in slow start at the initial window for datagrams of `mtu` bytes.
    pub fn new(config: NewRenoConfig, mtu: u16) -> Self {
        NewReno {
            window: Window::new(config.window, mtu),
            loss_reduction_factor: sanitize_factor(config.loss_reduction_factor, DEFAULT_LOSS_REDUCTION_FACTOR),
            bytes_acked: 0,
        }
    }
}

impl Controller for NewReno {
    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, app_limited: bool, rtt: &RttEstimator) {
        if !self.window.ack_may_grow(sent, app_limited) {
            return;
        }
        let window = &mut self.window;
        if window.in_slow_start() {
            window.grow_in_slow_start(now, sent, bytes, rtt);
            return;
        }
        self.bytes_acked = self.bytes_acked.saturating_add(bytes);
        if self.bytes_acked >= window.cwnd {
            self.bytes_acked -= window.cwnd;
            window.cwnd = window.cwnd.saturating_add(window.mtu);
        }
    }

    fn on_congestion_event(&mut self, now: Instant, sent: Instant, is_persistent_congestion: bool, _lost_bytes: u64) {
        if self.window.begin_recovery(now, sent) {
            self.window.reduce_to(scale(self.window.cwnd, self.loss_reduction_factor));
            self.bytes_acked = 0;
        }
        if is_persistent_congestion {
            self.window.collapse();
            self.bytes_acked = 0;
        }
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.window.set_mtu(new_mtu);
    }

    fn window(&self) -> u64 {
        self.window.cwnd
    }

    fn initial_window(&self) -> u64 {
        self.window.initial()
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(self.clone())
    }

    fn state(&self) -> ControllerState {
        self.window.state()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    const MTU: u16 = 1200;
    const MSS: u64 = MTU as u64;

    fn rtt() -> RttEstimator {
        RttEstimator::new(Duration::from_millis(100))
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// Acknowledges `bytes` in full-size packets, all sent at `sent`.
    fn ack(cc: &mut NewReno, now: Instant, sent: Instant, bytes: u64, app_limited: bool) {
        for _ in 0..bytes / MSS {
            cc.on_ack(now, sent, MSS, app_limited, &rtt());
        }
    }

    /// Acknowledges one full window sent at `sent`, as happens once per round trip.
    fn ack_window(cc: &mut NewReno, now: Instant, sent: Instant) {
        let window = cc.window();
        ack(cc, now, sent, window, false);
    }

    fn new_reno() -> NewReno {
        NewReno::new(NewRenoConfig::default(), MTU)
    }

    /// With HyStart++, NewReno too leaves slow start once a round's RTTs rise (20 → 30 ms)
    /// and goes on in congestion avoidance after conservative slow start.
    #[test]
    fn hystart_ends_slow_start_on_rising_round_trip_times() {
        let mut cc = NewReno::new(NewRenoConfig::default().hystart(true), MTU);
        let mut estimator = rtt();
        for (round, rtt_ms) in [20, 20, 30, 30, 30, 30, 30, 30, 30].into_iter().enumerate() {
            let sent = ms(100 * round as u64);
            for _ in 0..cc.window() / MSS {
                estimator.update(Duration::ZERO, Duration::from_millis(rtt_ms), true);
                cc.on_ack(sent + Duration::from_millis(rtt_ms), sent, MSS, false, &estimator);
            }
        }
        assert_eq!(cc.state(), ControllerState::CongestionAvoidance);
        assert!(cc.window() < 12_000 << 5, "window {}", cc.window());
    }

    #[test]
    fn slow_start_doubles_every_round_trip() {
        let mut cc = new_reno();
        assert_eq!(cc.window(), 12_000);
        assert_eq!(cc.initial_window(), 12_000);
        for round in 1..=4 {
            ack_window(&mut cc, ms(100 * round), ms(100 * (round - 1)));
            assert_eq!(cc.window(), 12_000 << round);
            assert_eq!(cc.state(), ControllerState::SlowStart);
        }
    }

    #[test]
    fn loss_halves_the_window_once_per_recovery_period() {
        let mut cc = new_reno();
        ack(&mut cc, ms(100), ms(0), 36_000, false);
        assert_eq!(cc.window(), 48_000);

        cc.on_congestion_event(ms(200), ms(150), false, MSS);
        assert_eq!(cc.window(), 24_000);
        assert_eq!(cc.state(), ControllerState::Recovery);

        // More losses among packets sent before the reduction are the same congestion event.
        cc.on_congestion_event(ms(210), ms(190), false, MSS);
        cc.on_congestion_event(ms(220), ms(200), false, MSS);
        assert_eq!(cc.window(), 24_000);

        // A packet sent after recovery started is a new event.
        cc.on_congestion_event(ms(400), ms(201), false, MSS);
        assert_eq!(cc.window(), 12_000);
    }

    #[test]
    fn recovery_ends_when_a_packet_sent_during_it_is_acknowledged() {
        let mut cc = new_reno();
        ack(&mut cc, ms(100), ms(0), 36_000, false);
        cc.on_congestion_event(ms(200), ms(150), false, MSS);
        ack(&mut cc, ms(250), ms(199), 24_000, false);
        assert_eq!(cc.window(), 24_000, "ACKs of pre-recovery packets do not grow the window");
        assert_eq!(cc.state(), ControllerState::Recovery);
        ack(&mut cc, ms(300), ms(201), MSS, false);
        assert_eq!(cc.state(), ControllerState::CongestionAvoidance);
    }

    #[test]
    fn congestion_avoidance_adds_one_datagram_per_window_acknowledged() {
        let mut cc = new_reno();
        ack(&mut cc, ms(100), ms(0), 36_000, false);
        cc.on_congestion_event(ms(200), ms(150), false, MSS);
        assert_eq!(cc.window(), 24_000);
        let mut now = ms(300);
        for round in 1..=5 {
            let almost_a_window = cc.window() - MSS;
            ack(&mut cc, now, now - Duration::from_millis(50), almost_a_window, false);
            assert_eq!(cc.window(), 24_000 + (round - 1) * MSS, "not before a full window");
            ack(&mut cc, now, now - Duration::from_millis(50), MSS, false);
            assert_eq!(cc.window(), 24_000 + round * MSS);
            now += Duration::from_millis(100);
        }
    }

    #[test]
    fn persistent_congestion_collapses_to_minimum_window_then_slow_starts() {
        let mut cc = new_reno();
        ack(&mut cc, ms(100), ms(0), 108_000, false);
        cc.on_congestion_event(ms(900), ms(100), true, 50 * MSS);
        assert_eq!(cc.window(), 4 * MSS);
        assert_eq!(cc.state(), ControllerState::SlowStart);
        // Slow start up to the ssthresh set by the congestion event (60 000), not beyond.
        ack(&mut cc, ms(1_000), ms(950), 57_600, false);
        assert_eq!(cc.window(), 60_000);
        assert_eq!(cc.state(), ControllerState::CongestionAvoidance);
    }

    #[test]
    fn persistent_congestion_applies_even_within_a_recovery_period() {
        let mut cc = new_reno();
        cc.on_congestion_event(ms(100), ms(50), false, MSS);
        assert_eq!(cc.window(), 6_000);
        cc.on_congestion_event(ms(110), ms(60), true, MSS);
        assert_eq!(cc.window(), 4 * MSS);
    }

    #[test]
    fn window_never_drops_below_minimum() {
        let mut cc = new_reno();
        for i in 1..20 {
            cc.on_congestion_event(ms(100 * i), ms(100 * i - 1), false, MSS);
            assert!(cc.window() >= 4 * MSS);
        }
        assert_eq!(cc.window(), 4 * MSS);
    }

    #[test]
    fn app_limited_acks_do_not_grow_the_window() {
        let mut cc = new_reno();
        ack(&mut cc, ms(100), ms(0), 120_000, true);
        assert_eq!(cc.window(), 12_000, "slow start");
        ack(&mut cc, ms(100), ms(0), 36_000, false);
        cc.on_congestion_event(ms(200), ms(150), false, MSS);
        ack(&mut cc, ms(300), ms(250), 240_000, true);
        assert_eq!(cc.window(), 24_000, "congestion avoidance");
        assert_eq!(cc.state(), ControllerState::CongestionAvoidance, "but recovery ended");
    }

    #[test]
    fn mtu_update_rescales_minimum_and_initial_windows() {
        let mut cc = new_reno();
        cc.on_congestion_event(ms(100), ms(50), true, MSS);
        assert_eq!(cc.window(), 4_800);
        cc.on_mtu_update(1_500);
        assert_eq!(cc.window(), 6_000);
        assert_eq!(cc.initial_window(), 14_720);
        cc.on_mtu_update(1_280);
        assert_eq!(cc.window(), 6_000, "a smaller MTU does not shrink the window");
    }

    #[test]
    fn config_setters() {
        let config =
            NewRenoConfig::default().initial_window_packets(32).minimum_window_packets(4).loss_reduction_factor(0.8);
        let mut cc = config.build(ms(0), MTU);
        assert_eq!(cc.window(), 32 * MSS);
        cc.on_congestion_event(ms(100), ms(50), false, MSS);
        assert_eq!(cc.window(), 30_720);
        cc.on_congestion_event(ms(200), ms(150), true, MSS);
        assert_eq!(cc.window(), 4 * MSS);

        assert_eq!(NewRenoConfig::default().loss_reduction_factor(f64::NAN), NewRenoConfig::default());
        let mut zero = NewReno::new(NewRenoConfig::default().loss_reduction_factor(-3.0), MTU);
        zero.on_congestion_event(ms(100), ms(50), false, MSS);
        assert_eq!(zero.window(), 4 * MSS);
    }

    #[test]
    fn huge_values_saturate() {
        let mut cc = NewReno::new(NewRenoConfig::default().initial_window_packets(u32::MAX), u16::MAX);
        cc.on_ack(ms(1), ms(0), u64::MAX, false, &rtt());
        assert_eq!(cc.window(), u64::MAX);
        cc.on_congestion_event(ms(2), ms(1), false, u64::MAX);
        cc.on_ack(ms(3), ms(2), u64::MAX, false, &rtt());
        cc.on_ack(ms(3), ms(2), u64::MAX, false, &rtt());
        assert!(cc.window() > u64::MAX / 4);
    }
}
