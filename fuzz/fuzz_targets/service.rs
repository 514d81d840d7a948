//! Fuzzes the whole `DigestService` with structured request sequences; the scenario
//! format and every invariant are in `harness/service.rs`.
#![no_main]

#[path = "../harness/service.rs"]
mod service;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    service::run_bytes(data);
});
