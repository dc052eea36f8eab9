//! One direction of the simulated path and what it does to each datagram, in netem's order:
//! blackout, MTU, loss (random or Gilbert-Elliott), the bottleneck's drop-tail queue, then
//! duplication, corruption and delay (fixed plus jitter; a reordered packet is held back
//! longer so that later ones overtake it).

use crate::rng::SimRng;
use crate::scenario::{GilbertElliott, JitterDistribution, LinkSpec};
use crate::units::Rate;
use jetstream_core::{Duration, Instant};
use serde::Serialize;
use std::collections::VecDeque;

/// Default MTU of a link that does not set one (Ethernet).
const DEFAULT_MTU: usize = 1500;
/// Default hold-back of a reordered packet.
const DEFAULT_REORDER_DELAY: Duration = Duration::from_millis(5);
/// Default drop-tail queue of a rate-limited link.
const DEFAULT_QUEUE_BYTES: u64 = 64 << 10;

/// Why the link dropped a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Random or burst loss.
    Loss,
    /// The bottleneck's queue was full.
    QueueFull,
    /// Larger than the link's MTU.
    Mtu,
    /// The link was blacked out.
    Blackout,
}

/// A copy of a datagram on its way: when it arrives and, if corrupted, which bit flipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arrival {
    /// Arrival time at the far end.
    pub(crate) at: Instant,
    /// Bit index flipped in transit.
    pub(crate) flipped_bit: Option<usize>,
    /// Held back out of order (`reorder`); every other arrival of a direction comes in the
    /// order the datagrams were sent, at non-decreasing times.
    pub(crate) held_back: bool,
}

/// What happens to a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Dropped.
    Dropped(DropReason),
    /// Delivered once, or twice when duplicated.
    Delivered(Arrival, Option<Arrival>),
}

/// Counters of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Datagrams offered to the link.
    pub offered: u64,
    /// Copies delivered (duplicates included).
    pub delivered: u64,
    /// Dropped by random or burst loss.
    pub dropped_loss: u64,
    /// Dropped because the queue was full.
    pub dropped_queue: u64,
    /// Dropped for exceeding the MTU.
    pub dropped_mtu: u64,
    /// Dropped during a blackout.
    pub dropped_blackout: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Copies with a flipped bit.
    pub corrupted: u64,
    /// Largest queue backlog seen, in bytes.
    pub max_queue_bytes: u64,
}

/// One direction's settings with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
struct Params {
    delay: Duration,
    jitter: Duration,
    distribution: JitterDistribution,
    loss: f64,
    gilbert_elliott: Option<GilbertElliott>,
    duplicate: f64,
    corrupt: f64,
    reorder: f64,
    reorder_delay: Duration,
    rate: Option<Rate>,
    queue_bytes: u64,
    mtu: usize,
}

impl Params {
    fn from_spec(s: &LinkSpec) -> Self {
        Params {
            delay: s.delay.map_or(Duration::ZERO, |d| d.0),
            jitter: s.jitter.map_or(Duration::ZERO, |d| d.0),
            distribution: s.jitter_distribution.unwrap_or_default(),
            loss: s.loss.map_or(0.0, |p| p.0),
            gilbert_elliott: s.gilbert_elliott,
            duplicate: s.duplicate.map_or(0.0, |p| p.0),
            corrupt: s.corrupt.map_or(0.0, |p| p.0),
            reorder: s.reorder.map_or(0.0, |p| p.0),
            reorder_delay: s.reorder_delay.map_or(DEFAULT_REORDER_DELAY, |d| d.0),
            rate: s.rate,
            queue_bytes: s.queue.map_or(DEFAULT_QUEUE_BYTES, |q| q.0),
            mtu: s.mtu.map_or(DEFAULT_MTU, |m| m.0),
        }
    }
}

/// One direction of the path.
#[derive(Debug)]
pub(crate) struct LinkDirection {
    spec: LinkSpec,
    params: Params,
    /// Gilbert-Elliott state: in the bad (bursty) state.
    bad_state: bool,
    /// Departure times and sizes of datagrams queued at the bottleneck.
    queue: VecDeque<(Instant, u32)>,
    queued_bytes: u64,
    /// When the bottleneck finishes sending what is queued.
    busy_until: Instant,
    /// Blackouts in force (they may overlap).
    blackouts: u32,
    /// Latest arrival scheduled so far: jitter delays packets but keeps their order, as on a
    /// real FIFO link (netem reorders with jitter; `reorder` does that explicitly here).
    last_arrival: Instant,
    stats: LinkStats,
}

