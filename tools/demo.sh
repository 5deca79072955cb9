#!/bin/bash
# demo.sh - run the mim-gateway demo (what `make demo` does after building):
# one nginx in the foreground, with a stand-in NGSI-LD broker on
# 127.0.0.1:1026 and the gateway on 127.0.0.1:8080 (HTTP) and
# 127.0.0.1:8443 (HTTPS, HTTP/2): a Dataspace Protocol provider whose
# /ngsi-ld/ opens to contracts only, signing every response.  The printed
# walkthrough (tools/demo-walkthrough.sh) runs the contract flow with
# `mim consumer`.  Ctrl-C stops it.
#
# The configuration is rendered from conf/demo.conf.in into build/demo/,
# which is also nginx's prefix (logs, pid file, temp files): the system
# nginx, its service and port 80 are never involved.

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=$REPO/build/demo
MODULE=$REPO/build/ngx_mim_module.so
CERTS=$REPO/certs/dev
NGINX=${NGINX:-/usr/sbin/nginx}
PORTS="1026 8080 8443"

die() {
    echo "demo: $*" >&2
    exit 1
}

[ -x "$NGINX" ] || die "$NGINX not found: run tools/install-deps.sh"
[ -f "$MODULE" ] || die "$MODULE not built: run make (or make demo)"
"$REPO/certs/make-dev-pki.sh" "$CERTS" >/dev/null \
    || die "could not make the dev PKI in $CERTS"

# A port already taken (another demo, a real broker on 1026, ...) would make
# nginx fail with a terse bind() error; say which and who holds it instead.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for port in $PORTS; do
    if port_in_use "$port"; then
        holder=""
        if command -v ss >/dev/null 2>&1; then
            holder=$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n 1)
        fi
        die "127.0.0.1:$port is already in use${holder:+ ($holder)};" \
            "the demo needs ports $PORTS free (stop the other server first)"
    fi
done

# Render the template (placeholders in comment lines stay as they are).
# Values are escaped for sed's replacement text.
sed_escape() {
    printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}
if [ "$(id -u)" -eq 0 ]; then
    # As root, workers would switch to "nobody" and could not use the
    # prefix; a dev demo runs them as root.
    user_line="user root;"
else
    user_line="# (not root: the workers run as $(id -un))"
fi

mkdir -p "$PREFIX/tmp"
conf_tmp=$(mktemp "$PREFIX/nginx.conf.XXXXXX")
trap 'rm -f "$conf_tmp"' EXIT
trap 'exit 130' INT TERM HUP

sed -e '/^[[:space:]]*#/b' \
    -e "s|@PREFIX@|$(sed_escape "$PREFIX")|g" \
    -e "s|@MODULE@|$(sed_escape "$MODULE")|g" \
    -e "s|@REPO@|$(sed_escape "$REPO")|g" \
    -e "s|@CERTS@|$(sed_escape "$CERTS")|g" \
    -e "s|@USER_LINE@|$(sed_escape "$user_line")|g" \
    -e "s|@BROKER_PORT@|1026|g" -e "s|@PORT@|8080|g" -e "s|@TLS_PORT@|8443|g" \
    "$REPO/conf/demo.conf.in" > "$conf_tmp"
mv "$conf_tmp" "$PREFIX/nginx.conf"

nginx_args=(-p "$PREFIX/" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log")
if ! test_output=$("$NGINX" "${nginx_args[@]}" -t 2>&1); then
    echo "$test_output" >&2
    die "nginx -t failed for $PREFIX/nginx.conf"
fi

# Relative paths below are from the repository root.
cat <<EOF
mim-gateway demo (nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), config $PREFIX/nginx.conf)

  broker   http://127.0.0.1:1026/ngsi-ld/v1/entities   a stand-in serving conf/broker;
           in production the broker is Orion-LD, Scorpio or Stellio
  gateway  http://127.0.0.1:8080/   https://127.0.0.1:8443/ (HTTP/2)
           a Dataspace Protocol provider (catalog conf/demo/catalog.json):
           /ngsi-ld/ answers only to a contract's data-access token;
           /open/ngsi-ld/ is the same data without a contract; every
           response is signed

The contract flow, from another terminal in $REPO, with mim consumer as
participant1 of the dev PKI (catalog, negotiate, transfer, GET, and the
requests an agreement denies: wrong purpose, over its count, expired, a
completed transfer):

  tools/demo-walkthrough.sh

or by hand:

  AUTH="--cert certs/dev/participant1-chain.crt --key certs/dev/participant1.key --provider-id EU.EORI.NLSMARTCITY"
  curl -i 'http://127.0.0.1:8080/ngsi-ld/v1/entities?type=ParkingSpot'      # 401: no contract
  build/mim consumer catalog http://127.0.0.1:8080 \$AUTH
  build/mim consumer run http://127.0.0.1:8080 --dataset urn:mim:dataset:parking --purpose 'https://w3id.org/dpv#ServiceProvision' \$AUTH
  build/mim consumer negotiate http://127.0.0.1:8080 --offer urn:mim:offer:parking-service \$AUTH    # prints the agreement
  build/mim consumer transfer http://127.0.0.1:8080 --agreement AGREEMENT \$AUTH                     # prints endpoint and token
  build/mim consumer get ENDPOINT --token TOKEN --purpose 'https://w3id.org/dpv#Marketing'            # 403: not its purpose
  curl -s http://127.0.0.1:8080/dsp-admin/transfers/TRANSFER                                          # the operator's view

Response signatures (open data, no contract needed):

  curl -i http://127.0.0.1:8080/open/ngsi-ld/v1/entities
  curl -i --cacert certs/dev/ca.crt 'https://127.0.0.1:8443/open/ngsi-ld/v1/entities?type=AirQualityObserved'
  curl -s --cacert certs/dev/ca.crt https://127.0.0.1:8443/.well-known/jwks.json
  build/mim verify-response https://127.0.0.1:8443/open/ngsi-ld/v1/entities --tls-ca certs/dev/ca.crt --jwks https://127.0.0.1:8443/.well-known/jwks.json
  build/mim verify-response https://127.0.0.1:8443/open/ngsi-ld/v1/entities --tls-ca certs/dev/ca.crt --ca certs/dev/ca-bundle.crt

Logs: $PREFIX/error.log and access.log.  Ctrl-C stops the demo.

EOF

# exec: nginx takes this process's place, so Ctrl-C (or a TERM sent to this
# script's pid) reaches the nginx master directly and it shuts down cleanly.
trap - EXIT INT TERM HUP
exec "$NGINX" "${nginx_args[@]}"
