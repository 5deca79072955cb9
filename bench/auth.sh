#!/bin/bash
# bench/auth.sh - what does the caller identity cost?
#
# Starts nginx instances on free loopback ports, one worker each (see
# bench/README.md for why):
#
#   broker      stock nginx answering every GET with a ~1 KiB entity
#   plain       stock nginx proxying to the broker (no module loaded)
#   cached      the same proxy with mim_auth on and a mim_zone: the token
#               is verified once, then every request is a cache lookup
#   cold-es256  mim_auth with mim_auth_cache_ttl 0: every request verifies
#               the access token, ES256 (sign-es256.key)
#   cold-rs256  the same with RS256 access tokens (sign-rsa.key)
#   endpoint    /connect/token, replay cache in the zone
#   endpoint-redis  the same with mim_redis (a redis-server of its own)
#
# and prints:
#   1. req/s of the cached mim_auth proxy against the plain proxy, in
#      alternating wrk rounds, and the ratio against the goal (0.9);
#   2. req/s when every request verifies its token (ES256, RS256), with
#      the plain proxy measured in the same rounds, and the time one
#      verification adds to a request;
#   3. client assertions verified per second through the token endpoint:
#      wrk posts one RS256 assertion (x5c chain to the dev CA) over and
#      over; the first post got a token, every other one is verified in
#      full (form, header rules, x5c chain, party id, signature) and then
#      refused by the replay check, in the zone or in Redis.
# The core's own verification rates, without nginx, are bench/jwt_verify.c
# (make build/bench/jwt_verify).
#
# Environment: BENCH_SECONDS, BENCH_ROUNDS, BENCH_THREADS,
# BENCH_CONNECTIONS, BENCH_WORKERS (bench/lib.sh), BENCH_ENFORCE=1 (exit 1
# when the cached ratio misses the goal), BENCH_REDIS=0 (skip Redis).

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=$REPO/build/bench/auth
MODULE=$REPO/build/ngx_mim_module.so
NGINX=${NGINX:-/usr/sbin/nginx}
PYTHON=/usr/bin/python3
CERTS=$REPO/certs/dev
GOAL=0.9

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

"$REPO/certs/make-dev-pki.sh" "$CERTS" >/dev/null \
    || die "could not make the dev PKI"
"$PYTHON" -c 'import cryptography, jwcrypto' 2>/dev/null \
    || die "$PYTHON needs python3-cryptography and python3-jwcrypto"
export PYTHONPATH=$REPO/t/integration

rm -rf "$PREFIX"
mkdir -p "$PREFIX"

LOAD="load_module $MODULE;"
ZONE="mim_zone mim_bench 16m;"
ES256="mim_signing_key $CERTS/sign-es256.key;"
RS256="mim_signing_key $CERTS/sign-rsa.key; mim_signing_alg RS256;"

launch broker BROKER_PORT broker.conf.in "" ""
launch plain PLAIN_PORT proxy.conf.in \
    "# stock nginx: the module is not loaded" "# no caller identity"
launch cached CACHED_PORT auth.conf.in "$LOAD" "$ES256 $ZONE"
launch cold-es256 COLD_ES_PORT auth.conf.in "$LOAD" \
    "$ES256 $ZONE mim_auth_cache_ttl 0;"
launch cold-rs256 COLD_RS_PORT auth.conf.in "$LOAD" \
    "$RS256 $ZONE mim_auth_cache_ttl 0;"
launch endpoint ENDPOINT_PORT auth.conf.in "$LOAD" "$ES256 $ZONE"

if [ "${BENCH_REDIS:-1}" != 0 ]; then
    start_redis REDIS_PORT
    launch endpoint-redis REDIS_ENDPOINT_PORT auth.conf.in "$LOAD" \
        "$ES256 mim_redis 127.0.0.1:$REDIS_PORT;"
fi

PATH_UNDER_TEST=/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:santander:bench-001
url() {
    echo "http://127.0.0.1:$1$PATH_UNDER_TEST"
}

# ---------------------------------------------- the gateways really guard --

# check_guarded PORT TOKEN: 401 without the token, the entity with it
check_guarded() {
    local status out=$PREFIX/check-$1
    status=$(curl -s -o /dev/null -w '%{http_code}' "$(url "$1")")
    [ "$status" = 401 ] || die "port $1 answers $status without a token"
    status=$(curl -s -o "$out" -w '%{http_code}' \
        -H "Authorization: Bearer $2" "$(url "$1")")
    [ "$status" = 200 ] || die "port $1 answers $status with a valid token"
    cmp -s "$out" "$REPO/bench/entity-1k.json" \
        || die "port $1 did not send bench/entity-1k.json"
}

TOKEN_CACHED=$(token_of "$CACHED_PORT")
TOKEN_ES=$(token_of "$COLD_ES_PORT")
TOKEN_RS=$(token_of "$COLD_RS_PORT")
check_guarded "$CACHED_PORT" "$TOKEN_CACHED"
check_guarded "$COLD_ES_PORT" "$TOKEN_ES"
check_guarded "$COLD_RS_PORT" "$TOKEN_RS"
echo "bench: the gateways answer 401 without a token, the entity with one"

echo "bench: nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), $(nproc) CPUs," \
     "proxy workers: $WORKERS; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s," \
     "$ROUNDS rounds"

# ------------------------------------------------- 1. cached verification --