impl LinkDirection {
    /// A direction configured by `spec`.
    pub(crate) fn new(spec: LinkSpec) -> Self {
        LinkDirection {
            params: Params::from_spec(&spec),
            spec,
            bad_state: false,
            queue: VecDeque::new(),
            queued_bytes: 0,
            busy_until: Instant::ZERO,
            blackouts: 0,
            last_arrival: Instant::ZERO,
            stats: LinkStats::default(),
        }
    }

    /// Applies a timed change: the fields `change` sets replace the current ones.
    pub(crate) fn apply(&mut self, change: &LinkSpec) {
        self.spec = self.spec.overridden_by(change);
        self.params = Params::from_spec(&self.spec);
    }

    /// Starts (`true`) or ends a blackout.
    pub(crate) fn set_blackout(&mut self, on: bool) {
        if on {
            self.blackouts += 1;
        } else {
            self.blackouts = self.blackouts.saturating_sub(1);
        }
    }

    /// The bottleneck rate, if any.
    pub(crate) fn rate(&self) -> Option<Rate> {
        self.params.rate
    }

    /// The drop-tail queue's capacity in bytes.
    pub(crate) fn queue_capacity(&self) -> u64 {
        self.params.queue_bytes
    }

    /// Counters so far.
    pub(crate) fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Bytes waiting at the bottleneck at `now`.
    pub(crate) fn queue_bytes(&mut self, now: Instant) -> u64 {
        while let Some(&(departure, size)) = self.queue.front() {
            if departure > now {
                break;
            }
            self.queue.pop_front();
            self.queued_bytes -= u64::from(size);
        }
        self.queued_bytes
    }

    /// Decides the fate of a `size`-byte datagram entering the link at `now`.
    pub(crate) fn send(&mut self, now: Instant, size: usize, rng: &mut SimRng) -> Fate {
        self.stats.offered += 1;
        if self.blackouts > 0 {
            self.stats.dropped_blackout += 1;
            return Fate::Dropped(DropReason::Blackout);
        }
        if size > self.params.mtu {
            self.stats.dropped_mtu += 1;
            return Fate::Dropped(DropReason::Mtu);
        }
        if self.lose(rng) {
            self.stats.dropped_loss += 1;
            return Fate::Dropped(DropReason::Loss);
        }
        let departure = match self.params.rate {
            None => now,
            Some(rate) => {
                if self.queue_bytes(now) + size as u64 > self.params.queue_bytes {
                    self.stats.dropped_queue += 1;
                    return Fate::Dropped(DropReason::QueueFull);
                }
                let departure = self.busy_until.max(now) + rate.transmission_time(size);
                self.busy_until = departure;
                self.queue.push_back((departure, size as u32));
                self.queued_bytes += size as u64;
                self.stats.max_queue_bytes = self.stats.max_queue_bytes.max(self.queued_bytes);
                departure
            }
        };
        let first = self.copy(departure, size, rng);
        let second = rng.chance(self.params.duplicate).then(|| {
            self.stats.duplicated += 1;
            self.copy(departure, size, rng)
        });
        self.stats.delivered += 1 + u64::from(second.is_some());
        Fate::Delivered(first, second)
    }

    /// Random loss, then the Gilbert-Elliott chain (which moves on every packet).
    fn lose(&mut self, rng: &mut SimRng) -> bool {
        let random = rng.chance(self.params.loss);
        let burst = match self.params.gilbert_elliott {
            None => false,
            Some(ge) => {
                let flip = if self.bad_state { ge.r.0 } else { ge.p.0 };
                if rng.chance(flip) {
                    self.bad_state = !self.bad_state;
                }
                rng.chance(if self.bad_state { ge.loss_bad.0 } else { ge.loss_good.0 })
            }
        };
        random || burst
    }

