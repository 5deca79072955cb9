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
PREFIX=$REPO/build/bench/sign
MODULE=$REPO/build/ngx_mim_module.so
NGINX=${NGINX:-/usr/sbin/nginx}

KEY=${BENCH_KEY:-$REPO/certs/dev/sign-es256.key}
GOAL=0.75

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

if [ -z "${BENCH_KEY:-}" ]; then
    "$REPO/certs/make-dev-pki.sh" "$REPO/certs/dev" >/dev/null \
        || die "could not make the dev PKI"
fi
[ -r "$KEY" ] || die "signing key $KEY not readable"
KEY=$(cd "$(dirname "$KEY")" && pwd)/$(basename "$KEY")

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

echo "bench: nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), $(nproc) CPUs," \
     "proxy workers: $WORKERS; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s," \
     "$ROUNDS rounds"
echo "bench: body $(wc -c < "$REPO/bench/entity-1k.json") bytes," \
     "key ${KEY#"$REPO"/}"

compare "plain proxy" "$PLAIN_URL" "signed proxy" "$SIGNED_URL" "$GOAL"
