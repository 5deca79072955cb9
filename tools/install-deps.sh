#!/bin/sh
# install-deps.sh - install the Debian packages mim-gateway needs to build,
# test, demo and benchmark (Debian 12 "bookworm").
#
# Prints nothing and exits 0 when everything is already installed.  Otherwise
# installs what is missing with apt-get (directly as root, through sudo when
# not), or prints the command to run and exits 1.
#
# The nginx package may try to start the system nginx service while it is
# installed; mim-gateway never uses that service (the demo, tests and
# benchmark run their own nginx with a private prefix on loopback ports), so
# whether it starts, fails to start, or holds port 80 does not matter.

set -u

# package                 why
PACKAGES_TABLE='
build-essential           C compiler, make
pkg-config                ./configure finds the libraries with it
nginx                     the nginx binary the module is loaded into
nginx-dev                 nginx source tree for building the dynamic module
libssl-dev                OpenSSL 3: JOSE crypto, X.509
libjansson-dev            JSON
libjwt-dev                JWT parsing (with the alg pinned first)
libhiredis-dev            Redis client (async, on the nginx event loop)
libcurl4-openssl-dev      HTTP client of the mim command
libcriterion-dev          unit tests
redis-server              integration tests (distributed state)
wrk                       benchmark
clang                     libFuzzer targets
libclang-rt-14-dev        libclang_rt.fuzzer-x86_64.a, the libFuzzer runtime
python3-pytest            integration tests
python3-requests          integration tests
python3-jwcrypto          independent JOSE checks in the tests
python3-jsonschema        DSP message validation
python3-cryptography      independent crypto checks in the tests
python3-h2                an independent HTTP/2 client for trailer tests
curl                      demo and benchmark checks
openssl                   dev PKI (certs/make-dev-pki.sh)
ca-certificates           TLS trust store for apt and curl
'

PACKAGES=$(printf '%s\n' "$PACKAGES_TABLE" | awk 'NF { print $1 }')

missing=""
for package in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)
    case $status in
        *" ok installed") ;;
        *) missing="$missing $package" ;;
    esac
done
missing=${missing# }

[ -z "$missing" ] && exit 0

apt_line="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing"

give_up() {
    echo "install-deps: $1; as root, run:" >&2
    echo "  $apt_line" >&2
    exit 1
}

# Run apt-get as root: directly, or through sudo; nothing else.
if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    give_up "missing Debian packages and not root (no sudo)"
fi

echo "install-deps: installing $missing"

log=$(mktemp "${TMPDIR:-/tmp}/mim-install-deps.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT

# A fresh image may have empty package lists: update once, every time we
# install, so we never install from stale or missing lists.
if ! $as_root apt-get update >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    give_up "apt-get update failed"
fi
# $missing is split into words on purpose: one argument per package.
# shellcheck disable=SC2086
if ! $as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends $missing >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    give_up "apt-get install failed"
fi
exit 0
