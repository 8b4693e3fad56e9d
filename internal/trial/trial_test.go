package trial

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/cgroup"
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
	p, err := NewPlan(f, fixes.Implicits(tb, as), Options{}, "active")
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
	r, _ := NewPlan(f, fixes.Implicits(tb, as), Options{Relax: true}, "inactive")
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
	p, err := NewPlan(fixes.Build(tb, as, nil), nil, Options{}, "inactive")
	if err != nil || !strings.Contains(p.Dropin, "\nSystemCallLog=swapoff swapon\n") || p.Logged != 2 {
		t.Errorf("%v\n%s", err, p.Dropin)
	}
	if _, err := NewPlan(fixes.Build(tb, nil, nil), nil, Options{}, "inactive"); err == nil {
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
	f.Add(rec("fchown", 93, "/usr/bin/ncat", 2, audit.ActionTrap)) // not the trial's: skipped
	cs := f.Calls()
	if f.Records != 1002 || len(cs) != 3 || cs[0].Syscall != "setsockopt" || cs[0].Count != 1000 || cs[0].FirstPID != 10 {
		t.Errorf("%d records, %+v", f.Records, cs)
	}
	if vs := f.Violations(); len(vs) != 2 {
		t.Errorf("one violation per call and ABI: %+v", vs)
	}
}

// With the manager's log flag the enforced implicit filters become visible (their errno denials are
// records); MemoryDenyWriteExecute= on v254+ and a kernel ≥ 6.3 is prctl(PR_SET_MDWE), never seen.
func TestPlanLogFlag(t *testing.T) {
	as := []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@swap"}, {Directive: "ProtectClock", Value: "yes"},
		{Directive: "MemoryDenyWriteExecute", Value: "yes"}, {Directive: "RestrictAddressFamilies", Value: "AF_UNIX"}}
	k618, k61 := ParseKernel("6.18.44"), ParseKernel("6.1.0-41-cloud-amd64")
	if k618.Major != 6 || k618.Point != 18 || k61.Point != 1 || ParseKernel("x").Major != 0 {
		t.Fatalf("ParseKernel: %+v %+v", k618, k61)
	}
	for _, c := range []struct {
		v               string
		kernel          syscalls.Version
		visible, unseen int
	}{{"252.39", k618, 3, 0}, {"257.13", k618, 2, 1}, {"257.13", k61, 3, 0}} {
		tb := table(t, c.v)
		f := fixes.Build(tb, as, nil)
		p, err := NewPlan(f, fixes.Implicits(tb, as), Options{LogFlag: true, Kernel: c.kernel}, "inactive")
		if err != nil || !p.LogErrno || len(p.Visible) != c.visible || len(p.Unseen) != c.unseen || !anyHas(p.Warnings, "SYSTEMD_LOG_SECCOMP=1") {
			t.Errorf("%s on %s: %v visible %d unseen %d %v", c.v, c.kernel, err, len(p.Visible), len(p.Unseen), p.Warnings)
		}
		// The errno records of what stays enforced name the directive; a call the filter denies too
		// also goes to the fix.
		host := syscalls.ArchX86_64
		vs := []evidence.Violation{
			{Name: "clock_adjtime", Syscall: 305, Arch: host, Action: audit.ActionErrno},
			{Name: "swapon", Syscall: 167, Arch: host, Action: audit.ActionLog},
			{Name: "socket", Syscall: 41, Arch: host, Action: audit.ActionErrno},
		}
		sp := Split(p, f, vs, host)
		rest, hits := sp.Filter, sp.Implicit
		if len(rest) != 1 || rest[0].Name != "swapon" || len(hits) != 2 || hits[0].Directive != "ProtectClock" || hits[0].Errno != "EPERM" ||
			hits[1].Directive != "RestrictAddressFamilies" || hits[1].Errno != "EAFNOSUPPORT" || hits[0].AlsoFilter {
			t.Errorf("split: %+v %+v", rest, hits)
		}
	}
	// Without a SystemCallFilter= the flag alone is a trial: the implicit filters' denials.
	tb := table(t, "252.39")
	only := []fixes.Assignment{{Directive: "ProtectClock", Value: "yes"}}
	p, err := NewPlan(fixes.Build(tb, only, nil), fixes.Implicits(tb, only), Options{LogFlag: true, Kernel: k618}, "inactive")
	if err != nil || strings.Contains(p.Dropin, "SystemCallLog=") || !p.LogErrno {
		t.Errorf("%v\n%s", err, p.Dropin)
	}
}

