#!/bin/bash
# bench-postmortem.sh — sysdiag postmortem beside sysdiag events on the same realistic 1 GiB audit.log
# (bench-events.sh's; made unless $LOG exists): wall time and max RSS. postmortem reads the same sources in
# the same one pass and then ties, groups and diagnoses the kills; its goal is ≤ 1.2 × events' time and
# < 100 MiB. No manager and no unit files are asked (--root points at an empty tree).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
empty=$(mktemp -d); trap 'rm -rf "$empty"' EXIT
. scripts/bench-lib.sh
bench_setup
for i in 1 2 3; do
  t "sysdiag events --audit-log --json" bin/sysdiag events --audit-log "$LOG" --systemd-version 252.39 --json --since @0
  t "sysdiag postmortem --audit-log --json" bin/sysdiag postmortem --audit-log "$LOG" --systemd-version 252.39 --json --since @0 --fail-on never --root "$empty"
done
