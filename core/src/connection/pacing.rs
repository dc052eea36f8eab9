//! Packet pacing (RFC 9002 §7.7).
//!
//! A congestion window says how much may be in flight, not how fast to send it. Releasing a
//! whole window at once produces line-rate bursts that overflow shallow router queues and cause
//! the very losses congestion control reacts to. [`Pacer`] spreads transmissions over the RTT
//! with a token bucket: tokens (bytes) accrue at the pacing rate, a packet may leave when enough
//! tokens are available, and the bucket's capacity bounds how large a burst can get after a
//! pause.
//!
//! Everything is integer arithmetic in `u128` on nanoseconds and bytes: no floats, no
//! allocation, O(1) per call, and products saturate instead of overflowing.

use crate::time::{Duration, Instant};

/// Pacing gain `N` of RFC 9002 §7.7 as the fraction 5/4: the rate is `N × cwnd / smoothed_rtt`.
///
/// Pacing at exactly `cwnd / RTT` would leave the window partly unused whenever the RTT dips
/// below its average or the sender's timer fires late, and the sender could then never catch
/// up; 25% headroom lets it fill the window within one RTT while still spreading packets out.
const GAIN_NUM: u128 = 5;
/// Denominator of the pacing gain, see [`GAIN_NUM`].
const GAIN_DEN: u128 = 4;

/// The bucket holds roughly this much sending time worth of tokens.
///
/// The host wakes up to send when [`Pacer::delay`] says so, but OS timers are often only
/// accurate to about a millisecond. If the bucket held less than one timer tick's worth of
/// data, each late wake-up would forfeit sending opportunities and cap throughput well below the
/// window; two milliseconds of data absorbs that slack. The interval, like the clamps below,
/// follows the approach of quinn-proto's pacer.
const BURST_INTERVAL_NANOS: u128 = 2_000_000;
/// Lower bound on the burst, in packets: RFC 9002 §7.7 allows bursts up to the initial window
/// (ten packets, §7.2), and smaller buckets only cost wake-ups on slow paths.
const MIN_BURST_PACKETS: u64 = 10;
/// Upper bound on the burst, in packets, so that fast paths still see their traffic spread out.
const MAX_BURST_PACKETS: u64 = 256;

/// Token-bucket pacer for one path.
///
/// Usage per packet: ask [`delay`](Self::delay); if it returns `None` send now and report the
/// size with [`on_sent`](Self::on_sent), otherwise arm a timer for the returned instant and ask
/// again when it fires. The window and RTT are passed on every call, so the rate follows the
/// congestion controller without any notification.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    /// Bytes that may be sent right now, never more than the current burst capacity.
    tokens: u64,
    /// The instant up to which tokens have been credited.
    prev: Instant,
}

impl Pacer {
    /// A pacer with a full bucket, so a new path can send its first burst at once.
    pub(crate) fn new(smoothed_rtt: Duration, window: u64, mtu: u16, now: Instant) -> Self {
        Pacer { tokens: burst_capacity(smoothed_rtt.as_nanos(), window, mtu), prev: now }
    }

