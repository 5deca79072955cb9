#!/bin/bash
# bench/agreement.sh - what does the agreement-gated data plane cost?
#
# Starts, on free loopback ports (see bench/README.md for the setup):
#
#   redis       a redis-server of its own (--save "" --appendonly no)
#   broker      stock nginx answering every GET with a ~1 KiB NGSI-LD
#               entity (bench/broker.conf.in)
#   plain       stock nginx proxying to the broker (bench/proxy.conf.in,
#               module not loaded)
#   gateway     the gateway (bench/agreement.conf.in): the DSP provider
#               under /dsp with the bench's catalog (written to
#               build/bench/agreement/catalog.json) and /ngsi-ld/, the same
#               proxy location as the plain one plus `mim_agreement on`;
#               mim_redis, a mim_zone
#
# BENCH_WORKERS workers each (1 by default, like every baseline).  Then it
# gets two data-access tokens the real way (bench/agreement_token.py, with
# t/integration/mimtest): negotiate an offer to FINALIZED, request a
# transfer, take the token from the TransferStartMessage the gateway POSTs
# to the helper's callback server:
#
#   open        urn:mim:offer:bench-air-open, no constraint: once the token,
#               the transfer record and the agreement are cached, a request
#               costs no Redis round trip (the cache-hit path)
#   counted     urn:mim:offer:bench-air-counted, `count lteq 1000000000`:
#               one Redis INCR per request (informational)
#
# checks that a GET of the dataset's endpoint with the token gets 200 and
# the broker's bytes and without it 401, and prints, from alternating wrk
# rounds (plain, gateway, counted gateway, ...; Authorization: Bearer on
# all three):
#   1. req/s of the gateway (open token) against the plain proxy; goal
#      >= 0.85 (median);
#   2. the latency p99 the gateway adds (wrk --latency: median p99 of the
#      gateway minus median p99 of the plain proxy), measured in each round
#      at BENCH_LAT_CONNECTIONS connections (4) with one wrk thread, where
#      the p99 is the requests' own time rather than queueing behind 32
#      connections on a saturated worker; goal <= 1 ms.  The p99s of the
#      throughput runs are printed too, for information;
#   3. the same figures with the counted token, for information.
#
# Environment: BENCH_SECONDS, BENCH_ROUNDS, BENCH_THREADS,
# BENCH_CONNECTIONS, BENCH_WORKERS (bench/lib.sh); BENCH_LAT_CONNECTIONS;
# BENCH_ENFORCE=1 (exit 1 when a goal is missed).

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=$REPO/build/bench/agreement
MODULE=$REPO/build/ngx_mim_module.so
NGINX=${NGINX:-/usr/sbin/nginx}
PYTHON=/usr/bin/python3
CERTS=$REPO/certs/dev
HELPER=$REPO/bench/agreement_token.py
GOAL=0.85
GOAL_P99_MS=1
LAT_CONNECTIONS=${BENCH_LAT_CONNECTIONS:-4}

DATASET=urn:mim:dataset:bench-air
ENDPOINT='/ngsi-ld/v1/entities?type=AirQualityObserved'
OFFER_OPEN=urn:mim:offer:bench-air-open
OFFER_COUNTED=urn:mim:offer:bench-air-counted

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

command -v redis-server >/dev/null \
    || die "redis-server not found: run tools/install-deps.sh"
command -v redis-cli >/dev/null \
    || die "redis-cli not found: run tools/install-deps.sh"
"$PYTHON" -c 'import cryptography, jwcrypto, jsonschema' 2>/dev/null \
    || die "$PYTHON needs python3-cryptography, python3-jwcrypto and" \
           "python3-jsonschema"
"$REPO/certs/make-dev-pki.sh" "$CERTS" >/dev/null \
    || die "could not make the dev PKI"
export PYTHONPATH=$REPO/t/integration

rm -rf "$PREFIX"
mkdir -p "$PREFIX"

# ------------------------------------------------------------ the catalog --

# The broker answers AirQualityObserved; the type in the endpoint is the
# one the data plane checks the request's type against.
cat > "$PREFIX/catalog.json" <<EOF
{
  "@id": "urn:mim:catalog:bench-agreement",
  "title": "Benchmark catalog",
  "description": "The catalog of bench/agreement.sh",
  "datasets": [
    {
      "@id": "$DATASET",
      "title": "Air quality",
      "endpoint": "$ENDPOINT",
      "formats": ["HttpData-PULL"],
      "offers": [
        { "@id": "$OFFER_OPEN",
          "permission": [ { "action": "use" } ] },
        { "@id": "$OFFER_COUNTED",
          "permission": [ { "action": "use", "constraint": [
            { "leftOperand": "count", "operator": "lteq",
              "rightOperand": "1000000000" } ] } ] }
      ]
    }
  ]
}
EOF