    /// One copy leaving the bottleneck at `departure`: its delay and possible corruption.
    fn copy(&mut self, departure: Instant, size: usize, rng: &mut SimRng) -> Arrival {
        let held_back = rng.chance(self.params.reorder);
        let at = if held_back {
            // Held back outside the FIFO order: later packets overtake it.
            departure + self.transit_delay(rng) + self.params.reorder_delay
        } else {
            let at = (departure + self.transit_delay(rng)).max(self.last_arrival);
            self.last_arrival = at;
            at
        };
        let flipped_bit = rng.chance(self.params.corrupt).then(|| {
            self.stats.corrupted += 1;
            rng.below(size as u64 * 8) as usize
        });
        Arrival { at, flipped_bit, held_back }
    }

    /// The fixed delay plus a jitter sample, never below zero.
    fn transit_delay(&self, rng: &mut SimRng) -> Duration {
        let p = &self.params;
        let j = p.jitter.as_secs_f64();
        if j == 0.0 {
            return p.delay;
        }
        let offset = match p.distribution {
            JitterDistribution::Uniform => (rng.unit() * 2.0 - 1.0) * j,
            JitterDistribution::Normal => rng.normal() * j,
            // Pareto with shape 3 and scale 1 has mean 1.5, so 2 (X - 1) has mean 1.
            JitterDistribution::Pareto => ((1.0 - rng.unit()).powf(-1.0 / 3.0) - 1.0) * 2.0 * j,
        };
        Duration::from_secs_f64((p.delay.as_secs_f64() + offset).max(0.0))
    }

