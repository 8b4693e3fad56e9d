#!/bin/bash
# bench-postmortem.sh — sysdiag postmortem beside sysdiag events on the same realistic 1 GiB audit.log
# (bench-events.sh's; made unless $LOG exists), then on a 1 M-entry journal: wall time and max RSS. postmortem reads the same sources in
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

# The same on a 1 M-entry journal (bench-why.sh's, made unless $JDIR exists): a journal-remote directory,
# read as another host's (its records carry _HOSTNAME/_MACHINE_ID, versions from its start-up lines).
JDIR=${JDIR:-/tmp/sysdiag-bench-journal}
N=${N:-1000000}
command -v /lib/systemd/systemd-journal-remote >/dev/null || { apt-get install -y -q --no-install-recommends systemd-journal-remote >/dev/null; }
if [ ! -d "$JDIR" ]; then
  mkdir -p "$JDIR"
  go run ./internal/auditgen/mkjournal -n "$N" -unit remote-ssh-agent.service | /lib/systemd/systemd-journal-remote -o "$JDIR/remote.journal" - 2>/dev/null
fi
echo "journal: $(du -sh "$JDIR" | cut -f1) ($N entries)"
cat "$JDIR"/* > /dev/null
for i in 1 2 3; do
  t "sysdiag events --journal-dir --json" bin/sysdiag events --journal-dir "$JDIR" --systemd-version 252.39 --json --since @0
  t "sysdiag postmortem --journal-dir --json" bin/sysdiag postmortem --journal-dir "$JDIR" --systemd-version 252.39 --json --since @0 --fail-on never --root "$empty"
done
