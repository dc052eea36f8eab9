//! CUBIC congestion control (RFC 9438), adapted to QUIC's byte-based windows.
//!
//! CUBIC keeps NewReno's slow start and recovery period but replaces the linear
//! congestion-avoidance growth by a cubic function of the time since the last reduction:
//!
//! ```text
//! W_cubic(t) = C × (t − K)³ + W_max        K = ∛((W_max − cwnd_epoch) / C)
//! ```
//!
//! The window climbs quickly back towards `W_max`, the size at which the last loss happened,
//! flattens out around it (concave region), then probes above it ever faster (convex region).
//! Because the curve depends on time rather than on the number of ACKs, flows with different
//! RTTs converge to similar windows, and long fat paths recover in seconds instead of the
//! many minutes a one-datagram-per-RTT increase would take. RFC 9438 counts `W` in segments;
//! here windows are bytes, so `C` is multiplied by the datagram size.
//!
//! Floating point is used for the curve (once per ACK, off the per-packet send path). All
//! inputs are finite and the datagram size and window are at least one byte, so no NaN or
//! infinity can arise; the results are converted back to bytes with saturating casts.

use super::{Controller, ControllerFactory, ControllerState, Window, WindowConfig, sanitize_factor, scale};
use crate::connection::rtt::RttEstimator;
use crate::time::Instant;

/// `C` of RFC 9438 §5.1, in segments per second cubed: how aggressively the curve grows.
const C: f64 = 0.4;

/// `β_cubic` of RFC 9438 §4.6: a congestion event multiplies the window by 0.7. The smaller
/// reduction than Reno's 0.5 keeps utilisation high; the cubic growth and fast convergence
/// restore fairness.
const DEFAULT_BETA: f64 = 0.7;

/// Settings for [`Cubic`]; also its [`ControllerFactory`].
///
/// ```
/// # use jetstream_core::congestion::{ControllerFactory, CubicConfig};
/// # use jetstream_core::time::Instant;
/// let factory = CubicConfig::default().minimum_window_packets(4);
/// let controller = factory.build(Instant::ZERO, 1200);
/// assert_eq!(controller.window(), 12_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CubicConfig {
    window: WindowConfig,
    beta: f64,
    fast_convergence: bool,
}

impl Default for CubicConfig {
    fn default() -> Self {
        CubicConfig { window: WindowConfig::default(), beta: DEFAULT_BETA, fast_convergence: true }
    }
}

impl CubicConfig {
    /// Initial window in datagrams, default 10 (RFC 9002 §7.2). The window is
    /// `min(n × mtu, max(2 × mtu, n × 1472))` bytes, which for 10 is RFC 9002's
    /// `min(10 × mtu, max(2 × mtu, 14720))`; it is never below the minimum window.
    #[must_use]
    pub fn initial_window_packets(mut self, packets: u32) -> Self {
        self.window.initial_packets = packets;
        self
    }

    /// Minimum window in datagrams, default 4 (above RFC 9002's 2, see the crate's congestion
    /// module); values below 1 are treated as 1 so that the connection can always send.
    #[must_use]
    pub fn minimum_window_packets(mut self, packets: u32) -> Self {
        self.window.minimum_packets = packets;
        self
    }

    /// HyStart++ (RFC 9406), default off: the first slow start ends when round-trip times
    /// rise, before a deep queue overflows, instead of only at the first loss; CUBIC then
    /// starts its curve flat at that window.
    ///
    /// Measured with the shipped simulator scenarios, seeds 1–12, CUBIC:
    /// `bufferbloat-bottleneck` (two uploads and a voice-like flow into an 800 ms drop-tail
    /// buffer) retransmits 88 packets instead of 839, and the buffer is ≥ 90% full in 16% of
    /// samples instead of 24%; but the queue the uploads then keep is deeper: median RTT
    /// 514 ms instead of 291, the voice flow's 494 ms instead of 151. Goodput stays the
    /// same there and in `wifi-lossy` (6.54 Mbit/s either way), `cellular-handover` (2.65
    /// against 2.61), `satellite` and `lan`. Fewer losses against a deeper standing queue is
    /// a trade-off, so it is not the default.
    #[must_use]
    pub fn hystart(mut self, enabled: bool) -> Self {
        self.window.hystart = enabled;
        self
    }

