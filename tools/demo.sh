#!/usr/bin/env bash
# tools/demo.sh is `make demo`: build Gatehouse with the demo tag, saying what it is
# doing, then run `gatehouse demo` (arguments are passed on). The first run downloads
# the pinned Go toolchain and the modules and compiles a few hundred packages, a
# minute or two; without this it is two silent minutes (issue 13, "Demo"). Later
# runs find everything in Go's caches and start in seconds.
# Env: PORT or GATEHOUSE_LISTEN_ADDR (where the demo listens; it reads them itself),
# GOTOOLCHAIN and CGO_ENABLED (the Makefile pins them).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "Go toolchain: ${GOTOOLCHAIN:-as go.mod says} (the go command downloads it once, on first use)…"
go version
echo "Finding the packages and downloading the modules they need (first run only)…"
total=$(go list -deps -tags demo ./cmd/gatehouse | wc -l)
echo "Building gatehouse: ${total} packages; the first build takes a minute or two, later ones seconds…"
mkdir -p bin
tty=0
[ -t 1 ] && tty=1
# go build -v names each package as it compiles it (cached ones are not named):
# count them on one line on a terminal, every 50th in a log. Anything else (a
# compiler error) is printed as it comes.
go build -tags demo -v -o bin/gatehouse-demo ./cmd/gatehouse 2>&1 | awk -v total="$total" -v tty="$tty" '
  /^[A-Za-z0-9._~\/-]+$/ {
    n++
    if (tty) printf "\r  %d of at most %d compiled: %s\033[K", n, total, $0
    else if (n % 50 == 0) printf "  %d of at most %d compiled\n", n, total
    fflush(); next
  }
  { if (tty && n) printf "\n"; print; fflush() }
  END {
    if (tty && n) printf "\r\033[K"
    if (n) printf "  %d packages compiled.\n", n; else print "  Up to date: nothing to compile."
  }'
exec bin/gatehouse-demo demo "$@"
