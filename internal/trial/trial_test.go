package trial

import (
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/syscalls"
)

func table(t *testing.T, v string) syscalls.Table {
	t.Helper()
	ver, err := syscalls.ParseVersion(v)
	if err != nil {
		t.Fatal(err)
	}
	return syscalls.Select(ver)
}

func TestPlanAllowList(t *testing.T) {
	tb := table(t, "252.39")
	as := []fixes.Assignment{{Directive: "SystemCallFilter", Value: "@system-service"}, {Directive: "SystemCallFilter", Value: "~@network-io"},
		{Directive: "ProtectClock", Value: "yes"}, {Directive: "RestrictAddressFamilies", Value: "AF_UNIX"}}
	f := fixes.Build(tb, as, nil)
	p, err := NewPlan(f, fixes.Implicits(tb, as), false, "active")
	if err != nil {
		t.Fatal(err)
	}
	var log string
	for _, l := range strings.Split(p.Dropin, "\n") {
		if strings.HasPrefix(l, "SystemCallLog=") {
			log = l
		}
	}
	allowed := strings.Fields(strings.TrimPrefix(log, "SystemCallLog=~"))
	has := func(n string) bool {
		for _, a := range allowed {
			if a == n {
				return true
			}
		}
		return false
	}
	// Logged (not in the allowed set): what the filter denies; let through unlogged: what it allows,
	// @default included.
	if !strings.HasPrefix(log, "SystemCallLog=~") || has("socket") || has("bind") || !has("read") || !has("execve") || !has("exit_group") {
		t.Errorf("allowed set: %d names; socket %v, read %v", len(allowed), has("socket"), has("read"))
	}
	if !strings.Contains(p.Dropin, "\nSystemCallFilter=\n") || !strings.HasPrefix(p.Dropin, Marker) || strings.Contains(p.Dropin, "ProtectClock=no") {
		t.Errorf("drop-in:\n%s", p.Dropin)
	}
	if st, ok := StateOf(p.Dropin); !ok || st != "active" {
		t.Errorf("state %q %v", st, ok)
	}
	if len(p.Unseen) != 2 || len(p.Relaxed) != 0 || !strings.Contains(p.Warnings[0], "without its syscall filter") {
		t.Errorf("unseen %v relaxed %v warnings %v", p.Unseen, p.Relaxed, p.Warnings)
	}
	// --relax-implicit turns the whole-call ones (ProtectClock=) into logging, never the argument ones.
	r, _ := NewPlan(f, fixes.Implicits(tb, as), true, "inactive")
	if !strings.Contains(r.Dropin, "ProtectClock=no\n") || strings.Contains(r.Dropin, "RestrictAddressFamilies=") || len(r.Unseen) != 1 ||
		strings.Contains(r.Dropin, " clock_settime ") || r.Logged < p.Logged {
		t.Errorf("relaxed:\n%s\nunseen %v", r.Dropin, r.Unseen)
	}
	if im := ImplicitOf(r, "clock_settime"); im == nil || im.Directive != "ProtectClock" {
		t.Errorf("ImplicitOf: %v", im)
	}
}

func TestPlanDenyListAndNone(t *testing.T) {
	tb := table(t, "257.13")
	as := []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@swap"}}
	p, err := NewPlan(fixes.Build(tb, as, nil), nil, false, "inactive")
	if err != nil || !strings.Contains(p.Dropin, "\nSystemCallLog=swapoff swapon\n") || p.Logged != 2 {
		t.Errorf("%v\n%s", err, p.Dropin)
	}
	if _, err := NewPlan(fixes.Build(tb, nil, nil), nil, false, "inactive"); err == nil {
		t.Error("no filter: nothing to try")
	}
}

func TestFolder(t *testing.T) {
	f := NewFolder()
	t0 := time.Unix(1796306400, 0)
	rec := func(name string, nr int, exe string, s int, a audit.Action) evidence.Violation {
		return evidence.Violation{Name: name, Syscall: nr, Arch: syscalls.ArchX86_64, Exe: exe, PID: 10 + s, Time: t0.Add(time.Duration(s) * time.Second), Action: a}
	}
	for i := 0; i < 1000; i++ {
		f.Add(rec("setsockopt", 54, "/usr/bin/ncat", i%5, audit.ActionLog))
	}
	f.Add(rec("socket", 41, "/usr/bin/ncat", 0, audit.ActionLog))
	f.Add(rec("socket", 41, "/usr/bin/other", 1, audit.ActionLog))
	f.Add(rec("fchown", 93, "/usr/bin/ncat", 2, audit.ActionErrno)) // not the trial's: skipped
	cs := f.Calls()
	if f.Records != 1002 || len(cs) != 3 || cs[0].Syscall != "setsockopt" || cs[0].Count != 1000 || cs[0].FirstPID != 10 {
		t.Errorf("%d records, %+v", f.Records, cs)
	}
	if vs := f.Violations(); len(vs) != 2 {
		t.Errorf("one violation per call and ABI: %+v", vs)
	}
}
