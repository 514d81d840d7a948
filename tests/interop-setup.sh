#!/usr/bin/env bash
# Installs what the interop suite (suite/tests/interop.rs) drives, when it is missing:
#   apt: curl, chromium, nodejs, npm, litmus (WebDAV client, suite/tests/webdav.rs), wget, libwww-perl (Perl LWP), default-jdk-headless
#        (java with the compiler, for the single-file DigestClient.java)
#   pip: requests, httpx, aiohttp>=3.12 (Python's own urllib needs nothing)
#   npm: playwright-core and digest-fetch (pinned by suite/tests/interop/package-lock.json, into
#        suite/tests/interop/node_modules)
# Idempotent: when everything is there it only checks, in about a second.
# When something cannot be installed it says exactly what is missing and exits non-zero.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
interop="$root/suite/tests/interop"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
PY_PACKAGES=("requests>=2.31" "httpx>=0.27" "aiohttp>=3.12")

log() { printf 'interop-setup: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        return 1
    fi
}

python_ok() {
    python3 - <<'PY' >/dev/null 2>&1
import requests, httpx, aiohttp
from aiohttp import DigestAuthMiddleware
PY
}

lwp_ok() {
    perl -MLWP::UserAgent -MLWP::Authen::Digest -e 1 >/dev/null 2>&1
}

# Single-file source launch (`java X.java`) needs the compiler module, which a JRE lacks.
jdk_ok() {
    command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1
}

# Every package the lock file pins is installed at its locked version.
playwright_ok() {
    (cd "$interop" && node -e '
        const lock = require("./package-lock.json").packages;
        for (const name of ["playwright-core", "digest-fetch"]) {
            const want = lock["node_modules/" + name].version;
            const have = require("./node_modules/" + name + "/package.json").version;
            if (want !== have) process.exit(1);
        }') >/dev/null 2>&1
}

# 1. Debian packages.
apt_missing=()
command -v curl >/dev/null 2>&1 || apt_missing+=(curl)
command -v litmus >/dev/null 2>&1 || apt_missing+=(litmus)
[ -x "$CHROMIUM" ] || apt_missing+=(chromium)
command -v node >/dev/null 2>&1 || apt_missing+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_missing+=(npm)
command -v wget >/dev/null 2>&1 || apt_missing+=(wget)
lwp_ok || apt_missing+=(libwww-perl)
jdk_ok || apt_missing+=(default-jdk-headless)
if ! command -v python3 >/dev/null 2>&1; then
    apt_missing+=(python3 python3-pip)
elif ! python_ok && ! python3 -m pip --version >/dev/null 2>&1; then
    apt_missing+=(python3-pip)
fi
if [ ${#apt_missing[@]} -gt 0 ]; then
    log "installing with apt-get: ${apt_missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${apt_missing[@]}" >&2 ||
        log "apt-get could not install: ${apt_missing[*]}"
fi

# 2. Python libraries.
if command -v python3 >/dev/null 2>&1 && ! python_ok; then
    log "installing with pip: ${PY_PACKAGES[*]}"
    python3 -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}" >&2 ||
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
            "${PY_PACKAGES[@]}" >&2 ||
        log "pip could not install: ${PY_PACKAGES[*]}"
fi

# 3. playwright-core, exactly as locked.
if command -v npm >/dev/null 2>&1 && ! playwright_ok; then
    log "installing playwright-core and digest-fetch with npm ci into suite/tests/interop/node_modules"
    (cd "$interop" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
        log "npm could not install playwright-core and digest-fetch"
fi

# 4. Check everything, and say exactly what is still missing.
missing=()
command -v curl >/dev/null 2>&1 || missing+=("curl (apt-get install curl)")
command -v litmus >/dev/null 2>&1 || missing+=("litmus (apt-get install litmus)")
[ -x "$CHROMIUM" ] || missing+=("chromium at $CHROMIUM (apt-get install chromium)")
command -v node >/dev/null 2>&1 || missing+=("node (apt-get install nodejs)")
command -v wget >/dev/null 2>&1 || missing+=("wget (apt-get install wget)")
lwp_ok || missing+=("Perl LWP (apt-get install libwww-perl)")
jdk_ok || missing+=("a JDK with java and javac (apt-get install default-jdk-headless)")
if command -v python3 >/dev/null 2>&1; then
    python_ok || missing+=("python packages (python3 -m pip install $(printf "'%s' " "${PY_PACKAGES[@]}"))")
else
    missing+=("python3 (apt-get install python3 python3-pip)")
fi
if command -v node >/dev/null 2>&1; then
    playwright_ok || missing+=("playwright-core and digest-fetch (cd suite/tests/interop && npm ci)")
fi
if [ ${#missing[@]} -gt 0 ]; then
    log "the interop suite cannot run; missing:"
    for item in "${missing[@]}"; do
        printf '  - %s\n' "$item" >&2
    done
    exit 1
fi
log "curl, litmus, chromium, python requests/httpx/aiohttp, wget, Perl LWP, the JDK, playwright-core and digest-fetch are ready"
