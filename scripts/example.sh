#!/bin/bash
# example.sh — set up, build, and run sysdiag's main job on a bundled real capture.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup.sh
go build -o bin/sysdiag ./cmd/sysdiag
rec=testdata/debian12-systemd252-x86_64-auditd-swapon.audit.log
echo "\$ grep type=SECCOMP $rec"
grep -a type=SECCOMP "$rec" | cut -d$'\x1d' -f1
# The record's arch= and syscall= fields, looked up for that arch and the unit's systemd version:
arch=$(grep -a type=SECCOMP "$rec" | grep -o ' arch=[0-9a-f]*' | cut -d= -f2)
nr=$(grep -a type=SECCOMP "$rec" | grep -o ' syscall=[0-9]*' | cut -d= -f2)
echo "\$ sysdiag syscall $nr --arch $arch --systemd-version 252.39"
bin/sysdiag syscall "$nr" --arch "$arch" --systemd-version 252.39
