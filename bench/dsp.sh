#!/bin/bash
# bench/dsp.sh - what does the Dataspace Protocol provider cost, and how
# many contract negotiations does it finish per second?
#
# Starts, on free loopback ports (see bench/README.md for the setup):
#
#   redis       a redis-server of its own (--save "" --appendonly no):
#               database 1 for the catalog gateway, 0 for the negotiating
#               one, so that neither's outbox sees the other's jobs
#   catalog     the gateway (bench/dsp.conf.in): mim_auth on, mim_dsp with
#               the bench's catalog (written to build/bench/dsp/catalog.json)
#               and mim_dsp_url, so the Catalog is built once; BENCH_WORKERS
#               workers (1 by default, like every baseline)
#   plain       stock nginx (bench/dsp-plain.conf.in, module not loaded)
#               answering POST /dsp/catalog/request with the very bytes the
#               gateway answered, from memory (return 200)
#   negotiate   the same gateway with BENCH_DSP_WORKERS workers (2: one per
#               CPU of the benchmark machine) and a larger mim_zone
#
# and prints:
#   1. catalog requests/s: POST /dsp/catalog/request (a CatalogRequestMessage,
#      application/json, a bearer token that mim_auth verified once and
#      then finds in its cache) to the gateway against the plain nginx
#      answering the same POST, in alternating wrk rounds; goal >= 0.8;
#   2. complete negotiations/s with Redis, driven by build/bench/dsp_negotiate
#      (bench/dsp_negotiate.c): BENCH_DSP_CONCURRENCY (64) negotiations in
#      flight, each request -> 201 -> the gateway POSTs the
#      ContractAgreementMessage to the driver's callback server -> the
#      driver POSTs the verification -> the gateway POSTs the FINALIZED
#      event; latency p50/p99 from request to FINALIZED; goal >= 1,000/s.
#      Before measuring, one negotiation is run end to end and
#      GET /dsp/negotiations/<providerPid> must show FINALIZED.
#
# Environment: BENCH_SECONDS (default 5 here), BENCH_ROUNDS, BENCH_THREADS,
# BENCH_CONNECTIONS, BENCH_WORKERS (bench/lib.sh); BENCH_DSP_WORKERS (2, or
# auto), BENCH_DSP_CONCURRENCY (64); BENCH_ENFORCE=1 (exit 1 when a goal is
# missed).

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=$REPO/build/bench/dsp
MODULE=$REPO/build/ngx_mim_module.so
NGINX=${NGINX:-/usr/sbin/nginx}
PYTHON=/usr/bin/python3
CERTS=$REPO/certs/dev
DRIVER=$REPO/build/bench/dsp_negotiate
GOAL_CATALOG=0.8
GOAL_NEGOTIATIONS=1000
: "${BENCH_SECONDS:=5}"
NEG_WORKERS=${BENCH_DSP_WORKERS:-2}
NEG_CONCURRENCY=${BENCH_DSP_CONCURRENCY:-64}

DATASET=urn:mim:dataset:bench-parking
OFFER=urn:mim:offer:bench-open

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

[[ $NEG_WORKERS =~ ^([1-9][0-9]*|auto)$ ]] \
    || die "BENCH_DSP_WORKERS: a positive integer or auto, not '$NEG_WORKERS'"
[[ $NEG_CONCURRENCY =~ ^[1-9][0-9]*$ ]] \
    || die "BENCH_DSP_CONCURRENCY: a positive integer, not '$NEG_CONCURRENCY'"
command -v redis-server >/dev/null \
    || die "redis-server not found: run tools/install-deps.sh"
"$PYTHON" -c 'import cryptography, jwcrypto' 2>/dev/null \
    || die "$PYTHON needs python3-cryptography and python3-jwcrypto"
if [ ! -x "$DRIVER" ] || [ "$REPO/bench/dsp_negotiate.c" -nt "$DRIVER" ]; then
    make -s -C "$REPO" "$DRIVER" >/dev/null || die "cannot build $DRIVER"
fi
"$REPO/certs/make-dev-pki.sh" "$CERTS" >/dev/null \
    || die "could not make the dev PKI"
export PYTHONPATH=$REPO/t/integration

rm -rf "$PREFIX"
mkdir -p "$PREFIX"

# ------------------------------------------------------------ the catalog --

