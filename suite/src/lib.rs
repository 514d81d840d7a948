//! No code of its own: this package only carries the tests, examples and benchmarks of
//! `tower-digest-auth` that need heavy dependencies (see `Cargo.toml`).
