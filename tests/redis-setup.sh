#!/usr/bin/env bash
# Installs what the Redis tests (tests/redis/) start, when it is missing:
#   apt: redis-server (the server, also run as a 3-node Cluster), redis-tools (redis-cli,
#        which creates the Cluster), openssl (certificates for the TLS test)
# The tests start their own servers on free loopback ports in temp dirs; nothing here
# starts or configures a system Redis. Idempotent; fails loudly when it cannot install.
set -uo pipefail

log() { printf 'redis-setup: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        return 1
    fi
}

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing with apt-get: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >&2 ||
        log "apt-get could not install: ${missing[*]}"
fi

status=0
for tool in redis-server redis-cli openssl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        log "missing: $tool"
        status=1
    fi
done
if [ "$status" -eq 0 ]; then
    log "ok: $(redis-server --version | cut -d' ' -f1-3)"
fi
exit "$status"
