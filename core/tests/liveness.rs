//! Flow control, idle timeout, keep-alive, graceful close and NAT rebinding.

mod common;

use bytes::Bytes;
use common::{BulkTransfer, Pair};
use jetstream_core::{ConnectionError, Dir, Duration, Event, ReadError, StreamEvent, TransportConfig, WriteError};

#[test]
fn flow_control_blocks_the_sender_until_the_receiver_reads() {
    let transport = TransportConfig { stream_receive_window: 64 << 10, ..Default::default() };
    let mut pair = Pair::with_transport(20, transport);
    let (c, s) = pair.handshake();
    let id = pair.client.connection(c).expect("conn").open(Dir::Bi).expect("open");
    let data = vec![7u8; 1 << 20];
    let mut written = 0;
    // Write until blocked: the server's 64 KiB stream window is the limit.
    while let Ok(n) = pair.client.connection(c).expect("conn").write(id, &data[written..]) {
        written += n;
        if n == 0 {
            break;
        }
    }
    assert_eq!(written, 64 << 10, "exactly the receive window is accepted");
    assert_eq!(pair.client.connection(c).expect("conn").write(id, b"x"), Err(WriteError::Blocked));
    pair.run_until(Duration::from_secs(1), |_| false);
    assert_eq!(pair.client.connection(c).expect("conn").write(id, b"x"), Err(WriteError::Blocked), "still blocked");
    // The server reads; its window update unblocks the client.
    let sid = pair.server.connection(s).expect("conn").accept(Dir::Bi).expect("stream");
    let mut buf = vec![0u8; 1 << 20];
    let got = pair.server.connection(s).expect("conn").read(sid, &mut buf).expect("read").expect("data");
    assert_eq!(got, 64 << 10);
    pair.client_events.clear();
    pair.run_until(Duration::from_secs(1), |p| {
        p.client_events.iter().any(|(_, e)| *e == Event::Stream(StreamEvent::Writable { id }))
    });
    assert!(pair.client.connection(c).expect("conn").write(id, &data[..1000]).expect("unblocked") > 0);
}

#[test]
fn idle_connection_times_out_on_both_sides() {
    let transport = TransportConfig { max_idle_timeout: Duration::from_secs(5), ..Default::default() };
    let mut pair = Pair::with_transport(21, transport);
    let (_c, _s) = pair.handshake();
    let start = pair.now;
    pair.run_until(Duration::from_secs(60), |p| {
        p.client_events.iter().any(|(_, e)| matches!(e, Event::ConnectionLost(_)))
            && p.server_events.iter().any(|(_, e)| matches!(e, Event::ConnectionLost(_)))
    });
    let idle = pair.now - start;
    // The client's default is 30 s and the server's 5 s: the smaller one applies to both.
    assert!(idle >= Duration::from_secs(5) && idle < Duration::from_secs(7), "timed out after {idle:?}");
    assert!(pair.client_events.iter().any(|(_, e)| *e == Event::ConnectionLost(ConnectionError::TimedOut)));
    assert!(pair.client_events.iter().any(|(_, e)| *e == Event::Drained));
    assert_eq!(pair.client.connection_count(), 0);
    assert_eq!(pair.server.connection_count(), 0);
}

#[test]
fn keep_alive_keeps_an_idle_connection_open() {
    let transport = TransportConfig {
        max_idle_timeout: Duration::from_secs(5),
        keep_alive_interval: Some(Duration::from_secs(2)),
        ..Default::default()
    };
    let mut pair = Pair::with_transport(22, transport);
    let c = pair.connect();
    assert!(pair.run_until(Duration::from_secs(5), |p| p.client_connected(c) && p.server_handle().is_some()));
    pair.run_until(Duration::from_secs(60), |p| {
        p.client_events.iter().any(|(_, e)| matches!(e, Event::ConnectionLost(_)))
    });
    assert!(
        !pair.client_events.iter().any(|(_, e)| matches!(e, Event::ConnectionLost(_))),
        "still open after 60 s idle: {:?}",
        pair.client_events
    );
    assert!(pair.client.connection(c).expect("conn").is_established());
}

