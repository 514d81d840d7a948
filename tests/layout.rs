//! The repository's targets are split between two packages (the library and `suite/`, see
//! the top of Cargo.toml), each listing its tests, examples and benchmarks by hand. A file
//! added to `tests/`, `examples/` or `benches/` without an entry in one of the two manifests
//! would silently never build or run; this test makes that a failure instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every target of the workspace's packages, by source path, with its package name.
fn declared_targets(root: &Path) -> BTreeMap<PathBuf, Vec<String>> {
    let output = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let mut targets: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("a package list") {
        let name = package["name"].as_str().expect("a package name");
        for target in package["targets"].as_array().expect("a target list") {
            let path = target["src_path"].as_str().expect("a target path");
            let path = Path::new(path)
                .canonicalize()
                .unwrap_or_else(|e| panic!("{path} is declared but cannot be read: {e}"));
            targets.entry(path).or_default().push(name.to_owned());
        }
    }
    targets
}

/// The files Cargo would have discovered on its own: `*.rs` directly in the directory, and
/// `*/main.rs` one level down (for tests split into modules, like tests/redis/).
fn target_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the directory") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        } else if path.join("main.rs").is_file() {
            files.push(path.join("main.rs"));
        }
    }
    files.sort();
    files
}

#[test]
fn every_test_example_and_benchmark_file_is_a_target_of_exactly_one_package() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let targets = declared_targets(root);
    let mut problems = Vec::new();
    let mut checked = 0;
    for dir in ["tests", "examples", "benches"] {
        for file in target_files(&root.join(dir)) {
            let file = file.canonicalize().expect("a readable file");
            checked += 1;
            match targets.get(&file).map(Vec::as_slice) {
                Some([_]) => {}
                None | Some([]) => problems.push(format!(
                    "{} is in no [[test]], [[example]] or [[bench]] of Cargo.toml or suite/Cargo.toml",
                    file.display()
                )),
                Some(packages) => problems.push(format!(
                    "{} is a target of several packages: {packages:?}",
                    file.display()
                )),
            }
        }
    }
    assert!(
        checked > 20,
        "found only {checked} target files: wrong directory?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_example_server_builds_without_the_suites_dependencies() {
    // The point of the split: what `cargo run --example server` compiles is the library's
    // dependency graph plus its light dev-dependencies, none of the suite's heavy ones.
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "--package",
            "tower-digest-auth",
            "--edges",
            "normal,build,dev",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    let heavy: Vec<&str> = [
        "criterion",
        "reqwest",
        "rusqlite",
        "dav-server",
        "rcgen",
        "tokio-rustls",
    ]
    .into_iter()
    .filter(|name| {
        tree.lines()
            .any(|line| line.starts_with(&format!("{name} v")))
    })
    .collect();
    assert!(
        heavy.is_empty(),
        "the library's dev-dependencies pull {heavy:?}; move what needs them to suite/"
    );
    assert!(
        tree.lines().any(|line| line.starts_with("axum v")),
        "cargo tree printed no axum: the check itself is broken"
    );
}
