#!/bin/bash
# setup.sh — install what sysdiag needs on Debian 12 (run as root). Idempotent: apt runs only when a
# package is missing.
#   build:  gcc, pkg-config, libseccomp-dev (libseccomp-golang is cgo), libsystemd-dev (sdjournal #includes
#           <systemd/sd-journal.h>), Go (from the machine or PATH)
#   run:    libsystemd0 (sdjournal dlopens it), systemd, libseccomp2
#   tests:  systemd-coredump, libdw1 (stack traces in coredumps), auditd, ncat, zstd, gcc-multilib (a static
#           i386 binary), dbus and libpam-systemd (root's user manager, user@0.service, for --user units:
#           user-runtime-dir@ needs the system bus, user@.service's PAM stack pam_systemd.so) — the real-systemd
#           e2e. A minimal Debian 12 root (scripts/fresh-root.sh) has none of these; that is how each was found.
set -euo pipefail
pkgs=(gcc gcc-multilib pkg-config libseccomp-dev libsystemd-dev libsystemd0 systemd systemd-coredump libdw1 auditd ncat zstd util-linux bc dbus libpam-systemd)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  # The tests start and stop auditd themselves. Where PID 1 is not systemd and no policy-rc.d forbids it
  # (a minimal root, a container), the package's init script starts auditd at install: stop what we started.
  if [[ " ${missing[*]} " == *" auditd "* ]] && [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ] && pidof auditd >/dev/null; then
    echo "setup: stopping the auditd its package just started (the tests run their own)" >&2
    kill "$(pidof auditd)" 2>/dev/null || true
    for _ in $(seq 50); do pidof auditd >/dev/null || break; sleep 0.1; done
    auditctl -e 0 >/dev/null 2>&1 || true
  fi
fi
if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    echo "setup: Go is at /usr/local/go/bin (add it to PATH)" >&2
  else
    echo "setup: no Go toolchain found (need Go >= 1.23)" >&2
    exit 1
  fi
fi