#[test]
fn close_delivers_code_and_reason_to_the_peer() {
    let mut pair = Pair::new(23);
    let (c, s) = pair.handshake();
    let now = pair.now;
    pair.client.connection(c).expect("conn").close(now, 42, b"shutting down");
    pair.run_until(Duration::from_secs(1), |p| {
        p.server_events.iter().any(|(_, e)| matches!(e, Event::ConnectionLost(_)))
    });
    let lost = pair.server_events.iter().find_map(|(h, e)| match e {
        Event::ConnectionLost(err) if *h == s => Some(err.clone()),
        _ => None,
    });
    assert_eq!(
        lost,
        Some(ConnectionError::ApplicationClosed { code: 42, reason: Bytes::from_static(b"shutting down") })
    );
    assert!(pair.client_events.iter().any(|(_, e)| *e == Event::ConnectionLost(ConnectionError::LocallyClosed)));
    // Both sides release their state after the closing/draining period.
    pair.run_until(Duration::from_secs(10), |p| p.client.connection_count() == 0 && p.server.connection_count() == 0);
    assert_eq!((pair.client.connection_count(), pair.server.connection_count()), (0, 0));
    assert_eq!(pair.server_events.last().map(|(_, e)| e.clone()), Some(Event::Drained));
}

#[test]
fn reset_and_stop_sending_reach_the_peer() {
    let mut pair = Pair::new(24);
    let (c, s) = pair.handshake();
    let id = pair.client.connection(c).expect("conn").open(Dir::Bi).expect("open");
    pair.client.connection(c).expect("conn").write(id, b"partial").expect("write");
    pair.run_until(Duration::from_millis(100), |_| false);
    pair.client.connection(c).expect("conn").reset(id, 7).expect("reset");
    pair.run_until(Duration::from_millis(100), |_| false);
    let sid = pair.server.connection(s).expect("conn").accept(Dir::Bi).expect("opened");
    let mut buf = [0u8; 64];
    let mut outcome = pair.server.connection(s).expect("conn").read(sid, &mut buf);
    if outcome == Ok(Some(7)) {
        outcome = pair.server.connection(s).expect("conn").read(sid, &mut buf);
    }
    assert_eq!(outcome, Err(ReadError::Reset(7)));

    // STOP_SENDING in the other direction: the server stops reading its stream.
    let id2 = pair.client.connection(c).expect("conn").open(Dir::Uni).expect("open");
    pair.client.connection(c).expect("conn").write(id2, b"hello").expect("write");
    pair.run_until(Duration::from_millis(100), |_| false);
    let sid2 = pair.server.connection(s).expect("conn").accept(Dir::Uni).expect("opened");
    pair.server.connection(s).expect("conn").stop(sid2, 99).expect("stop");
    pair.run_until(Duration::from_millis(100), |_| false);
    assert!(
        pair.client_events.iter().any(|(_, e)| *e == Event::Stream(StreamEvent::Stopped { id: id2, error_code: 99 }))
    );
    // Writes fail: with the code while our reset is in flight, as closed once it was acknowledged.
    let write = pair.client.connection(c).expect("conn").write(id2, b"more");
    assert!(matches!(write, Err(WriteError::Stopped(99)) | Err(WriteError::ClosedStream)), "{write:?}");
}

#[test]
fn connection_survives_client_address_change_mid_transfer() {
    let mut pair = Pair::new(25);
    let (c, s) = pair.handshake();
    let mut t = BulkTransfer::new(8 << 20);
    let mut rebound = false;
    let new_addr: std::net::SocketAddr = "10.0.0.2:61000".parse().expect("addr");
    let ok = pair.run_until(Duration::from_secs(120), |p| {
        t.pump(p, c, s);
        if !rebound && t.received > 2 << 20 {
            // A NAT rebinding: from now on the client's packets come from a new port.
            p.client_addr = new_addr;
            rebound = true;
        }
        t.done
    });
    assert!(rebound && ok, "transfer completed across the address change ({} bytes)", t.received);
    let server_conn = pair.server.connection(s).expect("conn");
    assert_eq!(server_conn.remote_address(), new_addr, "the server follows the client");
    assert!(
        pair.server_events.iter().any(|(_, e)| *e == Event::PeerAddressChanged { new: new_addr }),
        "path validated"
    );
}

#[test]
fn a_close_right_after_connecting_still_delivers_the_application_code() {
    let mut pair = Pair::new(26);
    let c = pair.connect();
    // Close as soon as the client is connected, before HANDSHAKE_DONE can arrive.
    assert!(pair.run_until(Duration::from_secs(5), |p| p.client_connected(c)));
    let now = pair.now;
    pair.client.connection(c).expect("conn").close(now, 7, b"bye early");
    pair.run_until(Duration::from_secs(5), |p| {
        p.server_events.iter().any(|(_, e)| matches!(e, Event::ConnectionLost(_)))
    });
    let lost = pair.server_events.iter().find_map(|(_, e)| match e {
        Event::ConnectionLost(err) => Some(err.clone()),
        _ => None,
    });
    assert_eq!(lost, Some(ConnectionError::ApplicationClosed { code: 7, reason: Bytes::from_static(b"bye early") }));
}
