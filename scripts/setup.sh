#!/bin/bash
# setup.sh [--build] — install what sysdiag needs on Debian 12 (run as root). Idempotent: apt runs only
# when a package is missing. --build: only what building and packaging need (scripts/package.sh).
#   build:  gcc and libc6-dev (gcc only recommends it: --no-install-recommends leaves cgo without
#           stdlib.h), pkg-config, libseccomp-dev (libseccomp-golang is cgo), libsystemd-dev (sdjournal #includes
#           <systemd/sd-journal.h>), Go (from the machine or PATH)
#   run:    libsystemd0 (sdjournal dlopens it), systemd, libseccomp2
#   package: dpkg-dev (dpkg-shlibdeps computes the .deb's Depends: from the binary's libraries)
#   tests:  systemd-coredump, libdw1 (stack traces in coredumps), auditd, ncat, zstd, gcc-multilib (a static
#           i386 binary), dbus and libpam-systemd (root's user manager, user@0.service, for --user units:
#           user-runtime-dir@ needs the system bus, user@.service's PAM stack pam_systemd.so) — the real-systemd
#           e2e; mmdebstrap (the Debian 13 root whose systemd 257 the version scenarios boot, and the guest's
#           root); qemu-system-x86 and e2fsprogs (a guest whose PID 1 is systemd, from an ext4 image made with
#           mkfs.ext4 -d: kills tied by pid on a host without systemd-coredump); systemd-journal-remote (the
#           fleet test stores each bed's journal as a journal-remote server does). A minimal
#           Debian 12 root (scripts/fresh-root.sh) has none of these; that is how each was found.
#
# On a host booted with systemd (PID 1 is systemd: a user's server) the real-systemd tests do not run
# (the test bed refuses such a host), so the test-only packages are not installed there either: they would
# change the host — auditd starts and takes the audit socket, systemd-coredump sets the global core pattern.
# Where they are installed, the core pattern systemd-coredump's package sets is put back as it was: the
# test bed sets its own while it runs.
set -euo pipefail
pkgs=(gcc libc6-dev pkg-config libseccomp-dev libsystemd-dev libsystemd0 systemd libseccomp2 util-linux dpkg-dev)
e2e_pkgs=(gcc-multilib systemd-coredump libdw1 auditd ncat zstd bc dbus libpam-systemd mmdebstrap qemu-system-x86 e2fsprogs systemd-journal-remote)
if [ "${1:-}" = --build ]; then
  : # package.sh: only what building and packaging need
elif [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] || [ -d /run/systemd/system ]; then
  echo "setup: this host is booted with systemd: not installing the real-systemd tests' packages (${e2e_pkgs[*]}); those tests skip here — run them with scripts/fresh-root.sh on a machine that is not booted with systemd" >&2
else
  pkgs+=("${e2e_pkgs[@]}")
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  echo "setup: installing ${missing[*]}" >&2
  # systemd-coredump's postinst applies its sysctl.d file to the running kernel: note what it changes.
  sysctls=(/proc/sys/kernel/core_pattern /proc/sys/kernel/core_pipe_limit /proc/sys/fs/suid_dumpable)
  declare -A was
  for f in "${sysctls[@]}"; do was[$f]=$(cat "$f" 2>/dev/null || true); done
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  for f in "${sysctls[@]}"; do
    if [ -n "${was[$f]}" ] && [ "$(cat "$f")" != "${was[$f]}" ]; then
      echo "setup: putting back ${f#/proc/sys/} (${was[$f]}), which a package's install changed" >&2
      printf '%s\n' "${was[$f]}" > "$f" || true
    fi
  done
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
