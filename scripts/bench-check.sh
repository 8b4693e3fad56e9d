#!/bin/bash
# bench-check.sh — the static predictor (sysdiag check) measured against real runs on the e2e bed: real
# Debian programs run once each as oneshot units under SystemCallFilter=@system-service; a trial of each
# gives the calls the filter blocks that the run made (the truth); check predicts from the code alone.
# Prints recall, precision and the time per program, cold and with the build-id cache warm. Needs root on
# a host not booted with systemd, like scripts/test.sh. The e2e suite's own real-kill scenarios are
# TestCheckPredictsRealKills (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
SYSDIAG_BENCH_CHECK=1 go test -count=1 -v -run 'TestCheckBench$|TestCheckPredictsRealKills$' ./internal/e2e | grep -E 'bench:|check_test.go|^(FAIL|ok)' | sed 's/^ *[a-z_]*_test.go:[0-9]*: //'