    /// `β_cubic`, the factor a congestion event multiplies the window by, default 0.7
    /// (RFC 9438 §4.6). Clamped to `[0, 1]`; NaN selects the default. The Reno-friendly
    /// increase `α_cubic = 3(1 − β)/(1 + β)` is derived from it (§4.3).
    #[must_use]
    pub fn loss_reduction_factor(mut self, beta: f64) -> Self {
        self.beta = sanitize_factor(beta, DEFAULT_BETA);
        self
    }

    /// Fast convergence (RFC 9438 §4.7), default on: a flow that loses before regaining its
    /// previous `W_max` lowers `W_max` further, releasing bandwidth to newer flows sooner.
    #[must_use]
    pub fn fast_convergence(mut self, enabled: bool) -> Self {
        self.fast_convergence = enabled;
        self
    }
}

impl ControllerFactory for CubicConfig {
    fn build(&self, now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(Cubic::new(*self, current_mtu, now))
    }
}

/// The CUBIC controller of RFC 9438.
///
/// * Slow start, the once-per-round-trip recovery period, persistent congestion and
///   app-limited handling are those of [`NewReno`](super::NewReno) (RFC 9002 §7).
/// * A congestion event remembers the window as `W_max` (lowered by fast convergence, §4.7)
///   and multiplies the window by `β_cubic` = 0.7 (§4.6).
/// * In congestion avoidance each ACK moves the window towards `W_cubic(t + smoothed_rtt)`,
///   gaining at most half the window per round trip (§4.2, §4.4, §4.5), unless the
///   Reno-friendly estimate `W_est` is larger, in which case the window follows `W_est` so that
///   CUBIC is never slower than Reno (§4.3) — the usual case on short-RTT paths.
/// * Idle periods shift the curve later instead of letting `t` run on (§5.8), so a flow that
///   resumes after a pause does not jump up the curve.
#[derive(Debug, Clone)]
pub struct Cubic {
    window: Window,
    /// `β_cubic`.
    beta: f64,
    /// `α_cubic = 3(1 − β)/(1 + β)`: Reno-friendly increase, in datagrams per round trip.
    alpha: f64,
    fast_convergence: bool,
    /// `W_max` in bytes: the window just before the last reduction, less fast convergence.
    w_max: f64,
    /// `cwnd_prior` in bytes: the window just before the last reduction.
    cwnd_prior: f64,
    /// The current congestion-avoidance stage; `None` until the first ACK after slow start or
    /// a reduction.
    epoch: Option<Epoch>,
    /// When a packet was last sent or acknowledged, to measure idle periods.
    last_activity: Instant,
}

/// One congestion-avoidance stage: the curve's origin and the Reno estimate along it.
#[derive(Debug, Clone, Copy)]
struct Epoch {
    /// `t_epoch`, shifted later by idle periods.
    start: Instant,
    /// `K` in seconds: when the curve reaches `W_max`. Negative when the stage started above
    /// `W_max`, which places the whole stage in the convex region.
    k: f64,
    /// `W_est` in bytes (§4.3).
    w_est: f64,
    /// Growth below one byte not yet added to the window.
    carry: f64,
}

impl Cubic {
    /// A controller in slow start at the initial window for datagrams of `mtu` bytes, created
    /// at `now`.
    pub fn new(config: CubicConfig, mtu: u16, now: Instant) -> Self {
        let beta = sanitize_factor(config.beta, DEFAULT_BETA);
        Cubic {
            window: Window::new(config.window, mtu),
            beta,
            alpha: 3.0 * (1.0 - beta) / (1.0 + beta),
            fast_convergence: config.fast_convergence,
            w_max: 0.0,
            cwnd_prior: 0.0,
            epoch: None,
            last_activity: now,
        }
    }

    /// `C × (t − K)³ + W_max` in bytes, `t` and `K` in seconds.
    fn w_cubic(&self, t: f64, k: f64) -> f64 {
        C * self.window.mtu as f64 * (t - k).powi(3) + self.w_max
    }

    /// Starts a congestion-avoidance stage at `now` from the current window (RFC 9438 §4.2):
    /// `K` is when the curve, passing through the current window at `t = 0`, reaches `W_max`.
    fn start_epoch(&self, now: Instant) -> Epoch {
        let cwnd = self.window.cwnd as f64;
        Epoch { start: now, k: ((self.w_max - cwnd) / (C * self.window.mtu as f64)).cbrt(), w_est: cwnd, carry: 0.0 }
    }
}

