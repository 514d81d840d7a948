#!/usr/bin/env bash
# The whole test suite, interop included: installs the external clients the interop suite
# drives (tests/interop-setup.sh), the Apache httpd, lighttpd and Squid the Digest client's
# interop tests start (tests/client-interop-setup.sh) and the Redis server the Redis tests
# start (tests/redis-setup.sh), then runs every test with every feature. A missing client
# fails the run; nothing is skipped. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tests/interop-setup.sh
bash tests/htdigest-setup.sh
bash tests/client-interop-setup.sh
bash tests/redis-setup.sh
cargo test --all-features "$@"
