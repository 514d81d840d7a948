#!/usr/bin/env bash
# Deterministic benchmarks (issue 10, item 0): user-space instructions per request, counted by
# valgrind's callgrind, which do not depend on what else runs on the machine.
#
# Two views:
#   service  suite/benches/instructions.rs: COUNT requests of one kind through DigestService around a
#            trivial service, counting only the function that sends them (--toggle-collect).
#            Kinds: open, challenge, auth-md5, auth-sha256, first-md5, first-sha256.
#   server   the release example server as a whole process under callgrind: WARMUP requests,
#            counters zeroed, REQUESTS requests from one keep-alive connection (loadgen), counters
#            dumped. Routes: the open server (AUTH=off) sent the same request bytes as the
#            protected one (loadgen --decoy-from, the Digest header under another name), and the
#            protected server (ALGORITHMS=MD5, ALGORITHMS=SHA-256). The difference is what
#            authentication adds to the whole server: parsing in hyper, the layer, the bigger
#            response, the runtime's work, allocations; everything but the kernel.
#
# Usage: benches/instructions.sh [--out DIR] [--service-only | --server-only]
# Environment: COUNT [2000] (service), REQUESTS [10000], WARMUP [1000] (server),
#              LOADGEN, SERVER (prebuilt binaries instead of building them).
# Results: DIR/instructions.csv, DIR/instructions.md, the callgrind files and, for the MD5 route
# and the service's auth-md5, callgrind_annotate listings (inclusive, top functions).
#
# Valgrind runs no SHA-NI: SHA-256 (the nonce MAC, and the SHA-256 route's hashing) is counted in
# its software form, which natively runs as a few SHA-NI instructions per block. The counts are
# exact for what runs under valgrind, and changes show up in them without noise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=$(pwd)

OUT=target/instructions
COUNT=${COUNT:-2000}
REQUESTS=${REQUESTS:-10000}
WARMUP=${WARMUP:-1000}
DO_SERVICE=1
DO_SERVER=1
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=$2; shift 2 ;;
        --out=*) OUT=${1#--out=}; shift ;;
        --service-only) DO_SERVER=0; shift ;;
        --server-only) DO_SERVICE=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "instructions.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { printf '[instructions %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
    [ "$(id -u)" = 0 ] || die "valgrind is not installed and this is not root: apt-get install valgrind"
    log "installing Debian's valgrind"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi

# The `totals:` line of a callgrind file: instructions (Ir) counted.
totals() { awk '/^totals:/ {print $2; found=1} END {if (!found) print 0}' "$1"; }
per_request() { awk -v t="$1" -v n="$2" 'BEGIN {printf "%.0f", t / n}'; }

echo "kind,view,requests,instructions,per_request" >"$OUT/instructions.csv"
{
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src examples loadgen benches 2>/dev/null || echo ' (with local changes)')"
    echo "rustc: $(rustc --version)"
    echo "valgrind: $(valgrind --version)"
} >"$OUT/machine.txt"

# --- the service alone -------------------------------------------------------------------------
if [ "$DO_SERVICE" = 1 ]; then
    log "cargo bench --bench instructions --no-run"
    BENCH=$(cargo bench --bench instructions --no-run 2>&1 |
        sed -n 's/.*Executable .*(\(target\/release\/deps\/instructions-[0-9a-f]*\)).*/\1/p' | tail -1)
    [ -x "$BENCH" ] || die "no instructions bench binary found"
    for kind in open challenge auth-md5 auth-sha256 first-md5 first-sha256; do
        file=$OUT/service-$kind.callgrind
        valgrind --tool=callgrind --toggle-collect='*measured_requests*' \
            --callgrind-out-file="$file" "$BENCH" "$kind" "$COUNT" >/dev/null 2>"$OUT/service-$kind.log" ||
            { cat "$OUT/service-$kind.log" >&2; die "service $kind failed"; }
        total=$(totals "$file")
        per=$(per_request "$total" "$COUNT")
        echo "$kind,service,$COUNT,$total,$per" >>"$OUT/instructions.csv"
        log "service $kind: $per instructions per request"
    done
    callgrind_annotate --inclusive=yes --threshold=99 "$OUT/service-auth-md5.callgrind" \
        >"$OUT/service-auth-md5.annotate.txt" 2>/dev/null || true
fi

