#!/bin/bash
# demo-walkthrough.sh - the contract flow of `make demo`, with `mim consumer`
# as participant1 of the dev PKI against the demo gateway:
#
#   1. without a contract the city's API is closed (401);
#   2. the catalog;
#   3. `mim consumer run`: negotiate, transfer, GET, in one command;
#   4. step by step: negotiate, transfer (the data-access token), GET;
#   5. denials: a wrong purpose, a use over the agreement's count, an
#      agreement whose time ran out (403), a transfer the operator
#      completed (409: its token is revoked).
#
# usage: tools/demo-walkthrough.sh [GATEWAY_URL]   (http://127.0.0.1:8080)
#
# Every command is printed before it runs; the script stops with a
# non-zero status at the first step that does not do what it says (the
# tests run it against the demo configuration: t/integration/test_demo.py).
# Set DEMO_WAIT_EXPIRY=0 to skip the 11 s wait of the expiry step.

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
GATEWAY=${1:-http://127.0.0.1:8080}
MIM=${MIM:-$REPO/build/mim}
CERTS=$REPO/certs/dev
DPV=https://w3id.org/dpv#
PARKING=urn:mim:dataset:parking
AIR=urn:mim:dataset:air-quality

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

AUTH=(--cert "$CERTS/participant1-chain.crt" --key "$CERTS/participant1.key"
      --provider-id EU.EORI.NLSMARTCITY)

step() {
    printf '\n\033[1m== %s\033[0m\n' "$*"
}

# show CMD...: print the command (repository paths shortened), run it
show() {
    local shown="$*"
    shown=${shown//$REPO\//}
    # a token is long: its first characters say enough
    printf '$ %s\n' "$(sed -E 's/(eyJ[A-Za-z0-9_-]{8})[A-Za-z0-9_.-]*/\1.../g' \
                        <<< "$shown")" >&2
    "$@"
}

fail() {
    echo "demo-walkthrough: $*" >&2
    exit 1
}

# expect_status CODE CMD...: run a `mim consumer get`, which exits 1 on an
# HTTP error; its --json result must carry that status
expect_status() {
    local want=$1 result
    shift
    result=$(show "$@" --json 2>&1 >"$TMP/result.json" || true)
    echo "$result"
    /usr/bin/python3 -c '
import json, sys
result = json.load(open(sys.argv[2]))
print("HTTP %s: %s" % (result.get("status"),
                       json.dumps(result.get("body"))[:400]))
sys.exit(0 if result.get("status") == int(sys.argv[1]) else 1)' \
        "$want" "$TMP/result.json" || fail "expected HTTP $want"
}

field() {       # field NAME: the value of "NAME value" lines on stdin
    awk -v n="$1" '$1 == n { print $2 }'
}

step "1. Without a contract, the city's API is closed"
out=$(show curl -s -i "$GATEWAY/ngsi-ld/v1/entities?type=ParkingSpot")
echo "$out" | tr -d '\r' | grep -v '^X-JWS-Signature'
grep -q '^HTTP/1.1 401' <<< "$out" || fail "expected 401 without a token"

step "2. The catalog (an iSHARE token from participant1's certificate)"
show "$MIM" consumer catalog "$GATEWAY" "${AUTH[@]}"

step "3. All of it in one command: negotiate, transfer, GET"
out=$(show "$MIM" consumer run "$GATEWAY" --dataset "$PARKING" "${AUTH[@]}" \
          --purpose "${DPV}ServiceProvision" --complete)
echo "${out:0:400}..."

step "4. Step by step: the agreement, the transfer and its token"
out=$(show "$MIM" consumer negotiate "$GATEWAY" \
          --offer urn:mim:offer:parking-service "${AUTH[@]}")
echo "$out"
AGREEMENT=$(field agreement <<< "$out")
[ -n "$AGREEMENT" ] || fail "no agreement"

out=$(show "$MIM" consumer transfer "$GATEWAY" --agreement "$AGREEMENT" \
          "${AUTH[@]}")
echo "$out" | sed -E 's/^(token [^.]{12})[^ ]*/\1.../'
TRANSFER=$(field transfer <<< "$out")
ENDPOINT=$(field endpoint <<< "$out")
TOKEN=$(field token <<< "$out")
[ -n "$TRANSFER" ] && [ -n "$ENDPOINT" ] && [ -n "$TOKEN" ] \
    || fail "no data address"

echo "(the agreement allows 5 uses, for service provision or research)"
out=$(show "$MIM" consumer get "$ENDPOINT" --token "$TOKEN" \
          --purpose "${DPV}ServiceProvision")
echo "${out:0:300}..."

step "5a. Denied: a purpose the agreement does not allow"
expect_status 403 "$MIM" consumer get "$ENDPOINT" --token "$TOKEN" \
    --purpose "${DPV}Marketing"

step "5b. Denied: more uses than the agreement's count (5)"
for use in 2 3 4 5; do
    show "$MIM" consumer get "$ENDPOINT" --token "$TOKEN" \
        --purpose "${DPV}ResearchAndDevelopment" -o /dev/null
    echo "use $use: permitted"
done
expect_status 403 "$MIM" consumer get "$ENDPOINT" --token "$TOKEN" \
    --purpose "${DPV}ResearchAndDevelopment"

step "5c. Denied: the air quality agreement holds for 10 seconds"
out=$(show "$MIM" consumer negotiate "$GATEWAY" \
          --offer urn:mim:offer:air-quality-10s "${AUTH[@]}")
AIR_AGREEMENT=$(field agreement <<< "$out")
out=$(show "$MIM" consumer transfer "$GATEWAY" --agreement "$AIR_AGREEMENT" \
          "${AUTH[@]}")
AIR_ENDPOINT=$(field endpoint <<< "$out")
AIR_TOKEN=$(field token <<< "$out")
echo "(only dateObserved, NO2 and airQualityLevel: the agreement's attributes)"
out=$(show "$MIM" consumer get "$AIR_ENDPOINT" --token "$AIR_TOKEN")
echo "$out"
if [ "${DEMO_WAIT_EXPIRY:-1}" != 0 ]; then
    echo "(waiting 11 s)"
    sleep 11
    expect_status 403 "$MIM" consumer get "$AIR_ENDPOINT" \
        --token "$AIR_TOKEN"
fi

step "5d. Denied: the operator completed the transfer, its token is revoked"
out=$(show curl -s -X POST "$GATEWAY/dsp-admin/transfers/$TRANSFER/complete")
echo "$out"
expect_status 409 "$MIM" consumer get "$ENDPOINT" --token "$TOKEN" \
    --purpose "${DPV}ResearchAndDevelopment"

echo
echo "walkthrough done"
