#!/bin/bash
# bench/jwt-verify.sh - cold JWT verification on one core, against
# OpenSSL's own signature verification rate.
#
# Runs build/bench/jwt_verify (bench/jwt_verify.c: RS256 and ES256 tokens
# verified with a pinned key, and an iSHARE client assertion with its x5c
# chain) and `openssl speed -seconds S rsa2048 ecdsap256`, alternating
# them BENCH_ROUNDS times (a busy phase of the machine hits both), and
# prints the best rate of each and the ratios against the goal: a token
# verified by the gateway - parsed, checked and verified - at >= 0.7 of the
# bare signature verification rate.  Both count per second of CPU time
# (openssl speed's default divisor), on one core.
#
# The iSHARE assertion costs three RSA verifications (the token, and the
# two certificate signatures of its chain) plus chain building: its
# ratio to one bare rsa2048 verification is printed for information; 1/3
# is the ceiling.
#
# Environment:
#   BENCH_SECONDS   seconds per case and per openssl run (default 2)
#   BENCH_ROUNDS    rounds (default 2)
#   BENCH_ENFORCE=1 exit 1 when RS256 or ES256 is below the goal

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$REPO/build/bench/jwt_verify
SECONDS_PER=${BENCH_SECONDS:-2}
ROUNDS=${BENCH_ROUNDS:-2}
GOAL=0.7

die() {
    echo "bench: $*" >&2
    exit 1
}

[[ $SECONDS_PER =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ ]] \
    || die "BENCH_SECONDS and BENCH_ROUNDS: positive integers"
[ -x "$BIN" ] || die "$BIN not built: make $BIN (or make bench)"
command -v openssl >/dev/null 2>&1 || die "openssl not found"

OUT=$REPO/build/bench/jwt-verify
rm -rf "$OUT"
mkdir -p "$OUT"

best() {    # best PATTERN FILE...: the highest number after "PATTERN: "
    local pattern=$1
    shift
    sed -n "s/^$pattern: \([0-9.]*\)$/\1/p" "$@" | sort -g | tail -n 1
}

for round in $(seq 1 "$ROUNDS"); do
    echo "bench: round $round/$ROUNDS: jwt_verify ..."
    "$BIN" "$SECONDS_PER" > "$OUT/gateway.$round" \
        || die "jwt_verify failed: $(cat "$OUT/gateway.$round")"
    echo "bench: round $round/$ROUNDS: openssl speed rsa2048 ecdsap256 ..."
    openssl speed -seconds "$SECONDS_PER" rsa2048 ecdsap256 \
        > "$OUT/openssl.$round" 2>/dev/null \
        || die "openssl speed failed"
    # "rsa 2048 bits 0.000253s 0.000019s 3953.5 51661.5"
    # " 256 bits ecdsa (nistp256) 0.0000s 0.0001s 50258.3 15223.7"
    awk '/^rsa 2048 bits/ { print "rsa2048: " $NF }
         /ecdsa \(nistp256\)/ { print "ecdsap256: " $NF }' \
        "$OUT/openssl.$round" >> "$OUT/openssl.$round.rates"
done

head -n 1 "$OUT/gateway.1" | sed 's/^/bench: /'
RS=$(best "RS256 verify\/s" "$OUT"/gateway.*)
ES=$(best "ES256 verify\/s" "$OUT"/gateway.*)
IS=$(best "iSHARE RS256 assertion verify\/s" "$OUT"/gateway.*)
IF=$(best "iSHARE RS256 assertion, chain first seen verify\/s" \
     "$OUT"/gateway.*)
ORSA=$(best rsa2048 "$OUT"/openssl.*.rates)
OEC=$(best ecdsap256 "$OUT"/openssl.*.rates)
[ -n "$RS" ] && [ -n "$ES" ] && [ -n "$IS" ] && [ -n "$IF" ] \
    || die "jwt_verify printed no rates: $(cat "$OUT/gateway.1")"
[ -n "$ORSA" ] && [ -n "$OEC" ] \
    || die "could not read openssl speed: $(cat "$OUT/openssl.1")"
rm -f "$OUT"/openssl.*.rates
ORSA=$(printf '%.0f' "$ORSA")
OEC=$(printf '%.0f' "$OEC")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
meets() { awk -v r="$1" -v g="$GOAL" 'BEGIN { exit !(r >= g) }'; }

R_RS=$(ratio "$RS" "$ORSA")
R_ES=$(ratio "$ES" "$OEC")
R_IS=$(ratio "$IS" "$ORSA")
R_IF=$(ratio "$IF" "$ORSA")

row() { printf '%-46s %12s %12s %8s\n' "$@"; }

echo
row "verifications per CPU second, best of $ROUNDS" gateway openssl ratio
row "RS256 token (pinned RSA-2048 key)" "$RS" "$ORSA" "$R_RS"
row "ES256 token (pinned P-256 key)" "$ES" "$OEC" "$R_ES"
row "iSHARE assertion, x5c chain (3 RSA verif.)" "$IS" "$ORSA" "$R_IS"
row "  the same, chain seen for the first time" "$IF" "$ORSA" "$R_IF"
echo

status=met
for r in "$R_RS" "$R_ES"; do
    meets "$r" || status="NOT met"
done
echo "goal: RS256 and ES256 >= $GOAL of openssl speed: $status"
echo "iSHARE assertions: $(ratio "$IS" 1 | cut -d. -f1)/s with the chain's" \
     "certificates already decoded, $(ratio "$IF" 1 | cut -d. -f1)/s for" \
     "a chain seen for the first time (three RSA verifications and chain" \
     "building; decoding a certificate costs ~150 us in OpenSSL 3.0)"
if [ "$status" != met ] && [ "${BENCH_ENFORCE:-0}" = 1 ]; then
    exit 1
fi