    /// When a packet of `bytes_to_send` bytes may be sent: `None` means now, `Some(t)` means
    /// wait until `t` (and then ask again).
    ///
    /// Pacing is disabled (always `None`) while the RTT or the window is zero: without an RTT
    /// there is no rate to pace at, and with a zero window the congestion controller already
    /// blocks sending. A packet larger than the whole bucket only waits for a full bucket, so it
    /// is never starved.
    pub(crate) fn delay(
        &mut self,
        smoothed_rtt: Duration,
        bytes_to_send: u64,
        mtu: u16,
        window: u64,
        now: Instant,
    ) -> Option<Instant> {
        let rtt = smoothed_rtt.as_nanos();
        if rtt == 0 || window == 0 {
            return None;
        }
        let capacity = burst_capacity(rtt, window, mtu);

        // Credit tokens for the time since `prev` at GAIN × window / rtt bytes per nanosecond.
        // If less than a byte was earned, `prev` stays put so the fraction is not lost.
        let elapsed = (now - self.prev).as_nanos();
        let earned = elapsed.saturating_mul(u128::from(window)).saturating_mul(GAIN_NUM) / (rtt * GAIN_DEN);
        if earned > 0 {
            self.tokens = u64::try_from(u128::from(self.tokens).saturating_add(earned)).unwrap_or(u64::MAX);
            self.prev = now;
        }
        self.tokens = self.tokens.min(capacity);

        let needed = bytes_to_send.min(capacity);
        if self.tokens >= needed {
            return None;
        }
        // Time to earn the missing bytes, rounded up so that the caller, waking exactly then,
        // finds enough tokens.
        let deficit = u128::from(needed - self.tokens);
        let wait = (deficit.saturating_mul(rtt).saturating_mul(GAIN_DEN)).div_ceil(u128::from(window) * GAIN_NUM);
        Some(self.prev + Duration::from_nanos(u64::try_from(wait).unwrap_or(u64::MAX)))
    }

    /// Takes `bytes` worth of tokens for a packet that was just sent.
    pub(crate) fn on_sent(&mut self, bytes: u64) {
        self.tokens = self.tokens.saturating_sub(bytes);
    }

    /// The pacing rate in bits per second, for metrics; 0 when the RTT is zero (unpaced).
    pub(crate) fn pacing_rate_bps(&self, smoothed_rtt: Duration, window: u64) -> u64 {
        let rtt = smoothed_rtt.as_nanos();
        if rtt == 0 {
            return 0;
        }
        let bits_per_sec = u128::from(window).saturating_mul(8 * GAIN_NUM * 1_000_000_000) / (rtt * GAIN_DEN);
        u64::try_from(bits_per_sec).unwrap_or(u64::MAX)
    }
}

