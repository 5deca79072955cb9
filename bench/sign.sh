#!/bin/bash
# bench/sign.sh - how much throughput does response signing cost?
#
# Starts three nginx instances on free loopback ports, each with one worker
# (see bench/README.md for why):
#
#   broker   stock nginx answering every GET with a ~1 KiB NGSI-LD entity
#   plain    stock nginx proxying to the broker (no module loaded)
#   signed   the same proxy with the mim module and mim_sign on (ES256)
#
# checks once that the signed proxy really signs, then drives the two
# proxies with wrk, alternating plain, signed, plain, signed ... and prints
# requests per second (median and best of the rounds) and the ratio
# signed/plain against the goal.  Whatever it started is stopped on exit.
#
# Environment:
#   BENCH_SECONDS      duration of one wrk run (default 10)
#   BENCH_ROUNDS       plain+signed pairs (default 3)
#   BENCH_THREADS      wrk threads (default 2)
#   BENCH_CONNECTIONS  wrk connections (default 32)
#   BENCH_WORKERS      worker_processes of each proxy (default 1; "auto"
#                      shares both CPUs among proxy, broker and wrk)
#   BENCH_KEY          signing key (default certs/dev/sign-es256.key)
#   BENCH_ENFORCE=1    exit 1 when the median ratio is below the goal

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=$REPO/build/bench
MODULE=$REPO/build/ngx_mim_module.so
NGINX=${NGINX:-/usr/sbin/nginx}

DURATION=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
KEY=${BENCH_KEY:-$REPO/certs/dev/sign-es256.key}
WORKERS=${BENCH_WORKERS:-1}
GOAL=0.75

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
if [ -z "${BENCH_KEY:-}" ]; then
    "$REPO/certs/make-dev-pki.sh" "$REPO/certs/dev" >/dev/null \
        || die "could not make the dev PKI"
fi
[ -r "$KEY" ] || die "signing key $KEY not readable"
KEY=$(cd "$(dirname "$KEY")" && pwd)/$(basename "$KEY")

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

