//! Frame decoding of arbitrary payloads.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    jetstream_core::fuzz_support::frames(data);
    jetstream_core::fuzz_support::packet_header(data);
});
