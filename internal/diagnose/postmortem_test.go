package diagnose

import (
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/attribute"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

func TestStoreAndFold(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	kill := func(unit, name string, nr int, s int) evidence.Violation {
		return evidence.Violation{Unit: unit, Name: name, Syscall: nr, Arch: syscalls.ArchX86_64, Action: audit.ActionKillProcess, Time: t0.Add(time.Duration(s) * time.Second),
			How: evidence.Attribution{Method: evidence.ByCoredump, Invocation: "inv" + string(rune('0'+s))}}
	}
	vs := []evidence.Violation{kill("loop.service", "swapon", 167, 3), kill("loop.service", "swapon", 167, 1), kill("a.service", "fchown", 93, 2),
		kill("loop.service", "swapon", 167, 5), {Name: "ptrace", Action: audit.ActionKillProcess, PID: 9}, {Unit: "log.service", Action: audit.ActionLog}}
	s := attribute.NewStore(attribute.Facts{}, attribute.DefaultLimits)
	for _, v := range vs {
		s.Add(v)
	}
	by := s.Units()
	total, _, lost := s.Untied()
	if len(by) != 2 || len(lost) != 1 || lost[0].PID != 9 || total != 1 {
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

func TestSilentOfImplicit(t *testing.T) {
	v, _ := syscalls.ParseVersion("252")
	tb := syscalls.Select(v)
	as := []fixes.Assignment{{Directive: "ProtectClock", Value: "yes", File: "/etc/systemd/system/c.service", Line: 4}}
	s, ok := SilentOf(UnitKey{Unit: "c.service"}, "exit-code", fixes.Build(tb, as, nil), fixes.Implicits(tb, as))
	if !ok || !strings.Contains(s.Explain, "ProtectClock= (/etc/systemd/system/c.service:4): ") || !strings.Contains(s.Explain, "clock_settime") ||
		!strings.Contains(s.Explain, "answer EPERM") || !strings.Contains(s.Explain, "sysdiag trial c.service") {
		t.Errorf("%+v %v", s, ok)
	}
}

func TestSilentOf(t *testing.T) {
	v, _ := syscalls.ParseVersion("252")
	tb := syscalls.Select(v)
	k := UnitKey{Unit: "q.service"}
	quiet := fixes.Build(tb, []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@mount"}, {Directive: "SystemCallErrorNumber", Value: "EPERM"}}, nil)
	if s, ok := SilentOf(k, "exit-code", quiet, nil); !ok || s.Errno != "EPERM" || !strings.Contains(s.Explain, "possibly denied") {
		t.Errorf("%+v %v", s, ok)
	}
	entry := fixes.Build(tb, []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~mount:EACCES"}}, nil)
	if s, ok := SilentOf(k, "exit-code", entry, nil); !ok || strings.Join(s.Errnos, " ") != "mount:EACCES" {
		t.Errorf("%+v %v", s, ok)
	}
	killing := fixes.Build(tb, []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@mount"}}, nil)
	if _, ok := SilentOf(k, "exit-code", killing, nil); ok {
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

// fleet is a UnitSource over hosts' unit lines and versions (what --root HOST=DIR trees give).
type fleet map[string]struct {
	version string
	assigns []fixes.Assignment // nil: the host's files are missing
}

func (f fleet) Load(k UnitKey, _ []evidence.Violation) (Loaded, error) {
	h := f[k.Machine]
	v, _ := syscalls.ParseVersion(h.version)
	t := syscalls.Select(v)
	u := &Unit{Name: k.Unit, Home: "/root", Assigns: h.assigns}
	l := Loaded{Unit: u, Table: t, Note: "the host's " + t.Note()}
	if h.assigns == nil {
		l.LoadErr = errTest
	}
	return l, nil
}

var errTest = &testErr{}

type testErr struct{}

func (*testErr) Error() string { return "no copy of its files" }

// One unit file deployed to two hosts of one hostname (told apart by machine id) whose systemd differs:
// each host gets its own report, its version's table, and its own fix; a third host without files
// gets the by-name fix, unverified.
func TestBuildPostmortemPerHost(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	lines := []fixes.Assignment{{Directive: "SystemCallFilter", Value: "@system-service"}}
	hosts := fleet{"m252": {"252.39", lines}, "m257": {"257.13", lines}, "m0": {"252.39", nil}}
	kill := func(machine, name string, nr int) evidence.Violation {
		return evidence.Violation{Node: "web", Machine: machine, Unit: "app.service", Name: name, Syscall: nr, Arch: syscalls.ArchX86_64,
			Action: audit.ActionKillProcess, Time: t0, How: evidence.Attribution{Method: evidence.ByMainPID, Invocation: "i-" + machine}}
	}
	in := PostmortemInput{Window: audit.Window{Since: t0.Add(-time.Minute)},
		Kills:    []evidence.Violation{kill("m252", "seccomp", 317), kill("m257", "swapon", 167), kill("m0", "swapon", 167)},
		Versions: ManagerVersions(nil)}
	in.Versions["m252"], in.Versions["m257"] = "252.39-1~deb12u2", "257.13-1~deb13u1"
	pm, err := BuildPostmortem(in, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if len(pm.Hosts) != 3 {
		t.Fatalf("want three hosts, got %+v", pm.Hosts)
	}
	by := map[string]HostReport{}
	for _, h := range pm.Hosts {
		if h.Host != "web" || len(h.Units) != 1 {
			t.Errorf("host %+v", h)
		}
		by[h.MachineID] = h
	}
	a, b, c := by["m252"].Units[0], by["m257"].Units[0], by["m0"].Units[0]
	if by["m252"].SystemdVersion != "252.39-1~deb12u2" || by["m257"].SystemdVersion != "257.13-1~deb13u1" {
		t.Errorf("versions %q %q", by["m252"].SystemdVersion, by["m257"].SystemdVersion)
	}
	if a.Table == b.Table || !strings.HasPrefix(a.Table, "252") || !strings.HasPrefix(b.Table, "257") {
		t.Errorf("tables %q %q", a.Table, b.Table)
	}
	verified := func(f *Fix) bool { // without cgo there is no libseccomp to verify with, and the fix says so
		return f != nil && (f.Verified || strings.Contains(strings.Join(f.Verification, " "), "without cgo"))
	}
	if !verified(a.Fix) || !verified(b.Fix) {
		t.Errorf("fixes %+v %+v", a.Fix, b.Fix)
	}
	if c.Fix == nil || c.Fix.Verified || !strings.Contains(c.Fix.Dropin, "SystemCallFilter=swapon") || len(c.Notes) == 0 {
		t.Errorf("a host without files: %+v %v", c.Fix, c.Notes)
	}
}

func TestManagerVersions(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	vs := ManagerVersions([]journal.ManagerStart{
		{Time: t0, Version: "252.38-1", Host: journal.Host{Hostname: "a", MachineID: "m1"}},
		{Time: t0.Add(time.Hour), Version: "252.39-1", Host: journal.Host{Hostname: "a", MachineID: "m1"}}, // upgraded, rebooted
		{Time: t0, Version: "257.13-1", Host: journal.Host{Hostname: "b"}},
	})
	if HostVersion(vs, journal.Host{MachineID: "m1"}) != "252.39-1" || HostVersion(vs, journal.Host{Hostname: "a"}) != "252.39-1" ||
		HostVersion(vs, journal.Host{Hostname: "b", MachineID: "zz"}) != "257.13-1" || HostVersion(vs, journal.Host{}) != "" {
		t.Errorf("%v", vs)
	}
}

// BuildPostmortem from a store: the unit's report and the untied totals are exact, the list bounded.
func TestBuildPostmortemFromStore(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	s := attribute.NewStore(attribute.Facts{}, attribute.DefaultLimits)
	for i := 0; i < 5000; i++ {
		s.Add(evidence.Violation{Time: t0.Add(time.Duration(i) * time.Second), PID: 1000 + i, Exe: "/bin/stray", Name: "ptrace", Syscall: 101,
			Arch: syscalls.ArchX86_64, Action: audit.ActionKillProcess})
		s.Add(evidence.Violation{Time: t0.Add(time.Duration(i) * time.Second), PID: 90000 + i, Exe: "/bin/app", Name: "swapon", Syscall: 167,
			Arch: syscalls.ArchX86_64, Action: audit.ActionKillProcess, Unit: "app.service", Machine: "m252",
			How: evidence.Attribution{Method: evidence.ByCoredump, Invocation: "one"}})
	}
	s.Attribute(attribute.Facts{})
	src := fleet{"m252": {"252.39", []fixes.Assignment{{Directive: "SystemCallFilter", Value: "@system-service"}}}}
	v, _ := syscalls.ParseVersion("252")
	pm, err := BuildPostmortem(PostmortemInput{Window: audit.Window{Since: t0}, Store: s, Table: syscalls.Select(v)}, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(pm.Hosts) != 1 || len(pm.Hosts[0].Units) != 1 {
		t.Fatalf("hosts %+v", pm.Hosts)
	}
	u := pm.Hosts[0].Units[0]
	if u.Kills != 5000 || len(u.Calls) != 1 || u.Calls[0].Count != 5000 || len(u.Violations) != 1 || u.Fix == nil {
		t.Errorf("unit: kills %d, calls %+v, findings %d, fix %v", u.Kills, u.Calls, len(u.Violations), u.Fix != nil)
	}
	if pm.UnattributedTotal != 5000 || len(pm.Unattributed) != attribute.DefaultLimits.Examples || len(pm.UnattributedGroups) != 1 ||
		pm.UnattributedGroups[0].Count != 5000 || pm.UnattributedGroups[0].Syscall != "ptrace" || pm.UnattributedGroups[0].Arch != "x86_64" {
		t.Errorf("untied: total %d, listed %d, groups %+v", pm.UnattributedTotal, len(pm.Unattributed), pm.UnattributedGroups)
	}
	if pm.Unattributed[0].Time != stamp(t0) {
		t.Errorf("first listed %s, want the earliest", pm.Unattributed[0].Time)
	}
}
