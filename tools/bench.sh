#!/usr/bin/env bash
# make bench: every rdv-bench scenario at quick sizes (well under 5 minutes),
# printed as one table, then the in-process benchmarks of the server's
# internals (rdv-microbench), then the circuit relay figures
# (tools/relay-bench.mjs, js-libp2p ends). Full sizes and the latest
# figures: BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
timeout 200 "$BUILD/rdv-bench" --quick --daemon "$BUILD/rendezvousd" "$@"
echo
timeout 60 "$BUILD/rdv-microbench" --quick --daemon "$BUILD/rendezvousd"
echo
exec timeout 60 node tools/relay-bench.mjs --quick --daemon "$BUILD/rendezvousd"
