#!/bin/sh
# Runs inside the guest (guest_test.go), as a oneshot service after multi-user.target: systemd is PID 1
# in the initial PID namespace, the core pattern is the kernel's "core" (no systemd-coredump), auditd is
# not installed (records reach the journal through journald's audit socket). Every answer goes to the
# second serial port in sections ("=== name"); the test on the host reads them. Then the guest powers off.
set -u
exec >/dev/ttyS1 2>/dev/ttyS0 # answers to the test, messages to the console
B=/opt/sysdiag
section() { echo "=== $1"; }
unit() { # name ExecStart
  printf '[Service]\nType=oneshot\nWorkingDirectory=/var/tmp\nExecStart=%s\nSystemCallFilter=~@chown\n' "$2" >/etc/systemd/system/$1
}
records() { journalctl -q --no-pager _TRANSPORT=audit _AUDIT_TYPE=1326 --since="@$1" -o cat | wc -l; }
waitrecords() { # since n
  for _ in $(seq 150); do [ "$(records "$1")" -ge "$2" ] && break; sleep 0.2; done
  journalctl --sync
}
result() { systemctl show -P Result "$1"; }

section facts
echo "pid1 $(cat /proc/1/comm) $(readlink /proc/self/ns/pid)"
echo "core_pattern $(cat /proc/sys/kernel/core_pattern)"
echo "systemd $(systemctl --version | head -1)"
echo "kernel $(uname -r)"

# The e2e suite's guard: run as root on a host that systemd booted, it must refuse to touch the host.
# The host's state before and after, and what the suite said.
state() {
  for k in kernel/core_pattern kernel/core_pipe_limit fs/suid_dumpable; do echo "$k $(cat /proc/sys/$k)"; done
  echo "dev-log $(readlink /dev/log) $(test -S /run/systemd/journal/dev-log && echo socket)"
  echo "etc-units $(ls -A /etc/systemd/system | sort | tr '\n' ' ')"
  echo "journald $(systemctl is-active systemd-journald.service)"
}
section state-before
state
section e2e-suite
(cd $B && ./e2e.test -test.count=1 2>&1; echo "rc=$?")
section state-after
state
section scenario

unit g-main.service "$B/probe fchown"
# A child that writes to stdout (journald takes each stream line's _PID from the writer's credentials,
# measured on 252) and one that writes nothing at all.
unit g-child.service "/bin/sh -c '$B/probe fchown; echo still here'"
unit g-quiet.service "/bin/sh -c '$B/probe fchown >/dev/null; echo still here'"
unit g-c.service "$B/probe tick fchown"
unit g-d.service "$B/probe tick fchown"
systemctl daemon-reload

# The main process killed.
t=$(date +%s)
systemctl start g-main.service
echo "result-before $(result g-main.service)" 
waitrecords "$t" 1
section why-main
$B/sysdiag why g-main.service --json
section write-main
$B/sysdiag why g-main.service --json --write
systemctl daemon-reload
systemctl start g-main.service
section after-main
echo "$(result g-main.service)"

# A child killed, the unit succeeds.
t=$(date +%s)
systemctl start g-child.service
echo "result-before $(result g-child.service)"
waitrecords "$t" 1
section why-child
$B/sysdiag why g-child.service --json
section journal-child
journalctl -q --since="@$t" -o export | grep -a -E '^(_PID|_SYSTEMD_UNIT|_SYSTEMD_INVOCATION_ID|_TRANSPORT|MESSAGE|_EXE|_COMM|_SOURCE_REALTIME_TIMESTAMP|__REALTIME_TIMESTAMP)=|^$'
section write-child
$B/sysdiag why g-child.service --json --write
systemctl daemon-reload
t=$(date +%s)
systemctl start g-child.service
journalctl --sync
section after-child
echo "$(result g-child.service)"
journalctl -q --no-pager -u g-child.service --since="@$t" -o cat | grep 'fchown returned' || echo "no fchown return logged"

# A child that left nothing of its own pid: not tied, and said why.
t=$(date +%s)
systemctl start g-quiet.service
waitrecords "$t" 1
section why-quiet
$B/sysdiag why g-quiet.service --json

# Two units of one program killed in the same second: only a pid tells them apart.
t=$(date +%s)
systemctl start --no-block g-c.service g-d.service
for _ in $(seq 100); do
  [ "$(systemctl is-active g-c.service g-d.service | grep -c -x -E 'activating|active')" = 0 ] && break
  sleep 0.2
done
waitrecords "$t" 2
section why-c
$B/sysdiag why g-c.service --json
section why-d
$B/sysdiag why g-d.service --json
# The journal read as files (as a journal-remote server's would be): its host and systemd come from the
# entries themselves — _MACHINE_ID, and PID 1's start-up line, which it logs to the kernel log at boot.
J=/var/log/journal
[ -d "$J/$(cat /etc/machine-id)" ] || J=/run/log/journal
section manager-start
journalctl -q --no-pager -b SYSLOG_IDENTIFIER=systemd -o export | grep -a -E '^(MESSAGE=systemd .* running in|_TRANSPORT|SYSLOG_PID|_PID)=?' | grep -a -A3 -B3 'running in system mode' | head -12
section postmortem-dir
$B/sysdiag postmortem --journal-dir "$J" --json --fail-on never
section machine-id
cat /etc/machine-id
section end
