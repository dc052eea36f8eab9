//! Every runtime adapter against every other, on loopback.

use jetstream_tests::{Adapter, PeerOptions, Server, run_client};

#[test]
fn every_pair_of_runtimes_interoperates() {
    let options = PeerOptions::default();
    for server_adapter in Adapter::ALL {
        let server = Server::start(server_adapter, &options);
        for client_adapter in Adapter::ALL {
            run_client(client_adapter, &server, &[1 << 20, 0, 12_345], &options)
                .unwrap_or_else(|e| panic!("{client_adapter:?} client to {server_adapter:?} server: {e}"));
        }
        server.stop();
    }
}
