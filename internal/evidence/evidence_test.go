package evidence

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

const fixtures = "../../audit/testdata/"

func exportRecords(t *testing.T, path string) []audit.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Record
	err = journal.ReadExport(f, func(fl journal.Fields) error {
		r, err := audit.FromJournal(fl)
		out = append(out, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func coredump(t *testing.T, name string) journal.Coredump {
	t.Helper()
	f, err := os.Open("../../journal/testdata/debian12-systemd252-x86_64-" + name + ".coredump.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var c journal.Coredump
	err = journal.ReadJSON(f, func(fl journal.Fields) error {
		var err error
		c, err = journal.ParseCoredump(fl)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMergeOneKillManySources(t *testing.T) {
	recs := exportRecords(t, fixtures+"debian12-systemd252-x86_64-deny-fchown.journal-audit.export")
	recs = append(recs, exportRecords(t, fixtures+"debian12-systemd252-x86_64-deny-fchown.journal-kernel.export")...)
	raw, _ := os.ReadFile(fixtures + "debian12-systemd252-x86_64-deny-fchown.dmesg.txt")
	k, err := audit.ParseKmsgLine(raw)
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, k)
	// Another unit's kill in the same second, another pid: must stay apart.
	other := exportRecords(t, fixtures+"debian12-systemd252-x86_64-allow-ptrace.journal-audit.export")[0]
	other.Time, other.Serial, other.PID = k.Time.Add(300*time.Millisecond), k.Serial+5, k.PID+1
	recs = append(recs, other)

	vs := Merge(recs, []journal.Coredump{coredump(t, "deny")}, nil)
	if len(vs) != 2 {
		t.Fatalf("%d violations, want 2: %+v", len(vs), vs)
	}
	v := vs[0]
	if !slices.Equal(v.Sources, []string{"coredump", "journal-audit", "journal-kernel", "kmsg"}) {
		t.Errorf("sources %v", v.Sources)
	}
	if v.Unit != "sysdiag-demo-deny.service" || v.UserUnit || v.Name != "fchown" || v.Coredump == nil || v.PID != 8062 {
		t.Errorf("violation %+v", v)
	}
	if vs[1].Unit != "" || vs[1].Coredump != nil || vs[1].Name != "ptrace" {
		t.Errorf("the other kill took the coredump or unit: %+v", vs[1])
	}
}

func TestMergeCoredumpOnly(t *testing.T) {
	c := coredump(t, "user")
	info := coreInfoMap(map[string]journal.SigInfo{c.Filename: {Signo: 31, Code: journal.SysSeccomp, Syscall: 93, Arch: uint32(syscalls.ArchX86_64)}})
	vs := Merge(nil, []journal.Coredump{c}, info)
	if len(vs) != 1 {
		t.Fatal(len(vs))
	}
	v := vs[0]
	if v.Name != "fchown" || !v.Known() || !v.UserUnit || v.Unit != "sysdiag-demo-user.service" || v.Manager != "user@0.service" ||
		!slices.Equal(v.Sources, []string{"core-file", "coredump"}) {
		t.Errorf("%+v", v)
	}
	vs = Merge(nil, []journal.Coredump{c}, nil)
	if vs[0].Known() || vs[0].Syscall != -1 {
		t.Errorf("without a core file the syscall is unknown: %+v", vs[0])
	}
}

func TestMergeWithoutSerial(t *testing.T) {
	raw, _ := os.ReadFile(fixtures + "debian12-systemd252-x86_64-deny-fchown.dmesg.txt")
	a, _ := audit.ParseKmsgLine(raw)
	b := a
	a.Serial, b.Serial, b.Source = 0, 0, "audit.log"
	b.Time = b.Time.Add(200 * time.Millisecond)
	if vs := Merge([]audit.Record{a, b}, nil, nil); len(vs) != 1 || len(vs[0].Sources) != 2 {
		t.Errorf("%+v", vs)
	}
}

func TestFilter(t *testing.T) {
	v := Violation{Unit: "nginx-a.service", PID: 5, Exe: "/usr/sbin/nginx", Name: "socket", Action: audit.ActionLog,
		Time: time.Unix(100, 0)}
	for _, c := range []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true}, {Filter{Unit: "nginx*"}, true}, {Filter{Unit: "sshd.service"}, false},
		{Filter{PID: 5}, true}, {Filter{PID: 6}, false}, {Filter{Exe: "/usr/sbin/*"}, true},
		{Filter{Syscall: "socket"}, true}, {Filter{Syscall: "bind"}, false}, {Filter{Kills: true}, false},
		{Filter{Window: audit.Window{Since: time.Unix(101, 0)}}, false}, {Filter{Window: audit.Window{Until: time.Unix(100, 0)}}, true},
	} {
		if got := c.f.Match(v); got != c.want {
			t.Errorf("%+v: %v", c.f, got)
		}
	}
}

func TestMergerStreamsAFlood(t *testing.T) {
	// 100 000 logged calls of one process, seen by two sources a little out of step: each becomes one
	// violation with both sources, handed on in time order, and the merger never holds more than the
	// records of its horizon.
	base := time.Unix(1795346400, 0).UTC()
	rec := func(i int, src string) audit.Record {
		return audit.Record{Source: src, Time: base.Add(time.Duration(i) * time.Millisecond), Serial: uint64(1000 + i), PID: 42,
			Arch: syscalls.ArchX86_64, Syscall: 167, Name: "swapon", Action: audit.ActionLog, Code: 0x7ffc0000}
	}
	n, maxPending := 0, 0
	var last time.Time
	m := NewMerger(nil, nil, func(v Violation) error {
		n++
		if len(v.Sources) != 2 || v.Time.Before(last) {
			t.Fatalf("violation %d: %+v", n, v)
		}
		last = v.Time
		return nil
	})
	const total = 100000
	for i := 0; i < total; i++ {
		m.Add(rec(i, "journal-audit"))
		if i >= 50 {
			m.Add(rec(i-50, "audit.log")) // the other source lags by 50 ms
		}
		maxPending = max(maxPending, len(m.pending))
	}
	for i := total - 50; i < total; i++ {
		m.Add(rec(i, "audit.log"))
	}
	m.Flush()
	if n != total {
		t.Errorf("%d violations, want %d", n, total)
	}
	if maxPending > 4000 {
		t.Errorf("held %d violations at once: not bounded by the horizon", maxPending)
	}
}

func TestMergerCoredumpReach(t *testing.T) {
	// A kill 2.5 s after its coredump's (truncated) timestamp still joins it, even with other records between.
	c := journal.Coredump{PID: 7, Signal: 31, Time: time.Unix(100, 0), Unit: "x.service"}
	kill := audit.Record{Source: "kmsg", Time: time.Unix(102, 500e6), Serial: 9, PID: 7, Action: audit.ActionKillProcess, Syscall: 41}
	other := audit.Record{Source: "kmsg", Time: time.Unix(101, 500e6), Serial: 8, PID: 8, Action: audit.ActionLog, Syscall: 1}
	vs := Merge([]audit.Record{other, kill}, []journal.Coredump{c}, nil)
	if len(vs) != 2 || vs[1].Unit != "x.service" || vs[1].Coredump == nil || vs[0].Coredump != nil {
		t.Errorf("%+v", vs)
	}
}

// coreInfoMap is a CoreInfo from a map by COREDUMP_FILENAME.
func coreInfoMap(m map[string]journal.SigInfo) CoreInfo {
	return func(c *journal.Coredump) (journal.SigInfo, bool) { si, ok := m[c.Filename]; return si, ok }
}

// journald re-imports the kernel's ring buffer when it starts: a kill's kernel-log copy can arrive long
// after the first copy was handed on. It is the same kill.
func TestMergeLateCopyOfAKill(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	k := audit.Record{PID: 5, Time: t0, Serial: 77, Action: audit.ActionKillProcess, Syscall: 93, Name: "fchown", Source: "journal-kernel"}
	other := audit.Record{PID: 6, Time: t0.Add(time.Minute), Serial: 78, Action: audit.ActionKillProcess, Syscall: 93, Source: "journal-kernel"}
	var out []Violation
	m := NewMerger(nil, nil, func(v Violation) error { out = append(out, v); return nil })
	m.Add(k)
	m.Add(other)
	m.Add(k) // the re-imported copy, a minute later in the stream
	m.Flush()
	if len(out) != 2 {
		t.Fatalf("%d violations, want 2: %+v", len(out), out)
	}
}

// One record from audisp-remote's audit.log (node=web1) and from journal-remote's journal (_HOSTNAME of
// another spelling, with a machine id) is one violation with both hosts' names filled; a coredump of
// another host with the same pid does not join it.
func TestMergeAcrossHosts(t *testing.T) {
	tm := time.Date(2026, 12, 2, 13, 0, 0, 500e6, time.UTC)
	rec := audit.Record{Source: "audit.log", Node: "web1", Time: tm, Serial: 77, PID: 42, Action: audit.ActionKillProcess, Syscall: 93, Name: "fchown"}
	jrec := rec
	jrec.Source, jrec.Node, jrec.Machine = "journal-audit", "web1.example.org", "m1"
	other := journal.Coredump{Time: tm.Truncate(time.Second), PID: 42, Signal: journal.SIGSYS, Unit: "b.service", Host: journal.Host{Hostname: "web2", MachineID: "m2"}}
	vs := Merge([]audit.Record{rec, jrec}, []journal.Coredump{other}, nil)
	if len(vs) != 2 {
		t.Fatalf("want the kill and the other host's coredump apart, got %d: %+v", len(vs), vs)
	}
	v := vs[0]
	if v.Coredump != nil || v.Unit != "" || strings.Join(v.Sources, ",") != "audit.log,journal-audit" || v.Node != "web1" || v.Machine != "m1" {
		t.Errorf("merged: %+v", v)
	}
	if vs[1].Unit != "b.service" || vs[1].Machine != "m2" {
		t.Errorf("the other host's coredump: %+v", vs[1])
	}
}
