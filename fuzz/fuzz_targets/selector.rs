//! Arbitrary bytes as a label and a field selector (and, after a NUL, a label map): see
//! `skiff_core::fuzz::selector`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skiff_core::fuzz::selector(data));
