//! Fuzzes the client's challenge parser and answers; invariants in `harness/challenge.rs`.
#![no_main]

#[path = "../harness/challenge.rs"]
mod challenge;

libfuzzer_sys::fuzz_target!(|data: &[u8]| challenge::run(data));
