#!/usr/bin/env bash
# Installs what the htdigest interop tests (tests/htdigest_interop.rs) drive, when missing:
#   apt: apache2-utils (Apache's `htdigest`), apache2 (httpd with mod_auth_digest, run on a
#        private config under a temp dir), curl, python3 (drives `htdigest` on a pty)
# Idempotent: when everything is there it only checks. When something cannot be installed
# it says what is missing and exits non-zero.
set -uo pipefail

log() { printf 'htdigest-setup: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        return 1
    fi
}

missing() {
    local packages=()
    command -v htdigest >/dev/null 2>&1 || packages+=(apache2-utils)
    [ -x /usr/sbin/apache2 ] || packages+=(apache2)
    command -v curl >/dev/null 2>&1 || packages+=(curl)
    command -v python3 >/dev/null 2>&1 || packages+=(python3)
    printf '%s\n' "${packages[@]}"
}

packages=($(missing))
if [ ${#packages[@]} -gt 0 ]; then
    log "installing with apt-get: ${packages[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${packages[@]}" >&2 ||
        log "apt-get could not install: ${packages[*]}"
fi

packages=($(missing))
if [ ${#packages[@]} -gt 0 ]; then
    log "the htdigest interop tests cannot run; missing (apt-get install): ${packages[*]}"
    exit 1
fi
log "htdigest, apache2, curl and python3 are ready"
