//! A bounded sequence of store operations against a memory store and a reference model: see
//! `skiff_store::fuzz::store_ops`. Typed, so `cargo fuzz fmt store_ops <input>` prints the steps.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: skiff_store::fuzz::StoreOps| {
    skiff_store::fuzz::store_ops_input(input);
});
