//! The server side of the handshake on arbitrary ClientHello messages.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| jetstream_core::fuzz_support::client_hello(data));
