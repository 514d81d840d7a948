# Sourced by benches/compare.sh: its helpers for ports, servers (start, stop, memory),
# the quiet-machine wait and one load run. They read the globals compare.sh sets (OUT, WORK,
# PID, PORT, ARGS, DECOY, URL_PATH, the CPU pinning and tool paths) when called.
# shellcheck shell=bash

cleanup() {
    local name
    for name in "${!PID[@]}"; do
        kill -TERM "${PID[$name]}" 2>/dev/null || true
    done
    for name in "${!PID[@]}"; do
        wait "${PID[$name]}" 2>/dev/null || true
    done
    if [ "${KEEP_WORK:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}

free_port() { # sets FREE_PORT to a port nobody listens on (a failed connect means free)
    while (exec 3<>"/dev/tcp/127.0.0.1/$NEXT_PORT") 2>/dev/null; do
        NEXT_PORT=$((NEXT_PORT + 1))
    done
    FREE_PORT=$NEXT_PORT
    NEXT_PORT=$((NEXT_PORT + 1))
}

wait_port() { # port pid
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
start_ours() { # name, then environment assignments
    local name=$1 port
    shift
    free_port
    port=$FREE_PORT
    # shellcheck disable=SC2086 # SERVER_ARGS holds several words on purpose
    env "$@" ADDR="127.0.0.1:$port" RUST_LOG="${RUST_LOG:-warn}" "${ON_SERVER_CPU[@]}" "$SERVER" ${SERVER_ARGS:-} \
        >"$WORK/$name.log" 2>&1 &
    PID[$name]=$!
    PORT[$name]=$port
    wait_port "$port" "${PID[$name]}" || { cat "$WORK/$name.log" >&2; die "$name did not start"; }
    log "$name: pid ${PID[$name]}, 127.0.0.1:$port ($*)"
}

stop() {
    kill -TERM "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
    unset "PID[$1]"
}

start_apache() { # name, site template[, workers]
    local name=$1 site=$2 workers=${3:-16} port dir runuser rungroup
    free_port
    port=$FREE_PORT
    dir=$WORK/$name
    mkdir -p "$dir/conf" "$dir/run" "$dir/logs" "$dir/htdocs/dir"
    cp "$WORK/index.html" "$dir/htdocs/dir/index.html"
    # htdigest line, made without interaction: user:realm:MD5(user:realm:password)
    printf 'Mufasa:http-auth@example.org:%s\n' \
        "$(printf '%s' 'Mufasa:http-auth@example.org:Circle of Life' | md5sum | cut -d' ' -f1)" \
        >"$dir/htdigest"
    if [ "$(id -u)" = 0 ]; then runuser=www-data rungroup=www-data
    else runuser=$(id -un) rungroup=$(id -gn); fi
    python3 - "$ROOT_DIR/benches/apache/httpd.conf.in" "$ROOT_DIR/benches/apache/$site" \
        "$dir" "$port" "$runuser" "$rungroup" "$workers" >"$dir/conf/httpd.conf" <<'PY'
import sys
base, site, root, port, user, group, workers = sys.argv[1:]
text = open(base).read().replace("@SITE@", open(site).read())
# Every connection keeps a prefork child busy: start them all, plus spares, before the load.
start = int(workers) if int(workers) > 16 else 4
for k, v in (("@ROOT@", root), ("@PORT@", port), ("@RUNUSER@", user), ("@RUNGROUP@", group),
             ("@WORKERS@", workers), ("@START@", str(start)),
             ("@MAXSPARE@", str(max(8, start)))):
    text = text.replace(k, v)
sys.stdout.write(text)
PY
    apache2 -t -f "$dir/conf/httpd.conf" >/dev/null 2>&1 ||
        { apache2 -t -f "$dir/conf/httpd.conf" >&2 || true; die "bad Apache config for $name"; }
    # Its own session: on shutdown Apache signals its whole process group, which would
    # otherwise include this script and whatever started it.
    setsid "${ON_SERVER_CPU[@]}" apache2 -f "$dir/conf/httpd.conf" -DFOREGROUND >"$dir/logs/stdout.log" 2>&1 &
    PID[$name]=$!
    PORT[$name]=$port
    wait_port "$port" "${PID[$name]}" || { cat "$dir/logs/error.log" >&2; die "$name did not start"; }
    log "$name: pid ${PID[$name]} (prefork parent), 127.0.0.1:$port ($site)"
}

busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
wait_quiet() { # waits (bounded) until the machine is nearly idle; the servers are idle now
    local start=$SECONDS b0 b1 busy
    local hz
    hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
    while :; do
        b0=$(busy_ticks)
        sleep 0.5
        b1=$(busy_ticks)
        busy=$(awk -v a="$b0" -v b="$b1" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz / 0.5}')
        if awk -v x="$busy" -v m="$QUIET_MAX" 'BEGIN {exit !(x <= m)}'; then return 0; fi
        if [ $((SECONDS - start)) -ge "$QUIET_WAIT" ]; then
            log "machine still busy (${busy} cores) after ${QUIET_WAIT}s; running anyway"
            echo "busy: ${busy} cores before a run at $(date +%H:%M:%S)" >>"$OUT/machine.txt"
            return 0
        fi
    done
}

url() { echo "http://127.0.0.1:${PORT[$1]}${URL_PATH[$1]:-/dir/index.html}"; }
redis_ticks() { # user + system ticks of the Redis server so far (0 without one)
    if [ -n "${PID[redis]:-}" ]; then awk '{print $14 + $15}' "/proc/${PID[redis]}/stat"; else echo 0; fi
}

run_load() { # variant, seconds, label, extra args...
    local v=$1 secs=$2 label=$3 decoy=()
    shift 3
    [ -n "${DECOY[$v]:-}" ] && decoy=(--decoy-from "$(url "${DECOY[$v]}")")
    # shellcheck disable=SC2086 # ARGS holds several words on purpose
    "${ON_CLIENT_CPU[@]}" "$LOADGEN" --url "$(url "$v")" --connections "${RUN_CONNECTIONS:-$CONNECTIONS}" \
        --duration "$secs" --server-pid "${PID[$v]}" --json --label "$label" ${ARGS[$v]} \
        "${decoy[@]}" "$@"
}
