//! The connection's timers: a fixed table of optional deadlines.

use crate::time::Instant;

/// Every timer a connection can arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Loss detection: the time-threshold loss deadline or the probe timeout (PTO).
    LossDetection = 0,
    /// No packet from the peer for the idle timeout: the connection is dead.
    Idle = 1,
    /// Nothing sent for the keep-alive interval: send a PING.
    KeepAlive = 2,
    /// A delayed acknowledgement is due.
    AckDelay = 3,
    /// The pacer allows the next packet.
    Pacing = 4,
    /// Closing or draining period over: release the connection's state.
    Close = 5,
    /// Path validation on a new peer address gave up.
    PathValidation = 6,
}

const COUNT: usize = 7;
const ALL: [Timer; COUNT] = [
    Timer::LossDetection,
    Timer::Idle,
    Timer::KeepAlive,
    Timer::AckDelay,
    Timer::Pacing,
    Timer::Close,
    Timer::PathValidation,
];

#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; COUNT],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    pub(crate) fn is_set(&self, timer: Timer) -> bool {
        self.deadlines[timer as usize].is_some()
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns the timers due at `now`, in table order.
    pub(crate) fn expire(&mut self, now: Instant) -> impl Iterator<Item = Timer> + use<> {
        let mut due = [None; COUNT];
        for (i, t) in ALL.iter().enumerate() {
            if self.deadlines[i].is_some_and(|d| d <= now) {
                self.deadlines[i] = None;
                due[i] = Some(*t);
            }
        }
        due.into_iter().flatten()
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; COUNT];
    }
}
