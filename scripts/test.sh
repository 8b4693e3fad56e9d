#!/bin/bash
# test.sh — set up and run every test sysdiag has: generated tables up to date, gofmt, vet, unit and
# CLI tests, each fuzzer briefly. Run as root on Debian 12 (the real-systemd tests need root).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup.sh

echo "== generated tables are up to date (go generate ./syscalls)"
gen=$(mktemp -d); cleanup=("$gen"); trap 'rm -rf "${cleanup[@]}"' EXIT
go run ./syscalls/internal/gen -dir syscalls -out "$gen"
for f in zsyscalls.go zgroups.go; do
  cmp -s "$gen/$f" "syscalls/$f" || { echo "FAIL: syscalls/$f is stale: run go generate ./syscalls" >&2; exit 1; }
done

echo "== gofmt, go vet"
bad=$(gofmt -l $(git ls-files '*.go'))
[ -z "$bad" ] || { echo "FAIL: gofmt -l: $bad" >&2; exit 1; }
go vet ./...

echo "== fuzz (${FUZZTIME:-5s} each)"
# A fuzzer that finds a crash writes it to testdata/fuzz/FuzzX/ and fails: that fails the run. A run that
# fails without writing an input (the fuzzing engine's own hiccup) is retried once. Minimizing a new
# input may take 60 s by default, past -fuzztime: a worker then misses the deadline ("context deadline
# exceeded", seen with FuzzMerger on 2 cores): 1 s is enough for these inputs.
count_files() { if [ -d "$1" ]; then ls "$1" | wc -l; else echo 0; fi; }
fuzz_one() { # pkg fn
  local out rc=0
  out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-5s}" -fuzzminimizetime 1s "$1" 2>&1) || rc=$?
  [ $rc = 0 ] && return 0
  echo "$out" | tail -30 >&2
  return 1
}
for f in $(grep -l '^func Fuzz' $(git ls-files '*_test.go')); do
  pkg=./$(dirname "$f")
  for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
    before=$(count_files "$pkg/testdata/fuzz/$fn")
    if ! fuzz_one "$pkg" "$fn"; then
      after=$(count_files "$pkg/testdata/fuzz/$fn")
      if [ "$after" != "$before" ]; then echo "FAIL: $fn in $pkg found a crash (see $pkg/testdata/fuzz/$fn)" >&2; exit 1; fi
      echo "retrying $fn once (no crashing input was written)" >&2
      fuzz_one "$pkg" "$fn" || { echo "FAIL: $fn in $pkg" >&2; exit 1; }
    fi
    echo "ok   $fn"
  done
done

echo "== go test"
# The e2e suites leave each bed's journal and unit files here, for the fleet test at the end.
bundle=$(mktemp -d /var/tmp/sysdiag-fleet.XXXXXX); cleanup+=("$bundle")
SYSDIAG_E2E_BUNDLE="$bundle" go test -count=1 ./...

# The version-dependent scenarios and the no-coredump ones again, on a second real systemd: Debian 13's
# 257, booted from a trixie root made anew here (about 15 s; nothing cached). Only where the bed runs.
if [ "$(id -u)" = 0 ] && [ "$(cat /proc/1/comm)" != systemd ] && [ ! -d /run/systemd/system ] && [ "${SYSDIAG_SKIP_257:-}" != 1 ]; then
  echo "== e2e on systemd 257 (a Debian 13 root)"
  trixie=$(mktemp -d /var/tmp/sysdiag-trixie.XXXXXX); cleanup+=("$trixie")
  mmdebstrap --quiet --variant=minbase --include=systemd,systemd-coredump,dbus trixie "$trixie/root" 2>&1 | tail -3
  chroot "$trixie/root" systemd-machine-id-setup >/dev/null
  # Debian 13 leaves journald's audit socket off: records then reach the journal only as kernel-log lines,
  # which the kernel rate-limits (10 per 5 s): the scenarios' kills in one second lose records. Turn it on.
  chroot "$trixie/root" systemctl enable --quiet systemd-journald-audit.socket
  SYSDIAG_E2E_ROOT="$trixie/root" SYSDIAG_E2E_BUNDLE="$bundle" go test -count=1 -v -run 'TestVersion|TestWhyWithoutSystemdCoredump|TestTrialProtectClock|TestTrialFlood|TestTrialErrnoDenyList|TestTrialAlreadyRight|TestZZZFleetBundle' ./internal/e2e |
    grep -E '^(e2e:|--- |ok|FAIL|PASS)|_test.go:'
  echo "== postmortem over a fleet: both beds' journals in one journal-remote directory (252 and 257)"
  SYSDIAG_E2E_FLEET="$bundle" go test -count=1 -v -run TestFleet ./internal/e2e/fleet | grep -E '^(--- |ok|FAIL|PASS)|_test.go:'
  echo "== e2e on systemd 257 as a system container: the root's own systemd-coredump forwards the host's cores into it"
  SYSDIAG_E2E_ROOT="$trixie/root" SYSDIAG_TESTBED_CONTAINER=1 go test -count=1 -v -run 'TestContainer' ./internal/e2e |
    grep -E '^(e2e:|--- |ok|FAIL|PASS)|_test.go:'
