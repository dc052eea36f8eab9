//! Busy polling (see [`EndpointOptions::busy_poll`](crate::EndpointOptions::busy_poll)):
//! after traffic, keep checking the socket for a while instead of sleeping until the
//! reactor wakes the thread.

use std::time::{Duration, Instant};

use crate::udp::IoStats;

/// When traffic last moved, and whether the busy-polling window after it is still open.
#[derive(Debug)]
pub struct BusyPoll {
    window: Duration,
    last_traffic: Instant,
    /// Datagrams in and out so far, to notice traffic between two checks.
    datagrams: u64,
}

impl BusyPoll {
    /// A window of `window` after each datagram in or out, closed until the first one;
    /// `None` for no window (zero).
    pub fn new(window: Duration) -> Option<Self> {
        let now = Instant::now();
        let closed = now.checked_sub(window).unwrap_or(now);
        (!window.is_zero()).then_some(BusyPoll { window, last_traffic: closed, datagrams: 0 })
    }

    /// Notes the socket's counters; true while the window since the last datagram in or out
    /// (as of this check or an earlier one) is open.
    pub fn still_polling(&mut self, io: &IoStats) -> bool {
        let now = Instant::now();
        let datagrams = io.datagrams_received + io.datagrams_sent;
        if datagrams != self.datagrams {
            self.datagrams = datagrams;
            self.last_traffic = now;
        }
        now.duration_since(self.last_traffic) < self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_opens_with_traffic_and_closes_without() {
        assert!(BusyPoll::new(Duration::ZERO).is_none());
        let mut busy = BusyPoll::new(Duration::from_millis(20)).expect("a window");
        let mut io = IoStats::default();
        assert!(!busy.still_polling(&io), "closed until traffic");
        io.datagrams_received += 1;
        assert!(busy.still_polling(&io), "a datagram opens it");
        std::thread::sleep(Duration::from_millis(30));
        assert!(!busy.still_polling(&io), "closed after a quiet window");
        io.datagrams_received += 1;
        assert!(busy.still_polling(&io), "a datagram reopens it");
        std::thread::sleep(Duration::from_millis(30));
        io.datagrams_sent += 1;
        assert!(busy.still_polling(&io), "so does a send");
    }
}
