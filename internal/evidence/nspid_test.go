package evidence

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

// containerCore is the coredump entry a system container's own systemd-coredump writes for its process
// 212 (40177 on the host): COREDUMP_PID is the container's pid, COREDUMP_FORWARDED=1 as systemd ≥ 255's
// forwarding (coredump_send_to_container) writes it, and the status text lists status's NSpid: as given.
// A relay that hands the host helper's fields on (the test bed's) gives "40177\t212"; systemd's own
// forwarding reads the status in the container's procfs, which gives "212".
func containerCore(t *testing.T, at time.Time, nspid string) journal.Coredump {
	t.Helper()
	c, err := journal.ParseCoredump(journal.Fields{
		"MESSAGE_ID":           journal.MessageCoredump,
		"__REALTIME_TIMESTAMP": strconv.FormatInt(at.Add(400*time.Millisecond).UnixMicro(), 10),
		"COREDUMP_TIMESTAMP":   strconv.FormatInt(at.Truncate(time.Second).UnixMicro(), 10),
		"COREDUMP_FORWARDED":   "1",
		"COREDUMP_PID":         "212",
		"COREDUMP_UID":         "0",
		"COREDUMP_GID":         "0",
		"COREDUMP_SIGNAL":      "31",
		"COREDUMP_UNIT":        "probe-deny.service",
		"COREDUMP_SLICE":       "system.slice",
		"COREDUMP_CGROUP":      "/system.slice/probe-deny.service",
		"COREDUMP_EXE":         "/usr/local/bin/probe",
		"COREDUMP_COMM":        "probe",
		"COREDUMP_PROC_STATUS": "Name:\tprobe\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t212\nNgid:\t0\nPid:\t212\nPPid:\t1\n" +
			"NStgid:\t" + nspid + "\nNSpid:\t" + nspid + "\nNSpgid:\t" + nspid + "\nNSsid:\t" + nspid + "\nCoreDumping:\t1\nSeccomp:\t2\n",
		"COREDUMP_ENVIRON": "LANG=C.UTF-8\nINVOCATION_ID=0f3b2c1d4e5f46a7b8c9d0e1f2a3b4c5\n",
		"_HOSTNAME":        "ct1",
		"_MACHINE_ID":      "c0ffee00c0ffee00c0ffee00c0ffee00",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// containerKill is the kernel's record of the kill, as the container's journal holds it (a kernel-log
// line): pid= is the host's.
func containerKill(at time.Time, pid int) audit.Record {
	return audit.Record{Source: "journal-kernel", Node: "ct1", Machine: "c0ffee00c0ffee00c0ffee00c0ffee00", Time: at, Serial: 311,
		PID: pid, Comm: "probe", Exe: "/usr/local/bin/probe", Arch: syscalls.ArchX86_64, Syscall: 93, Name: "fchown",
		Action: audit.ActionKillProcess, Code: uint32(audit.ActionKillProcess), Sig: journal.SIGSYS}
}

// A kill in a system container: the record says pid=40177, the container's coredump entry pid 212 with
// NSpid: 40177 212. One violation, with the unit from the entry and the call from the record.
func TestMergeContainerCoredumpByNSpidPair(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 600e6, time.UTC)
	vs := Merge([]audit.Record{containerKill(at, 40177)}, []journal.Coredump{containerCore(t, at, "40177\t212")}, nil)
	if len(vs) != 1 {
		t.Fatalf("%d violations, want 1: %+v", len(vs), vs)
	}
	v := vs[0]
	if v.Unit != "probe-deny.service" || v.UserUnit || v.Name != "fchown" || v.Syscall != 93 || v.PID != 40177 || v.Coredump == nil ||
		v.CoarseTime || !v.Time.Equal(at) {
		t.Errorf("violation %+v", v)
	}
	if v.How.Method != ByCoredump || v.How.Invocation != "0f3b2c1d4e5f46a7b8c9d0e1f2a3b4c5" ||
		!strings.Contains(v.How.Detail, "pid 212") || !strings.Contains(v.How.Detail, "NSpid pair 40177/212") {
		t.Errorf("how: %+v", v.How)
	}
}

// What does not join: a record of another host pid; a record with the container's pid number (the
// record's pid is the host's: that is another host process); an NSpid: of another process; a record out
// of the coredump's reach. Each leaves the kill untied and the coredump a violation of its own. (A status
// text read in the container's own procfs — systemd's own forwarding — has no host pid in it: that entry
// joins by executable and second, forwarded_test.go.)
func TestMergeContainerCoredumpNotPaired(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 600e6, time.UTC)
	for _, c := range []struct {
		name  string
		pid   int
		nspid string
		late  time.Duration
	}{
		{"another host pid", 40178, "40177\t212", 0},
		{"the container's pid number", 212, "40177\t212", 0},
		{"NSpid of another process", 40177, "40177\t213", 0},
		{"out of reach", 40177, "40177\t212", 5 * time.Second},
	} {
		vs := Merge([]audit.Record{containerKill(at.Add(c.late), c.pid)}, []journal.Coredump{containerCore(t, at, c.nspid)}, nil)
		if len(vs) != 2 {
			t.Errorf("%s: %d violations, want the kill and the coredump apart: %+v", c.name, len(vs), vs)
			continue
		}
		for _, v := range vs {
			if v.Name == "fchown" && (v.Coredump != nil || v.Unit != "") {
				t.Errorf("%s: the kill took the coredump: %+v", c.name, v)
			}
			if v.Coredump != nil && (v.Known() || v.Unit != "probe-deny.service" || !v.CoarseTime) {
				t.Errorf("%s: the coredump alone: %+v", c.name, v)
			}
		}
	}
}
