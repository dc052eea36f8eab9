//! Pluggable congestion control.
//!
//! A connection owns one [`Controller`] per path, built by the [`ControllerFactory`] in its
//! configuration, and asks it for the congestion window: the number of bytes that may be in
//! flight. The connection reports sends, acknowledgements and loss; the controller never reads
//! a clock and never sees packets, only byte counts and the caller's [`Instant`]s, so it runs
//! unchanged under a simulator.
//!
//! Two loss-based controllers are provided: [`NewReno`] (RFC 9002 §7), the baseline QUIC
//! behaviour, and [`Cubic`] (RFC 9438), which recovers its window faster on paths with a large
//! bandwidth-delay product. Both share slow start (with HyStart++, RFC 9406, as an option),
//! the recovery period and the persistent-congestion collapse of RFC 9002 §7.3–§7.6; they
//! differ in how much a loss reduces the window and how the window grows in congestion
//! avoidance.

use core::fmt;

use crate::connection::rtt::RttEstimator;
use crate::time::Instant;

mod cubic;
mod hystart;
mod new_reno;

pub use cubic::{Cubic, CubicConfig};
use hystart::{CSS_GROWTH_DIVISOR, Growth, HyStart};
pub use new_reno::{NewReno, NewRenoConfig};

/// A congestion controller for one path.
///
/// All sizes are in bytes of UDP payload, the unit of the connection's bytes-in-flight count.
pub trait Controller: Send + fmt::Debug {
    /// A packet of `bytes` was sent at `now`; `in_flight` is the bytes in flight including it.
    ///
    /// Controllers that need to detect idle periods use this; the default does nothing.
    fn on_sent(&mut self, now: Instant, bytes: u64, in_flight: u64) {
        let _ = (now, bytes, in_flight);
    }

    /// A packet of `bytes`, sent at `sent`, was newly acknowledged at `now`.
    ///
    /// `app_limited` is true when the window was under-used: the packet left with nothing more
    /// queued, or less than half the window was in flight when its ACK arrived (too little
    /// data, or flow control). Such ACKs say nothing about spare path capacity, so the window
    /// must not grow on them (RFC 9002 §7.8, RFC 7661). `rtt` already includes the sample
    /// taken from this ACK, if any.
    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, app_limited: bool, rtt: &RttEstimator);

    /// Congestion was detected at `now`: packets totalling `lost_bytes` were declared lost, or
    /// an ECN-CE mark was reported. `sent` is the send time of the latest such packet.
    ///
    /// Only a packet sent after the current recovery period started begins a new congestion
    /// event and reduces the window, so one burst of losses costs one reduction per round trip
    /// (RFC 9002 §7.3.2). `is_persistent_congestion` collapses the window to the minimum
    /// regardless (RFC 9002 §7.6.2).
    fn on_congestion_event(&mut self, now: Instant, sent: Instant, is_persistent_congestion: bool, lost_bytes: u64);

    /// The path's maximum datagram size changed (path MTU discovery).
    ///
    /// The minimum and initial windows and the congestion-avoidance increment are multiples of
    /// the datagram size and scale with it. The current window is a byte count measured on the
    /// path and is kept, except that it is raised to the new minimum if needed.
    fn on_mtu_update(&mut self, new_mtu: u16);

    /// The congestion window: how many bytes may be in flight.
    fn window(&self) -> u64;

    /// The window this controller started with, at the current datagram size.
    fn initial_window(&self) -> u64;

    /// A boxed copy of this controller with all its state.
    fn clone_box(&self) -> Box<dyn Controller>;

    /// Which phase the controller is in, for metrics and logs.
    fn state(&self) -> ControllerState;
}

impl Clone for Box<dyn Controller> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// Builds a fresh [`Controller`] for each new path; held in the connection configuration.
pub trait ControllerFactory: Send + Sync + fmt::Debug {
    /// A controller for a path starting at `now` with maximum datagram size `current_mtu`.
    fn build(&self, now: Instant, current_mtu: u16) -> Box<dyn Controller>;
}

/// The phase of a congestion controller (RFC 9002 §7.3), for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ControllerState {
    /// The window grows by the acknowledged bytes: doubling every round trip.
    SlowStart,
    /// A congestion event reduced the window and no packet sent since has been acknowledged.
    Recovery,
    /// The window grows slowly (linearly for NewReno, along the cubic curve for CUBIC).
    CongestionAvoidance,
}

impl ControllerState {
    /// A stable snake_case label: `"slow_start"`, `"recovery"` or `"congestion_avoidance"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ControllerState::SlowStart => "slow_start",
            ControllerState::Recovery => "recovery",
            ControllerState::CongestionAvoidance => "congestion_avoidance",
        }
    }
}

