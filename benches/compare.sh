#!/usr/bin/env bash
# Side-by-side Digest benchmark, one run on one machine with one load generator
# (loadgen/, a workspace member): the example server without the layer (AUTH=off), with it (MD5, SHA-256),
# and Apache httpd 2.4 prefork without and with mod_auth_digest (MD5; the only algorithm it has).
# Also the database example (suite/examples/database.rs, SQLite through a pool) with its credential
# cache on and off (CACHE=off), against the example server's in-memory store (SHA-256).
# With REDIS=1 also the example server on the Redis nonce store (SHA-256, REDIS_URL to a private
# redis-server on loopback), compared with the memory store's SHA-256 run of the same round.
#
# The matched method (issue 10; measuring at a matched pace): server CPU per request depends on the pace,
# so an open route is compared with a protected one only at the same pace and with the same
# request bytes. The servers run pinned to one core (SERVER_CPU) and the load generator to the
# other (CLIENT_CPU); each open route is loaded with `loadgen --decoy-from` its protected twin:
# the same Digest header, computed the same way per request, sent as X-Auth-Digest, so the
# client's work and the request bytes match. Each auth variant is paired with its own matched
# open variant (ours-open-md5, ours-open-sha256, apache-open), the pair's order alternates
# from round to round, and the summary takes medians over the rounds.
# The load generator polls its sockets (`loadgen --spin`, SPIN=1) in these rounds: on loopback
# the server's send runs the receiver's wake-up, so a generator asleep in read() charges the
# server for waking it, more when the server is slower and the generator idles more often
# (perf: 4.3 µs per request on the open route, 6.7 µs on MD5). No sleeper, nothing to wake.
# A connection sweep (SWEEP) then loads the open route, the protected route (MD5, memory store)
# and Apache at 64 and 256 connections: throughput and p99 latency.
#
# Usage: benches/compare.sh [--out DIR] [--quick] [--no-memory] [--memory-only] [--no-sweep]
#
# Environment (defaults in brackets):
#   ROUNDS [5]          rounds; every round runs every variant once, in a rotated order
#   DURATION [4]        seconds per run
#   CONNECTIONS [1]     connections (one loadgen thread each)
#   SPIN [1]            the load generator polls instead of sleeping in read() during the
#                       rounds (loadgen --spin; SPIN=0 sleeps, as real clients do)
#   SERVER_CPU [0], CLIENT_CPU [1]  the cores servers and load generator are pinned to
#                       (taskset; PIN=0 pins nothing)
#   SWEEP ["64 256"]    connection counts of the sweep; SWEEP_ROUNDS [3], SWEEP_DURATION [3]
#   WARMUP [1]          seconds of discarded load per variant before the first round
#   MEMORY [1]          also measure the example server's memory (issue 4 item 4)
#   FLOOD_REQUESTS [1000000]  unauthenticated requests for the challenge-flood figure
#   LIVE_NONCES [1000000]     nonces to make live (one handshake + one authenticated request each)
#   MEMORY_TIMEOUT [240]      time bound (seconds) of each memory load run
#   MEMORY_CONNECTIONS [4]    connections of the memory load runs
#   QUIET_MAX [0.3]     before each run, wait until the machine's other load is below this many
#   QUIET_WAIT [30]     ... busy cores, for at most this many seconds (then run anyway, noted)
#   BUSY_MAX [0.25]     a run during which other processes used more than this many cores is
#   RETRIES [2]         ... discarded (kept in runs-discarded.jsonl) and redone, at most this often
#   SKIP_OURS, SKIP_APACHE [0]  leave one side out
#   SKIP_DATABASE [0]   leave out the database example (db-cached, db-uncached)
#   ONLY                run only these variants (space-separated names, e.g.
#                       "ours-sha256 db-cached db-uncached"); all servers still start
#   REDIS [1]           add the Redis-store variant (ours-redis) and measure Redis memory per nonce
#   REDIS_NONCES [20000]      nonces made live for the Redis memory figure
#   MEMORY_ENV          extra VAR=value words for the memory server
#   LOADGEN, SERVER, DATABASE_SERVER  prebuilt binaries to use instead of building them
#
# Everything listens on 127.0.0.1 only; every load run is bounded in time. Apache is installed
# from Debian's apache2 package if missing (needs root) and runs from a private ServerRoot under
# a temp dir; nothing in /etc/apache2 is used or changed. Results: DIR/runs.csv (every run),
# DIR/summary.csv and DIR/summary.md (median and range over the rounds), DIR/memory.csv,
# DIR/runs.jsonl (raw loadgen output) and DIR/machine.txt. Plot with benches/plot.py DIR.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT_DIR=$(pwd)