# render NAME TEMPLATE PORT LOAD_MODULE SIGNING: build/bench/NAME/nginx.conf
render() {
    local dir=$PREFIX/$1
    rm -rf "$dir"
    mkdir -p "$dir/tmp"
    sed -e '/^[[:space:]]*#/b' \
        -e "s|@PREFIX@|$(sed_escape "$dir")|g" \
        -e "s|@REPO@|$(sed_escape "$REPO")|g" \
        -e "s|@PORT@|$3|g" \
        -e "s|@BROKER_PORT@|$BROKER_PORT|g" \
        -e "s|@USER_LINE@|$(sed_escape "$USER_LINE")|g" \
        -e "s|@WORKERS@|$(sed_escape "$WORKERS")|g" \
        -e "s|@LOAD_MODULE@|$(sed_escape "$4")|g" \
        -e "s|@SIGNING@|$(sed_escape "$5")|g" \
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

# launch NAME PORT_VAR TEMPLATE LOAD_MODULE SIGNING: render and start NAME on
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

launch broker BROKER_PORT broker.conf.in "" ""
launch plain PLAIN_PORT proxy.conf.in \
    "# stock nginx: the module is not loaded" "# no signing"
launch signed SIGNED_PORT proxy.conf.in "load_module $MODULE;" \
    "mim_signing_key $KEY; mim_sign on;"

PATH_UNDER_TEST=/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:santander:bench-001
PLAIN_URL=http://127.0.0.1:$PLAIN_PORT$PATH_UNDER_TEST
SIGNED_URL=http://127.0.0.1:$SIGNED_PORT$PATH_UNDER_TEST

# ----------------------------------------------- the signed proxy signs --

# Measuring a proxy that does not sign would give a flattering, meaningless
# ratio: check the signature header fields and the digest first.
check_signed() {
    local out=$PREFIX/check status digest expected
    mkdir -p "$out"
    curl -s -D "$out/signed.headers" -o "$out/signed.body" "$SIGNED_URL" \
        || die "signed proxy: no answer from $SIGNED_URL"
    curl -s -D "$out/plain.headers" -o "$out/plain.body" "$PLAIN_URL" \
        || die "plain proxy: no answer from $PLAIN_URL"
    ! grep -qi '^x-jws-signature:' "$out/plain.headers" \
        || die "the plain proxy signs: it is not a stock nginx baseline"
    tr -d '\r' < "$out/signed.headers" > "$out/signed.h"

    status=$(head -n 1 "$out/signed.h")
    [[ $status == HTTP/*" 200"* ]] || die "signed proxy: $status"
    grep -qi '^x-jws-signature: *[A-Za-z0-9_-]\{1,\}\.\.[A-Za-z0-9_-]' \
            "$out/signed.h" \
        || die "signed proxy answered without a detached X-JWS-Signature:" \
               $'\n'"$(cat "$out/signed.h")"
    digest=$(sed -n 's/^[Cc]ontent-[Dd]igest: *//p' "$out/signed.h")
    expected="sha-256=:$(openssl dgst -sha256 -binary "$out/signed.body" \
        | base64 -w 0):"
    [ "$digest" = "$expected" ] \
        || die "signed proxy: Content-Digest '$digest', but the body" \
               "hashes to '$expected'"
    cmp -s "$out/signed.body" "$REPO/bench/entity-1k.json" \
        || die "the signed proxy did not send bench/entity-1k.json"
    cmp -s "$out/plain.body" "$REPO/bench/entity-1k.json" \
        || die "the plain proxy did not send bench/entity-1k.json"
    echo "bench: the signed proxy signs: $(grep -i '^content-digest:' \
        "$out/signed.h")"
}
check_signed

# ------------------------------------------------------------------ wrk --

# wrk_rps URL SECONDS: set RPS to the requests per second; an error
# response or a socket error makes the run invalid.
RPS=
wrk_rps() {
    local output
    output=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2"s "$1" 2>&1) \
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

echo "bench: nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), $(nproc) CPUs," \
     "proxy workers: $WORKERS; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s," \
     "$ROUNDS rounds"
echo "bench: body $(wc -c < "$REPO/bench/entity-1k.json") bytes," \
     "key ${KEY#"$REPO"/}"

# Warm both proxies (connections to the broker, caches) before measuring.
wrk_rps "$PLAIN_URL" 1
wrk_rps "$SIGNED_URL" 1

PLAIN=()
SIGNED=()
for round in $(seq 1 "$ROUNDS"); do
    wrk_rps "$PLAIN_URL" "$DURATION"
    PLAIN+=("$RPS")
    wrk_rps "$SIGNED_URL" "$DURATION"
    SIGNED+=("$RPS")
    echo "bench: round $round/$ROUNDS: plain ${PLAIN[-1]}," \
         "signed ${SIGNED[-1]} req/s"
done

# A crash or an error during the runs shows in the logs.
for name in plain signed; do
    if grep -q -e '\[alert\]' -e '\[emerg\]' -e '\[crit\]' \
            "$PREFIX/$name/error.log" 2>/dev/null; then
        grep -e '\[alert\]' -e '\[emerg\]' -e '\[crit\]' \
            "$PREFIX/$name/error.log" | tail -n 5 >&2
        die "nginx ($name) logged errors during the benchmark"
    fi
done

plain_median=$(median "${PLAIN[@]}")
signed_median=$(median "${SIGNED[@]}")
plain_best=$(best "${PLAIN[@]}")
signed_best=$(best "${SIGNED[@]}")
ratio() {
    awk -v s="$1" -v p="$2" 'BEGIN { printf "%.3f", s / p }'
}
ratio_median=$(ratio "$signed_median" "$plain_median")
ratio_best=$(ratio "$signed_best" "$plain_best")
goal_met=$(awk -v r="$ratio_median" -v g="$GOAL" 'BEGIN { print (r >= g) }')

echo
printf '%-22s %12s %12s\n' "" "median" "best"
printf '%-22s %12.0f %12.0f\n' "plain proxy (req/s)" "$plain_median" \
    "$plain_best"
printf '%-22s %12.0f %12.0f\n' "signed proxy (req/s)" "$signed_median" \
    "$signed_best"
printf '%-22s %12s %12s\n' "signed / plain" "$ratio_median" "$ratio_best"
echo
if [ "$goal_met" = 1 ]; then
    echo "goal: signed/plain >= $GOAL (median): met"
else
    echo "goal: signed/plain >= $GOAL (median): NOT met"
    [ "${BENCH_ENFORCE:-0}" = 1 ] && exit 1
fi
exit 0