    /// The shortest transit time the delay settings allow (reordered packets aside).
    pub(crate) fn min_delay(&self) -> Duration {
        match self.params.distribution {
            JitterDistribution::Uniform => self.params.delay.saturating_sub(self.params.jitter),
            JitterDistribution::Normal => Duration::ZERO,
            JitterDistribution::Pareto => self.params.delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Mtu, Probability};
    use crate::units::{ByteSize, SimDuration};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn spec() -> LinkSpec {
        LinkSpec { delay: Some(SimDuration(ms(10))), ..Default::default() }
    }

    fn arrivals(fate: Fate) -> Vec<Arrival> {
        match fate {
            Fate::Dropped(_) => vec![],
            Fate::Delivered(a, b) => std::iter::once(a).chain(b).collect(),
        }
    }

    #[test]
    fn a_clean_link_delivers_after_its_delay() {
        let mut link = LinkDirection::new(spec());
        let mut rng = SimRng::new(1);
        let now = Instant::from_millis(5);
        assert_eq!(
            arrivals(link.send(now, 1200, &mut rng)),
            vec![Arrival { at: now + ms(10), flipped_bit: None, held_back: false }]
        );
    }

    #[test]
    fn loss_rate_matches_the_setting() {
        let mut link = LinkDirection::new(LinkSpec { loss: Some(Probability(0.2)), ..spec() });
        let mut rng = SimRng::new(2);
        let lost =
            (0..20_000).filter(|_| link.send(Instant::ZERO, 100, &mut rng) == Fate::Dropped(DropReason::Loss)).count();
        assert!((3_600..4_400).contains(&lost), "{lost}");
        assert_eq!(link.stats().dropped_loss, lost as u64);
    }

    #[test]
    fn gilbert_elliott_losses_come_in_bursts() {
        let ge = GilbertElliott {
            p: Probability(0.01),
            r: Probability(0.25),
            loss_good: Probability(0.0),
            loss_bad: Probability(1.0),
        };
        let mut link = LinkDirection::new(LinkSpec { gilbert_elliott: Some(ge), ..spec() });
        let mut rng = SimRng::new(3);
        let lost: Vec<bool> =
            (0..50_000).map(|_| matches!(link.send(Instant::ZERO, 100, &mut rng), Fate::Dropped(_))).collect();
        let losses = lost.iter().filter(|&&l| l).count();
        let bursts = lost.windows(2).filter(|w| !w[0] && w[1]).count();
        // Stationary loss p/(p+r) = 3.8%; mean burst length 1/r = 4.
        assert!((1_400..2_500).contains(&losses), "{losses}");
        let mean_burst = losses as f64 / bursts as f64;
        assert!((3.0..5.0).contains(&mean_burst), "{mean_burst}");
    }

    #[test]
    fn the_bottleneck_serialises_and_drops_tail() {
        // 8 Mbit/s: 1000 bytes take 1 ms; room for three.
        let s = LinkSpec { rate: Some(Rate(8_000_000)), queue: Some(ByteSize(3000)), ..spec() };
        let mut link = LinkDirection::new(s);
        let mut rng = SimRng::new(4);
        let t0 = Instant::ZERO;
        let times: Vec<_> = (0..4).map(|_| arrivals(link.send(t0, 1000, &mut rng))).collect();
        assert_eq!(times[0][0].at, t0 + ms(11));
        assert_eq!(times[2][0].at, t0 + ms(13));
        assert!(times[3].is_empty(), "the fourth finds the queue full");
        assert_eq!(link.queue_bytes(t0 + ms(2)), 1000);
        assert_eq!(link.stats().max_queue_bytes, 3000);
    }

    #[test]
    fn mtu_blackout_duplication_and_corruption() {
        let mut link = LinkDirection::new(LinkSpec { mtu: Some(Mtu(1300)), ..spec() });
        let mut rng = SimRng::new(5);
        assert_eq!(link.send(Instant::ZERO, 1400, &mut rng), Fate::Dropped(DropReason::Mtu));
        link.set_blackout(true);
        assert_eq!(link.send(Instant::ZERO, 100, &mut rng), Fate::Dropped(DropReason::Blackout));
        link.set_blackout(false);
        link.apply(&LinkSpec {
            duplicate: Some(Probability(1.0)),
            corrupt: Some(Probability(1.0)),
            ..Default::default()
        });
        let copies = arrivals(link.send(Instant::ZERO, 100, &mut rng));
        assert_eq!(copies.len(), 2);
        assert!(copies.iter().all(|c| c.flipped_bit.is_some_and(|b| b < 800)));
        assert_eq!(link.min_delay(), ms(10), "a change keeps what it does not name");
    }

    #[test]
    fn jitter_spreads_delays_within_bounds_and_reordering_holds_packets_back() {
        for distribution in [JitterDistribution::Uniform, JitterDistribution::Normal, JitterDistribution::Pareto] {
            let s = LinkSpec { jitter: Some(SimDuration(ms(30))), jitter_distribution: Some(distribution), ..spec() };
            let mut link = LinkDirection::new(s);
            let mut rng = SimRng::new(6);
            // A second apart, so the FIFO order never holds a packet back.
            let delays: Vec<Duration> = (0..2000u64)
                .flat_map(|i| {
                    let sent = Instant::from_millis(i * 1000);
                    arrivals(link.send(sent, 100, &mut rng)).into_iter().map(move |a| a.at - sent)
                })
                .collect();
            let mean = delays.iter().map(Duration::as_secs_f64).sum::<f64>() / delays.len() as f64;
            assert!(delays.iter().all(|d| *d <= ms(10) + ms(3000)), "{distribution:?}");
            assert!(mean > 0.005 && mean < 0.1, "{distribution:?} mean {mean}");
            assert!(delays.iter().all(|d| *d >= link.min_delay()), "{distribution:?}");
        }
        let s = LinkSpec { jitter: Some(SimDuration(ms(8))), ..spec() };
        let mut link = LinkDirection::new(s);
        let mut rng = SimRng::new(8);
        let times: Vec<Instant> = (0..500u64)
            .flat_map(|i| arrivals(link.send(Instant::from_micros(i * 100), 100, &mut rng)))
            .map(|a| a.at)
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "jitter alone never reorders");
        let mut link = LinkDirection::new(LinkSpec { reorder: Some(Probability(0.5)), ..spec() });
        let mut rng = SimRng::new(7);
        let times: Vec<Instant> = (0..100u64)
            .flat_map(|i| arrivals(link.send(Instant::from_micros(i * 100), 100, &mut rng)))
            .map(|a| a.at)
            .collect();
        assert!(times.windows(2).any(|w| w[0] > w[1]), "held-back packets are overtaken");
        assert!(times.iter().enumerate().all(|(i, t)| *t >= Instant::from_micros(i as u64 * 100) + ms(10)));
    }
}
