#!/bin/bash
# bench/audit.sh - what does the signed audit log cost, and how fast does
# an auditor verify it?  (docs/audit.md)
#
# 1. Throughput: two nginx instances on free loopback ports, one worker
#    each (BENCH_WORKERS), serving the same ~1 KiB file and logging every
#    request, buffered 64 KiB and flushed every second:
#
#      plain   stock nginx (no module) with an ordinary JSON access_log
#      audit   the module with mim_audit_log (hash chain, an ES256-signed
#              checkpoint every 1000 lines)
#
#    checks once that both really log, then drives them with wrk in
#    alternating rounds (bench/lib.sh compare) and prints req/s (median,
#    best) and the ratio audit/plain against the goal (>= 0.9); then one
#    more run each to read the workers' CPU time per request from /proc,
#    which a busy machine does not skew.
#
# 2. Verification: stops the audit instance (its exit checkpoint closes
#    the chains), times `build/mim audit verify` on the log the rounds
#    wrote, then on BENCH_VERIFY_LINES lines made by build/bench/audit_verify
#    with the same key, and prints lines/s against the goal (>= 200,000
#    lines/s on one core: the tool is single-threaded, and the goal is
#    judged on its CPU time; the elapsed rate is printed too).
#
# Whatever it started is stopped on exit; configurations and error logs
# stay in build/bench/audit/, the large logs are removed.
#
# Environment:
#   BENCH_SECONDS        duration of one wrk run (default 10)
#   BENCH_ROUNDS         plain+audit pairs (default 3)
#   BENCH_THREADS        wrk threads (default 2)
#   BENCH_CONNECTIONS    wrk connections (default 32)
#   BENCH_WORKERS        worker_processes of each instance (default 1)
#   BENCH_KEY            signing key (default certs/dev/sign-es256.key)
#   BENCH_VERIFY_LINES   lines of the generated log (default 1000000)
#   BENCH_ENFORCE=1      exit 1 when a goal is not met

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=$REPO/build/bench/audit
MODULE=$REPO/build/ngx_mim_module.so
MIM=$REPO/build/mim
GEN=$REPO/build/bench/audit_verify
NGINX=${NGINX:-/usr/sbin/nginx}
KEY=${BENCH_KEY:-$REPO/certs/dev/sign-es256.key}
VERIFY_LINES=${BENCH_VERIFY_LINES:-1000000}
GOAL_RATIO=0.9
GOAL_VERIFY=200000

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

[[ $VERIFY_LINES =~ ^[1-9][0-9]*$ ]] \
    || die "BENCH_VERIFY_LINES: a positive integer, not '$VERIFY_LINES'"
[ -x "$MIM" ] || die "$MIM not built: run make (or make bench)"
if [ ! -x "$GEN" ]; then
    make -s -C "$REPO" "$GEN" >/dev/null || die "cannot build $GEN"
fi
if [ -z "${BENCH_KEY:-}" ]; then
    "$REPO/certs/make-dev-pki.sh" "$REPO/certs/dev" >/dev/null \
        || die "could not make the dev PKI"
fi
[ -r "$KEY" ] || die "signing key $KEY not readable"
KEY=$(cd "$(dirname "$KEY")" && pwd)/$(basename "$KEY")

rm -rf "$PREFIX"
mkdir -p "$PREFIX"
PUB=$PREFIX/key.pub.pem
openssl pkey -in "$KEY" -pubout -out "$PUB" 2>/dev/null \
    || die "cannot take the public key of $KEY"

# the large logs go; configurations and error logs stay
# shellcheck disable=SC2317  # called from the EXIT trap
stop_and_clean() {
    stop_all
    rm -f "$PREFIX"/plain/access.log "$PREFIX"/mim/audit.log.* \
          "$PREFIX"/generated.log
}
trap stop_and_clean EXIT

AUDIT_LOG=$PREFIX/mim/audit.log
launch plain PLAIN_PORT audit.conf.in \
    "# stock nginx: the module is not loaded" \
    "access_log $PREFIX/plain/access.log bench_json buffer=64k flush=1s;"
launch mim AUDIT_PORT audit.conf.in "load_module $MODULE;" \
    "access_log off; mim_signing_key $KEY; mim_audit_log $AUDIT_LOG;"

PATH_UNDER_TEST=/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:
PATH_UNDER_TEST+=santander:bench-001
PLAIN_URL=http://127.0.0.1:$PLAIN_PORT$PATH_UNDER_TEST
AUDIT_URL=http://127.0.0.1:$AUDIT_PORT$PATH_UNDER_TEST

# ----------------------------------------------------- both really log --

check_logging() {
    local out=$PREFIX/check
    mkdir -p "$out"
    curl -s -o "$out/plain.body" "$PLAIN_URL" || die "plain: no answer"
    curl -s -o "$out/audit.body" "$AUDIT_URL" || die "audit: no answer"
    cmp -s "$out/plain.body" "$REPO/bench/entity-1k.json" \
        || die "the plain server did not send bench/entity-1k.json"
    cmp -s "$out/audit.body" "$REPO/bench/entity-1k.json" \
        || die "the audit server did not send bench/entity-1k.json"
    sleep 1.5                   # both flush every second
    grep -q "\"uri\":\"$PATH_UNDER_TEST\"" "$PREFIX/plain/access.log" \
        || die "the plain server does not write its access log"
    grep -q "\"type\":\"req\".*\"uri\":\"$PATH_UNDER_TEST\"" \
            "$AUDIT_LOG".* \
        || die "the audit server does not write audit records"
    echo "bench: both servers log; an audit record is" \
         "$(grep -h '"type":"req"' "$AUDIT_LOG".* | head -n 1 | wc -c)" \
         "bytes"
}
check_logging

