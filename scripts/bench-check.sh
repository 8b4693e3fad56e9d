#!/bin/bash
# bench-check.sh — the static predictor (sysdiag check) measured against real runs on the e2e bed.
#   1. 26 Debian programs (coreutils, tar, grep, ps, ip, systemctl, journalctl, dpkg, openssl, ncat, perl,
#      gpg, curl, …), each run once as a oneshot unit (TestCheckBench, the host's root);
#   2. 20 Debian services under their own units — nginx, ssh, cron, rsyslog, dnsmasq, chrony, haveged,
#      memcached, redis, lighttpd, atd, lldpd, unbound, vsftpd, tinyproxy, privoxy, mosquitto,
#      prometheus-node-exporter, avahi-daemon, rpcbind — on a bed booted from a Debian 12 root made here
#      with mmdebstrap (TestCheckBenchServices; about 30 s to make, kept in $SVCROOT for the next run);
# each under SystemCallFilter=@system-service and under a strict allow list ($SYSDIAG_BENCH_FILTER,
# default "@default @basic-io @file-system"). The truth is a trial of each unit (the calls the filter blocks
# that the run made); check predicts from the code alone. Prints recall, precision, time per program cold
# and with the build-id cache warm. Needs root on a host not booted with systemd, like scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
SVCROOT=${SVCROOT:-/var/tmp/sysdiag-bench-svc/root}
services=nginx-light,openssh-server,cron,rsyslog,dnsmasq,chrony,haveged,memcached,redis-server,lighttpd,at,lldpd,unbound,vsftpd,tinyproxy,privoxy,mosquitto,prometheus-node-exporter,avahi-daemon,rpcbind
if [ ! -x "$SVCROOT/usr/sbin/nginx" ]; then
  mkdir -p "$(dirname "$SVCROOT")"
  mmdebstrap --quiet --variant=minbase --include=systemd,dbus,$services bookworm "$SVCROOT" 2>&1 | tail -3
  chroot "$SVCROOT" systemd-machine-id-setup >/dev/null
fi
SYSDIAG_BENCH_CHECK=1 go test -count=1 -v -run 'TestCheckBench$|TestCheckPredictsRealKills$' ./internal/e2e | grep -E 'bench:|check_test.go|^(FAIL|ok)' | sed 's/^ *[a-z_]*_test.go:[0-9]*: //'
SYSDIAG_E2E_ROOT="$SVCROOT" SYSDIAG_BENCH_SERVICES=1 go test -count=1 -v -run 'TestCheckBenchServices$' ./internal/e2e | grep -E 'bench:|^(FAIL|ok)' | sed 's/^ *[a-z_]*_test.go:[0-9]*: //'
