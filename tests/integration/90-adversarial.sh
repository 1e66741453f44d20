#!/usr/bin/env bash
# Attack scenarios at short sizes (make stress runs every one at full size;
# HARDENING.md has the figures): each starts a daemon of its own on
# 127.0.0.1 with a well-behaved client beside the attacker, and checks that
# the daemon survives, its RSS stays bounded and the client is served.
# The rest of the scenarios are in 91-adversarial-more.sh.
source "$(dirname "$0")/lib.sh"

"$BIN/rdv-attack" --daemon "$BIN/rendezvousd" discover-flood discover-streams park-partial \
    push-amplify sample-stall noise-flood || fail "an attack scenario failed"
echo "ALL CHECKS PASSED"