# --- the example server as a whole ---------------------------------------------------------------
if [ "$DO_SERVER" = 1 ]; then
    if [ -z "${LOADGEN:-}" ] || [ -z "${SERVER:-}" ]; then
        log "cargo build --release (example server, loadgen)"
        cargo build --release -p tower-digest-auth --example server
        cargo build --release -p loadgen
    fi
    LOADGEN=${LOADGEN:-$ROOT_DIR/target/release/loadgen}
    SERVER=${SERVER:-$ROOT_DIR/target/release/examples/server}
    PIDS=()
    cleanup() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
    trap cleanup EXIT
    port=${BASE_PORT:-18380}
    free_port() {
        while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
        FREE_PORT=$port
        port=$((port + 1))
    }
    wait_port() { # port pid [tries of 0.1 s]
        local i
        for i in $(seq 1 "${3:-100}"); do
            (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
            kill -0 "$2" 2>/dev/null || return 1
            sleep 0.1
        done
        return 1
    }
    # Native protected servers: where the open route's decoy challenges come from.
    declare -A SOURCE
    for alg in MD5 SHA-256; do
        free_port
        ADDR=127.0.0.1:$FREE_PORT ALGORITHMS=$alg RUST_LOG=warn "$SERVER" >/dev/null 2>&1 &
        PIDS+=($!)
        wait_port "$FREE_PORT" $! || die "decoy source ($alg) did not start"
        SOURCE[$alg]=http://127.0.0.1:$FREE_PORT/dir/index.html
    done
    for route in open-MD5 open-SHA-256 MD5 SHA-256; do
        alg=${route#open-}
        if [ "$route" = "$alg" ]; then env=(ALGORITHMS="$alg"); extra=(); else
            env=(AUTH=off); extra=(--decoy-from "${SOURCE[$alg]}"); fi
        free_port
        file=$OUT/server-$route.callgrind
        rm -f "$file" "$file".*
        env "${env[@]}" ADDR="127.0.0.1:$FREE_PORT" RUST_LOG=warn \
            valgrind --tool=callgrind --callgrind-out-file="$file" "$SERVER" \
            >"$OUT/server-$route.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        wait_port "$FREE_PORT" "$pid" 600 || { cat "$OUT/server-$route.log" >&2; die "server $route did not start"; }
        url=http://127.0.0.1:$FREE_PORT/dir/index.html
        load() { # requests
            "$LOADGEN" --url "$url" --connections 1 --duration 600 --requests "$1" \
                --algorithm "$alg" --json --strict "${extra[@]}"
        }
        load "$WARMUP" >/dev/null
        callgrind_control --zero "$pid" >/dev/null 2>&1
        result=$(load "$REQUESTS")
        callgrind_control --dump="measured" "$pid" >/dev/null 2>&1
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        dump=$(grep -l '^desc: Trigger: Client Request: measured' "$file".* 2>/dev/null | head -1 || true)
        [ -n "$dump" ] || dump=$(ls "$file".* 2>/dev/null | head -1)
        [ -n "$dump" ] || die "no callgrind dump for $route"
        mv "$dump" "$file.measured"
        ok=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["requests"])' "$result")
        total=$(totals "$file.measured")
        per=$(per_request "$total" "$ok")
        echo "$route,server,$ok,$total,$per" >>"$OUT/instructions.csv"
        log "server $route: $per instructions per request ($ok requests)"
    done
    callgrind_annotate --inclusive=yes --threshold=99 "$OUT/server-MD5.callgrind.measured" \
        >"$OUT/server-MD5.annotate.txt" 2>/dev/null || true
    # Where authentication's instructions go: per function (exclusive), MD5 route less its
    # matched open route, per request.
    for route in open-MD5 MD5; do
        callgrind_annotate --threshold=100 "$OUT/server-$route.callgrind.measured" \
            >"$OUT/server-$route.functions.txt" 2>/dev/null
    done
    python3 - "$OUT" "$REQUESTS" <<'PY' >"$OUT/server-MD5-added.txt"
import re, sys
out, n = sys.argv[1], float(sys.argv[2])
def load(route):
    d = {}
    for line in open(f"{out}/server-{route}.functions.txt"):
        m = re.match(r"^\s*([\d,]+)\s+(\([\d. %]+\)\s+)?(\S.*?)(\s+\[.*\])?$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = m.group(3)
        name = name[4:] if name.startswith("???:") else re.sub(r"^\S*?:(?=[^/])", "", name)
        d[name] = d.get(name, 0) + int(m.group(1).replace(",", "")) / n
    return d
open_, auth = load("open-MD5"), load("MD5")
rows = sorted(((auth.get(k, 0) - open_.get(k, 0), k) for k in set(open_) | set(auth)), reverse=True)
# Thread entry frames carry the whole difference (their callees' costs are attributed to
# them in this listing): they name no work of their own.
total = rows[0][0]
print("added instructions per request (MD5 route less matched open route), by function (exclusive)")
print(f"{total:8.0f}  total")
for d, k in rows:
    if abs(d) >= 20 and abs(d - total) > 1:
        print(f"{d:8.0f}  {k[:140]}")
PY
fi

python3 - "$OUT" <<'PY'
import csv, sys
out = sys.argv[1]
rows = {(r["view"], r["kind"]): int(r["per_request"]) for r in csv.DictReader(open(f"{out}/instructions.csv"))}
md = ["| view | kind | instructions per request | added |", "|---|---|---|---|"]
base = {"service": rows.get(("service", "open")), "server": None}
for (view, kind), n in rows.items():
    if view == "service":
        ref = base["service"]
    elif kind.startswith("open-"):
        ref = None
    else:
        ref = rows.get(("server", f"open-{kind}"))
    added = f"+{n - ref:,}" if ref is not None and kind not in ("open",) and not kind.startswith("open-") else ""
    md.append(f"| {view} | {kind} | {n:,} | {added} |")
open(f"{out}/instructions.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
log "results in $OUT"
