use super::*;
use crate::frame::{Frame, FrameIter};

fn limits() -> (LocalLimits, PeerLimits) {
    (
        LocalLimits {
            stream_window: 1000,
            connection_window: 1500,
            send_window: 100_000,
            max_streams_bidi: 4,
            max_streams_uni: 4,
        },
        PeerLimits {
            max_data: 100_000,
            stream_data_bidi_local: 50_000,
            stream_data_bidi_remote: 50_000,
            stream_data_uni: 50_000,
            max_streams_bidi: 3,
            max_streams_uni: 3,
        },
    )
}

fn state() -> StreamsState {
    let (l, p) = limits();
    StreamsState::new(Side::Client, l, p)
}

/// Fills one packet-sized buffer with stream frames; returns `(id, len)` per frame.
fn next_packet(s: &mut StreamsState, room: usize) -> Vec<(StreamId, usize)> {
    let mut buf = vec![0u8; room];
    let mut w = Writer::new(&mut buf);
    let mut sent = Retransmits::default();
    s.write_stream_frames(&mut w, &mut sent);
    let n = w.position();
    FrameIter::new(&buf[..n])
        .filter_map(|f| match f.expect("frame") {
            Frame::Stream(sf) => Some((sf.id, sf.data.len())),
            _ => None,
        })
        .collect()
}

#[test]
fn stream_limit_is_enforced_when_opening() {
    let mut s = state();
    assert!(s.open(Dir::Bi).is_some());
    assert!(s.open(Dir::Bi).is_some());
    assert!(s.open(Dir::Bi).is_some());
    assert_eq!(s.open(Dir::Bi), None, "peer allows 3");
    s.on_max_streams(Dir::Bi, 4);
    assert!(s.open(Dir::Bi).is_some());
    assert_eq!(s.events.pop_front(), Some(StreamEvent::Available { dir: Dir::Bi }));
}

#[test]
fn higher_priority_goes_first_and_equal_priorities_alternate() {
    let mut s = state();
    let bulk_a = s.open(Dir::Uni).expect("a");
    let bulk_b = s.open(Dir::Uni).expect("b");
    let urgent = s.open(Dir::Uni).expect("c");
    s.write(bulk_a, &[1; 5000]).expect("write");
    s.write(bulk_b, &[2; 5000]).expect("write");
    s.set_priority(urgent, priority::INTERACTIVE).expect("prio");
    s.write(urgent, &[3; 2000]).expect("write");
    // The urgent stream drains first, whatever the write order.
    let mut order = Vec::new();
    for _ in 0..20 {
        let frames = next_packet(&mut s, 1200);
        if frames.is_empty() {
            break;
        }
        order.extend(frames.into_iter().map(|(id, _)| id));
    }
    let first_bulk = order.iter().position(|id| *id != urgent).expect("bulk sent");
    assert!(order[..first_bulk].iter().all(|id| *id == urgent));
    assert!(order[first_bulk..].iter().all(|id| *id != urgent), "urgent finished before bulk started");
    let bulk: Vec<_> = order[first_bulk..].to_vec();
    assert!(bulk.windows(2).filter(|w| w[0] != w[1]).count() >= 4, "equal priorities round-robin: {bulk:?}");
}

#[test]
fn stream_flow_control_blocks_writes_and_credit_unblocks() {
    let (l, mut p) = limits();
    p.stream_data_uni = 100;
    let mut s = StreamsState::new(Side::Client, l, p);
    let id = s.open(Dir::Uni).expect("open");
    assert_eq!(s.write(id, &[0; 150]), Ok(100));
    assert_eq!(s.write(id, &[0; 10]), Err(WriteError::Blocked));
    s.on_max_stream_data(id, 300).expect("ok");
    assert!(s.events.contains(&StreamEvent::Writable { id }));
    assert_eq!(s.write(id, &[0; 500]), Ok(200));
}

#[test]
fn connection_flow_control_caps_new_data_across_streams() {
    let (l, mut p) = limits();
    p.max_data = 1500;
    let mut s = StreamsState::new(Side::Client, l, p);
    let a = s.open(Dir::Uni).expect("a");
    let b = s.open(Dir::Uni).expect("b");
    s.write(a, &[0; 2000]).expect("w");
    s.write(b, &[0; 2000]).expect("w");
    let mut total = 0;
    for _ in 0..10 {
        total += next_packet(&mut s, 1200).iter().map(|(_, n)| n).sum::<usize>();
    }
    assert_eq!(total, 1500, "never beyond the peer's connection limit");
    s.on_max_data(2500);
    let more: usize = (0..10).map(|_| next_packet(&mut s, 1200).iter().map(|(_, n)| n).sum::<usize>()).sum();
    assert_eq!(more, 1000);
}

#[test]
fn peer_exceeding_our_windows_is_a_flow_control_error() {
    let mut s = StreamsState::new(Side::Server, limits().0, limits().1);
    let id = StreamId::new(Side::Client, Dir::Uni, 0);
    let over_stream = StreamFrame { id, offset: 0, data: &[0; 1001], fin: false };
    assert_eq!(s.on_stream_frame(&over_stream).unwrap_err().0, TransportErrorCode::FLOW_CONTROL_ERROR);
    let mut s = StreamsState::new(Side::Server, limits().0, limits().1);
    for i in 0..2 {
        let f = StreamFrame { id: StreamId::new(Side::Client, Dir::Uni, i), offset: 0, data: &[0; 1000], fin: false };
        let r = s.on_stream_frame(&f);
        if i == 1 {
            assert_eq!(r.unwrap_err().0, TransportErrorCode::FLOW_CONTROL_ERROR, "connection window is 1500");
        }
    }
}

