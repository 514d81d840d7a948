//! No code of its own: this package carries the tests, examples and benchmarks of
//! `tower-digest-auth` that need heavy dependencies (see `Cargo.toml`), and the README's
//! code samples, some of which use them (TLS with `tokio-rustls`).

/// The README's code samples, compiled and run as doctests. Some use optional features of
/// the library, so they run with every feature on (`cargo test --all-features`, as
/// `tests/run-all.sh` and CI do).
#[doc = include_str!("../../README.md")]
#[cfg(all(
    doctest,
    feature = "cache",
    feature = "htdigest",
    feature = "auth-int",
    feature = "redis"
))]
pub struct ReadmeDoctests;