# ------------------------------------------------------------------ redis --

start_redis REDIS_PORT

redis() {
    redis-cli -p "$REDIS_PORT" "$@"
}

# the commands Redis has processed so far
redis_commands() {
    redis info stats | sed -n 's/^total_commands_processed:\([0-9]*\)\r$/\1/p'
}

# ------------------------------------------------------------- instances --

launch broker BROKER_PORT broker.conf.in "" ""
launch plain PLAIN_PORT proxy.conf.in \
    "# stock nginx: the module is not loaded" "# no data plane"
launch gateway GATEWAY_PORT agreement.conf.in "load_module $MODULE;" \
    "mim_zone mim_bench 16m; mim_redis 127.0.0.1:$REDIS_PORT;"

# ------------------------------------ the tokens: negotiation + transfer --

# token_for OFFER NAME: ENDPOINT, TOKEN, AGREEMENT from one negotiation of
# OFFER and one transfer of its agreement (helper output in PREFIX/NAME.*)
token_for() {
    local line
    "$PYTHON" "$HELPER" "$GATEWAY_PORT" "$PREFIX/catalog.json" "$1" \
        > "$PREFIX/$2.token" 2> "$PREFIX/$2.err" || {
        cat "$PREFIX/$2.err" >&2
        echo "bench: the gateway's error log (last lines):" >&2
        tail -n 20 "$PREFIX/gateway/error.log" >&2
        die "no data-access token for $1"
    }
    line=$(cat "$PREFIX/$2.token")
    IFS=$'\t' read -r ENDPOINT_GOT TOKEN AGREEMENT _ <<<"$line"
    [ -n "$TOKEN" ] && [ -n "$AGREEMENT" ] \
        || die "agreement_token.py printed '$line'"
    # the DataAddress's endpoint: the dataset's URL on this gateway
    if [[ $ENDPOINT_GOT != /* ]]; then
        ENDPOINT_GOT=/${ENDPOINT_GOT#*://*/}
    fi
    [ "$ENDPOINT_GOT" = "$ENDPOINT" ] \
        || die "the DataAddress's endpoint is $ENDPOINT_GOT, not $ENDPOINT"
}

token_for "$OFFER_OPEN" open
TOKEN_OPEN=$TOKEN AGREEMENT_OPEN=$AGREEMENT
token_for "$OFFER_COUNTED" counted
TOKEN_COUNTED=$TOKEN AGREEMENT_COUNTED=$AGREEMENT
echo "bench: two negotiations and transfers end to end: $OFFER_OPEN ->" \
     "$AGREEMENT_OPEN, $OFFER_COUNTED -> $AGREEMENT_COUNTED"

PLAIN_URL=http://127.0.0.1:$PLAIN_PORT$ENDPOINT
GATEWAY_URL=http://127.0.0.1:$GATEWAY_PORT$ENDPOINT

# get URL OUT [TOKEN]: the status of a GET, its body in OUT
get() {
    local auth=()
    [ -n "${3:-}" ] && auth=(-H "Authorization: Bearer $3")
    curl -s -o "$2" -w '%{http_code}' "${auth[@]}" "$1" || true
}

# Measuring a gateway that refuses (401s are cheap) would give a
# meaningless ratio: the token must open the data and nothing else may.
status=$(get "$GATEWAY_URL" "$PREFIX/open.body" "$TOKEN_OPEN")
[ "$status" = 200 ] && cmp -s "$PREFIX/open.body" \
        "$REPO/bench/entity-1k.json" \
    || die "the gateway answered $status with the open token:" \
           "$(head -c 600 "$PREFIX/open.body")"
status=$(get "$GATEWAY_URL" "$PREFIX/none.body")
[ "$status" = 401 ] \
    || die "the gateway answered $status without a token, not 401"
# (one character in the middle of the signature changed)
i=$((${#TOKEN_OPEN} - 20))
c=${TOKEN_OPEN:i:1}
[ "$c" = A ] && c=B || c=A
status=$(get "$GATEWAY_URL" "$PREFIX/bad.body" \
    "${TOKEN_OPEN:0:i}$c${TOKEN_OPEN:i+1}")
[ "$status" = 401 ] \
    || die "the gateway answered $status to a damaged token, not 401"
status=$(get "$PLAIN_URL" "$PREFIX/plain.body" "$TOKEN_OPEN")
[ "$status" = 200 ] && cmp -s "$PREFIX/plain.body" \
        "$REPO/bench/entity-1k.json" \
    || die "the plain proxy answered $status, not the broker's bytes"

# the open agreement is not counted; the counted one INCRs once a request
[ "$(redis exists "mim:cnt:$AGREEMENT_OPEN")" = 0 ] \
    || die "the open agreement has a use counter"
before=$(redis get "mim:cnt:$AGREEMENT_COUNTED")
status=$(get "$GATEWAY_URL" "$PREFIX/counted.body" "$TOKEN_COUNTED")
after=$(redis get "mim:cnt:$AGREEMENT_COUNTED")
[ "$status" = 200 ] && cmp -s "$PREFIX/counted.body" \
        "$REPO/bench/entity-1k.json" \
    || die "the gateway answered $status with the counted token"
[ "$after" = $((${before:-0} + 1)) ] \
    || die "mim:cnt of the counted agreement went from '$before' to '$after'"
echo "bench: the gateway answers the broker's $(wc -c < "$PREFIX/open.body")" \
     "bytes with a data-access token, 401 without one or with a damaged one;" \
     "the counted token adds one to mim:cnt ($after)"

echo "bench: nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), $(nproc) CPUs," \
     "proxy workers: $WORKERS; wrk -t$THREADS -c$CONNECTIONS" \
     "-d${DURATION}s --latency, $ROUNDS rounds; GET $ENDPOINT"

# ------------------------------------------------------------------- wrk --

# wrk_latency URL SECONDS [wrk options]: RPS as lib.sh's wrk_rps (an error
# response or a socket error makes the run invalid), and P50, P99 (ms) and
# REQUESTS from wrk --latency
P50='' P99='' REQUESTS=''
wrk_latency() {
    local output url=$1 seconds=$2
    shift 2
    output=$(wrk -t"${WRK_T:-$THREADS}" -c"${WRK_C:-$CONNECTIONS}" \
        -d"$seconds"s --latency \
        "$@" "$url" 2>&1) \
        || die "wrk failed: $output"
    if grep -q -e 'Non-2xx' -e 'Socket errors' <<<"$output"; then
        die "wrk saw errors on $url:"$'\n'"$output"
    fi
    RPS=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$output")
    [[ $RPS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "no req/s from wrk: $output"
    REQUESTS=$(awk '/ requests in / { print $1 }' <<<"$output")
    # "     99%    1.23ms": us, ms, s or m
    P50=$(percentile_ms 50% <<<"$output")
    P99=$(percentile_ms 99% <<<"$output")
    [[ $P99 =~ ^[0-9]+\.[0-9]+$ ]] || die "no p99 from wrk: $output"
}

percentile_ms() {
    awk -v p="$1" '
        $1 == p && !done {
            v = $2
            if (sub(/us$/, "", v)) v /= 1000
            else if (sub(/ms$/, "", v)) v += 0
            else if (sub(/m$/, "", v)) v *= 60000
            else if (sub(/s$/, "", v)) v *= 1000
            printf "%.3f\n", v
            done = 1
        }'
}

# the CPU time (clock ticks, user + system) of NAME's workers so far
TICK_US=$((1000000 / $(getconf CLK_TCK)))
worker_ticks() {
    local pid ticks=0 stat
    for pid in $(pgrep -P "$(cat "$PREFIX/$1/nginx.pid")"); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        stat=${stat##*) }                   # past "pid (comm) "
        # shellcheck disable=SC2086  # split the fields
        set -- $stat
        ticks=$((ticks + ${12} + ${13}))    # utime, stime
    done
    echo "$ticks"
}

AUTH_OPEN="Authorization: Bearer $TOKEN_OPEN"
AUTH_COUNTED="Authorization: Bearer $TOKEN_COUNTED"

# warm all three (connections to the broker, the gateway's caches)
wrk_latency "$PLAIN_URL" 1 -H "$AUTH_OPEN"
wrk_latency "$GATEWAY_URL" 1 -H "$AUTH_OPEN"
wrk_latency "$GATEWAY_URL" 1 -H "$AUTH_COUNTED"
COUNTED_TOTAL=$REQUESTS

declare -a RP=() RG=() RC=() P50P=() P50G=() P50C=() P99P=() P99G=() P99C=()
declare -a L99P=() L99G=()
PLAIN_REQUESTS=0 OPEN_REQUESTS=0 COUNTED_REQUESTS=0
PLAIN_TICKS=0 OPEN_TICKS=0 COUNTED_TICKS=0
OPEN_COMMANDS=0 COUNTED_COMMANDS=0
echo
for round in $(seq 1 "$ROUNDS"); do
    t0=$(worker_ticks plain)
    wrk_latency "$PLAIN_URL" "$DURATION" -H "$AUTH_OPEN"
    t1=$(worker_ticks plain)
    RP+=("$RPS") P50P+=("$P50") P99P+=("$P99")
    PLAIN_REQUESTS=$((PLAIN_REQUESTS + REQUESTS))
    PLAIN_TICKS=$((PLAIN_TICKS + t1 - t0))

    c0=$(redis_commands) t0=$(worker_ticks gateway)
    wrk_latency "$GATEWAY_URL" "$DURATION" -H "$AUTH_OPEN"
    c1=$(redis_commands) t1=$(worker_ticks gateway)
    RG+=("$RPS") P50G+=("$P50") P99G+=("$P99")
    OPEN_REQUESTS=$((OPEN_REQUESTS + REQUESTS))
    OPEN_TICKS=$((OPEN_TICKS + t1 - t0))
    OPEN_COMMANDS=$((OPEN_COMMANDS + c1 - c0 - 1))  # - the INFO itself

    c0=$(redis_commands) t0=$(worker_ticks gateway)
    wrk_latency "$GATEWAY_URL" "$DURATION" -H "$AUTH_COUNTED"
    c1=$(redis_commands) t1=$(worker_ticks gateway)
    RC+=("$RPS") P50C+=("$P50") P99C+=("$P99")
    COUNTED_REQUESTS=$((COUNTED_REQUESTS + REQUESTS))
    COUNTED_TICKS=$((COUNTED_TICKS + t1 - t0))
    COUNTED_COMMANDS=$((COUNTED_COMMANDS + c1 - c0 - 1))
    COUNTED_TOTAL=$((COUNTED_TOTAL + REQUESTS))

    # the latency the gateway adds, where it is not lost in queueing:
    # LAT_CONNECTIONS connections, one wrk thread, the same requests
    WRK_T=1 WRK_C=$LAT_CONNECTIONS \
        wrk_latency "$PLAIN_URL" "$DURATION" -H "$AUTH_OPEN"
    L99P+=("$P99")
    WRK_T=1 WRK_C=$LAT_CONNECTIONS \
        wrk_latency "$GATEWAY_URL" "$DURATION" -H "$AUTH_OPEN"
    L99G+=("$P99")

    echo "bench: round $round/$ROUNDS: plain ${RP[-1]} (p99 ${P99P[-1]} ms)," \
         "gateway ${RG[-1]} (p99 ${P99G[-1]} ms), counted ${RC[-1]}" \
         "(p99 ${P99C[-1]} ms) req/s; -c$LAT_CONNECTIONS p99: plain" \
         "${L99P[-1]} ms, gateway ${L99G[-1]} ms"
done

check_logs

# ---------------------------------------------------------------- figures --

PM=$(median "${RP[@]}") PB=$(best "${RP[@]}")
GM=$(median "${RG[@]}") GB=$(best "${RG[@]}")
CM=$(median "${RC[@]}") CB=$(best "${RC[@]}")
lowest() {
    printf '%s\n' "$@" | sort -g | head -n 1
}
minus() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.3f", a - b }'
}
P99PM=$(median "${P99P[@]}") P99PB=$(lowest "${P99P[@]}")
P99GM=$(median "${P99G[@]}") P99GB=$(lowest "${P99G[@]}")
P99CM=$(median "${P99C[@]}") P99CB=$(lowest "${P99C[@]}")
L99PM=$(median "${L99P[@]}") L99GM=$(median "${L99G[@]}")
ADDED=$(minus "$L99GM" "$L99PM")
ADDED_LOADED=$(minus "$P99GM" "$P99PM")
ADDED_C=$(minus "$P99CM" "$P99PM")
RATIO=$(ratio "$GM" "$PM")

echo
printf '%-34s %12s %12s\n' "" "median" "best"
printf '%-34s %12.0f %12.0f\n' "plain proxy (req/s)" "$PM" "$PB"
printf '%-34s %12.0f %12.0f\n' "agreement gateway (req/s)" "$GM" "$GB"
printf '%-34s %12s %12s\n' "gateway / plain" "$RATIO" "$(ratio "$GB" "$PB")"
printf '%-34s %12.0f %12.0f\n' "counted gateway (req/s) [info]" "$CM" "$CB"
printf '%-34s %12s %12s\n' "counted / plain [info]" "$(ratio "$CM" "$PM")" \
    "$(ratio "$CB" "$PB")"
echo
printf '%-34s %12s %12s\n' "latency (ms)" "median" "lowest"
printf '%-34s %12s %12s\n' "plain p50" "$(median "${P50P[@]}")" \
    "$(lowest "${P50P[@]}")"
printf '%-34s %12s %12s\n' "gateway p50" "$(median "${P50G[@]}")" \
    "$(lowest "${P50G[@]}")"
printf '%-34s %12s %12s\n' "plain p99" "$P99PM" "$P99PB"
printf '%-34s %12s %12s\n' "gateway p99" "$P99GM" "$P99GB"
printf '%-34s %12s %12s\n' "p99 added, -c$CONNECTIONS [info]" \
    "$ADDED_LOADED" "$(minus "$P99GB" "$P99PB")"
printf '%-34s %12s %12s\n' "plain p99, -c$LAT_CONNECTIONS" "$L99PM" \
    "$(lowest "${L99P[@]}")"
printf '%-34s %12s %12s\n' "gateway p99, -c$LAT_CONNECTIONS" "$L99GM" \
    "$(lowest "${L99G[@]}")"
printf '%-34s %12s %12s\n' "p99 added (gateway - plain)" "$ADDED" \
    "$(minus "$(lowest "${L99G[@]}")" "$(lowest "${L99P[@]}")")"
printf '%-34s %12s %12s\n' "counted p99 [info]" "$P99CM" "$P99CB"
printf '%-34s %12s %12s\n' "p99 added (counted - plain) [info]" "$ADDED_C" \
    "$(minus "$P99CB" "$P99PB")"


# the proxy worker's CPU time per request (all measured runs): what a
# CPU-bound worker pays, whatever wrk and the broker do to the req/s
per_request() {
    awk -v t="$1" -v r="$2" -v us="$TICK_US" \
        'BEGIN { printf "%.2f", t * us / r }'
}
CPU_P=$(per_request "$PLAIN_TICKS" "$PLAIN_REQUESTS")
CPU_G=$(per_request "$OPEN_TICKS" "$OPEN_REQUESTS")
CPU_C=$(per_request "$COUNTED_TICKS" "$COUNTED_REQUESTS")
echo
printf '%-34s %12s %12s\n' "worker CPU per request (us)" "" "vs plain"
printf '%-34s %12s %12s\n' "plain proxy" "$CPU_P" "-"
printf '%-34s %12s %12s\n' "agreement gateway" "$CPU_G" \
    "$(minus "$CPU_G" "$CPU_P")"
printf '%-34s %12s %12s\n' "counted gateway [info]" "$CPU_C" \
    "$(minus "$CPU_C" "$CPU_P")"
printf '%-34s %12s %12s\n' "plain / gateway CPU" "$(ratio "$CPU_P" "$CPU_G")" \
    "(counted $(ratio "$CPU_P" "$CPU_C"))"

echo
echo "bench: Redis commands per request during the measured runs:" \
     "gateway $(awk -v c="$OPEN_COMMANDS" -v r="$OPEN_REQUESTS" \
                'BEGIN { printf "%.4f", c / r }')" \
     "($OPEN_COMMANDS for $OPEN_REQUESTS requests: only the 250 ms polls," \
     "mim:tp:gen and the DSP outbox)," \
     "counted $(awk -v c="$COUNTED_COMMANDS" -v r="$COUNTED_REQUESTS" \
                'BEGIN { printf "%.4f", c / r }')"
echo "bench: [info] the counted figures: the offer's \`count lteq" \
     "1000000000\`, one Redis INCR per request; mim:cnt is" \
     "$(redis get "mim:cnt:$AGREEMENT_COUNTED") after $COUNTED_TOTAL" \
     "completed counted requests (+ those in flight when wrk stopped)"

echo
ENFORCED=0
if awk -v r="$RATIO" -v g="$GOAL" 'BEGIN { exit !(r >= g) }'; then
    echo "goal: gateway/plain >= $GOAL (median): met"
else
    echo "goal: gateway/plain >= $GOAL (median): NOT met"
    [ "${BENCH_ENFORCE:-0}" = 1 ] && ENFORCED=1
fi
if awk -v a="$ADDED" -v g="$GOAL_P99_MS" 'BEGIN { exit !(a <= g) }'; then
    echo "goal: p99 added <= $GOAL_P99_MS ms (median p99s): met"
else
    echo "goal: p99 added <= $GOAL_P99_MS ms (median p99s): NOT met"
    [ "${BENCH_ENFORCE:-0}" = 1 ] && ENFORCED=1
fi

exit "$ENFORCED"
