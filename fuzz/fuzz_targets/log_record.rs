//! Arbitrary bytes as event and projection records, raw and with a valid envelope: see
//! `skiff_store::fuzz::log_record`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skiff_store::fuzz::log_record(data));
