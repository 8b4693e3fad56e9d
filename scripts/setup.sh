#!/bin/bash
# setup.sh — install what sysdiag needs on Debian 12 (run as root). Idempotent: apt runs only when a
# package is missing.
#   build:  gcc, pkg-config, libseccomp-dev (libseccomp-golang is cgo), Go (from the machine or PATH)
#   run:    libsystemd0 (sdjournal dlopens it), systemd, libseccomp2
#   tests:  systemd-coredump, libdw1 (stack traces in coredumps), auditd, ncat, zstd, gcc-multilib (a static
#           i386 binary) — the real-systemd e2e
set -euo pipefail
pkgs=(gcc gcc-multilib pkg-config libseccomp-dev libsystemd-dev libsystemd0 systemd systemd-coredump libdw1 auditd ncat zstd util-linux bc)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  # auditd's package starts nothing here (PID 1 is not systemd), but be sure it does not run: the tests
  # start and stop it themselves.
fi
if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    echo "setup: Go is at /usr/local/go/bin (add it to PATH)" >&2
  else
    echo "setup: no Go toolchain found (need Go >= 1.23)" >&2
    exit 1
  fi
fi
