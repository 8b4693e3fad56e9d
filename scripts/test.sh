#!/bin/bash
# test.sh — set up and run every test sysdiag has: generated tables up to date, gofmt, vet, unit and
# CLI tests, each fuzzer briefly. Run as root on Debian 12 (the real-systemd tests need root).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup.sh

echo "== generated tables are up to date (go generate ./syscalls)"
gen=$(mktemp -d); trap 'rm -rf "$gen"' EXIT
go run ./syscalls/internal/gen -dir syscalls -out "$gen"
for f in zsyscalls.go zgroups.go; do
  cmp -s "$gen/$f" "syscalls/$f" || { echo "FAIL: syscalls/$f is stale: run go generate ./syscalls" >&2; exit 1; }
done

echo "== gofmt, go vet"
bad=$(gofmt -l $(git ls-files '*.go'))
[ -z "$bad" ] || { echo "FAIL: gofmt -l: $bad" >&2; exit 1; }
go vet ./...

echo "== fuzz (${FUZZTIME:-5s} each)"
for f in $(grep -l '^func Fuzz' $(git ls-files '*_test.go')); do
  pkg=./$(dirname "$f")
  for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
    go test -run '^$' -fuzz "^$fn\$" -fuzztime "${FUZZTIME:-5s}" "$pkg" >/dev/null || { echo "FAIL: $fn in $pkg" >&2; go test -run '^$' -fuzz "^$fn\$" -fuzztime 1x "$pkg"; exit 1; }
    echo "ok   $fn"
  done
done

echo "== go test"
go test -count=1 ./...