OUT=target/bench-compare
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-4}
CONNECTIONS=${CONNECTIONS:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PIN=${PIN:-1}
SWEEP=${SWEEP-64 256}
SWEEP_ROUNDS=${SWEEP_ROUNDS:-3}
SWEEP_DURATION=${SWEEP_DURATION:-3}
WARMUP=${WARMUP:-1}
MEMORY=${MEMORY:-1}
FLOOD_REQUESTS=${FLOOD_REQUESTS:-1000000}
LIVE_NONCES=${LIVE_NONCES:-1000000}
MEMORY_TIMEOUT=${MEMORY_TIMEOUT:-240}
QUIET_MAX=${QUIET_MAX:-0.3}
QUIET_WAIT=${QUIET_WAIT:-30}
BUSY_MAX=${BUSY_MAX:-0.25}
RETRIES=${RETRIES:-2}
SPIN=${SPIN:-1}
ROUND_ARGS=()
[ "$SPIN" = 1 ] && ROUND_ARGS=(--spin)
SKIP_OURS=${SKIP_OURS:-0}
SKIP_APACHE=${SKIP_APACHE:-0}
SKIP_DATABASE=${SKIP_DATABASE:-0}
ONLY=${ONLY:-}
REDIS=${REDIS:-1}
REDIS_NONCES=${REDIS_NONCES:-20000}
MEMORY_ONLY=0

while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=$2; shift 2 ;;
        --out=*) OUT=${1#--out=}; shift ;;
        --quick) ROUNDS=3; DURATION=3; WARMUP=1; MEMORY=0; SWEEP=""; shift ;;
        --no-sweep) SWEEP=""; shift ;;
        --no-memory) MEMORY=0; shift ;;
        --memory-only) MEMORY_ONLY=1; MEMORY=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=compare-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/compare-lib.sh"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# --- tools -----------------------------------------------------------------------------------
if [ ! -f examples/server.rs ] && [ -z "${SERVER:-}" ]; then
    log "examples/server.rs does not exist: measuring Apache only"
    SKIP_OURS=1
    MEMORY=0
fi
if [ "$MEMORY_ONLY" = 1 ]; then SKIP_APACHE=1; fi
if [ "$SKIP_OURS" = 1 ] || [ "$MEMORY_ONLY" = 1 ]; then SKIP_DATABASE=1; fi

