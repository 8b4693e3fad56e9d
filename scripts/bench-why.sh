#!/bin/bash
# bench-why.sh — sysdiag why against a 1 M-entry journal and a 1 GiB audit.log: the answer must come from
# time-windowed reads and journal field matches, flat in the size of the logs (goal: < 150 ms).
# Needs systemd-journal-remote (to turn the generated export into journal files).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
LOG=${LOG:-/tmp/sysdiag-bench-audit.log}
JDIR=${JDIR:-/tmp/sysdiag-bench-journal}
N=${N:-1000000}
command -v /lib/systemd/systemd-journal-remote >/dev/null || { apt-get install -y -q --no-install-recommends systemd-journal-remote >/dev/null; }
go build -o bin/sysdiag ./cmd/sysdiag
[ -f "$LOG" ] || go run ./internal/auditgen/mkauditlog -size 1GiB -o "$LOG"
if [ ! -d "$JDIR" ]; then
  mkdir -p "$JDIR"
  go run ./internal/auditgen/mkjournal -n "$N" -unit remote-ssh-agent.service | /lib/systemd/systemd-journal-remote -o "$JDIR/remote.journal" - 2>/dev/null
fi
echo "journal: $(du -sh "$JDIR" | cut -f1) in $(ls "$JDIR" | wc -l) files ($N entries); audit.log: $(du -h "$LOG" | cut -f1)"
cat "$LOG" "$JDIR"/* > /dev/null
for i in 1 2 3 4 5; do
  /usr/bin/time -f "sysdiag why: %e s, %M KiB max RSS" bin/sysdiag why remote-ssh-agent.service --root testdata/example/root \
    --journal-dir "$JDIR" --audit-log "$LOG" --systemd-version 252.39 > /dev/null
done
