#!/usr/bin/env bash
# Installs the servers the Digest client's interop tests (suite/tests/client_interop.rs)
# start, when they are missing:
#   apt: apache2 (httpd with mod_auth_digest), lighttpd (mod_auth, with SHA-256 and
#        SHA-512-256), squid (with its digest_file_auth helper), libfaketime (moves
#        lighttpd's clock past its fixed 10-minute nonce lifetime, so the stale case takes
#        a second, not ten minutes)
# The tests start their own instances on free loopback ports with configs in temp dirs. The
# packages' own services are never started: the install runs under a policy-rc.d that
# forbids it (the one Debian's containers ship, or a temporary one), and any daemon found
# running afterwards is stopped. Idempotent; fails loudly when it cannot install.
set -uo pipefail

SQUID_DIGEST_HELPER=/usr/lib/squid/digest_file_auth

log() { printf 'client-interop-setup: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        return 1
    fi
}

# libfaketime's preload library, under the machine's multiarch directory.
faketime_lib() {
    local lib
    for lib in /usr/lib/*/faketime/libfaketime.so.1; do
        [ -e "$lib" ] && printf '%s\n' "$lib" && return 0
    done
    return 1
}

missing() {
    local packages=()
    [ -x /usr/sbin/apache2 ] || packages+=(apache2)
    [ -x /usr/sbin/lighttpd ] || packages+=(lighttpd)
    { [ -x /usr/sbin/squid ] && [ -x "$SQUID_DIGEST_HELPER" ]; } || packages+=(squid)
    faketime_lib >/dev/null || packages+=(libfaketime)
    printf '%s\n' "${packages[@]}"
}

packages=($(missing))
if [ ${#packages[@]} -gt 0 ]; then
    log "installing with apt-get: ${packages[*]}"
    # Debian's maintainer scripts start a package's daemon unless policy-rc.d answers 101.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null &&
            as_root chmod 755 "$policy" && made_policy=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${packages[@]}" >&2 ||
        log "apt-get could not install: ${packages[*]}"
    [ "$made_policy" -eq 1 ] && as_root rm -f "$policy"
    # Where a system instance runs all the same (an init that does not ask policy-rc.d),
    # stop it: the tests need none, and it would hold ports 80 and 3128.
    # Only the system instances, found by their packages' pid files: instances that tests
    # run elsewhere on this machine keep theirs in temp dirs.
    for pair in apache2:/run/apache2/apache2.pid lighttpd:/run/lighttpd.pid squid:/run/squid.pid; do
        service=${pair%%:*} pidfile=${pair#*:}
        if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            log "stopping the system $service the install started"
            as_root service "$service" stop >/dev/null 2>&1 || true
        fi
    done
fi

packages=($(missing))
if [ ${#packages[@]} -gt 0 ]; then
    log "the client interop tests cannot run; missing (apt-get install): ${packages[*]}"
    exit 1
fi
log "ok: $(/usr/sbin/apache2 -v | sed -n 's/^Server version: //p'), $(/usr/sbin/lighttpd -v | head -n 1 | cut -d' ' -f1), $(/usr/sbin/squid -v | head -n 1 | sed 's/.*Version /squid /')"
