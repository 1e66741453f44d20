#!/usr/bin/env bash
# make bench: every rdv-bench scenario at quick sizes (well under 5 minutes),
# printed as one table. Full sizes and the latest figures: BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
exec timeout 290 "$BUILD/rdv-bench" --quick --daemon "$BUILD/rendezvousd" "$@"
