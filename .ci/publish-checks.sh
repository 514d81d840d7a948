#!/usr/bin/env bash
# What crates.io and docs.rs see: the docs as docs.rs builds them, and the package as
# `cargo publish` would upload it, tested from its own unpacked tarball. (.ci/run checks
# the MSRV.) Called by .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A target directory of its own: other toolchains and the unpacked package must not
# invalidate the main build's cache.
export CARGO_TARGET_DIR="${PUBLISH_CHECKS_TARGET:-$PWD/target/publish-checks}"
# A ceiling against accidental growth (a stray data file in the include list), not a goal
# met: the package is about 267 KiB compressed, of which the server's code and its unit
# tests (Basic beside Digest included) are about 192, the Digest client's (src/client,
# feature `client`, with its guide and example) 24, the other guides included into the
# docs (src/docs) 28, the Cargo.lock that cargo always adds 13 and the other light examples
# 10. Shrinking it further would mean shipping without the unit tests or the guides.
max_package_kib=290

echo "== docs as docs.rs builds them (nightly, --cfg docsrs, every feature)"
rustup toolchain install nightly --profile minimal --no-self-update
# Nightly's rustdoc also reports two "redundant explicit link target" warnings with no
# location (in docs it inlines at a re-export, where a label resolves by itself); the stable
# doc build in .ci/run checks every link with -D warnings, so that one lint is allowed here.
RUSTDOCFLAGS="--cfg docsrs -Dwarnings -Arustdoc::redundant_explicit_links" cargo +nightly doc --no-deps --all-features -p tower-digest-auth

echo "== cargo publish --dry-run (builds the crate from its packaged tarball)"
cargo publish --dry-run -p tower-digest-auth --allow-dirty
# Where the dry run leaves the tarball depends on cargo's version (newer ones use tmp-crate/).
crate=$(find "$CARGO_TARGET_DIR/package" -maxdepth 2 -name 'tower-digest-auth-*.crate' | head -n 1)
bytes=$(stat -c %s "$crate")
files=$(tar tzf "$crate" | grep -vc '/$')
echo "package: $files files, $((bytes / 1024)) KiB compressed (at most $max_package_kib KiB)"
if [ "$bytes" -gt $((max_package_kib * 1024)) ]; then
  echo "the package grew past $max_package_kib KiB: check the include list in Cargo.toml" >&2
  exit 1
fi

echo "== the shipped tests, from the unpacked package"
# Outside the repository, or cargo would take it for a stray member of this workspace.
unpacked=$(mktemp -d)
tar xzf "$crate" -C "$unpacked"
(cd "$unpacked"/tower-digest-auth-* &&
  cargo test --all-features --lib --bins --examples && cargo test --all-features --doc)
rm -rf "$unpacked"
