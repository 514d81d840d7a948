//! Fuzzes the `Authorization: Digest` parser; invariants in `harness/authorization.rs`.
#![no_main]

#[path = "../harness/authorization.rs"]
mod authorization;

libfuzzer_sys::fuzz_target!(|data: &[u8]| authorization::run(data));
