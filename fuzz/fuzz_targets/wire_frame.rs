//! Arbitrary bytes as a stream of wire-protocol frames, decoded as client and server messages:
//! see `skiff_store::wire::decode_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skiff_store::wire::decode_frame(data));
