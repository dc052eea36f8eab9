//! What the sending side of a QUIC-like connection (ours or quinn) reported about a
//! transfer: losses, congestion reactions and the window it kept, sampled while the
//! transfer runs. These explain a goodput figure on a lossy path (a window held small by
//! congestion events, a long RTT from a full queue).

use std::future::Future;
use std::time::Duration;

use futures_lite::FutureExt;

use super::TIME_LIMIT;

/// How often the sender's window and RTT are sampled during a transfer.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(10);

/// The sender's counters at the end of a transfer, plus means over the transfer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SenderStats {
    /// Packets sent (handshake and acknowledgements included).
    pub packets_sent: u64,
    /// Packets the sender's loss detection declared lost.
    pub packets_lost: u64,
    /// Lost packets whose contents were sent again (`None` where the implementation does
    /// not count them: quinn resends the frames of every lost packet but has no counter).
    pub packets_retransmitted: Option<u64>,
    /// Congestion-window reductions.
    pub congestion_events: u64,
    /// Probe timeouts that fired (`None` where the implementation does not count them, as
    /// quinn 0.11 does not).
    pub probe_timeouts: Option<u64>,
    /// Mean congestion window over the samples, in bytes.
    pub mean_cwnd: u64,
    /// Congestion window at the end, in bytes.
    pub final_cwnd: u64,
    /// Mean smoothed RTT over the samples.
    pub mean_rtt: Duration,
    /// Minimum RTT seen.
    pub min_rtt: Duration,
    /// Samples taken (one per 10 ms of transfer).
    pub samples: u32,
}

/// One sample of the sender's window and smoothed RTT.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) cwnd: u64,
    pub(crate) rtt: Duration,
}

/// Sums of the samples taken so far.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    samples: u32,
    cwnd_sum: u128,
    rtt_sum: Duration,
}

impl Trace {
    fn add(&mut self, sample: Sample) {
        self.samples += 1;
        self.cwnd_sum += u128::from(sample.cwnd);
        self.rtt_sum += sample.rtt;
    }

    /// `last` (the end-of-transfer counters) with this trace's means filled in.
    pub(crate) fn finish(&self, last: SenderStats) -> SenderStats {
        if self.samples == 0 {
            return SenderStats { mean_cwnd: last.final_cwnd, samples: 0, ..last };
        }
        SenderStats {
            mean_cwnd: u64::try_from(self.cwnd_sum / u128::from(self.samples)).unwrap_or(u64::MAX),
            mean_rtt: self.rtt_sum / self.samples,
            samples: self.samples,
            ..last
        }
    }
}

/// Runs `work`, sampling the sender every [`SAMPLE_INTERVAL`] with `sample` (timed by
/// `sleep`, the caller's runtime timer) until it completes.
pub(crate) async fn traced<T, S: Future<Output = ()>>(
    work: impl Future<Output = T>,
    sleep: impl Fn(Duration) -> S,
    mut sample: impl FnMut() -> Option<Sample>,
) -> (T, Trace) {
    let mut trace = Trace::default();
    let max_samples = TIME_LIMIT.as_millis() / SAMPLE_INTERVAL.as_millis();
    let result = work
        .or(async {
            for _ in 0..max_samples {
                sleep(SAMPLE_INTERVAL).await;
                if let Some(s) = sample() {
                    trace.add(s);
                }
            }
            // Past the time limit the transfer has failed anyway; stop sampling.
            std::future::pending().await
        })
        .await;
    (result, trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_cover_every_sample() {
        let mut trace = Trace::default();
        trace.add(Sample { cwnd: 1000, rtt: Duration::from_millis(2) });
        trace.add(Sample { cwnd: 3000, rtt: Duration::from_millis(4) });
        let last = SenderStats { final_cwnd: 5000, packets_lost: 7, ..SenderStats::default() };
        let stats = trace.finish(last);
        assert_eq!((stats.mean_cwnd, stats.mean_rtt, stats.samples), (2000, Duration::from_millis(3), 2));
        assert_eq!((stats.final_cwnd, stats.packets_lost), (5000, 7));
    }

    #[test]
    fn without_samples_the_mean_window_is_the_final_one() {
        let stats = Trace::default().finish(SenderStats { final_cwnd: 5000, ..SenderStats::default() });
        assert_eq!((stats.mean_cwnd, stats.samples), (5000, 0));
    }

    #[test]
    fn sampling_stops_when_the_work_completes() {
        let rt = super::super::tokio_current_thread();
        let (value, trace) = rt.block_on(traced(
            async {
                tokio::time::sleep(Duration::from_millis(55)).await;
                42
            },
            tokio::time::sleep,
            || Some(Sample { cwnd: 10, rtt: Duration::from_millis(1) }),
        ));
        assert_eq!(value, 42);
        assert!((3..=6).contains(&trace.samples), "{} samples in 55 ms", trace.samples);
    }
}