impl fmt::Display for ControllerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Default initial window, in packets (RFC 9002 §7.2).
const DEFAULT_INITIAL_WINDOW_PACKETS: u32 = 10;
/// Default minimum window, in packets: twice RFC 9002's `kMinimumWindow` (§7.2).
///
/// Four is the smallest window in which the packet threshold (a packet is lost once three
/// later ones are acknowledged, §6.1.1) can see a loss: from 2 or 3 packets, a loss waits
/// for the time threshold or a probe timeout, each at least a timer tick. On a path with
/// random (not congestive) loss and a short round trip, where each loss starts a new
/// congestion event and the window sits at its floor, that wait was the dominant cost:
/// at 10% loss on a 100 Mbit/s link the floor of 2 delivered 77 Mbit/s and 4 delivers 83
/// (BENCHMARKS.md, "Lossy link"). RFC 5827's early retransmit answers the same problem by
/// lowering the threshold instead; a floor of 4 packets is also BBR's.
const DEFAULT_MINIMUM_WINDOW_PACKETS: u32 = 4;

/// The window-size settings both provided controllers share.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WindowConfig {
    initial_packets: u32,
    minimum_packets: u32,
    /// Whether the first slow start ends on rising RTTs (HyStart++, RFC 9406) rather than
    /// only on loss.
    hystart: bool,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            initial_packets: DEFAULT_INITIAL_WINDOW_PACKETS,
            minimum_packets: DEFAULT_MINIMUM_WINDOW_PACKETS,
            hystart: false,
        }
    }
}

/// Clamps a configured reduction factor to `[0, 1]`, replacing NaN by `default`.
fn sanitize_factor(factor: f64, default: f64) -> f64 {
    if factor.is_nan() { default } else { factor.clamp(0.0, 1.0) }
}

/// `window × factor` in bytes, rounded, for a factor in `[0, 1]`. The cast saturates, so no input can
/// panic; windows are far below 2^53 bytes, where `f64` is exact.
fn scale(window: u64, factor: f64) -> u64 {
    (window as f64 * factor).round() as u64
}

/// Window state and the RFC 9002 §7.3 state machine shared by the loss-based controllers:
/// slow start, the recovery period and the persistent-congestion collapse.
#[derive(Debug, Clone)]
struct Window {
    config: WindowConfig,
    /// Maximum datagram size in bytes, at least 1 so the window can never reach zero.
    mtu: u64,
    /// The congestion window in bytes, never below [`Window::minimum`].
    cwnd: u64,
    /// Slow start threshold; `u64::MAX` until the first congestion event.
    ssthresh: u64,
    /// `congestion_recovery_start_time`; `None` when no recovery period applies.
    recovery_start: Option<Instant>,
    /// Whether no packet sent after `recovery_start` has been acknowledged yet.
    in_recovery: bool,
    /// HyStart++ while the first slow start lasts; any congestion event ends it.
    hystart: Option<HyStart>,
}

impl Window {
    fn new(config: WindowConfig, mtu: u16) -> Self {
        let mut window = Window {
            config,
            mtu: u64::from(mtu.max(1)),
            cwnd: 0,
            ssthresh: u64::MAX,
            recovery_start: None,
            in_recovery: false,
            hystart: config.hystart.then(HyStart::default),
        };
        window.cwnd = window.initial().max(window.minimum());
        window
    }

    /// RFC 9002 §7.2: `min(10 × mtu, max(2 × mtu, 14720))`. For a configured packet count
    /// `n` this generalises to `min(n × mtu, max(2 × mtu, n × 1472))`: 14 720 bytes is ten
    /// 1472-byte datagrams, so large datagrams cannot inflate the initial burst beyond what
    /// Ethernet-sized ones would.
    fn initial(&self) -> u64 {
        let packets = u64::from(self.config.initial_packets);
        (packets * self.mtu).min((2 * self.mtu).max(packets * 1472))
    }

    /// The floor a congestion event can push the window to, at least one datagram.
    fn minimum(&self) -> u64 {
        u64::from(self.config.minimum_packets.max(1)) * self.mtu
    }

    fn set_mtu(&mut self, mtu: u16) {
        self.mtu = u64::from(mtu.max(1));
        self.cwnd = self.cwnd.max(self.minimum());
    }

    fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// Grows the window in slow start for a packet of `bytes`, sent at `sent`, acknowledged
    /// at `now`: by those bytes, by a quarter of them in HyStart++'s conservative phase, or
    /// not at all when HyStart++ ends slow start (the window becomes `ssthresh`). Returns
    /// whether slow start ended here, without a loss.
    fn grow_in_slow_start(&mut self, now: Instant, sent: Instant, bytes: u64, rtt: &RttEstimator) -> bool {
        let growth = self.hystart.as_mut().map_or(Growth::Full, |h| h.on_ack(now, sent, rtt));
        match growth {
            Growth::Full => self.cwnd = self.cwnd.saturating_add(bytes),
            Growth::Conservative => self.cwnd = self.cwnd.saturating_add(bytes / CSS_GROWTH_DIVISOR),
            Growth::Stop => {
                self.ssthresh = self.cwnd;
                self.hystart = None;
            }
        }
        growth == Growth::Stop
    }

    /// `InCongestionRecovery(sent_time)` of RFC 9002 Appendix B.5.
    fn sent_during_recovery(&self, sent: Instant) -> bool {
        self.recovery_start.is_some_and(|start| sent <= start)
    }

