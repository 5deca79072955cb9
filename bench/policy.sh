#!/bin/bash
# bench/policy.sh - how fast does the ODRL engine decide?
#
# Runs build/bench/policy (bench/policy.c, built by `make bench` or
# `make build/bench/policy`): decisions per second and nanoseconds per
# decision on one core for a 3-constraint policy and a 500-constraint
# `or` of `and`s, against the goals (<= 2 us and <= 50 us), and checks
# that no decision allocates.  See docs/policies.md, "Performance".
#
# Environment:
#   BENCH_ROUNDS      timed rounds per case (default 5; the median counts)
#   BENCH_ROUND_MS    length of one round in ms (default 300)
#   BENCH_ENFORCE=1   exit 1 when a goal is missed

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$REPO/build/bench/policy

if [[ -d $BIN ]]; then
    echo "bench: $BIN is a directory (another benchmark's nginx prefix?);" \
         "the engine's micro-benchmark is built there: remove it" >&2
    exit 1
fi
if [[ ! -x $BIN ]]; then
    echo "bench: building $BIN"
    make -s -C "$REPO" "$BIN"
fi

exec "$BIN"
