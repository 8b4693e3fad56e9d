#!/bin/bash
# bench-events.sh — sysdiag events against ausearch and grep on the same realistic audit.log.
# Makes a 1 GiB ENRICHED log (mostly SYSCALL/EXECVE/PATH/PROCTITLE/USER_* events, ~0.1 % SECCOMP with hex
# exe, i386 compat, log and errno codes) unless $LOG exists, warms the page cache, and times each tool.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
. scripts/bench-lib.sh
bench_setup
for i in 1 2 3; do
  t "cat" cat "$LOG"
  t "grep -F type=SECCOMP" grep -F type=SECCOMP "$LOG"
  t "sysdiag events --audit-log (all records, table)" bin/sysdiag events --audit-log "$LOG" --systemd-version 252.39
  t "sysdiag events --audit-log --json" bin/sysdiag events --audit-log "$LOG" --systemd-version 252.39 --json
done
last=$(tail -c 4096 "$LOG" | grep -o 'msg=audit([0-9]*' | tail -1 | cut -d'(' -f2)
since=$((last - 600))
t "sysdiag events --since (last 10 min: seeks)" bin/sysdiag events --audit-log "$LOG" --systemd-version 252.39 --since "@$since"
t "ausearch -i -m SECCOMP" ausearch -i -m SECCOMP -if "$LOG"
t "ausearch -i -m SECCOMP -ts (last 10 min)" ausearch -i -m SECCOMP -if "$LOG" -ts $(date -d @$since '+%x %T')
