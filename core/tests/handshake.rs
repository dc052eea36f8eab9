//! Handshake outcomes: success, clean failures, and resilience to loss.

mod common;

use common::Pair;
use jetstream_core::{Duration, Event};

#[test]
fn handshake_succeeds_and_both_sides_agree() {
    let mut pair = Pair::new(1);
    let (c, s) = pair.handshake();
    let client = pair.client.connection(c).expect("client conn");
    assert!(client.is_established());
    let suite = client.cipher_suite();
    assert_eq!(pair.server.connection(s).expect("server conn").cipher_suite(), suite);
    let stats = pair.client.connection(c).expect("conn").stats();
    assert!(stats.rtt >= Duration::from_millis(10), "RTT of a 5 ms one-way link: {:?}", stats.rtt);
    assert!(stats.rtt < Duration::from_millis(40), "{:?}", stats.rtt);
    assert_eq!(pair.client_events.iter().filter(|(_, e)| *e == Event::Connected).count(), 1);
}
