//! Arbitrary plaintext payloads delivered to an established connection, as a peer holding
//! the keys could send them.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut pair = jetstream_core::fuzz_support::Established::new();
    // Several packets per input: split at 0xff 0xfe markers.
    for payload in data.split(|b| *b == 0xfe) {
        pair.decrypted_payload(payload);
    }
});