# Two datasets, three offers: the negotiations take the open one.
cat > "$PREFIX/catalog.json" <<EOF
{
  "@id": "urn:mim:catalog:bench",
  "title": "Benchmark catalog",
  "description": "The catalog of bench/dsp.sh",
  "datasets": [
    {
      "@id": "$DATASET",
      "title": "Parking spots",
      "endpoint": "/ngsi-ld/v1/entities?type=ParkingSpot",
      "formats": ["HttpData-PULL"],
      "offers": [
        { "@id": "$OFFER",
          "permission": [ { "action": "use" } ] },
        { "@id": "urn:mim:offer:bench-research",
          "permission": [ { "action": "use", "constraint": [
            { "leftOperand": "purpose", "operator": "eq",
              "rightOperand": "https://w3id.org/dpv#ResearchAndDevelopment" }
          ] } ] }
      ]
    },
    {
      "@id": "urn:mim:dataset:bench-air",
      "title": "Air quality",
      "endpoint": "/ngsi-ld/v1/entities?type=AirQualityObserved",
      "offers": [
        { "@id": "urn:mim:offer:bench-air-open",
          "permission": [ { "action": "use" } ] }
      ]
    }
  ]
}
EOF

# ------------------------------------------------------------------ redis --

start_redis REDIS_PORT

# --------------------------------------------------------------- gateways --

LOAD="load_module $MODULE;"
launch catalog CATALOG_PORT dsp.conf.in "$LOAD" \
    "mim_zone mim_bench 16m; mim_redis 127.0.0.1:$REDIS_PORT db=1;"
WORKERS=$NEG_WORKERS launch negotiate NEG_PORT dsp.conf.in "$LOAD" \
    "mim_zone mim_bench 128m; mim_redis 127.0.0.1:$REDIS_PORT db=0;"

TOKEN_CATALOG=$(token_of "$CATALOG_PORT") || die "no token from the gateway"
TOKEN_NEG=$(token_of "$NEG_PORT") || die "no token from the gateway"

# ------------------------------------------- 1. catalog: the baseline ------

CATALOG_REQUEST='{"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@type":"CatalogRequestMessage"}'

# post_catalog PORT OUT [TOKEN]: POST the CatalogRequestMessage; prints the
# status, the answer's body in OUT, its headers in OUT.headers
post_catalog() {
    local auth=()
    [ -n "${3:-}" ] && auth=(-H "Authorization: Bearer $3")
    curl -s -o "$2" -D "$2.headers" -w '%{http_code}' "${auth[@]}" \
        -H 'Content-Type: application/json' --data-binary "$CATALOG_REQUEST" \
        "http://127.0.0.1:$1/dsp/catalog/request" || true
}

status=$(post_catalog "$CATALOG_PORT" "$PREFIX/unauthenticated.json")
[ "$status" = 401 ] \
    || die "the gateway answered $status to a catalog request without a token"
status=$(post_catalog "$CATALOG_PORT" "$PREFIX/catalog-answer.json" \
    "$TOKEN_CATALOG")
[ "$status" = 200 ] || die "the gateway answered $status to a catalog" \
    "request: $(head -c 600 "$PREFIX/catalog-answer.json")"
status=$(post_catalog "$CATALOG_PORT" "$PREFIX/catalog-again.json" \
    "$TOKEN_CATALOG")
[ "$status" = 200 ] && cmp -s "$PREFIX/catalog-answer.json" \
    "$PREFIX/catalog-again.json" \
    || die "the gateway's second catalog answer differs from the first"

# a Catalog of the two datasets and their three offers; then the plain
# nginx's configuration: return 200 with exactly these bytes
"$PYTHON" - "$PREFIX/catalog-answer.json" "$PREFIX/catalog-answer.conf" \
    "$DATASET" "$OFFER" <<'EOF' || die "the gateway's Catalog is not right"
import json, sys
raw = open(sys.argv[1], "rb").read()
cat = json.loads(raw)
text = json.dumps(cat)
if cat.get("@type") != "Catalog":
    sys.exit("not a Catalog: %s" % text[:600])
for needle in (sys.argv[3], sys.argv[4], "urn:mim:dataset:bench-air",
               "urn:mim:offer:bench-research", "urn:mim:offer:bench-air-open"):
    if needle not in text:
        sys.exit("%s is not in the Catalog: %s" % (needle, text[:600]))
body = raw.decode()
# nginx: in a quoted string \ and ' are escaped; "$" would start a variable;
# a parameter is at most 4 KiB (NGX_CONF_BUFFER)
if "$" in body or len(raw) > 4000:
    sys.exit("the Catalog (%d bytes%s) cannot be a return directive's text"
             % (len(raw), ", with a $" if "$" in body else ""))