impl Controller for Cubic {
    fn on_sent(&mut self, now: Instant, bytes: u64, in_flight: u64) {
        // Sending into an empty network means the flow was idle since its last activity:
        // move the curve's origin by that much so growth resumes where it paused (§5.8).
        if in_flight <= bytes {
            if let Some(epoch) = &mut self.epoch {
                epoch.start = (epoch.start + (now - self.last_activity)).min(now);
            }
        }
        self.last_activity = now;
    }

    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, app_limited: bool, rtt: &RttEstimator) {
        self.last_activity = now;
        if !self.window.ack_may_grow(sent, app_limited) {
            return;
        }
        if self.window.in_slow_start() {
            if self.window.grow_in_slow_start(now, sent, bytes, rtt) {
                // Slow start ended without a loss (HyStart++): the curve starts flat at the
                // current window (K = 0), probing slowly around it before it accelerates,
                // instead of in the steep convex region that W_max = 0 would give. No epoch
                // exists yet: one starts only in congestion avoidance.
                let cwnd = self.window.cwnd as f64;
                self.w_max = cwnd;
                self.cwnd_prior = cwnd;
            }
            return;
        }

        let mut epoch = self.epoch.unwrap_or_else(|| self.start_epoch(now));
        let cwnd = self.window.cwnd as f64;
        let mtu = self.window.mtu as f64;
        let acked = bytes as f64;
        let t = (now - epoch.start).as_secs_f64();

        // Reno-friendly estimate (§4.3): α datagrams per window acknowledged, and a full
        // datagram once W_est has regained the window before the last reduction.
        let alpha = if epoch.w_est >= self.cwnd_prior { 1.0 } else { self.alpha };
        epoch.w_est += alpha * mtu * acked / cwnd;

        if self.w_cubic(t, epoch.k) < epoch.w_est {
            self.window.cwnd = self.window.cwnd.max(epoch.w_est as u64);
        } else {
            // §4.2: aim for where the curve will be one RTT from now, gaining at least nothing
            // and at most half the window per round trip; per ACK, the share of the gap that
            // this ACK's bytes are of the window.
            let target = self.w_cubic(t + rtt.smoothed().as_secs_f64(), epoch.k).max(cwnd).min(1.5 * cwnd);
            epoch.carry += (target - cwnd) * acked / cwnd;
            let whole = epoch.carry.floor();
            epoch.carry -= whole;
            self.window.cwnd = self.window.cwnd.saturating_add(whole as u64);
        }
        self.epoch = Some(epoch);
    }

    fn on_congestion_event(&mut self, now: Instant, sent: Instant, is_persistent_congestion: bool, _lost_bytes: u64) {
        if self.window.begin_recovery(now, sent) {
            let cwnd = self.window.cwnd as f64;
            // §4.7: losing below the previous W_max means a new flow is competing; aim lower.
            self.w_max = if self.fast_convergence && cwnd < self.w_max { cwnd * (1.0 + self.beta) / 2.0 } else { cwnd };
            self.cwnd_prior = cwnd;
            // §4.6, using cwnd for the flight size: app-limited ACKs already keep the window
            // from outgrowing the data actually in flight. ssthresh is at least the minimum.
            let ssthresh = scale(self.window.cwnd, self.beta).max(self.window.minimum());
            self.window.reduce_to(ssthresh);
            self.epoch = None;
        }
        if is_persistent_congestion {
            self.window.collapse();
            self.epoch = None;
        }
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.window.set_mtu(new_mtu);
        // The curve is scaled by the datagram size; restart it from the current window.
        self.epoch = None;
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

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn estimator(rtt: Duration) -> RttEstimator {
        let mut estimator = RttEstimator::new(rtt);
        estimator.update(Duration::ZERO, rtt, true);
        estimator
    }

    fn cubic() -> Cubic {
        Cubic::new(CubicConfig::default(), MTU, ms(0))
    }

    /// Acknowledges `bytes` in full-size packets at `now`, all sent at `sent`.
    fn ack(cc: &mut Cubic, now: Instant, sent: Instant, bytes: u64, rtt: &RttEstimator) {
        for _ in 0..bytes / MSS {
            cc.on_ack(now, sent, MSS, false, rtt);
        }
    }

    /// One round trip of a saturated flow: the window, sent one RTT earlier, is acknowledged
    /// packet by packet, evenly spread over the RTT. Returns the time at the end of the round.
    fn ack_round(cc: &mut Cubic, start: Instant, rtt: &RttEstimator) -> Instant {
        let packets = cc.window() / MSS;
        let step = rtt.smoothed() / u32::try_from(packets).expect("test windows are small");
        let mut now = start;
        for _ in 0..packets {
            now += step;
            cc.on_ack(now, now - rtt.smoothed(), MSS, false, rtt);
        }
        now
    }

    /// A controller that grew to 100 datagrams in slow start and then lost a packet at `loss`.
    fn after_loss_at_100_packets(loss: Instant, rtt: &RttEstimator) -> Cubic {
        let mut cc = cubic();
        ack(&mut cc, ms(100), ms(0), 108_000, rtt);
        assert_eq!(cc.window(), 120_000);
        cc.on_congestion_event(loss, loss - Duration::from_millis(1), false, MSS);
        cc
    }

    #[test]
    fn slow_start_doubles_every_round_trip() {
        let rtt = estimator(Duration::from_millis(100));
        let mut cc = cubic();
        let mut now = ms(0);
        for round in 1..=4 {
            now = ack_round(&mut cc, now, &rtt);
            assert_eq!(cc.window(), 12_000 << round);
            assert_eq!(cc.state(), ControllerState::SlowStart);
        }
    }

    /// One round trip of a saturated flow whose every ACK brings an RTT sample of `rtt`.
    fn sampled_round(cc: &mut Cubic, start: Instant, estimator: &mut RttEstimator, rtt: Duration) -> Instant {
        let packets = cc.window() / MSS;
        let step = rtt / u32::try_from(packets).expect("test windows are small");
        let mut now = start;
        for _ in 0..packets {
            now += step;
            estimator.update(Duration::ZERO, rtt, true);
            cc.on_ack(now, now - rtt, MSS, false, estimator);
        }
        now
    }

    /// A queue building up (the RTT rises from 100 to 150 ms) ends slow start before any
    /// loss with HyStart++; without it, slow start doubles on into the queue. After the
    /// exit the curve starts flat at the exit window: the next round trips add about one
    /// datagram each (the Reno-friendly rate, α = 1 once `W_est` is back at `cwnd_prior`),
    /// not the convex region's acceleration.
    #[test]
    fn rising_round_trip_times_end_slow_start_before_any_loss() {
        let rtts = [100, 100, 150, 150, 150, 150, 150, 150, 150, 150];
        let mut windows = Vec::new();
        for (enabled, state) in [(true, ControllerState::CongestionAvoidance), (false, ControllerState::SlowStart)] {
            let mut cc = Cubic::new(CubicConfig::default().hystart(enabled), MTU, ms(0));
            let mut estimator = RttEstimator::new(Duration::from_millis(333));
            let mut now = ms(0);
            for rtt_ms in rtts {
                now = sampled_round(&mut cc, now, &mut estimator, Duration::from_millis(rtt_ms));
            }
            assert_eq!(cc.state(), state, "HyStart++ {enabled}");
            windows.push(cc.window());
            if enabled {
                // The exit came a few rounds ago: W_max is the window then.
                let exit = cc.w_max as u64;
                assert!(exit > 0 && exit <= cc.window(), "W_max {exit}, window {}", cc.window());
                for _ in 0..5 {
                    now = sampled_round(&mut cc, now, &mut estimator, Duration::from_millis(150));
                }
                // About one datagram per round trip (W_max = 0 would have given over 60).
                let gained = (cc.window() - exit) / MSS;
                assert!(gained <= 12, "{gained} datagrams in the round trips since the exit");
            }
        }
        assert!(windows[0] * 20 < windows[1], "windows with and without HyStart++: {windows:?}");
    }

    #[test]
    fn loss_multiplies_window_by_beta_once_per_recovery_period() {
        let rtt = estimator(Duration::from_millis(100));
        let mut cc = after_loss_at_100_packets(ms(1_000), &rtt);
        assert_eq!(cc.window(), 84_000);
        assert_eq!(cc.w_max, 120_000.0);
        assert_eq!(cc.state(), ControllerState::Recovery);
        cc.on_congestion_event(ms(1_050), ms(1_000), false, MSS);
        assert_eq!(cc.window(), 84_000, "same recovery period");
        cc.on_congestion_event(ms(1_200), ms(1_001), false, MSS);
        assert_eq!(cc.window(), 58_800);
    }

    #[test]
    fn fast_convergence_lowers_w_max_when_losing_below_it() {
        let rtt = estimator(Duration::from_millis(100));
        for (enabled, w_max) in [(true, 84_000.0 * 1.7 / 2.0), (false, 84_000.0)] {
            let mut cc = Cubic::new(CubicConfig::default().fast_convergence(enabled), MTU, ms(0));
            ack(&mut cc, ms(100), ms(0), 108_000, &rtt);
            cc.on_congestion_event(ms(1_000), ms(999), false, MSS);
            cc.on_congestion_event(ms(2_000), ms(1_999), false, MSS);
            assert_eq!(cc.window(), 58_800);
            assert!((cc.w_max - w_max).abs() < 1e-6, "fast convergence {enabled}: {}", cc.w_max);
        }
    }

    #[test]
    fn persistent_congestion_collapses_to_minimum_window() {
        let rtt = estimator(Duration::from_millis(100));
        let mut cc = after_loss_at_100_packets(ms(1_000), &rtt);
        cc.on_congestion_event(ms(1_500), ms(1_400), true, 10 * MSS);
        assert_eq!(cc.window(), 4 * MSS);
        assert_eq!(cc.state(), ControllerState::SlowStart);
        for i in 0..10 {
            cc.on_congestion_event(ms(2_000 + 100 * i), ms(1_999 + 100 * i), false, MSS);
            assert_eq!(cc.window(), 4 * MSS, "never below the minimum");
        }
    }

    #[test]
    fn window_follows_the_cubic_curve_concave_then_convex() {
        // A 200 ms RTT keeps the Reno-friendly estimate below the curve throughout.
        let rtt = estimator(Duration::from_millis(200));
        let loss = ms(1_000);
        let mut cc = after_loss_at_100_packets(loss, &rtt);
        let mut now = loss;
        while cc.epoch.is_none() {
            now = ack_round(&mut cc, now, &rtt);
        }
        let epoch = cc.epoch.expect("congestion avoidance started");
        // K = ∛((120 000 − 84 000) / (0.4 × 1200)) = ∛75 s
        assert!((epoch.k - 75f64.cbrt()).abs() < 1e-9);

        let mut samples = Vec::new();
        while now - epoch.start < Duration::from_secs(8) {
            now = ack_round(&mut cc, now, &rtt);
            let t = (now - epoch.start).as_secs_f64();
            let expected = 0.4 * 1200.0 * (t - epoch.k).powi(3) + 120_000.0;
            let window = cc.window() as f64;
            assert!((window - expected).abs() < 0.005 * expected, "t = {t:.2}: {window} vs {expected:.0}");
            assert!(cc.epoch.expect("still in the stage").w_est < window);
            samples.push((t, window));
        }
        // Growth per round shrinks while approaching W_max (concave), then increases (convex).
        let growth: Vec<(f64, f64)> = samples.windows(2).map(|w| (w[1].0, w[1].1 - w[0].1)).collect();
        let before_k: Vec<f64> = growth.iter().filter(|(t, _)| *t < epoch.k - 0.5).map(|g| g.1).collect();
        let after_k: Vec<f64> = growth.iter().filter(|(t, _)| *t > epoch.k + 0.5).map(|g| g.1).collect();
        assert!(before_k.len() > 10 && after_k.len() > 10);
        assert!(before_k.windows(2).all(|g| g[1] <= g[0] + 1.0), "concave: {before_k:?}");
        assert!(after_k.windows(2).all(|g| g[1] + 1.0 >= g[0]), "convex: {after_k:?}");
        assert!(cc.window() > 120_000, "probes beyond W_max");
    }

    #[test]
    fn reno_friendly_region_dominates_on_short_rtt_paths() {
        let rtt = estimator(Duration::from_millis(1));
        let loss = ms(1_000);
        let mut cc = after_loss_at_100_packets(loss, &rtt);
        let mut now = loss;
        while cc.epoch.is_none() {
            now = ack_round(&mut cc, now, &rtt);
        }
        let start = cc.epoch.expect("congestion avoidance started").start;
        let rounds = 40;
        for _ in 0..rounds {
            now = ack_round(&mut cc, now, &rtt);
        }
        let epoch = cc.epoch.expect("still in the stage");
        let t = (now - start).as_secs_f64();
        let w_cubic = cc.w_cubic(t, epoch.k);
        // The curve has barely moved in 40 ms; Reno's estimate gained α = 3 × 0.3 / 1.7
        // datagrams per round trip.
        let reno = 84_000.0 + 0.9 / 1.7 * 1200.0 * rounds as f64;
        let window = cc.window() as f64;
        assert!(w_cubic < 86_000.0);
        assert!((window - reno).abs() < 0.01 * reno, "{window} vs {reno}");
        assert_eq!(window, epoch.w_est.floor());
    }

    #[test]
    fn app_limited_acks_do_not_grow_the_window() {
        let rtt = estimator(Duration::from_millis(100));
        let mut cc = cubic();
        cc.on_ack(ms(100), ms(0), 100 * MSS, true, &rtt);
        assert_eq!(cc.window(), 12_000);
        let mut cc = after_loss_at_100_packets(ms(1_000), &rtt);
        for i in 0..1_000 {
            cc.on_ack(ms(1_100 + i), ms(1_001 + i), MSS, true, &rtt);
        }
        assert_eq!(cc.window(), 84_000);
        assert_eq!(cc.state(), ControllerState::CongestionAvoidance);
    }

    #[test]
    fn idle_period_shifts_the_curve_instead_of_jumping_up_it() {
        let rtt = estimator(Duration::from_millis(100));
        let run = |idle: Duration| {
            let mut cc = after_loss_at_100_packets(ms(1_000), &rtt);
            let mut now = ms(1_000);
            for _ in 0..11 {
                now = ack_round(&mut cc, now, &rtt);
            }
            // Everything acknowledged; the application pauses, then sends again.
            now += idle;
            cc.on_sent(now, MSS, MSS);
            for _ in 0..3 {
                now = ack_round(&mut cc, now, &rtt);
            }
            cc.window()
        };
        let busy = run(Duration::ZERO);
        let paused = run(Duration::from_secs(30));
        assert!(busy.abs_diff(paused) <= MSS, "{busy} vs {paused}");
    }

    #[test]
    fn mtu_update_rescales_minimum_window_and_restarts_the_curve() {
        let rtt = estimator(Duration::from_millis(100));
        let mut cc = after_loss_at_100_packets(ms(1_000), &rtt);
        cc.on_congestion_event(ms(2_000), ms(1_999), true, MSS);
        cc.on_mtu_update(1_500);
        assert_eq!(cc.window(), 6_000);
        assert_eq!(cc.initial_window(), 14_720);
        assert!(cc.epoch.is_none());
    }

    #[test]
    fn extreme_inputs_stay_finite() {
        let mut cc = Cubic::new(CubicConfig::default().loss_reduction_factor(f64::NAN), 0, ms(0));
        assert_eq!(cc.beta, DEFAULT_BETA);
        let huge = RttEstimator::new(Duration::MAX);
        let far = Instant::from_nanos(u64::MAX);
        cc.on_congestion_event(ms(1), ms(0), false, 0);
        cc.on_ack(far, ms(2), u64::MAX, false, &huge);
        cc.on_ack(far, ms(2), u64::MAX, false, &huge);
        // Clock going backwards, then an ACK far along a steep curve.
        cc.on_sent(Instant::ZERO, u64::MAX, 0);
        cc.on_ack(far, ms(3), 1, false, &huge);
        cc.on_mtu_update(u16::MAX);
        cc.on_ack(far, ms(3), u64::MAX, false, &huge);
        let epoch = cc.epoch.expect("in congestion avoidance");
        assert!(epoch.k.is_finite() && epoch.w_est.is_finite() && epoch.carry.is_finite());
        cc.on_congestion_event(far, ms(4), false, u64::MAX);
        assert!(cc.w_max.is_finite() && cc.cwnd_prior.is_finite());
        assert!(cc.window() >= cc.window.minimum());
    }
}