echo
echo "== 1. mim_auth, verified once then cached, against the plain proxy"
ENFORCED=0
compare "plain proxy" "$(url "$PLAIN_PORT")" \
    "mim_auth cached" "$(url "$CACHED_PORT")" "$GOAL" \
    -H "Authorization: Bearer $TOKEN_CACHED" || ENFORCED=$?

# --------------------------------------------------- 2. cold verification --

echo
echo "== 2. mim_auth verifying every request (mim_auth_cache_ttl 0)"
declare -a RP=() RE=() RR=()
for round in $(seq 1 "$ROUNDS"); do
    wrk_rps "$(url "$PLAIN_PORT")" "$DURATION" \
        -H "Authorization: Bearer $TOKEN_ES"
    RP+=("$RPS")
    wrk_rps "$(url "$COLD_ES_PORT")" "$DURATION" \
        -H "Authorization: Bearer $TOKEN_ES"
    RE+=("$RPS")
    wrk_rps "$(url "$COLD_RS_PORT")" "$DURATION" \
        -H "Authorization: Bearer $TOKEN_RS"
    RR+=("$RPS")
    echo "bench: round $round/$ROUNDS: plain ${RP[-1]}, ES256 ${RE[-1]}," \
         "RS256 ${RR[-1]} req/s"
done
check_logs

PM=$(median "${RP[@]}")
EM=$(median "${RE[@]}")
RM=$(median "${RR[@]}")
echo
printf '%-40s %12s %14s\n' "" "req/s" "+us/request"
printf '%-40s %12.0f %14s\n' "plain proxy" "$PM" "-"
for row in "ES256 access token:$EM" "RS256 access token:$RM"; do
    printf '%-40s %12.0f %14.1f\n' "${row%%:*}, verified each time" \
        "${row##*:}" \
        "$(awk -v c="${row##*:}" -v p="$PM" \
            'BEGIN { print 1e6 / c - 1e6 / p }')"
done

# -------------------------------------------- 3. the token endpoint ------

# a wrk script that posts one form body, and the form: a fresh assertion
# that the first post turns into a token
assertion_script() {
    "$PYTHON" - "$1" > "$PREFIX/form-$1.txt" <<'EOF'
import sys
from mimtest.identity import client_assertion, party, token_form
p = party("participant1")
sys.stdout.write(token_form(p.party_id, client_assertion(p)))
EOF
    {
        echo 'wrk.method = "POST"'
        echo 'wrk.headers["Content-Type"] =' \
             '"application/x-www-form-urlencoded"'
        printf 'wrk.body = [[%s]]\n' "$(cat "$PREFIX/form-$1.txt")"
    } > "$PREFIX/post-$1.lua"
}

# refusals_rps PORT: RPS of a run in which every answer is the refusal
REFUSED_RPS=
refusals_rps() {
    local port=$1 output total non2xx status
    assertion_script "$port"
    status=$(curl -s -o "$PREFIX/first-$port.json" -w '%{http_code}' \
        -H 'Content-Type: application/x-www-form-urlencoded' \
        --data-binary "@$PREFIX/form-$port.txt" \
        "http://127.0.0.1:$port/connect/token")
    [ "$status" = 200 ] || die "endpoint $port: first post got $status"
    status=$(curl -s -o "$PREFIX/second-$port.json" -w '%{http_code}' \
        -H 'Content-Type: application/x-www-form-urlencoded' \
        --data-binary "@$PREFIX/form-$port.txt" \
        "http://127.0.0.1:$port/connect/token")
    if [ "$status" != 400 ] \
            || ! grep -q 'jti was already used' "$PREFIX/second-$port.json"
    then
        die "endpoint $port: a replay got $status" \
            "$(cat "$PREFIX/second-$port.json")"
    fi
    output=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION"s \
        -s "$PREFIX/post-$port.lua" "http://127.0.0.1:$port/connect/token" \
        2>&1) || die "wrk failed: $output"
    total=$(awk '/requests in/ { print $1 }' <<<"$output")
    non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$output")
    if grep -q 'Socket errors' <<<"$output" || [ "$total" != "$non2xx" ]
    then
        die "endpoint $port: not every answer was the refusal:"$'\n'"$output"
    fi
    REFUSED_RPS=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$output")
}

echo
echo "== 3. client assertions verified through /connect/token" \
     "(RS256, x5c chain; replayed: verified, then refused)"
declare -a RZ=() RD=()
for round in $(seq 1 "$ROUNDS"); do
    refusals_rps "$ENDPOINT_PORT"
    RZ+=("$REFUSED_RPS")
    line="bench: round $round/$ROUNDS: replay cache in the zone ${RZ[-1]}"
    if [ -n "${REDIS_ENDPOINT_PORT:-}" ]; then
        refusals_rps "$REDIS_ENDPOINT_PORT"
        RD+=("$REFUSED_RPS")
        line="$line, in Redis ${RD[-1]}"
    fi
    echo "$line assertions/s"
done
check_logs

echo
printf '%-40s %12s %14s\n' "" "verified/s" "us each"
ZM=$(median "${RZ[@]}")
printf '%-40s %12.0f %14.1f\n' "replay cache in the zone" "$ZM" \
    "$(awk -v r="$ZM" 'BEGIN { print 1e6 / r }')"
if [ ${#RD[@]} -gt 0 ]; then
    DM=$(median "${RD[@]}")
    printf '%-40s %12.0f %14.1f\n' "replay cache in Redis" "$DM" \
        "$(awk -v r="$DM" 'BEGIN { print 1e6 / r }')"
fi

exit "$ENFORCED"
