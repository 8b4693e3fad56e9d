#!/bin/bash
# bench-trial.sh — trial's overhead under a flood: a unit that makes 200 000 calls its filter denies
# (swapon under ~@swap), run as a trial on the real systemd bed. Prints records/s, records lost (of the
# 200 000), sysdiag's CPU and max RSS (GNU time), and beside it the manual way on the same run
# (SystemCallLog= records counted with journalctl _TRANSPORT=audit | grep). A measurement, never a
# pass/fail on time. Needs root on a host not booted with systemd (the e2e bed), like scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
for i in ${RUNS:-1 2 3}; do
  SYSDIAG_BENCH_TRIAL=1 go test -count=1 -v -run 'TestTrialFlood$' ./internal/e2e | grep -E 'flood:|bench:|^(FAIL|ok)' | sed "s/^ *trial_test.go:[0-9]*: /run $i: /"
done
