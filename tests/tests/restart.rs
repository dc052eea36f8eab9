//! A server that restarts: its clients see a clean error, then connect to the new server.

use std::time::Duration;

use jetstream_tests::{Adapter, PeerOptions, Server, run_client};
use jetstream_tokio::{ConnectionClosed, Endpoint, EndpointOptions};

#[test]
fn a_server_restart_gives_clients_a_clean_error_and_a_new_server_accepts_them() {
    let options = PeerOptions::default();
    for server_adapter in Adapter::ALL {
        let server = Server::start(server_adapter, &options);
        let (addr, key) = (server.addr, server.key);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let why = rt.block_on(async {
            let client = Endpoint::bind("127.0.0.1:0".parse().expect("addr"), EndpointOptions::client().expect("rng"))
                .expect("bind");
            let conn = client.connect(addr, key).await.expect("connect");
            // The server goes down while the client holds the connection.
            let stopper = std::thread::spawn(move || server.stop());
            let why = tokio::time::timeout(Duration::from_secs(30), conn.closed()).await.expect("error within 30 s");
            stopper.join().expect("server stopped");
            why
        });
        match &why {
            ConnectionClosed::Lost(e) => assert!(e.to_string().contains("server stopped"), "{server_adapter:?}: {e}"),
            other => panic!("{server_adapter:?}: expected the server's close, got {other}"),
        }
        // A new server on the same address (a new key, as after a real restart).
        let restarted = Server::start(server_adapter, &PeerOptions { bind: addr, ..options.clone() });
        run_client(Adapter::Tokio, &restarted, &[4096], &options)
            .unwrap_or_else(|e| panic!("reconnect to the restarted {server_adapter:?} server: {e}"));
        restarted.stop();
    }
}
