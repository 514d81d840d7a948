#!/usr/bin/env bash
# Runs one fuzz target on the stable toolchain, installing cargo-fuzz first if missing.
#
#   fuzz/run.sh TARGET [SECONDS] [libFuzzer options...]
#
# TARGET is `authorization`, `service` or `challenge` (see FUZZING.md); SECONDS defaults to 60, and 0
# means no time limit (then bound the run with e.g. -runs=10000000). `-s none` builds
# without a sanitizer, so cargo-fuzz passes no -Z flag and no nightly is needed.
#
# New inputs go to fuzz/work/TARGET (not committed), seeded from the committed corpus
# fuzz/corpus/TARGET; crashes go to fuzz/artifacts/TARGET. FUZZING.md says how to fold
# new inputs into the committed corpus (minimized with `cargo fuzz cmin`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

target=${1:?usage: fuzz/run.sh authorization|service|challenge [seconds] [libFuzzer options...]}
seconds=${2:-60}
shift $(($# >= 2 ? 2 : 1))

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

options=(-max_total_time="$seconds")
case "$target" in
  authorization) options+=(-dict=authorization.dict) ;;
  challenge) options+=(-dict=challenge.dict) ;;
  # Longer scenarios add little coverage and cost time on every run.
  service) options+=(-max_len=1024) ;;
  *) echo "unknown target $target (authorization, service, challenge)" >&2; exit 2 ;;
esac

mkdir -p "work/$target" "corpus/$target"
exec cargo fuzz run -s none "$target" "work/$target" "corpus/$target" -- "${options[@]}" "$@"
