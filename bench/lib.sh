#!/bin/bash
# bench/lib.sh - what every gateway benchmark shares; sourced by bench/*.sh.
#
# The caller sets REPO, PREFIX (its own folder under build/bench), MODULE
# and NGINX; BENCH_SECONDS, _ROUNDS, _THREADS, _CONNECTIONS, _WORKERS and
# BENCH_ENFORCE are read here (see bench/README.md).
# Provides: free ports, rendering of bench/*.conf.in templates, starting
# nginx instances that are stopped on exit, and compare(), which drives two
# URLs with wrk in alternating rounds and prints req/s and the ratio.

DURATION=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
WORKERS=${BENCH_WORKERS:-1}

die() {
    echo "bench: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- checks --

for number in "$DURATION" "$ROUNDS" "$THREADS" "$CONNECTIONS"; do
    [[ $number =~ ^[1-9][0-9]*$ ]] \
        || die "BENCH_SECONDS, _ROUNDS, _THREADS, _CONNECTIONS:" \
               "positive integers, not '$number'"
done
[[ $WORKERS =~ ^([1-9][0-9]*|auto)$ ]] \
    || die "BENCH_WORKERS: a positive integer or auto, not '$WORKERS'"
command -v wrk >/dev/null 2>&1 || die "wrk not found: run tools/install-deps.sh"
command -v curl >/dev/null 2>&1 || die "curl not found: run tools/install-deps.sh"
[ -x "$NGINX" ] || die "$NGINX not found: run tools/install-deps.sh"
[ -f "$MODULE" ] || die "$MODULE not built: run make (or make bench)"

# ------------------------------------------------------------- processes --

PIDS=()

# shellcheck disable=SC2317  # called from the EXIT trap
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM HUP

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port VAR: set VAR to a free loopback port not chosen before, below
# the kernel's ephemeral range (an outgoing connection, ours or anyone's,
# may hold any port in that range and make bind() fail).
EPHEMERAL_LOW=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range \
    2>/dev/null || echo 32768)
PORT_LOW=10000
PORT_SPAN=$((EPHEMERAL_LOW - PORT_LOW))
[ "$PORT_SPAN" -ge 1000 ] || { PORT_LOW=61000; PORT_SPAN=4000; }
CHOSEN_PORTS=" "
free_port() {
    local port
    for _ in $(seq 1 100); do
        port=$((PORT_LOW + RANDOM % PORT_SPAN))
        [[ $CHOSEN_PORTS == *" $port "* ]] && continue
        port_in_use "$port" && continue
        CHOSEN_PORTS="$CHOSEN_PORTS$port "
        printf -v "$1" '%s' "$port"
        return 0
    done
    die "no free loopback port found"
}

sed_escape() {
    printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}

if [ "$(id -u)" -eq 0 ]; then
    USER_LINE="user root;"      # else the workers would run as nobody
else
    USER_LINE="# (not root: the workers run as $(id -un))"
fi

# render NAME TEMPLATE PORT LOAD_MODULE GATEWAY: PREFIX/NAME/nginx.conf from
# bench/TEMPLATE; GATEWAY is the server-level configuration under test.
render() {
    local dir=$PREFIX/$1
    rm -rf "$dir"
    mkdir -p "$dir/tmp"
    sed -e '/^[[:space:]]*#/b' \
        -e "s|@PREFIX@|$(sed_escape "$dir")|g" \
        -e "s|@REPO@|$(sed_escape "$REPO")|g" \
        -e "s|@PORT@|$3|g" \
        -e "s|@BROKER_PORT@|${BROKER_PORT:-0}|g" \
        -e "s|@USER_LINE@|$(sed_escape "$USER_LINE")|g" \
        -e "s|@WORKERS@|$(sed_escape "$WORKERS")|g" \
        -e "s|@LOAD_MODULE@|$(sed_escape "$4")|g" \
        -e "s|@GATEWAY@|$(sed_escape "$5")|g" \
        "$REPO/bench/$2" > "$dir/nginx.conf"
}

# start NAME PORT: run build/bench/NAME in the foreground, as our child, and
# wait until it answers on PORT.  Returns 1 if the port was taken meanwhile
# (someone else's test bound it first), so the caller can pick another.
start() {
    local dir=$PREFIX/$1 pid
    "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
        >"$dir/stdout.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            grep -q 'Address already in use' "$dir/stdout.log" && return 1
            cat "$dir/stdout.log" >&2
            die "nginx ($1) did not start"
        fi
        # nginx writes its pid file once it holds its port: only then is
        # an answer on the port surely its own.
        if [ "$(cat "$dir/nginx.pid" 2>/dev/null)" = "$pid" ] \
                && curl -s -o /dev/null "http://127.0.0.1:$2/"; then
            return 0
        fi
        sleep 0.1
    done
    die "nginx ($1) does not answer on 127.0.0.1:$2"
}