quoted = body.replace("\\", "\\\\").replace("'", "\\'")
open(sys.argv[2], "w").write("return 200 '%s';\n" % quoted)
EOF

launch plain PLAIN_PORT dsp-plain.conf.in \
    "# stock nginx: the module is not loaded" "# no gateway"

status=$(post_catalog "$PLAIN_PORT" "$PREFIX/plain-answer.json" \
    "$TOKEN_CATALOG")
[ "$status" = 200 ] && cmp -s "$PREFIX/catalog-answer.json" \
    "$PREFIX/plain-answer.json" \
    || die "the plain nginx does not answer the gateway's bytes ($status)"

# the headers of both answers, but Date (printed for the record)
headers_of() {
    tr -d '\r' < "$1" | sed -e '1d' -e '/^$/d' -e '/^[Dd]ate:/d' | sort
}
if ! diff <(headers_of "$PREFIX/catalog-answer.json.headers") \
        <(headers_of "$PREFIX/plain-answer.json.headers") >/dev/null; then
    echo "bench: note: the answers' headers differ (Date aside):"
    diff <(headers_of "$PREFIX/plain-answer.json.headers") \
        <(headers_of "$PREFIX/catalog-answer.json.headers") \
        | sed -n 's/^</  plain:  /p; s/^>/  gateway:/p'
fi
echo "bench: the gateway answers 401 without a token, the Catalog" \
     "($(wc -c < "$PREFIX/catalog-answer.json") bytes) with one;" \
     "the plain nginx the same bytes"

{
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    printf 'wrk.body = [[%s]]\n' "$CATALOG_REQUEST"
} > "$PREFIX/catalog-request.lua"

# ------------------------------ 2. negotiations: one, end to end, first ----

# run_driver OUT CONCURRENCY SECONDS [MAX]: the driver with a callback port
# of its own; its stdout in OUT, stderr in OUT.err; returns its status
run_driver() {
    local out=$1 rc=0
    shift
    for _ in 1 2 3; do
        free_port CALLBACK_PORT     # (free_port's own local is "port")
        rc=0
        "$DRIVER" "127.0.0.1:$NEG_PORT/dsp" "$TOKEN_NEG" "$DATASET" "$OFFER" \
            "$CALLBACK_PORT" "$@" > "$out" 2> "$out.err" || rc=$?
        # 2: a setup error (say the callback port was taken meanwhile)
        [ "$rc" = 2 ] && grep -q 'callback server' "$out.err" && continue
        return "$rc"
    done
    return "$rc"
}

driver_failed() {
    echo "bench: $1" >&2
    cat "$2" "$2.err" >&2
    echo "bench: the negotiating gateway's error log (last lines):" >&2
    tail -n 20 "$PREFIX/negotiate/error.log" >&2
    exit 1
}

# what the gateway logs from here on is reported at the end (lib.sh's
# start() probed it with a GET / before: one "not found")
LOG_START=$(($(wc -c < "$PREFIX/negotiate/error.log") + 1))

rc=0
run_driver "$PREFIX/sanity.out" 1 10 1 || rc=$?
[ "$rc" = 0 ] && grep -q '^completed  *1 ' "$PREFIX/sanity.out" \
    || driver_failed "one negotiation did not complete (driver status $rc):" \
        "$PREFIX/sanity.out"
PID=$(awk '/^last / { print $2 }' "$PREFIX/sanity.out")
status=$(curl -s -o "$PREFIX/sanity-negotiation.json" -w '%{http_code}' \
    -H "Authorization: Bearer $TOKEN_NEG" \
    "http://127.0.0.1:$NEG_PORT/dsp/negotiations/$PID")
