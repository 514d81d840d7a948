//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) through the very harness
//! functions the fuzz targets call (`fuzz/harness/`), so every invariant the fuzzers
//! check is checked again on every corpus input by a plain `cargo test`, without a fuzzer
//! or a nightly toolchain. See FUZZING.md.
//!
//! The `challenge` replay (the client's parser, feature `client`) uses the public API.
//! The `authorization` replay calls the parser through the crate's hidden `__fuzz` entry
//! points, which exist only under `--cfg fuzzing` (set by cargo-fuzz, never by users):
//! CI runs this test once more with `RUSTFLAGS="--cfg fuzzing"` (`.ci/run`). The `service`
//! replay uses the public API and runs in every `cargo test`.

#[cfg(fuzzing)]
#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/harness/authorization.rs"]
mod authorization;
#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/harness/service.rs"]
mod service;
// The client's challenge parser, through the public API (feature `client`); its check
// that the server's parser reads the answer back runs under `--cfg fuzzing` only.
#[cfg(feature = "client")]
#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/harness/challenge.rs"]
mod challenge;

use std::path::PathBuf;

/// Every input of one target's corpus; fails if the corpus is missing or nearly empty.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("no corpus at {}: {error}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("corpus file");
            (path, data)
        })
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 10,
        "corpus {} has only {} inputs",
        dir.display(),
        inputs.len()
    );
    inputs
}

#[cfg(fuzzing)]
#[test]
fn authorization_corpus_keeps_every_parser_invariant() {
    for (path, data) in corpus("authorization") {
        // Printed so a failure names its input (the test's output is shown on failure).
        println!("{}", path.display());
        authorization::run(&data);
    }
}

#[cfg(feature = "client")]
#[test]
fn challenge_corpus_keeps_every_client_invariant() {
    for (path, data) in corpus("challenge") {
        println!("{}", path.display());
        challenge::run(&data);
    }
}

#[test]
fn service_corpus_keeps_every_invariant_and_reaches_every_outcome() {
    let mut reached = service::Reached::default();
    for (path, data) in corpus("service") {
        println!("{}", path.display());
        reached += service::run_bytes(&data);
    }
    println!("{reached:?}");
    // A corpus that never authenticates (or never replays, never goes stale, ...) would
    // check the invariants on nothing: the replay must reach every kind of outcome.
    assert!(reached.ok > 0, "no request succeeded: {reached:?}");
    assert!(
        reached.replays_refused > 0,
        "no replay refused: {reached:?}"
    );
    assert!(reached.stale > 0, "no stale nonce: {reached:?}");
    assert!(reached.next_nonces > 0, "no nextnonce: {reached:?}");
    assert!(reached.bad_request > 0, "no 400: {reached:?}");
    assert!(reached.unauthorized > 0, "no 401: {reached:?}");
    assert!(reached.server_error > 0, "no store failure: {reached:?}");
}