    /// Gate for window growth on an ACK (RFC 9002 §7.3.2, §7.8). Packets sent before the
    /// current recovery period are ignored; the first later one ends recovery. App-limited ACKs
    /// never grow the window.
    fn ack_may_grow(&mut self, sent: Instant, app_limited: bool) -> bool {
        if self.sent_during_recovery(sent) {
            return false;
        }
        self.in_recovery = false;
        !app_limited
    }

    /// Starts a recovery period at `now` unless the packet sent at `sent` belongs to the
    /// current one; returns whether this is a new congestion event that must reduce the window.
    fn begin_recovery(&mut self, now: Instant, sent: Instant) -> bool {
        if self.sent_during_recovery(sent) {
            return false;
        }
        self.recovery_start = Some(now);
        self.in_recovery = true;
        true
    }

    /// Completes a multiplicative decrease: the new `ssthresh`, and the window dropped to it but
    /// not below the minimum (RFC 9002 §7.3.2).
    fn reduce_to(&mut self, ssthresh: u64) {
        self.hystart = None;
        self.ssthresh = ssthresh;
        self.cwnd = ssthresh.max(self.minimum());
    }

    /// RFC 9002 §7.6.2: after persistent congestion the window restarts from the minimum in
    /// slow start, keeping `ssthresh`, and no recovery period applies any more.
    fn collapse(&mut self) {
        self.cwnd = self.minimum();
        self.recovery_start = None;
        self.in_recovery = false;
    }

    fn state(&self) -> ControllerState {
        if self.in_recovery {
            ControllerState::Recovery
        } else if self.in_slow_start() {
            ControllerState::SlowStart
        } else {
            ControllerState::CongestionAvoidance
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_window_follows_rfc_9002() {
        let window = |mtu| Window::new(WindowConfig::default(), mtu);
        assert_eq!(window(1200).cwnd, 12_000);
        assert_eq!(window(1500).cwnd, 14_720);
        // RFC 9002 gives 18,000 for jumbo frames, but the window never starts below its floor.
        assert_eq!(window(9000).cwnd, 36_000);
        assert_eq!(window(1200).minimum(), 4_800);
    }

    #[test]
    fn zero_sizes_cannot_produce_a_zero_window() {
        let config = WindowConfig { initial_packets: 0, minimum_packets: 0, hystart: false };
        let mut window = Window::new(config, 0);
        assert_eq!(window.cwnd, 1);
        window.reduce_to(0);
        assert_eq!(window.cwnd, 1);
        window.set_mtu(0);
        assert_eq!(window.cwnd, 1);
    }

    #[test]
    fn recovery_period_state_machine() {
        let mut window = Window::new(WindowConfig::default(), 1200);
        let t = |ms| Instant::from_millis(ms);
        assert_eq!(window.state(), ControllerState::SlowStart);
        assert!(window.begin_recovery(t(100), t(50)));
        window.reduce_to(6_000);
        assert_eq!(window.state(), ControllerState::Recovery);
        assert!(!window.begin_recovery(t(110), t(100)), "sent at the recovery start: same event");
        assert!(!window.ack_may_grow(t(90), false), "sent before recovery: no growth");
        assert_eq!(window.state(), ControllerState::Recovery);
        assert!(window.ack_may_grow(t(101), false));
        assert_eq!(window.state(), ControllerState::CongestionAvoidance);
        assert!(!window.ack_may_grow(t(102), true), "app-limited: no growth");
        window.collapse();
        assert_eq!(window.state(), ControllerState::SlowStart);
        assert!(window.begin_recovery(t(120), t(60)), "collapse ends the recovery period");
    }

    /// A congestion event ends HyStart++ for good: the slow start after a persistent-
    /// congestion collapse grows by every acknowledged byte, however RTTs rise.
    #[test]
    fn a_congestion_event_ends_hystart_for_good() {
        let mut window = Window::new(WindowConfig { hystart: true, ..WindowConfig::default() }, 1200);
        let t = |ms| Instant::from_millis(ms);
        assert!(window.hystart.is_some());
        assert!(window.begin_recovery(t(10), t(5)));
        window.reduce_to(1_000_000);
        assert!(window.hystart.is_none());
        window.collapse();
        assert_eq!(window.state(), ControllerState::SlowStart);
        let mut rtt = RttEstimator::new(crate::Duration::from_millis(100));
        for i in 0..100 {
            rtt.update(crate::Duration::ZERO, crate::Duration::from_millis(20 + i), true);
            let before = window.cwnd;
            assert!(!window.grow_in_slow_start(t(100 + i), t(50 + i), 1200, &rtt));
            assert_eq!(window.cwnd, before + 1200, "ack {i}");
        }
    }

    #[test]
    fn boxed_controllers_clone_their_state() {
        let mut original: Box<dyn Controller> = NewRenoConfig::default().build(Instant::ZERO, 1200);
        let copy = original.clone();
        original.on_congestion_event(Instant::from_millis(1), Instant::ZERO, true, 1200);
        assert_eq!(copy.window(), 12_000);
        assert_eq!(original.window(), 4_800);
        assert_eq!(ControllerState::CongestionAvoidance.to_string(), "congestion_avoidance");
    }
}
