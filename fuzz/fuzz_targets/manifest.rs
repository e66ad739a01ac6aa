//! Arbitrary bytes as a manifest stream: see `skiff_core::fuzz::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skiff_core::fuzz::manifest(data));