# ------------------------------------------------------------------ wrk --

echo "bench: nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), $(nproc) CPUs," \
     "workers: $WORKERS; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s," \
     "$ROUNDS rounds; key ${KEY#"$REPO"/}"

failed=0
compare plain "$PLAIN_URL" audit "$AUDIT_URL" "$GOAL_RATIO" || failed=1

# CPU time of a server's workers per request over one wrk run: what the
# log costs on a core of its own, whatever else runs on the machine
CPU_US=
cpu_per_request() {
    local master pid ticks_before=0 ticks_after=0 requests output
    master=$(cat "$PREFIX/$1/nginx.pid")
    for pid in $(pgrep -P "$master"); do
        ticks_before=$((ticks_before + $(awk '{ print $14 + $15 }' \
            "/proc/$pid/stat")))
    done
    output=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION"s "$2" 2>&1) \
        || die "wrk failed: $output"
    for pid in $(pgrep -P "$master"); do
        ticks_after=$((ticks_after + $(awk '{ print $14 + $15 }' \
            "/proc/$pid/stat")))
    done
    requests=$(awk '/ requests in / { print $1 }' <<<"$output")
    [[ $requests =~ ^[0-9]+$ ]] || die "no request count from wrk: $output"
    CPU_US=$(awk -v t=$((ticks_after - ticks_before)) -v n="$requests" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
}
cpu_per_request plain "$PLAIN_URL"
PLAIN_CPU=$CPU_US
cpu_per_request mim "$AUDIT_URL"
AUDIT_CPU=$CPU_US
printf '%-26s %12s\n' "worker CPU per request" "(us)"
printf '%-26s %12s\n' "plain" "$PLAIN_CPU" "audit" "$AUDIT_CPU"
printf '%-26s %12s\n' "plain / audit" "$(ratio "$PLAIN_CPU" "$AUDIT_CPU")"
echo

# ------------------------------------------------------- verification --

# stop the audit server gracefully: each worker closes its chain
AUDIT_MASTER=$(cat "$PREFIX/mim/nginx.pid")
kill -QUIT "$AUDIT_MASTER"
for _ in $(seq 1 200); do
    kill -0 "$AUDIT_MASTER" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$AUDIT_MASTER" 2>/dev/null && die "the audit server does not stop"

# time_verify FILE...: set LINES, WALL and CPU (seconds: elapsed, and
# user + system of the tool, i.e. its time on one core whatever else runs
# on the machine); any problem fails
LINES=
WALL=
CPU=
time_verify() {
    local out=$PREFIX/verify.out err=$PREFIX/verify.err
    local tf=$PREFIX/verify.time rc=0 timing
    TIMEFORMAT='%R %U %S'
    { time "$MIM" audit verify -q --key "$PUB" "$@" >"$out" 2>"$err" \
        || rc=$?; } 2>"$tf"
    [ "$rc" = 0 ] || die "mim audit verify found problems:"$'\n'"$(tail -n 5 \
        "$out" "$err")"
    LINES=$(sed -n 's/^OK: [0-9]* files\{0,1\}, \([0-9]*\) lines.*/\1/p' \
        "$out")
    [[ $LINES =~ ^[0-9]+$ ]] || die "no line count from mim: $(cat "$out")"
    timing=$(tail -n 1 "$tf")
    WALL=$(awk '{ printf "%.3f", $1 }' <<<"$timing")
    CPU=$(awk '{ printf "%.3f", $2 + $3 }' <<<"$timing")
}

time_verify "$AUDIT_LOG".*
REAL_LINES=$LINES
REAL_WALL=$WALL
REAL_CPU=$CPU
REAL_BYTES=$(cat "$AUDIT_LOG".* | wc -c)

"$GEN" "$KEY" "$PREFIX/generated.log" "$VERIFY_LINES" \
    | sed 's/^/bench: /'
time_verify "$PREFIX/generated.log"
GEN_LINES=$LINES
GEN_WALL=$WALL
GEN_CPU=$CPU

# ---------------------------------------------------------------- report --

per_s() {
    awk -v n="$1" -v s="$2" \
        'BEGIN { printf "%.0f", (s > 0) ? n / s : n / 0.001 }'
}
gen_rate=$(per_s "$GEN_LINES" "$GEN_CPU")

echo
printf '%-26s %12s %12s %12s\n' "mim audit verify" "lines" "lines/s" \
    "lines/s"
printf '%-26s %12s %12s %12s\n' "" "" "(CPU)" "(elapsed)"
printf '%-26s %12s %12s %12s\n' "the benchmark's log" "$REAL_LINES" \
    "$(per_s "$REAL_LINES" "$REAL_CPU")" "$(per_s "$REAL_LINES" "$REAL_WALL")"
printf '%-26s %12s %12s %12s\n' "generated log" "$GEN_LINES" "$gen_rate" \
    "$(per_s "$GEN_LINES" "$GEN_WALL")"
echo "(the benchmark's log: $REAL_BYTES bytes in the workers' files)"
echo

if [ "$gen_rate" -ge "$GOAL_VERIFY" ]; then
    echo "goal: mim audit verify >= $GOAL_VERIFY lines/s on one core: met"
else
    echo "goal: mim audit verify >= $GOAL_VERIFY lines/s on one core: NOT met"
    [ "${BENCH_ENFORCE:-0}" = 1 ] && failed=1
fi
[ "$failed" = 0 ] || exit 1
exit 0
