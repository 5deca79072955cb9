#!/bin/bash
# bench/policy-gateway.sh - how much throughput does ODRL enforcement cost?
#
# Like bench/sign.sh: a broker, a plain proxy (stock nginx) and the same
# proxy with `mim_policy` (bench/policy-gateway.jsonld: read, with three
# constraints: dateTime, purpose, virtualLocation), every request carrying
# the purpose header that the policy asks for.  Prints req/s for both and
# the ratio; goal >= 0.9.  Environment: as bench/sign.sh.

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=$REPO/build/bench/policy-gateway
MODULE=$REPO/build/ngx_mim_module.so
NGINX=${NGINX:-/usr/sbin/nginx}
POLICY=$REPO/bench/policy-gateway.jsonld
PURPOSE="X-Data-Purpose: https://w3id.org/dpv#ServiceProvision"
GOAL=0.9

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

launch broker BROKER_PORT broker.conf.in "" ""
launch plain PLAIN_PORT proxy.conf.in \
    "# stock nginx: the module is not loaded" "# no policy"
launch policy POLICY_PORT proxy.conf.in "load_module $MODULE;" \
    "mim_policy $POLICY; mim_policy_target urn:mim:bench:entities;"

PATH_UNDER_TEST=/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:santander:bench-001
PLAIN_URL=http://127.0.0.1:$PLAIN_PORT$PATH_UNDER_TEST
POLICY_URL=http://127.0.0.1:$POLICY_PORT$PATH_UNDER_TEST

# Measuring a proxy that denies (403s are cheap) or does not decide would
# give a meaningless ratio: the policy must permit with the header and
# deny without it.
status=$(curl -s -o /dev/null -w '%{http_code}' -H "$PURPOSE" "$POLICY_URL")
[ "$status" = 200 ] || die "the policy proxy answered $status, not 200"
status=$(curl -s -o /dev/null -w '%{http_code}' "$POLICY_URL")
[ "$status" = 403 ] \
    || die "the policy proxy answered $status without a purpose, not 403"
echo "bench: the policy proxy decides: 200 with a purpose, 403 without"

echo "bench: nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), $(nproc) CPUs," \
     "proxy workers: $WORKERS; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s," \
     "$ROUNDS rounds; policy ${POLICY#"$REPO"/} (3 constraints)"

compare "plain proxy" "$PLAIN_URL" "policy proxy" "$POLICY_URL" "$GOAL" \
    -H "$PURPOSE"
