//! Arbitrary datagrams to a server with an established connection, half of them carrying
//! the connection's ID.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut pair = jetstream_core::fuzz_support::Established::new();
    let with_cid = data.first().is_some_and(|b| b & 1 == 1);
    pair.datagram(data, with_cid);
});
