#!/usr/bin/env bash
# Installs, idempotently, what building and testing rendezvousd needs:
# Debian packages (when missing) and the npm packages of the interop tests
# and of the JavaScript client (clients/js).
# chromium is the headless browser of tests/interop/browser.test.mjs (driven
# by playwright-core; no browser is downloaded); unshare and ip run a test in
# a network namespace of its own; gcovr reports `make coverage`.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential clang libclang-rt-14-dev pkg-config
      libev-dev libprotobuf-c-dev protobuf-c-compiler uthash-dev libsodium-dev libssl-dev
      libwslay-dev libhttp-parser-dev libinih-dev libjansson-dev liblmdb-dev libcmocka-dev
      redis-server libhiredis-dev
      man-db groff-base
      util-linux iproute2 gcovr
      chromium
      nodejs npm)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node may come from elsewhere than Debian's package; then only npm matters.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    filtered=()
    for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
    missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The interop tests' packages, the canvas-js client's (js-libp2p 2, in its
# own tree), the JavaScript client's (its tests, and examples/browser builds
# with them) and the relay example's (it links the client, so after it).
for dir in tests/interop tests/interop/canvas clients/js examples/relay-bootstrap; do
    [ -f "$dir/package.json" ] || continue
    # canvas: better-sqlite3 is the canvas server's store, which the client
    # never loads; no native build for it.
    flags=(); [ "$dir" = tests/interop/canvas ] && flags=(--ignore-scripts)
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        echo "install-deps: npm ci in $dir"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error "${flags[@]}")
    fi
done
