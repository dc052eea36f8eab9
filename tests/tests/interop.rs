//! Every runtime adapter against every other, on loopback.

use jetstream_tests::{Adapter, PeerOptions, Server, run_client, run_concurrent_tokio_clients};

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

#[test]
fn every_adapter_moves_256_mib_byte_exact() {
    let options = PeerOptions::default();
    // Each adapter as client, against a server of the next adapter.
    for (client_adapter, server_adapter) in Adapter::ALL.into_iter().zip(Adapter::ALL.into_iter().cycle().skip(1)) {
        let server = Server::start(server_adapter, &options);
        run_client(client_adapter, &server, &[256 << 20], &options)
            .unwrap_or_else(|e| panic!("{client_adapter:?} client to {server_adapter:?} server: {e}"));
        server.stop();
    }
}

#[test]
fn a_hundred_concurrent_connections_on_every_server_adapter() {
    let options = PeerOptions::default();
    for server_adapter in Adapter::ALL {
        let server = Server::start(server_adapter, &options);
        run_concurrent_tokio_clients(&server, 100, 64 << 10, &options)
            .unwrap_or_else(|e| panic!("100 clients to a {server_adapter:?} server: {e}"));
        server.stop();
    }
}

#[test]
fn gso_forced_off_on_both_sides_still_interoperates() {
    let options = PeerOptions {
        socket: jetstream_driver::udp::SocketConfig { gso: false, ..Default::default() },
        ..PeerOptions::default()
    };
    for adapter in Adapter::ALL {
        let server = Server::start(adapter, &options);
        run_client(adapter, &server, &[8 << 20], &options).unwrap_or_else(|e| panic!("{adapter:?} without GSO: {e}"));
        server.stop();
    }
}