/// Bucket size in bytes: [`BURST_INTERVAL_NANOS`] worth of the window, clamped to between
/// [`MIN_BURST_PACKETS`] and [`MAX_BURST_PACKETS`] full-size packets. A zero RTT gets the
/// largest burst.
fn burst_capacity(rtt_nanos: u128, window: u64, mtu: u16) -> u64 {
    let mtu = u64::from(mtu);
    let min = MIN_BURST_PACKETS * mtu;
    let max = MAX_BURST_PACKETS * mtu;
    if rtt_nanos == 0 {
        return max;
    }
    let per_interval = u128::from(window) * BURST_INTERVAL_NANOS / rtt_nanos;
    u64::try_from(per_interval).unwrap_or(u64::MAX).clamp(min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MTU: u16 = 1200;
    const RTT: Duration = Duration::from_millis(100);
    /// 100 packets per RTT.
    const WINDOW: u64 = 120_000;

    /// Sends packets as soon as the pacer allows, returning their departure times.
    fn departures(pacer: &mut Pacer, mut now: Instant, count: usize) -> Vec<Instant> {
        let mut times = Vec::with_capacity(count);
        while times.len() < count {
            match pacer.delay(RTT, u64::from(MTU), MTU, WINDOW, now) {
                None => {
                    pacer.on_sent(u64::from(MTU));
                    times.push(now);
                }
                Some(t) => {
                    assert!(t > now, "a pacer delay must lie in the future");
                    now = t;
                }
            }
        }
        times
    }

    #[test]
    fn burst_then_evenly_spaced_at_gain_times_window_per_rtt() {
        let start = Instant::from_millis(1_000);
        let mut pacer = Pacer::new(RTT, WINDOW, MTU, start);
        let times = departures(&mut pacer, start, 30);
        // 2 ms of this window is 2 400 bytes, below the ten-packet floor.
        assert!(times[..10].iter().all(|&t| t == start), "initial burst of 10 packets");
        // rtt / (window * 1.25 / mtu) = 100 ms / 125 = 800 µs between packets.
        let spacing = Duration::from_micros(800);
        for pair in times[10..].windows(2) {
            assert_eq!(pair[1] - pair[0], spacing);
        }
        assert_eq!(times[10] - start, spacing);
    }

    #[test]
    fn idle_time_refills_at_most_one_burst() {
        let start = Instant::ZERO;
        let mut pacer = Pacer::new(RTT, WINDOW, MTU, start);
        departures(&mut pacer, start, 25);
        let later = start + Duration::from_secs(10);
        let times = departures(&mut pacer, later, 12);
        assert!(times[..10].iter().all(|&t| t == later));
        assert_eq!(times[10] - later, Duration::from_micros(800));
    }

    #[test]
    fn burst_grows_with_rate_up_to_its_cap() {
        let mtu = u64::from(MTU);
        // 2 ms of a 12 MB window over 20 ms is 1.2 MB, above the 256-packet cap.
        let pacer_capacity = |window: u64| burst_capacity(Duration::from_millis(20).as_nanos(), window, MTU);
        assert_eq!(pacer_capacity(12_000_000), 256 * mtu);
        assert_eq!(pacer_capacity(1_200_000), 100 * mtu);
        assert_eq!(pacer_capacity(12_000), 10 * mtu);
    }

    #[test]
    fn oversized_packet_waits_for_full_bucket_only() {
        let start = Instant::ZERO;
        let mut pacer = Pacer::new(RTT, WINDOW, MTU, start);
        pacer.on_sent(u64::MAX);
        // 12 000 bytes of capacity take 8 ms to earn at 150 000 bytes / 100 ms.
        let t = pacer.delay(RTT, 64_000, MTU, WINDOW, start).expect("bucket is empty");
        assert_eq!(t - start, Duration::from_millis(8));
        assert_eq!(pacer.delay(RTT, 64_000, MTU, WINDOW, t), None);
    }

    #[test]
    fn tiny_elapsed_times_are_not_lost_to_rounding() {
        let start = Instant::ZERO;
        let mut pacer = Pacer::new(RTT, WINDOW, MTU, start);
        pacer.on_sent(u64::MAX);
        // Polling every nanosecond earns nothing per poll (1.5 bytes per µs) but must not
        // postpone the departure.
        let due = pacer.delay(RTT, 1_200, MTU, WINDOW, start).expect("bucket is empty");
        for n in 1..200 {
            assert_eq!(pacer.delay(RTT, 1_200, MTU, WINDOW, Instant::from_nanos(n)), Some(due));
        }
    }

    #[test]
    fn zero_rtt_or_window_disables_pacing_without_panicking() {
        let now = Instant::from_millis(5);
        let mut pacer = Pacer::new(Duration::ZERO, 0, MTU, now);
        assert_eq!(pacer.delay(Duration::ZERO, 1_200, MTU, WINDOW, now), None);
        assert_eq!(pacer.delay(RTT, 1_200, MTU, 0, now), None);
        assert_eq!(pacer.delay(RTT, 1_200, 0, WINDOW, now), None);
        assert_eq!(pacer.pacing_rate_bps(Duration::ZERO, WINDOW), 0);
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let far = Instant::from_nanos(u64::MAX);
        let mut pacer = Pacer::new(Duration::from_nanos(1), u64::MAX, u16::MAX, Instant::ZERO);
        pacer.on_sent(u64::MAX);
        assert_eq!(pacer.delay(Duration::from_nanos(1), u64::MAX, u16::MAX, u64::MAX, far), None);
        pacer.on_sent(u64::MAX);
        let t = pacer.delay(Duration::MAX, u64::MAX, u16::MAX, 1, far);
        assert_eq!(t, Some(far), "an unreachable deadline saturates at the far future");
        assert_eq!(pacer.pacing_rate_bps(Duration::from_nanos(1), u64::MAX), u64::MAX);
    }

    #[test]
    fn rate_for_metrics() {
        let pacer = Pacer::new(RTT, 125_000, MTU, Instant::ZERO);
        // 125 kB per 100 ms is 10 Mbit/s; with the 5/4 gain, 12.5 Mbit/s.
        assert_eq!(pacer.pacing_rate_bps(RTT, 125_000), 12_500_000);
    }
}