state=$("$PYTHON" -c 'import json, sys
n = json.load(open(sys.argv[1]))
print(n.get("state") if n.get("@type") == "ContractNegotiation" else "?")' \
    "$PREFIX/sanity-negotiation.json" 2>/dev/null || echo '?')
if [ "$status" != 200 ] || [ "$state" != FINALIZED ]; then
    echo "bench: GET /dsp/negotiations/$PID: $status" \
         "$(head -c 1000 "$PREFIX/sanity-negotiation.json")" >&2
    driver_failed "the negotiation is not FINALIZED ($state)" \
        "$PREFIX/sanity.out"
fi
echo "bench: one negotiation end to end: $PID FINALIZED" \
     "($(sed -n 's/^latency  *p50 \([0-9.]*\) ms.*/\1/p' \
         "$PREFIX/sanity.out") ms)"

echo "bench: nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), $(nproc) CPUs;" \
     "catalog: workers $WORKERS per instance, wrk -t$THREADS" \
     "-c$CONNECTIONS -d${DURATION}s; negotiations: $NEG_WORKERS workers," \
     "$NEG_CONCURRENCY in flight, ${DURATION}s; $ROUNDS rounds"

# ------------------------------------------------------------ 1. catalog --

echo
echo "== 1. POST /dsp/catalog/request: the gateway against plain nginx" \
     "answering the same bytes"
ENFORCED=0
compare "plain nginx" "http://127.0.0.1:$PLAIN_PORT/dsp/catalog/request" \
    "gateway catalog" "http://127.0.0.1:$CATALOG_PORT/dsp/catalog/request" \
    "$GOAL_CATALOG" -s "$PREFIX/catalog-request.lua" \
    -H "Authorization: Bearer $TOKEN_CATALOG" || ENFORCED=$?

# ------------------------------------------------------- 2. negotiations --

echo
echo "== 2. complete negotiations with Redis (request, agreement," \
     "verification, FINALIZED)"

# one round: RATE, P50, P99 of a driver run of SECONDS
RATE='' P50='' P99=''
negotiate_round() {
    local out=$PREFIX/round-$1.out rc=0
    run_driver "$out" "$NEG_CONCURRENCY" "$2" || rc=$?
    [ "$rc" = 0 ] || driver_failed "negotiations failed (driver status $rc):" \
        "$out"
    RATE=$(awk '/^rate / { print $2 }' "$out")
    P50=$(sed -n 's/^latency  *p50 \([0-9.]*\) ms.*/\1/p' "$out")
    P99=$(sed -n 's/^latency .* p99 \([0-9.]*\) ms.*/\1/p' "$out")
    [[ $RATE =~ ^[0-9]+(\.[0-9]+)?$ ]] || driver_failed "no rate:" "$out"
}

negotiate_round warmup 1
declare -a NR=() NP50=() NP99=()
for round in $(seq 1 "$ROUNDS"); do
    negotiate_round "$round" "$DURATION"
    NR+=("$RATE")
    NP50+=("$P50")
    NP99+=("$P99")
    echo "bench: round $round/$ROUNDS: $RATE negotiations/s," \
         "p50 $P50 ms, p99 $P99 ms" \
         "($(awk '/^completed / { print $2 }' "$PREFIX/round-$round.out")" \
         "completed, 0 failed)"
done
check_logs

NM=$(median "${NR[@]}")
NB=$(best "${NR[@]}")
echo
printf '%-32s %12s %12s\n' "" "median" "best"
printf '%-32s %12.0f %12.0f\n' "negotiations/s" "$NM" "$NB"
printf '%-32s %12s %12s\n' "latency p50 (ms)" "$(median "${NP50[@]}")" "-"
printf '%-32s %12s %12s\n' "latency p99 (ms)" "$(median "${NP99[@]}")" "-"

# what the gateway logged meanwhile (warnings: deliveries that failed)
tail -c "+$LOG_START" "$PREFIX/negotiate/error.log" \
    > "$PREFIX/negotiate/error-during.log"
logged=$(grep -c -e '\[error\]' -e '\[warn\]' \
    "$PREFIX/negotiate/error-during.log" || true)
echo
if [ "$logged" != 0 ]; then
    echo "bench: note: the negotiating gateway logged $logged warnings or" \
         "errors; the first:"
    grep -e '\[error\]' -e '\[warn\]' "$PREFIX/negotiate/error-during.log" \
        | head -n 5
else
    echo "bench: the negotiating gateway logged no warnings or errors"
fi
if command -v redis-cli >/dev/null; then
    echo "bench: Redis (db 0): $(redis-cli -p "$REDIS_PORT" dbsize) keys," \
         "$(redis-cli -p "$REDIS_PORT" info memory \
            | sed -n 's/^used_memory_human:\(.*\)\r$/\1/p');" \
         "outbox: $(redis-cli -p "$REDIS_PORT" zcard mim:outbox) jobs left"
fi

echo
if awk -v r="$NM" -v g="$GOAL_NEGOTIATIONS" 'BEGIN { exit !(r >= g) }'; then
    echo "goal: negotiations/s >= $GOAL_NEGOTIATIONS (median): met"
else
    echo "goal: negotiations/s >= $GOAL_NEGOTIATIONS (median): NOT met"
    [ "${BENCH_ENFORCE:-0}" = 1 ] && ENFORCED=1
fi

exit "$ENFORCED"
