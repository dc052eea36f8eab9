//! The network path to the peer: its address, whether it is validated, and the
//! anti-amplification budget that applies until it is.

use std::net::SocketAddr;

/// Before an address is validated, send at most this many times the bytes received from it,
/// so a spoofed source address cannot turn us into an amplifier (RFC 9000 §8).
pub(crate) const AMPLIFICATION_FACTOR: u64 = 3;

#[derive(Debug, Clone)]
pub(crate) struct Path {
    pub(crate) remote: SocketAddr,
    pub(crate) validated: bool,
    received: u64,
    sent: u64,
    /// Outstanding PATH_CHALLENGE data.
    pub(crate) challenge: Option<[u8; 8]>,
    /// A PATH_CHALLENGE needs to be (re)sent.
    pub(crate) challenge_pending: bool,
}

impl Path {
    pub(crate) fn new(remote: SocketAddr, validated: bool) -> Self {
        Path { remote, validated, received: 0, sent: 0, challenge: None, challenge_pending: false }
    }

    pub(crate) fn on_received(&mut self, bytes: usize) {
        self.received = self.received.saturating_add(bytes as u64);
    }

    pub(crate) fn on_sent(&mut self, bytes: usize) {
        self.sent = self.sent.saturating_add(bytes as u64);
    }

    /// Bytes that may still be sent on this path (unlimited once validated).
    pub(crate) fn send_budget(&self) -> u64 {
        if self.validated { u64::MAX } else { (self.received * AMPLIFICATION_FACTOR).saturating_sub(self.sent) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unvalidated_path_allows_three_times_what_it_received() {
        let mut p = Path::new(SocketAddr::from(([127, 0, 0, 1], 1)), false);
        assert_eq!(p.send_budget(), 0);
        p.on_received(1200);
        assert_eq!(p.send_budget(), 3600);
        p.on_sent(3000);
        assert_eq!(p.send_budget(), 600);
        p.validated = true;
        assert_eq!(p.send_budget(), u64::MAX);
    }
}
