//! Arbitrary bytes as quantity text and bincode (and, after a NUL, a second operand): see
//! `skiff_core::fuzz::quantity`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skiff_core::fuzz::quantity(data));