func anyHas(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestLogSeccompOn(t *testing.T) {
	env := []byte("PATH=/usr/bin\x00container=x\x00")
	on := []byte("[Manager]\nManagerEnvironment=FOO=1 SYSTEMD_LOG_SECCOMP=yes\n")
	off := []byte("[Manager]\nManagerEnvironment=\"SYSTEMD_LOG_SECCOMP=0\"\n")
	for _, c := range []struct {
		env   []byte
		confs [][]byte
		want  bool
	}{
		{env, nil, false},
		{append(env, "SYSTEMD_LOG_SECCOMP=1\x00"...), nil, true},
		{env, [][]byte{on}, true},
		{env, [][]byte{on, off}, false},
		{env, [][]byte{[]byte("[Manager]\nDefaultEnvironment=SYSTEMD_LOG_SECCOMP=1\n")}, false}, // the units', not the manager's
		{env, [][]byte{[]byte(ManagerConf(true))}, true},
		{env, [][]byte{[]byte(ManagerConf(true)), []byte(ManagerConf(false))}, false},
	} {
		if got := LogSeccompOn(c.env, c.confs); got != c.want {
			t.Errorf("%q %q: %v", c.env, c.confs, got)
		}
	}
	if !IsManagerConf("zz-sysdiag-trial-a.service.conf") || IsManagerConf("50-local.conf") || ManagerConfPath("a.service") != "/run/systemd/system.conf.d/zz-sysdiag-trial-a.service.conf" {
		t.Error("names")
	}
}

// A record is the unit's by cgroup; without one (the process gone, another PID namespace) by the unit's
// programs — those of its Exec lines and those seen in its records — or as a log of the trial's own set.
func TestClaim(t *testing.T) {
	tb := table(t, "252.39")
	as := []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@swap @debug"}}
	p, err := NewPlan(fixes.Build(tb, as, nil), nil, Options{}, "inactive")
	if err != nil {
		t.Fatal(err)
	}
	c := NewClaim("a.service", false, p, []string{"/bin/sh"})
	rec := func(name, exe string, a audit.Action) audit.Record {
		return audit.Record{Name: name, Exe: exe, Action: a}
	}
	none, mine, other := cgroup.Unit{}, cgroup.Unit{Name: "a.service"}, cgroup.Unit{Name: "b.service"}
	for i, c2 := range []struct {
		u    cgroup.Unit
		r    audit.Record
		want bool
	}{
		{other, rec("swapon", "/bin/sh", audit.ActionLog), false},                                      // by cgroup: another unit's
		{none, rec("swapon", "/usr/bin/x", audit.ActionKillProcess), false},                            // unknown program, a kill
		{none, rec("read", "/usr/bin/x", audit.ActionLog), false},                                      // not a call the trial logs
		{none, rec("swapon", "/usr/bin/x", audit.ActionLog), true},                                     // the trial's log: guessed, x learned
		{none, rec("ptrace", "/usr/bin/x", audit.ActionKillProcess), true},                             // x is the unit's now
		{mine, rec("ptrace", "/usr/bin/y", audit.ActionKillProcess), true},                             // by cgroup, y learned
		{none, rec("ptrace", "/usr/bin/y", audit.ActionKillProcess), true},                             //
		{none, rec("ptrace", "/bin/sh", audit.ActionKillProcess), true},                                // an Exec program
		{mine, rec("ptrace", "/bin/sh", audit.ActionKillProcess), true},                                //
		{cgroup.Unit{Name: "a.service", User: true}, rec("swapon", "/bin/sh", audit.ActionLog), false}, // the user's a.service
	} {
		if got := c.Mine(c2.u, c2.r); got != c2.want {
			t.Errorf("%d: %+v %+v: %v", i, c2.u, c2.r, got)
		}
	}
	if c.Guessed != 1 {
		t.Errorf("guessed %d", c.Guessed)
	}
	if !p.Logs("swapon") || p.Logs("read") {
		t.Error("Logs on a deny list")
	}
	allow := []fixes.Assignment{{Directive: "SystemCallFilter", Value: "@system-service"}}
	pa, _ := NewPlan(fixes.Build(tb, allow, nil), nil, Options{}, "inactive")
	if !pa.Logs("swapon") || pa.Logs("read") || !pa.Logs("no_such_call_yet") {
		t.Error("Logs on an allow list: everything but the allowed")
	}
}

// The loose groups (open security rows) are logged too; the ones the unit never touched are what can be
// denied, with the exposure before and after, verified against libseccomp's BPF where it is built in.
func TestTightening(t *testing.T) {
	tb := table(t, "252.39")
	as := []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@swap"}}
	f := fixes.Build(tb, as, nil)
	p, err := NewPlan(f, nil, Options{Tighten: true}, "inactive")
	if err != nil {
		t.Fatal(err)
	}
	if _, open := p.Loose["@swap"]; open || len(p.Loose["@debug"]) == 0 || !p.Logs("ptrace") || !p.Logs("swapon") || p.Logs("read") {
		t.Fatalf("loose %v", p.Loose)
	}
	seen := []Call{{Syscall: "ptrace", Number: 101, Arch: "x86_64", Action: "log", Allowed: true}, {Syscall: "swapon", Number: 167, Arch: "x86_64", Action: "log"}}
	tg := Tightening(p, f.With(fixes.Assignment{Directive: "SystemCallFilter", Value: "swapon"}), seen, syscalls.ArchX86_64)
	if tg == nil || len(tg.Used["@debug"]) != 1 || slices.Contains(tg.Untouched, "@debug") || !slices.Contains(tg.Untouched, "@clock") ||
		!strings.Contains(tg.Dropin, "SystemCallFilter=~") || tg.After >= tg.Before || len(tg.Rows) == 0 {
		t.Fatalf("%+v", tg)
	}
	// @privileged holds @swap: denying it would take swapon (seen, let through by the fix) away again.
	if slices.Contains(tg.Untouched, "@privileged") {
		t.Errorf("@privileged contains the seen swapon: %v", tg.Untouched)
	}
	if tf := tg.Filter(); tf.Allowed("clock_settime") || !tf.Allowed("ptrace") || !tf.Allowed("read") {
		t.Error("tightened filter")
	}
	// Nothing loose: nothing to watch.
	all := []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@clock @cpu-emulation @debug @module @mount @obsolete @privileged @raw-io @reboot @resources @swap"}}
	fa := fixes.Build(tb, all, nil)
	pa, _ := NewPlan(fa, nil, Options{Tighten: true}, "inactive")
	if len(pa.Loose) != 0 || Tightening(pa, fa, nil, syscalls.ArchX86_64) != nil {
		t.Errorf("loose %v", pa.Loose)
	}
}
