//! Transport parameter decoding.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| jetstream_core::fuzz_support::transport_parameters(data));