else
  echo "== e2e on systemd 257: not run (needs root on a host not booted with systemd, like the rest of the e2e)"
fi

# The kills of a host whose PID 1 is systemd and that has no systemd-coredump (a Debian or Ubuntu server):
# a qemu guest booted from a Debian 12 root with its kernel, made anew here (about 80 s; TCG, about 50 s).
# The bed above is a PID namespace, where pids tie nothing; here the main process's and a child's kills
# are tied by pid (internal/e2e/guest).
if [ "$(id -u)" = 0 ] && [ "$(cat /proc/1/comm)" != systemd ] && [ ! -d /run/systemd/system ] && [ "${SYSDIAG_SKIP_GUEST:-}" != 1 ]; then
  echo "== e2e in a guest whose PID 1 is systemd 252, without systemd-coredump (qemu)"
  guest=$(mktemp -d /var/tmp/sysdiag-guest.XXXXXX); cleanup+=("$guest")
  mmdebstrap --quiet --variant=minbase --include=systemd,systemd-sysv,dbus,udev,linux-image-amd64,initramfs-tools \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    bookworm "$guest/root" 2>&1 | tail -3
  chroot "$guest/root" systemd-machine-id-setup >/dev/null
  SYSDIAG_E2E_GUEST_ROOT="$guest/root" go test -count=1 -timeout 20m -v -run TestGuest ./internal/e2e/guest |
    grep -E '^(--- |ok|FAIL|PASS)|_test.go:'
else
  echo "== e2e in a guest: not run (needs root on a host not booted with systemd, like the rest of the e2e)"
fi

# The Debian package: built twice from this clone (the same bytes, or it is not reproducible), then
# installed with apt on a bed booted from a fresh minimal Debian 12 root with man-db and bash-completion:
# man page, completion, the watch service under its hardening, and apt remove leaving nothing.
echo "== the .deb (scripts/package.sh): reproducible, and installed, used and removed on a fresh Debian 12 root"
pkgdir=$(mktemp -d /var/tmp/sysdiag-pkg.XXXXXX); cleanup+=("$pkgdir")
deb=$(./scripts/package.sh "$pkgdir/a")
./scripts/package.sh "$pkgdir/b" >/dev/null
if ! cmp -s "$deb" "$pkgdir/b/$(basename "$deb")"; then echo "FAIL: two builds of the package differ" >&2; exit 1; fi
echo "package: $(basename "$deb"), $(stat -c %s "$deb") bytes, sha256 $(sha256sum "$deb" | cut -c1-16)…, the same twice"
if [ "$(id -u)" = 0 ] && [ "$(cat /proc/1/comm)" != systemd ] && [ ! -d /run/systemd/system ]; then
  mmdebstrap --quiet --variant=minbase --include=systemd,dbus,man-db,bash-completion bookworm "$pkgdir/root" 2>&1 | tail -3
  chroot "$pkgdir/root" systemd-machine-id-setup >/dev/null
  SYSDIAG_E2E_ROOT="$pkgdir/root" SYSDIAG_E2E_DEB="$deb" go test -count=1 -v -run 'TestPackage$' ./internal/e2e |
    grep -E '^(e2e:|--- |ok|FAIL|PASS)|_test.go:'
else
  echo "== the package on a fresh root: not run (needs root on a host not booted with systemd, like the rest of the e2e)"
fi

echo "== go test without cgo (the pure core and the CLI build and answer everywhere; e2e says it skipped)"
CGO_ENABLED=0 go test -count=1 ./...