# launch NAME PORT_VAR TEMPLATE LOAD_MODULE GATEWAY: render and start NAME on
# a free port, stored in PORT_VAR.
launch() {
    local name=$1 port_var=$2
    for _ in 1 2 3 4 5; do
        free_port "$port_var"
        render "$name" "$3" "${!port_var}" "$4" "$5"
        start "$name" "${!port_var}" && return 0
    done
    die "nginx ($name): no free port after 5 tries"
}

# ------------------------------------------------------------------ wrk --

# wrk_rps URL SECONDS [wrk options]: set RPS to the requests per second; an
# error response or a socket error makes the run invalid.
RPS=
wrk_rps() {
    local output url=$1 seconds=$2
    shift 2
    output=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$seconds"s "$@" "$url" \
        2>&1) \
        || die "wrk failed: $output"
    if grep -q -e 'Non-2xx' -e 'Socket errors' <<<"$output"; then
        die "wrk saw errors on $1:"$'\n'"$output"
    fi
    RPS=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$output")
    [[ $RPS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "no req/s from wrk: $output"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

best() {
    printf '%s\n' "$@" | sort -g | tail -n 1
}


# compare NAME_A URL_A NAME_B URL_B GOAL [wrk options]: alternate rounds of
# A and B, then print the table and whether B/A >= GOAL (median).  Returns
# 1 when the goal is missed and BENCH_ENFORCE=1.
compare() {
    local a=$1 url_a=$2 b=$3 url_b=$4 goal=$5 round
    shift 5
    local -a ra=() rb=()

    # warm both (connections to the broker, caches) before measuring
    wrk_rps "$url_a" 1 "$@"
    wrk_rps "$url_b" 1 "$@"

    for round in $(seq 1 "$ROUNDS"); do
        wrk_rps "$url_a" "$DURATION" "$@"
        ra+=("$RPS")
        wrk_rps "$url_b" "$DURATION" "$@"
        rb+=("$RPS")
        echo "bench: round $round/$ROUNDS: $a ${ra[-1]}, $b ${rb[-1]} req/s"
    done

    check_logs

    local am bm ab bb rm rbest met
    am=$(median "${ra[@]}")
    bm=$(median "${rb[@]}")
    ab=$(best "${ra[@]}")
    bb=$(best "${rb[@]}")
    rm=$(ratio "$bm" "$am")
    rbest=$(ratio "$bb" "$ab")
    met=$(awk -v r="$rm" -v g="$goal" 'BEGIN { print (r >= g) }')

    echo
    printf '%-26s %12s %12s\n' "" "median" "best"
    printf '%-26s %12.0f %12.0f\n' "$a (req/s)" "$am" "$ab"
    printf '%-26s %12.0f %12.0f\n' "$b (req/s)" "$bm" "$bb"
    printf '%-26s %12s %12s\n' "$b / $a" "$rm" "$rbest"
    echo
    if [ "$met" = 1 ]; then
        echo "goal: $b/$a >= $goal (median): met"
    else
        echo "goal: $b/$a >= $goal (median): NOT met"
        [ "${BENCH_ENFORCE:-0}" = 1 ] && return 1
    fi
    return 0
}

ratio() {
    awk -v s="$1" -v p="$2" 'BEGIN { printf "%.3f", s / p }'
}

# A crash or an error during the runs shows in the logs.
check_logs() {
    local dir
    for dir in "$PREFIX"/*/; do
        if grep -q -e '\[alert\]' -e '\[emerg\]' -e '\[crit\]' \
                "$dir/error.log" 2>/dev/null; then
            grep -e '\[alert\]' -e '\[emerg\]' -e '\[crit\]' \
                "$dir/error.log" | tail -n 5 >&2
            die "nginx ($dir) logged errors during the benchmark"
        fi
    done
}

# token_of PORT: an access token for participant1 from the gateway on PORT
# (its mim_token_endpoint at /connect/token); needs PYTHON and PYTHONPATH
token_of() {
    "$PYTHON" - "$1" <<'EOF'
import json, sys
from mimtest import request
from mimtest.identity import client_assertion, party, token_form
p = party("participant1")
resp = request("POST", "http://127.0.0.1:%s/connect/token" % sys.argv[1],
               headers={"Content-Type": "application/x-www-form-urlencoded"},
               body=token_form(p.party_id, client_assertion(p)).encode())
if resp.status != 200:
    sys.exit("token endpoint: %d %s" % (resp.status, resp.body[:300]))
print(json.loads(resp.body)["access_token"])
EOF
}

# start_redis VAR: a redis-server of this bench's own on a free loopback
# port (saved in VAR), without persistence, its files under
# $PREFIX/redis; stopped with the rest (stop_all)
start_redis() {
    command -v redis-server >/dev/null \
        || die "redis-server not found: run tools/install-deps.sh"
    free_port "$1"
    local port=${!1}
    mkdir -p "$PREFIX/redis"
    redis-server --port "$port" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$PREFIX/redis" \
        --logfile "$PREFIX/redis/redis.log" &
    PIDS+=("$!")
    for _ in $(seq 1 100); do
        port_in_use "$port" && return 0
        sleep 0.05
    done
    die "redis-server did not start"
}