if [ -z "${LOADGEN:-}" ] || { [ "$SKIP_OURS" = 0 ] && [ -z "${SERVER:-}" ]; } ||
    { [ "$SKIP_DATABASE" = 0 ] && [ -z "${DATABASE_SERVER:-}" ]; }; then
    log "cargo build --release -p loadgen"
    cargo build --release -p loadgen
    targets=()
    [ "$SKIP_OURS" = 0 ] && targets+=(--example server)
    [ "$SKIP_DATABASE" = 0 ] && targets+=(--example database)
    features=()
    [ "$SKIP_DATABASE" = 0 ] && features+=(cache)
    [ "$REDIS" = 1 ] && features+=(redis)
    if [ ${#targets[@]} -gt 0 ]; then
        log "cargo build --release ${targets[*]} --features '${features[*]}'"
        cargo build --release "${targets[@]}" --features "${features[*]}"
    fi
fi
LOADGEN=${LOADGEN:-$ROOT_DIR/target/release/loadgen}
SERVER=${SERVER:-$ROOT_DIR/target/release/examples/server}
DATABASE_SERVER=${DATABASE_SERVER:-$ROOT_DIR/target/release/examples/database}
[ -x "$LOADGEN" ] || die "no load generator at $LOADGEN"
[ "$SKIP_OURS" = 1 ] || [ -x "$SERVER" ] || die "no example server at $SERVER"
[ "$SKIP_DATABASE" = 1 ] || [ -x "$DATABASE_SERVER" ] || die "no database example at $DATABASE_SERVER"
command -v python3 >/dev/null || die "python3 is needed for the summary"
# Pinning: servers (and Apache's children, which inherit it) on one core, the load generator
# on another, so neither steals the other's core and the server's CPU is its own.
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    command -v taskset >/dev/null || die "taskset (util-linux) is needed for pinning; PIN=0 runs unpinned"
    ON_SERVER_CPU=(taskset -c "$SERVER_CPU")
    ON_CLIENT_CPU=(taskset -c "$CLIENT_CPU")
else
    ON_SERVER_CPU=()
    ON_CLIENT_CPU=()
fi

if [ "$SKIP_APACHE" = 0 ] && ! command -v apache2 >/dev/null; then
    [ "$(id -u)" = 0 ] || die "apache2 is not installed and this is not root: apt-get install apache2 apache2-utils"
    log "installing Debian's apache2 and apache2-utils"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq apache2 apache2-utils >/dev/null
fi
APACHE_MODULES=/usr/lib/apache2/modules
if [ "$SKIP_APACHE" = 0 ]; then
    [ -f "$APACHE_MODULES/mod_auth_digest.so" ] || die "mod_auth_digest.so not found in $APACHE_MODULES"
fi

# --- bookkeeping -----------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/digest-bench.XXXXXX)
chmod 755 "$WORK" # Apache's children run as www-data and read their files from here
declare -A PID PORT
trap cleanup EXIT
trap 'exit 130' INT TERM

NEXT_PORT=${BASE_PORT:-18180}

declare -A URL_PATH

# loadgen arguments per variant; the open variants' decoy sources are set once the servers
# are up (DECOY: variant -> the protected twin whose challenges it answers).
declare -A ARGS DECOY
ARGS[ours-open]="--no-auth"
ARGS[ours-open-md5]="--algorithm MD5"
ARGS[ours-open-sha256]="--algorithm SHA-256"
ARGS[ours-md5]="--algorithm MD5"
ARGS[ours-sha256]="--algorithm SHA-256"
ARGS[ours-redis]="--algorithm SHA-256"
ARGS[apache-open]="--algorithm MD5"
ARGS[apache-digest]="--algorithm MD5"
ARGS[db-cached]="--algorithm SHA-256"
ARGS[db-uncached]="--algorithm SHA-256"
URL_PATH[db-cached]=/
URL_PATH[db-uncached]=/
DECOY[ours-open-md5]=ours-md5
DECOY[ours-open-sha256]=ours-sha256
DECOY[apache-open]=apache-digest

# --- machine ---------------------------------------------------------------------------------
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "memory: $(awk '/^MemTotal/ {print $2 " kB"}' /proc/meminfo)"
    echo "kernel: $(uname -r)"
    echo "rustc: $(rustc --version 2>/dev/null || echo '?')"
    echo "source: $(git rev-parse --short HEAD 2>/dev/null || echo 'no commit'), working tree hash $(
        find src examples/server.rs suite/examples/database.rs loadgen/src Cargo.toml -type f 2>/dev/null | sort |
            xargs sha256sum | sha256sum | cut -c1-12)"
    command -v apache2 >/dev/null && echo "apache: $(apache2 -v | head -1)"
    echo "rounds: $ROUNDS, duration: ${DURATION}s, connections: $CONNECTIONS, warmup: ${WARMUP}s, load generator: ${ROUND_ARGS[*]:-sleeps in read}"
    echo "pinning: ${ON_SERVER_CPU[*]:-none} (servers), ${ON_CLIENT_CPU[*]:-none} (load generator)"
    echo "sweep: connections ${SWEEP:-none}, ${SWEEP_ROUNDS} rounds of ${SWEEP_DURATION}s"
    echo "loadavg before: $(cat /proc/loadavg)"
    echo "busiest processes before:"
    ps -eo pid,pcpu,comm --sort=-pcpu | head -6 | sed 's/^/  /'
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# --- servers ---------------------------------------------------------------------------------
VARIANTS=()
if [ "$SKIP_OURS" = 0 ] && [ "$MEMORY_ONLY" = 0 ]; then
    # One open server serves both matched baselines (the variants differ in the load only).
    start_ours ours-open AUTH=off
    start_ours ours-md5 ALGORITHMS=MD5
    start_ours ours-sha256 ALGORITHMS=SHA-256
    PID[ours-open-md5]=${PID[ours-open]} PORT[ours-open-md5]=${PORT[ours-open]}
    PID[ours-open-sha256]=${PID[ours-open]} PORT[ours-open-sha256]=${PORT[ours-open]}
    VARIANTS+=(ours-open-md5 ours-md5 ours-open-sha256 ours-sha256)
    if [ "$REDIS" = 1 ]; then
        bash "$ROOT_DIR/tests/redis-setup.sh" || die "redis-server is needed for REDIS=1"
        free_port
        REDIS_PORT=$FREE_PORT
        mkdir -p "$WORK/redis"
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
            --dir "$WORK/redis" >"$WORK/redis.log" 2>&1 &
        PID[redis]=$!
        wait_port "$REDIS_PORT" "${PID[redis]}" || die "redis-server did not start"
        log "redis: pid ${PID[redis]}, 127.0.0.1:$REDIS_PORT ($(redis-server --version | cut -d' ' -f3))"
        start_ours ours-redis ALGORITHMS=SHA-256 NONCE_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
            REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
        VARIANTS+=(ours-redis)
    fi
    # Serve Apache the very same bytes.
    if command -v curl >/dev/null; then
        curl -sf "$(url ours-open)" -o "$WORK/index.html" || die "GET $(url ours-open) failed"
    else
        python3 -c 'import sys,urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' \
            "$(url ours-open)" >"$WORK/index.html"
    fi
    code=$(python3 -c 'import sys,urllib.request,urllib.error
try: print(urllib.request.urlopen(sys.argv[1]).status)
except urllib.error.HTTPError as e: print(e.code)' "$(url ours-md5)")
    [ "$code" = 401 ] || die "ours-md5 answered $code without credentials, expected 401"
else
    # The example server's body is not at hand: a small page of a typical size.
    printf '<!doctype html>\n<title>index</title>\n<p>Hello, Mufasa.</p>\n' >"$WORK/index.html"
fi
log "body: $(wc -c <"$WORK/index.html") bytes"
if [ "$SKIP_APACHE" = 0 ]; then
    start_apache apache-open site-open.conf.in
    start_apache apache-digest site-digest.conf.in
    VARIANTS+=(apache-open apache-digest)
fi
if [ "$SKIP_DATABASE" = 0 ]; then
    DATABASE="$WORK/users.db" "$DATABASE_SERVER" register Mufasa 'Circle of Life' >/dev/null
    SERVER=$DATABASE_SERVER SERVER_ARGS=serve start_ours db-cached DATABASE="$WORK/users.db" CACHE=on
    SERVER=$DATABASE_SERVER SERVER_ARGS=serve start_ours db-uncached DATABASE="$WORK/users.db" CACHE=off
    VARIANTS+=(db-cached db-uncached)
fi
if [ -n "$ONLY" ]; then
    kept=()
    for v in "${VARIANTS[@]}"; do
        case " $ONLY " in *" $v "*) kept+=("$v") ;; esac
    done
    VARIANTS=("${kept[@]}")
    log "running only: ${VARIANTS[*]}"
fi

# --- throughput and CPU ----------------------------------------------------------------------
if [ ${#VARIANTS[@]} -gt 0 ]; then
    : >"$OUT/runs.jsonl"
    rm -f "$OUT/runs-discarded.jsonl"
    for v in "${VARIANTS[@]}"; do
        log "warm-up $v (${WARMUP}s)"
        run_load "$v" "$WARMUP" "warmup" "${ROUND_ARGS[@]}" >/dev/null
    done
    n=${#VARIANTS[@]}
    for r in $(seq 1 "$ROUNDS"); do
        # Rotated by one each round, and reversed every other round: each auth variant and
        # its matched open twin swap places from one round to the next.
        order=()
        for i in $(seq 0 $((n - 1))); do order+=("${VARIANTS[$(((i + r - 1) % n))]}"); done
        if [ $((r % 2)) = 0 ]; then
            for ((i = 0, j = n - 1; i < j; i++, j--)); do
                tmp=${order[i]} order[i]=${order[j]} order[j]=$tmp
            done
        fi
        for v in "${order[@]}"; do
            for try in $(seq 0 "$RETRIES"); do
                wait_quiet
                r0=$(redis_ticks)
                line=$(run_load "$v" "$DURATION" "$r $v" "${ROUND_ARGS[@]}")
                r1=$(redis_ticks)
                # Redis's CPU during the run, for the Redis variant's cost per request.
                line=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); t=(int(sys.argv[3])-int(sys.argv[2]))/int(sys.argv[4]); d['redis_cpu_us_per_req']=round(t*1e6/max(d['requests'],1),3) if sys.argv[5]=='ours-redis' else 0; print(json.dumps(d))" "$line" "$r0" "$r1" "$(getconf CLK_TCK)" "$v")
                # Other processes' CPU during the run: machine busy less server and loadgen.
                read -r background summary < <(python3 -c "import json,sys; d=json.loads(sys.argv[1]); b=d.get('machine_busy_cores',0)-d.get('server_cpu_util',0)-d.get('client_cpu_util',0); print('%.2f' % b, '%.0f req/s, server %.2f us/req, errors %d, rejected %d, other %d, background %.2f cores' % (d['rps'], d.get('server_cpu_us_per_req', 0), d['errors'], d['rejected_401'], d['other_status'], b))" "$line")
                if [ "$try" -lt "$RETRIES" ] && awk -v b="$background" -v m="$BUSY_MAX" 'BEGIN {exit !(b > m)}'; then
                    log "round $r/$ROUNDS $v: $summary: discarded, redoing"
                    echo "$line" >>"$OUT/runs-discarded.jsonl"
                    echo "discarded: round $r $v (background $background cores)" >>"$OUT/machine.txt"
                    continue
                fi
                break
            done
            echo "$line" >>"$OUT/runs.jsonl"
            log "round $r/$ROUNDS $v: $summary"
        done
    done
    echo "loadavg after: $(cat /proc/loadavg)" >>"$OUT/machine.txt"

    SPIN=$SPIN python3 - "$OUT" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
runs = []
for line in open(f"{out}/runs.jsonl"):
    d = json.loads(line)
    rnd, variant = d["label"].split(" ", 1)
    # What else ran during the run: machine busy time less the server and the load generator.
    d["background_cores"] = round(d.get("machine_busy_cores", 0) - d.get("server_cpu_util", 0)
                                  - d.get("client_cpu_util", 0), 3)
    d["round"], d["variant"] = int(rnd), variant
    runs.append(d)

server_of = {"ours-open": "example server", "ours-md5": "example server", "ours-sha256": "example server",
             "ours-open-md5": "example server", "ours-open-sha256": "example server",
             "ours-redis": "example server, Redis store",
             "apache-open": "Apache 2.4 prefork", "apache-digest": "Apache 2.4 prefork",
             "db-cached": "database example (cache on)", "db-uncached": "database example (CACHE=off)"}
auth_of = {"ours-open": "open", "ours-md5": "MD5", "ours-sha256": "SHA-256", "ours-redis": "SHA-256",
           "ours-open-md5": "open (MD5 decoy)", "ours-open-sha256": "open (SHA-256 decoy)",
           "apache-open": "open (MD5 decoy)", "apache-digest": "MD5",
           "db-cached": "SHA-256", "db-uncached": "SHA-256"}
fields = ["round", "variant", "server", "auth", "requests", "rps", "p50_us", "p99_us",
          "server_cpu_us_per_req", "server_cpu_util", "client_cpu_us_per_req", "client_cpu_util",
          "machine_busy_cores", "background_cores",
          "ok_2xx", "handshake_401", "stale_401", "rejected_401", "other_status", "errors"]
with open(f"{out}/runs.csv", "w") as f:
    f.write(",".join(fields) + "\n")
    for d in sorted(runs, key=lambda d: (d["round"], d["variant"])):
        d["server"], d["auth"] = server_of[d["variant"]], auth_of[d["variant"]]
        f.write(",".join(str(d.get(k, "")) for k in fields) + "\n")

by = {(d["round"], d["variant"]): d for d in runs}
rounds = sorted({d["round"] for d in runs})
pairs = [("ours-md5", "ours-open-md5"), ("ours-sha256", "ours-open-sha256"),
         ("ours-redis", "ours-open-sha256"), ("apache-digest", "apache-open")]

def med_range(xs):
    return statistics.median(xs), min(xs), max(xs)

rows = []
for auth, open_ in pairs:
    rs = [r for r in rounds if (r, auth) in by and (r, open_) in by]
    if not rs:
        continue
    ratio = [by[r, auth]["rps"] / by[r, open_]["rps"] for r in rs]
    dcpu = [by[r, auth]["server_cpu_us_per_req"] - by[r, open_]["server_cpu_us_per_req"] for r in rs]
    bad = sum(by[r, auth]["errors"] + by[r, auth]["rejected_401"] + by[r, auth]["other_status"]
              + by[r, open_]["errors"] + by[r, open_]["other_status"] for r in rs)
    rows.append({
        "server": server_of[auth], "auth": auth_of[auth], "rounds": len(rs),
        "open_rps": med_range([by[r, open_]["rps"] for r in rs]),
        "auth_rps": med_range([by[r, auth]["rps"] for r in rs]),
        "ratio": med_range(ratio),
        "open_cpu": med_range([by[r, open_]["server_cpu_us_per_req"] for r in rs]),
        "auth_cpu": med_range([by[r, auth]["server_cpu_us_per_req"] for r in rs]),
        "dcpu": med_range(dcpu),
        "auth_p50": med_range([by[r, auth]["p50_us"] for r in rs]),
        "open_p50": med_range([by[r, open_]["p50_us"] for r in rs]),
        "client_dcpu": med_range([by[r, auth]["client_cpu_us_per_req"] - by[r, open_]["client_cpu_us_per_req"] for r in rs]),
        "open_busy": med_range([by[r, open_]["server_cpu_util"] for r in rs]),
        "auth_busy": med_range([by[r, auth]["server_cpu_util"] for r in rs]),
        "bad": bad,
    })

with open(f"{out}/summary.csv", "w") as f:
    cols = ["open_rps", "auth_rps", "ratio", "open_cpu", "auth_cpu", "dcpu", "open_p50", "auth_p50", "client_dcpu"]
    f.write("server,auth,rounds," + ",".join(f"{c}_median,{c}_min,{c}_max" for c in cols) + ",problems\n")
    for row in rows:
        vals = [f"{x:.4f}" for c in cols for x in row[c]]
        f.write(f"{row['server']},{row['auth']},{row['rounds']},{','.join(vals)},{row['bad']}\n")

def fmt(t, spec):
    m, lo, hi = t
    return f"{m:{spec}} ({lo:{spec}} – {hi:{spec}})"

md = ["| server | auth | open req/s | auth req/s | auth / open throughput | open CPU µs/req | auth CPU µs/req | added CPU µs/req |",
      "|---|---|---|---|---|---|---|---|"] if rows else []
for row in rows:
    md.append(f"| {row['server']} | {row['auth']} | {fmt(row['open_rps'], '.0f')} | {fmt(row['auth_rps'], '.0f')} | "
              f"**{fmt(row['ratio'], '.3f')}** | {fmt(row['open_cpu'], '.2f')} | {fmt(row['auth_cpu'], '.2f')} | "
              f"**{fmt(row['dcpu'], '+.2f')}** |")
md.append("")
md.append(f"Median (min – max) over {len(rounds)} rounds; each cell pairs runs from the same round. "
          "Open routes were loaded with the protected twin's Digest header under another name "
          "(same bytes, same client work).")
if os.environ.get("SPIN") == "1":
    md.append("The load generator polled its sockets (`--spin`), so its CPU is its whole core and "
              "says nothing per request; the server's core was busy (open / protected): "
              + ", ".join(f"{r['auth']} {r['server']} {r['open_busy'][0]:.2f} / {r['auth_busy'][0]:.2f}" for r in rows) + ".")
else:
    md.append("The load generator's own CPU per request differed by "
              + ", ".join(f"{r['auth']} {r['server']}: {r['client_dcpu'][0]:+.2f} µs" for r in rows) + " (auth − open).")
apache = [r for r in rows if r["server"].startswith("Apache")]
if apache and apache[0]["dcpu"][0] > 0:
    md.append("Added CPU against Apache's (medians): "
              + ", ".join(f"{r['auth']} {r['dcpu'][0] / apache[0]['dcpu'][0]:.2f}×" for r in rows if r is not apache[0]) + ".")
worst = max(runs, key=lambda d: d["background_cores"])
md.append(f"Background load (machine busy time less server and load generator) during the kept runs: "
          f"at most {worst['background_cores']:.2f} cores (round {worst['round']}, {worst['variant']}).")
problems = [r for r in rows if r["bad"]]
if problems:
    md.append("Runs with errors, rejected 401s or unexpected statuses: "
              + ", ".join(f"{r['server']} {r['auth']} ({r['bad']})" for r in problems))
else:
    md.append("No errors, no rejected 401s, no unexpected statuses in any run.")

# The database example against the in-memory store (the example server, SHA-256), same rounds.
db_rows = []
for db in ("db-cached", "db-uncached"):
    rs = [r for r in rounds if (r, db) in by and (r, "ours-sha256") in by]
    if not rs:
        continue
    db_rows.append({
        "server": server_of[db], "rounds": len(rs),
        "mem_rps": med_range([by[r, "ours-sha256"]["rps"] for r in rs]),
        "db_rps": med_range([by[r, db]["rps"] for r in rs]),
        "mem_cpu": med_range([by[r, "ours-sha256"]["server_cpu_us_per_req"] for r in rs]),
        "db_cpu": med_range([by[r, db]["server_cpu_us_per_req"] for r in rs]),
        "cpu_ratio": med_range([by[r, db]["server_cpu_us_per_req"] / by[r, "ours-sha256"]["server_cpu_us_per_req"]
                                for r in rs]),
        "db_p99": med_range([by[r, db]["p99_us"] for r in rs]),
        "bad": sum(by[r, db]["errors"] + by[r, db]["rejected_401"] + by[r, db]["other_status"] for r in rs),
    })
if db_rows:
    with open(f"{out}/summary-database.csv", "w") as f:
        cols = ["mem_rps", "db_rps", "mem_cpu", "db_cpu", "cpu_ratio", "db_p99"]
        f.write("server,rounds," + ",".join(f"{c}_median,{c}_min,{c}_max" for c in cols) + ",problems\n")
        for row in db_rows:
            vals = [f"{x:.4f}" for c in cols for x in row[c]]
            f.write(f"{row['server']},{row['rounds']},{','.join(vals)},{row['bad']}\n")
    md += ["", "| variant (SHA-256) | in-memory req/s | database req/s | in-memory CPU µs/req | database CPU µs/req | database / in-memory CPU | database p99 µs | problems |",
           "|---|---|---|---|---|---|---|---|"]
    for row in db_rows:
        md.append(f"| {row['server']} | {fmt(row['mem_rps'], '.0f')} | {fmt(row['db_rps'], '.0f')} | "
                  f"{fmt(row['mem_cpu'], '.2f')} | {fmt(row['db_cpu'], '.2f')} | **{fmt(row['cpu_ratio'], '.2f')}** | "
                  f"{fmt(row['db_p99'], '.0f')} | {row['bad']} |")
    md.append("")
    md.append("In-memory: the example server (ALGORITHMS=SHA-256), paired with each database run of the same round.")
rs = [r for r in rounds if (r, "ours-redis") in by and (r, "ours-sha256") in by]
if rs:
    rr, mm = [by[r, "ours-redis"] for r in rs], [by[r, "ours-sha256"] for r in rs]
    md += ["", "Redis store against the memory store (SHA-256, same rounds):", "",
           "| store | req/s | p50 µs | p99 µs | server CPU µs/req | Redis CPU µs/req |",
           "|---|---|---|---|---|---|"]
    for name, ds in (("memory", mm), ("Redis", rr)):
        md.append(f"| {name} | {fmt(med_range([d['rps'] for d in ds]), '.0f')} | "
                  f"{fmt(med_range([d['p50_us'] for d in ds]), '.0f')} | {fmt(med_range([d['p99_us'] for d in ds]), '.0f')} | "
                  f"{fmt(med_range([d['server_cpu_us_per_req'] for d in ds]), '.2f')} | "
                  + (fmt(med_range([d['redis_cpu_us_per_req'] for d in ds]), '.2f') if name == "Redis" else "—") + " |")
    ratio = [a["rps"] / b["rps"] for a, b in zip(rr, mm)]
    md += ["", f"Redis / memory throughput: **{fmt(med_range(ratio), '.3f')}** (goal >= 0.5)."]
open(f"{out}/summary.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
fi

# --- Redis memory per live nonce ----------------------------------------------------------------
if [ "$REDIS" = 1 ] && [ -n "${PID[ours-redis]:-}" ]; then
    keys0=$(redis-cli -p "$REDIS_PORT" DBSIZE)
    used0=$(redis-cli -p "$REDIS_PORT" INFO memory | awk -F: '/^used_memory:/ {print $2+0}')
    log "redis memory: making $REDIS_NONCES nonces live (one handshake + one request each)"
    "$LOADGEN" --url "$(url ours-redis)" --connections "$CONNECTIONS" --duration "$MEMORY_TIMEOUT" \
        --algorithm SHA-256 --nonce-reuse 1 --requests $((2 * REDIS_NONCES)) --json --label redis-live \
        >"$OUT/redis-live.json"
    keys1=$(redis-cli -p "$REDIS_PORT" DBSIZE)
    used1=$(redis-cli -p "$REDIS_PORT" INFO memory | awk -F: '/^used_memory:/ {print $2+0}')
    # MEMORY USAGE (SAMPLES 0: exact) of up to 1000 keys.
    redis-cli -p "$REDIS_PORT" --scan >"$WORK/keys.txt"
    head -1000 "$WORK/keys.txt" |
        while read -r key; do redis-cli -p "$REDIS_PORT" MEMORY USAGE "$key" SAMPLES 0; done >"$WORK/usage.txt"
    python3 - "$OUT" "$keys0" "$keys1" "$used0" "$used1" "$WORK/usage.txt" <<'PY'
import statistics, sys
out, k0, k1, u0, u1, usage = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
sizes = [int(x) for x in open(usage) if x.strip()]
md = ["| figure | value |", "|---|---|",
      f"| keys sampled with MEMORY USAGE | {len(sizes)} |",
      f"| MEMORY USAGE per key: median (min – max) | {statistics.median(sizes):.0f} B ({min(sizes)} – {max(sizes)}) |",
      f"| used_memory growth / new keys | {(u1 - u0) / max(k1 - k0, 1):.0f} B ({k1 - k0:,} keys, {(u1 - u0) / 1024:.0f} KiB) |"]
open(f"{out}/redis-memory.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
fi

# --- connection sweep (issue 10, item 3) --------------------------------------------------------
# Throughput and p99 latency at many connections: the open route (matched, MD5 decoy), the
# protected route (MD5, memory nonce store) and Apache open and with mod_auth_digest. Apache is
# restarted with one prefork child per connection (plus spares), all started before the load.
if [ -n "$SWEEP" ] && [ "$MEMORY_ONLY" = 0 ]; then
    SWEEP_VARIANTS=()
    [ "$SKIP_OURS" = 0 ] && SWEEP_VARIANTS+=(ours-open-md5 ours-md5)
    if [ "$SKIP_APACHE" = 0 ]; then
        max_c=0
        for c in $SWEEP; do [ "$c" -gt "$max_c" ] && max_c=$c; done
        stop apache-open
        stop apache-digest
        start_apache apache-open site-open.conf.in $((max_c + 8))
        start_apache apache-digest site-digest.conf.in $((max_c + 8))
        SWEEP_VARIANTS+=(apache-open apache-digest)
    fi
    : >"$OUT/sweep.jsonl"
    for c in $SWEEP; do
        for v in "${SWEEP_VARIANTS[@]}"; do
            RUN_CONNECTIONS=$c run_load "$v" "$WARMUP" "warmup" >/dev/null
        done
        n=${#SWEEP_VARIANTS[@]}
        for r in $(seq 1 "$SWEEP_ROUNDS"); do
            for i in $(seq 0 $((n - 1))); do
                v=${SWEEP_VARIANTS[$(((i + r - 1) % n))]}
                wait_quiet
                line=$(RUN_CONNECTIONS=$c run_load "$v" "$SWEEP_DURATION" "$c $r $v")
                echo "$line" >>"$OUT/sweep.jsonl"
                log "sweep $c connections, round $r/$SWEEP_ROUNDS $v: $(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print('%.0f req/s, p99 %.0f us, server %.2f us/req, errors %d, rejected %d, stale %d' % (d['rps'], d['p99_us'], d.get('server_cpu_us_per_req', 0), d['errors'], d['rejected_401'], d['stale_401']))" "$line")"
            done
        done
    done
    echo "loadavg after the sweep: $(cat /proc/loadavg)" >>"$OUT/machine.txt"
    python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
runs = {}
for line in open(f"{out}/sweep.jsonl"):
    d = json.loads(line)
    c, _, variant = d["label"].split(" ", 2)
    runs.setdefault((int(c), variant), []).append(d)
names = {"ours-open-md5": "example server, open (MD5 decoy)", "ours-md5": "example server, MD5",
         "apache-open": "Apache, open (MD5 decoy)", "apache-digest": "Apache, MD5"}
med = lambda rs, k: statistics.median(r[k] for r in rs)
with open(f"{out}/sweep.csv", "w") as f:
    f.write("connections,variant,rounds,rps_median,p50_us_median,p99_us_median,server_cpu_us_per_req_median,problems\n")
    for (c, v), rs in sorted(runs.items()):
        bad = sum(r["errors"] + r["rejected_401"] + r["other_status"] for r in rs)
        f.write(f"{c},{v},{len(rs)},{med(rs, 'rps'):.0f},{med(rs, 'p50_us'):.1f},{med(rs, 'p99_us'):.1f},"
                f"{med(rs, 'server_cpu_us_per_req'):.2f},{bad}\n")
conns = sorted({c for c, _ in runs})
variants = [v for v in names if any((c, v) in runs for c in conns)]
md = ["| route | " + " | ".join(f"{c} conn. req/s | p99 µs | CPU µs/req" for c in conns) + " |",
      "|---|" + "---|---|---|" * len(conns)]
for v in variants:
    cells = []
    for c in conns:
        rs = runs.get((c, v), [])
        cells.append(f"{med(rs, 'rps'):.0f} | {med(rs, 'p99_us'):.0f} | {med(rs, 'server_cpu_us_per_req'):.2f}"
                     if rs else "— | — | —")
    md.append(f"| {names[v]} | " + " | ".join(cells) + " |")
bad = sum(r["errors"] + r["rejected_401"] + r["other_status"] for rs in runs.values() for r in rs)
md.append("")
md.append(f"Medians over the rounds. Errors, rejected 401s and unexpected statuses in all sweep runs: {bad}.")
open(f"{out}/sweep.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
fi

# --- memory (issue 4 item 4) -------------------------------------------------------------------
if [ "$MEMORY" = 1 ] && [ "$SKIP_OURS" = 0 ]; then
    log "memory: fresh example server (ALGORITHMS=SHA-256,MD5, NONCE_LIFETIME_SECS=3600)"
    # shellcheck disable=SC2086 # MEMORY_ENV may hold several VAR=value words
    start_ours mem ALGORITHMS=SHA-256,MD5 NONCE_LIFETIME_SECS=3600 ${MEMORY_ENV:-}
    ARGS[mem]=""
    mpid=${PID[mem]}
    # Memory is about counts, not pace: more connections finish the millions of requests
    # within MEMORY_TIMEOUT even with the load generator pinned to one core.
    export RUN_CONNECTIONS=${MEMORY_CONNECTIONS:-4}
    # A few authenticated requests so lazily built state exists before the baseline.
    run_load mem 1 "mem-warmup" --requests 2000 >/dev/null
    rss0=$(rss_kib "$mpid")
    log "baseline RSS ${rss0} KiB; challenge flood of $FLOOD_REQUESTS requests"
    flood=$(run_load mem "$MEMORY_TIMEOUT" "challenge-flood" --no-auth --requests "$FLOOD_REQUESTS")
    rss1=$(rss_kib "$mpid")
    log "after flood RSS ${rss1} KiB; making $LIVE_NONCES nonces live"
    live=$(run_load mem "$MEMORY_TIMEOUT" "live-nonces" --nonce-reuse 1 --requests $((2 * LIVE_NONCES)))
    rss2=$(rss_kib "$mpid")
    hwm=$(hwm_kib "$mpid")
    echo "$flood" >"$OUT/memory-flood.json"
    echo "$live" >"$OUT/memory-live.json"
    python3 - "$OUT" "$rss0" "$rss1" "$rss2" "$hwm" "$flood" "$live" <<'PY'
import json, sys
out, rss0, rss1, rss2, hwm = sys.argv[1], *map(int, sys.argv[2:6])
flood, live = json.loads(sys.argv[6]), json.loads(sys.argv[7])
nonces = live["ok_2xx"]  # each 2xx answered a fresh nonce: one replay entry
lines = [
    "phase,requests,handshake_401,ok_2xx,errors,duration_s,rps,rss_kib,growth_kib",
    f"baseline,,,,,,,{rss0},0",
    f"challenge flood,{flood['requests']},{flood['handshake_401']},{flood['ok_2xx']},{flood['errors']},{flood['duration_s']},{flood['rps']},{rss1},{rss1 - rss0}",
    f"live nonces,{live['requests']},{live['handshake_401']},{live['ok_2xx']},{live['errors']},{live['duration_s']},{live['rps']},{rss2},{rss2 - rss1}",
]
open(f"{out}/memory.csv", "w").write("\n".join(lines) + "\n")
md = [
    "| phase | requests | RSS after (MiB) | growth (MiB) | per item |",
    "|---|---|---|---|---|",
    f"| fresh server, 2000 warm-up requests | — | {rss0/1024:.1f} | — | — |",
    f"| challenge flood (no credentials, all 401) | {flood['requests']:,} | {rss1/1024:.1f} | {(rss1-rss0)/1024:+.1f} | {(rss1-rss0)*1024/max(flood['requests'],1):.2f} B per request |",
    f"| live nonces (handshake + 1 authenticated request each) | {live['requests']:,} ({nonces:,} nonces) | {rss2/1024:.1f} | {(rss2-rss1)/1024:+.1f} | {(rss2-rss1)*1024/max(nonces,1):.0f} B per nonce |",
    "",
    f"Peak RSS (VmHWM): {hwm/1024:.1f} MiB. Flood: {flood['rps']:.0f} req/s, {flood['errors']} errors; "
    f"live nonces: {live['rps']:.0f} req/s, {live['errors']} errors, {live['rejected_401']} rejected, {live['stale_401']} stale.",
]
open(f"{out}/memory.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
    stop mem
fi
log "results in $OUT"
