package diagnose

import (
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/syscalls"
)

func TestGroupAndFold(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	kill := func(unit, name string, nr int, s int) evidence.Violation {
		return evidence.Violation{Unit: unit, Name: name, Syscall: nr, Arch: syscalls.ArchX86_64, Action: audit.ActionKillProcess, Time: t0.Add(time.Duration(s) * time.Second),
			How: evidence.Attribution{Method: evidence.ByCoredump, Invocation: "inv" + string(rune('0'+s))}}
	}
	vs := []evidence.Violation{kill("loop.service", "swapon", 167, 3), kill("loop.service", "swapon", 167, 1), kill("a.service", "fchown", 93, 2),
		kill("loop.service", "swapon", 167, 5), {Name: "ptrace", Action: audit.ActionKillProcess, PID: 9}, {Unit: "log.service", Action: audit.ActionLog}}
	by, lost := Group(vs)
	if len(by) != 2 || len(lost) != 1 || lost[0].PID != 9 {
		t.Fatalf("groups %v, lost %v (logged calls are not kills)", by, lost)
	}
	keys := Keys(by)
	if keys[0].Unit != "a.service" || keys[1].Unit != "loop.service" {
		t.Errorf("keys %v", keys)
	}
	loop := by[keys[1]]
	if !loop[0].Time.Before(loop[1].Time) {
		t.Error("not oldest first")
	}
	if inv := InvocationsOf(loop); len(inv) != 3 {
		t.Errorf("invocations %v", inv)
	}
	res := &Result{}
	for range loop {
		res.Violations = append(res.Violations, Finding{})
	}
	r := Fold(res, loop)
	if r.Kills != 3 || len(r.Calls) != 1 || r.Calls[0].Count != 3 || r.Calls[0].First == r.Calls[0].Last || len(res.Violations) != 1 {
		t.Errorf("%+v / %d findings", r, len(res.Violations))
	}
}

func TestSilentOf(t *testing.T) {
	v, _ := syscalls.ParseVersion("252")
	tb := syscalls.Select(v)
	k := UnitKey{Unit: "q.service"}
	quiet := fixes.Build(tb, []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@mount"}, {Directive: "SystemCallErrorNumber", Value: "EPERM"}}, nil)
	if s, ok := SilentOf(k, "exit-code", quiet); !ok || s.Errno != "EPERM" || !strings.Contains(s.Explain, "possibly denied") {
		t.Errorf("%+v %v", s, ok)
	}
	entry := fixes.Build(tb, []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~mount:EACCES"}}, nil)
	if s, ok := SilentOf(k, "exit-code", entry); !ok || strings.Join(s.Errnos, " ") != "mount:EACCES" {
		t.Errorf("%+v %v", s, ok)
	}
	killing := fixes.Build(tb, []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@mount"}}, nil)
	if _, ok := SilentOf(k, "exit-code", killing); ok {
		t.Error("a killing filter leaves records: not silent")
	}
}

func TestHostArch(t *testing.T) {
	vs := []evidence.Violation{{Arch: syscalls.ArchI386, Compat: 1, Syscall: 45}, {Arch: syscalls.ArchAARCH64, Syscall: 198}}
	if a := HostArch(vs); a != syscalls.ArchAARCH64 {
		t.Errorf("HostArch = %v: the compat=0 record's arch is the recording host's", a)
	}
}

// A --user fix with $HOME unset still names an absolute path (the passwd entry's home).
func TestDropinPathWithoutHome(t *testing.T) {
	t.Setenv("HOME", "")
	v, _ := syscalls.ParseVersion("252")
	tb := syscalls.Select(v)
	f := fixes.Build(tb, []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@chown", File: "/etc/systemd/user/u.service", Line: 3}}, nil)
	vs := []evidence.Violation{{Unit: "u.service", UserUnit: true, Name: "fchown", Syscall: 93, Arch: syscalls.ArchX86_64, Action: audit.ActionKillProcess}}
	res := Diagnose(&Unit{Name: "u.service", User: true}, f, tb, "", &Evidence{Violations: vs})
	if res.Fix == nil || !strings.HasPrefix(res.Fix.DropinPath, "/") {
		t.Fatalf("%+v", res.Fix)
	}
}
