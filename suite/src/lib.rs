//! No code of its own: this package carries the tests, examples and benchmarks of
//! `tower-digest-auth` that need heavy dependencies (see `Cargo.toml`), and compiles the
//! README's code samples.

/// The README's code samples (the quick start), compiled as doctests so the first code a
/// visitor copies keeps building. The guides, with the rest of the samples, are the
/// library's own rustdoc pages (`src/docs/`), doctested there.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