#[test]
fn peer_opening_beyond_stream_limit_is_an_error_and_lower_ids_open_implicitly() {
    let mut s = StreamsState::new(Side::Server, limits().0, limits().1);
    let f = StreamFrame { id: StreamId::new(Side::Client, Dir::Bi, 2), offset: 0, data: b"x", fin: false };
    s.on_stream_frame(&f).expect("within limit");
    assert_eq!(s.accept(Dir::Bi), Some(StreamId::new(Side::Client, Dir::Bi, 0)));
    assert_eq!(s.accept(Dir::Bi), Some(StreamId::new(Side::Client, Dir::Bi, 1)));
    assert_eq!(s.accept(Dir::Bi), Some(StreamId::new(Side::Client, Dir::Bi, 2)));
    let over = StreamFrame { id: StreamId::new(Side::Client, Dir::Bi, 4), offset: 0, data: b"x", fin: false };
    assert_eq!(s.on_stream_frame(&over).unwrap_err().0, TransportErrorCode::STREAM_LIMIT_ERROR);
    let ours = StreamFrame { id: StreamId::new(Side::Server, Dir::Uni, 0), offset: 0, data: b"x", fin: false };
    assert_eq!(s.on_stream_frame(&ours).unwrap_err().0, TransportErrorCode::STREAM_STATE_ERROR);
}

#[test]
fn fully_read_peer_stream_returns_stream_credit() {
    let mut s = StreamsState::new(Side::Server, limits().0, limits().1);
    let id = StreamId::new(Side::Client, Dir::Uni, 0);
    s.on_stream_frame(&StreamFrame { id, offset: 0, data: b"abc", fin: true }).expect("ok");
    let mut buf = [0u8; 10];
    assert_eq!(s.read(id, &mut buf), Ok(Some(3)));
    assert_eq!(s.read(id, &mut buf), Ok(None));
    assert!(s.pending.max_streams_uni, "a MAX_STREAMS update is queued");
    assert_eq!(s.read(id, &mut buf), Err(ReadError::ClosedStream));
}

#[test]
fn stop_sending_resets_our_stream_and_reports_the_code() {
    let mut s = state();
    let id = s.open(Dir::Bi).expect("open");
    s.write(id, b"data").expect("w");
    s.on_stop_sending(id, 42).expect("ok");
    assert!(s.events.contains(&StreamEvent::Stopped { id, error_code: 42 }));
    assert_eq!(s.pending.reset_stream, vec![(id, 42)]);
    assert_eq!(s.write(id, b"more"), Err(WriteError::Stopped(42)));
}

/// A stream the peer opened (client side here, so server-initiated unidirectional).
fn peer_uni(s: &mut StreamsState, index: u64, offset: u64, data: &[u8], fin: bool) -> StreamId {
    let id = StreamId::new(Side::Server, Dir::Uni, index);
    s.on_stream_frame(&StreamFrame { id, offset, data, fin }).expect("accepted");
    id
}

#[test]
fn stop_credits_unread_data_once_and_closes_the_receive_half() {
    let mut s = state();
    let id = peer_uni(&mut s, 0, 0, &[1; 600], false);
    s.stop(id, 7).expect("stop");
    assert_eq!(s.pending.stop_sending, vec![(id, 7)]);
    assert_eq!(s.data_read, 600, "the unread bytes are credited back");
    assert_eq!(s.read(id, &mut [0; 100]), Err(ReadError::ClosedStream));
    assert_eq!(s.read_chunk(id, 100), Err(ReadError::ClosedStream));
    assert_eq!(s.data_read, 600, "and only once");
    // Data still in flight is charged and credited straight back; the FIN ends the stream.
    peer_uni(&mut s, 0, 600, &[1; 100], true);
    assert_eq!((s.data_received, s.data_read), (700, 700));
    assert!(!s.streams.contains_key(&id), "released once the final size is known");
    assert!(s.pending.max_streams_uni, "its stream credit goes back to the peer");
}

#[test]
fn a_stopped_stream_with_gaps_is_released_when_its_final_size_is_known() {
    let mut s = state();
    // Bytes 100..200 with the FIN arrive, 0..100 are still missing when the application stops.
    let id = peer_uni(&mut s, 0, 100, &[2; 100], true);
    s.stop(id, 9).expect("stop");
    assert!(s.pending.stop_sending.is_empty(), "the peer already sent everything");
    assert_eq!(s.data_read, 200, "the gap counts too: the final size is what the peer was charged");
    assert!(!s.streams.contains_key(&id));
    assert!(s.pending.max_streams_uni);
    // A late retransmission of the gap is ignored without disturbing the accounts.
    s.on_stream_frame(&StreamFrame { id, offset: 0, data: &[2; 100], fin: false }).expect("ignored");
    assert_eq!((s.data_received, s.data_read), (200, 200));
}

#[test]
fn a_reset_of_a_stopped_stream_is_credited_and_releases_it() {
    let mut s = state();
    let id = peer_uni(&mut s, 0, 0, &[3; 50], false);
    s.stop(id, 1).expect("stop");
    s.events.clear();
    s.on_reset_stream(id, 5, 400).expect("reset");
    assert_eq!((s.data_received, s.data_read), (400, 400));
    assert!(!s.streams.contains_key(&id));
    assert!(s.events.is_empty(), "nothing to read, so no Readable event: {:?}", s.events);
}
