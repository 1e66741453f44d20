#!/usr/bin/env bash
# More attack scenarios at short sizes, as in 90-adversarial.sh: the
# discover flood over mplex (no window), a flood of unchanged re-REGISTERs
# (refreshes), and DISCOVERs in a namespace of 50,000 push registrations
# made on another node of a cluster (the daemon runs with --cluster on a
# redis-server of the run's own).
source "$(dirname "$0")/lib.sh"

"$BIN/rdv-attack" --daemon "$BIN/rendezvousd" mplex-flood refresh-flood sample-stall-cluster ||
    fail "an attack scenario failed"
echo "ALL CHECKS PASSED"
