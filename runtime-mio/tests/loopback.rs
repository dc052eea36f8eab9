//! jetstream-mio on real loopback sockets: one hand-written poll loop drives a server and a
//! client endpoint.

use std::time::{Duration, Instant};

use jetstream_mio::{Dir, Endpoint, EndpointOptions, Event, ServerConfig, StaticKeypair, StreamEvent};
use mio::{Events, Poll, Token};

#[test]
fn echo_of_eight_mib_through_a_hand_written_loop() {
    const LEN: usize = 8 << 20;
    let key = StaticKeypair::from_secret_bytes([6; 32]);
    let server_key = key.public_key();
    let server_options = EndpointOptions::server(ServerConfig::new(key)).expect("options");
    let mut server = Endpoint::bind("127.0.0.1:0".parse().expect("addr"), server_options).expect("bind");
    let mut client = Endpoint::bind("127.0.0.1:0".parse().expect("addr"), EndpointOptions::client().expect("options"))
        .expect("bind");
    let mut poll = Poll::new().expect("poll");
    server.register(poll.registry(), Token(0)).expect("register");
    client.register(poll.registry(), Token(1)).expect("register");
    let conn = client.connect(server.local_addr().expect("addr"), server_key).expect("connect");

    let data: Vec<u8> = (0..LEN).map(|i| (i * 7 % 256) as u8).collect();
    let mut stream = None;
    let mut written = 0;
    let mut echoed = Vec::with_capacity(LEN);
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = Events::with_capacity(64);
    let (mut echo_stream, mut unechoed, mut end_seen, mut echo_finished) = (None, Vec::new(), false, false);
    let deadline = Instant::now() + Duration::from_secs(60);

    while echoed.len() < LEN || stream.is_none() {
        assert!(Instant::now() < deadline, "echo incomplete after 60 s: {} of {LEN} bytes", echoed.len());
        let timeout = [server.poll_timeout(), client.poll_timeout()].into_iter().flatten().min();
        poll.poll(&mut events, Some(timeout.unwrap_or(Duration::from_millis(100)).min(Duration::from_millis(100))))
            .expect("poll");
        for event in events.iter() {
            let endpoint = if event.token() == Token(0) { &mut server } else { &mut client };
            endpoint.on_event(event).expect("socket event");
        }
        server.on_timeout().expect("server timers");
        client.on_timeout().expect("client timers");

        // Server: accept the stream and echo it back, holding what the window refuses.
        while let Some((h, event)) = server.poll_event() {
            if let Event::Stream(StreamEvent::Opened { dir: Dir::Bi }) = event {
                echo_stream = server.connection(h).and_then(|c| c.accept(Dir::Bi)).map(|id| (h, id));
            }
        }
        if let Some((h, id)) = echo_stream {
            'echo: loop {
                while !unechoed.is_empty() {
                    match server.stream_write(h, id, &unechoed) {
                        Ok(n) => drop(unechoed.drain(..n)),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break 'echo,
                        Err(e) => panic!("echo write: {e}"),
                    }
                }
                if end_seen {
                    if !echo_finished {
                        server.finish(h, id).expect("finish echo");
                        echo_finished = true;
                    }
                    break;
                }
                match server.stream_read(h, id, &mut buf) {
                    Ok(0) => end_seen = true,
                    Ok(n) => unechoed.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("server read: {e}"),
                }
            }
        }
        // Client: open the stream once connected, keep writing, collect the echo.
        while let Some((h, event)) = client.poll_event() {
            assert_eq!(h, conn);
            match event {
                Event::Connected => stream = client.connection(conn).and_then(|c| c.open(Dir::Bi)),
                Event::HandshakeFailed(e) | Event::ConnectionLost(e) => panic!("client: {e}"),
                _ => {}
            }
        }
        if let Some(id) = stream {
            while written < LEN {
                match client.stream_write(conn, id, &data[written..(written + 16 * 1024).min(LEN)]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("client write: {e}"),
                }
                if written == LEN {
                    client.finish(conn, id).expect("finish");
                }
            }
            loop {
                match client.stream_read(conn, id, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => echoed.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("client read: {e}"),
                }
            }
        }
        server.drive().expect("server drive");
        client.drive().expect("client drive");
    }
    assert!(echoed == data, "the echo is byte-exact");
}

/// With busy polling the loop's timeout is zero while traffic is recent, and the endpoint's
/// own deadline once the window has passed quietly.
#[test]
fn busy_polling_spins_the_loop_only_after_traffic() {
    let window = Duration::from_millis(20);
    let options = EndpointOptions { busy_poll: Some(window), ..EndpointOptions::client().expect("options") };
    let mut endpoint = Endpoint::bind("127.0.0.1:0".parse().expect("addr"), options).expect("bind");
    endpoint.drive().expect("drive");
    std::thread::sleep(window + Duration::from_millis(10));
    assert_eq!(endpoint.poll_timeout(), None, "nothing moved and nothing is due: sleep");
    // A first flight towards a loopback port nobody serves: traffic out.
    let key = StaticKeypair::from_secret_bytes([9; 32]).public_key();
    endpoint.connect("127.0.0.1:9".parse().expect("addr"), key).expect("connect");
    endpoint.drive().expect("drive");
    assert_eq!(endpoint.poll_timeout(), Some(Duration::ZERO));
    std::thread::sleep(window + Duration::from_millis(10));
    // What a loop does each time round, so that only the endpoint's own deadline is left.
    endpoint.drive().expect("drive");
    while endpoint.poll_event().is_some() {}
    assert_ne!(endpoint.poll_timeout(), Some(Duration::ZERO), "the window closed: wait for the deadline");
}
