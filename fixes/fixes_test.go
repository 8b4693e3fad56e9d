package fixes

import (
	"slices"
	"strings"
	"testing"

	"github.com/sysdiag/sysdiag/syscalls"
)

var v252 = syscalls.Select(syscalls.Version{Major: 252, Point: 39})

func lines(file string, kv ...string) []Assignment {
	var out []Assignment
	for i := 0; i < len(kv); i += 2 {
		out = append(out, Assignment{Directive: kv[i], Value: kv[i+1], File: file, Line: 3 + i/2})
	}
	return out
}

func TestDenyList(t *testing.T) {
	f := Build(v252, lines("/etc/systemd/system/a.service", "SystemCallFilter", "~@chown"), nil)
	if f.Mode != ModeDeny || !slices.Equal(f.Names(), []string{"chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32"}) {
		t.Fatalf("mode %s names %v", f.Mode, f.Names())
	}
	d := f.Decide("fchown", syscalls.ArchX86_64, syscalls.ArchX86_64)
	if d.Cause != CauseDenyEntry || !d.Kills || d.Origin.Via != "@chown" || d.Origin.Assignment.Line != 3 {
		t.Errorf("%+v", d)
	}
	if d := f.Decide("socket", syscalls.ArchX86_64, syscalls.ArchX86_64); d.Blocked || d.Cause != CauseNotBlocked {
		t.Errorf("socket: %+v", d)
	}
	// Measured on 252: deny ~@chown + drop-in fchown -> ~chown chown32 fchown32 fchownat lchown lchown32.
	g := f.With(Assignment{Directive: "SystemCallFilter", Value: "fchown"})
	if !slices.Equal(g.Names(), []string{"chown", "chown32", "fchown32", "fchownat", "lchown", "lchown32"}) {
		t.Errorf("after drop-in: %v", g.Names())
	}
}

func TestAllowListMinusGroup(t *testing.T) {
	f := Build(v252, lines("/etc/systemd/system/b.service", "SystemCallFilter", "@system-service", "SystemCallFilter", "~@chown"), nil)
	if f.Mode != ModeAllow || !f.Allowed("socket") || f.Allowed("fchown") || !f.Allowed("brk") {
		t.Fatalf("mode %s", f.Mode)
	}
	d := f.Decide("fchown", syscalls.ArchX86_64, syscalls.ArchX86_64)
	if d.Cause != CauseRemoved || d.Origin.Assignment.Line != 4 || d.Origin.Via != "@chown" {
		t.Errorf("%+v", d)
	}
	d = f.Decide("ptrace", syscalls.ArchX86_64, syscalls.ArchX86_64)
	if d.Cause != CauseNotInAllowList || d.Origin.Assignment.Line != 3 || !strings.Contains(d.Explain, "@system-service") {
		t.Errorf("%+v", d)
	}
	fx, alts := Propose(f, []Blocked{{"fchown", syscalls.ArchX86_64, 93}}, syscalls.ArchX86_64, 1, Keep{})
	if fx.DropIn != "# written by sysdiag: let the calls the filter blocked through\n[Service]\nSystemCallFilter=fchown\n" ||
		!slices.Equal(fx.NewlyAllowed, []string{"fchown"}) {
		t.Errorf("minimal: %+v", fx)
	}
	if len(alts) != 2 || alts[0].Label != "group @chown" || len(alts[0].NewlyAllowed) != 7 || !strings.Contains(alts[1].DropIn, "~fchown:EPERM") {
		t.Errorf("alternatives: %+v", alts)
	}
}

func TestResetAndErrno(t *testing.T) {
	f := Build(v252, lines("x", "SystemCallFilter", "~@mount", "SystemCallFilter", "", "SystemCallFilter", "~@swap:EPERM",
		"SystemCallErrorNumber", "EACCES"), nil)
	if f.Mode != ModeDeny || f.Allowed("swapon") || !f.Allowed("mount") {
		t.Fatalf("reset: %v", f.Names())
	}
	if !slices.Contains(f.Names(), "swapon:EPERM") {
		t.Errorf("names %v", f.Names())
	}
	d := f.Decide("swapon", syscalls.ArchX86_64, syscalls.ArchX86_64)
	if d.Cause != CauseErrnoEntry || d.Kills || d.Errno != 1 || !f.SilentDenials() {
		t.Errorf("%+v", d)
	}
	g := Build(v252, lines("x", "SystemCallFilter", "@system-service", "SystemCallErrorNumber", "EPERM"), nil)
	if d := g.Decide("ptrace", syscalls.ArchX86_64, syscalls.ArchX86_64); d.Kills || d.Errno != 1 || !g.SilentDenials() {
		t.Errorf("SystemCallErrorNumber=EPERM: %+v", d)
	}
	h := Build(v252, lines("x", "SystemCallFilter", "~@swap", "SystemCallErrorNumber", "log"), nil)
	if h.ErrorNumber != ErrnoKill || len(h.Warnings) != 1 {
		t.Errorf("SystemCallErrorNumber=log must be ignored (kill stays): %d %v", h.ErrorNumber, h.Warnings)
	}
}

func TestENOSYSAndArchitectures(t *testing.T) {
	v257 := syscalls.Select(syscalls.Version{Major: 257})
	f := Build(v257, lines("x", "SystemCallFilter", "@system-service"), nil)
	// rseq_slice_yield joined @known only in v261: to v257 it is unknown -> ENOSYS, not a kill.
	if d := f.Decide("rseq_slice_yield", syscalls.ArchX86_64, syscalls.ArchX86_64); d.Cause != CauseENOSYS || d.Kills {
		t.Errorf("%+v", d)
	}
	g := Build(v252, lines("x", "SystemCallArchitectures", "native", "SystemCallFilter", "~@debug"), nil)
	d := g.Decide("fchown32", syscalls.ArchI386, syscalls.ArchX86_64)
	if d.Cause != CauseArchitecture || !d.Kills {
		t.Errorf("%+v", d)
	}
	fx, _ := Propose(g, []Blocked{{"fchown32", syscalls.ArchI386, 207}}, syscalls.ArchX86_64, 0, Keep{})
	if !strings.Contains(fx.DropIn, "SystemCallArchitectures=x86\n") || strings.Contains(fx.DropIn, "SystemCallFilter=") {
		t.Errorf("%s", fx.DropIn)
	}
}

func TestExposure(t *testing.T) {
	f := Build(v252, lines("x", "SystemCallFilter", "@system-service"), nil)
	fx, _ := Propose(f, []Blocked{{"ptrace", syscalls.ArchX86_64, 101}}, syscalls.ArchX86_64, 0, Keep{})
	if len(fx.Exposure.Rows) != 1 || fx.Exposure.Rows[0].ID != "SystemCallFilter=~@debug" || fx.Exposure.Rows[0].After != 9 || fx.Exposure.Delta <= 0 {
		t.Errorf("%+v", fx.Exposure)
	}
	// @system-service includes @chown, which @privileged includes: that row is already 9 (NOTES.md §2).
	if b := rowBadness(f, "@privileged"); b != 9 {
		t.Errorf("@privileged badness %d", b)
	}
	none := Build(v252, nil, nil)
	if rowBadness(none, "@swap") != 10 {
		t.Error("no filter must be 10")
	}
}

// A call the target's libseccomp cannot name (systemd 252 with libseccomp 2.5.4 and open_tree_attr,
// measured: "Failed to parse system call, ignoring") gets no SystemCallFilter= line, but a note and the
// errno-for-every-denied-call alternative.
func TestProposeUnnameable(t *testing.T) {
	v, _ := syscalls.ParseVersion("252.39-1~deb12u2")
	as := []Assignment{{Directive: "SystemCallFilter", Value: "@system-service", File: "/etc/systemd/system/x.service", Line: 3}}
	f := Build(syscalls.Select(v), as, func(n string) bool { return n != "open_tree_attr" })
	min, alts := Propose(f, []Blocked{{Name: "open_tree_attr", Arch: syscalls.ArchX86_64, Nr: 467}}, syscalls.ArchX86_64, 1, Keep{})
	if len(min.Allow) != 0 || len(min.Unnameable) != 1 || !strings.Contains(min.Note, "cannot name open_tree_attr") {
		t.Fatalf("%+v", min)
	}
	var enosys *Fix
	for i := range alts {
		if alts[i].ErrorNumber == "ENOSYS" {
			enosys = &alts[i]
		}
	}
	if enosys == nil || !strings.Contains(enosys.DropIn, "SystemCallErrorNumber=ENOSYS") {
		t.Fatalf("%+v", alts)
	}
	after := f.With(Assignment{Directive: "SystemCallFilter", Value: "open_tree_attr"})
	if after.Allowed("open_tree_attr") {
		t.Error("a drop-in naming what the target cannot resolve must change nothing")
	}
}

// Every errno name systemd accepts, not only a few (a review found ECONNREFUSED taken as invalid).
func TestErrnoNames(t *testing.T) {
	for name, n := range map[string]int{"EPERM": 1, "ECONNREFUSED": 111, "ENOTSUP": 95, "EOPNOTSUPP": 95, "EHWPOISON": 133, "EWOULDBLOCK": 11} {
		if got, ok := ParseErrno(name); !ok || got != n {
			t.Errorf("ParseErrno(%s) = %d %v, want %d", name, got, ok, n)
		}
	}
	if ErrnoName(111) != "ECONNREFUSED" {
		t.Errorf("ErrnoName(111) = %s", ErrnoName(111))
	}
	if _, ok := ParseErrno("ENOTANERRNO"); ok {
		t.Error("an unknown name must not parse")
	}
}

// The manager's own list is the "before" of a check that does not rest on the model; names the native
// ABI lacks are dropped (the manager renders them through libseccomp's pseudo-numbers: 252.39 on x86_64
// reports @debug's sys_debug_setcontext as switch_endian).
func TestFromManager(t *testing.T) {
	if syscalls.HostArch() != syscalls.ArchX86_64 {
		t.Skipf("the names are x86_64's; this host is %s", syscalls.HostArch())
	}
	v, _ := syscalls.ParseVersion("252.39-1~deb12u2")
	tb := syscalls.Select(v)
	f := Build(tb, []Assignment{{Directive: "SystemCallFilter", Value: "~@swap @debug"}, {Directive: "SystemCallErrorNumber", Value: "EPERM"}}, nil)
	dbus := []string{"lookup_dcookie", "perf_event_open", "pidfd_getfd", "ptrace", "rtas", "s390_runtime_instr", "swapoff", "swapon", "switch_endian"}
	m := FromManager(f, false, dbus)
	if m.Mode != ModeDeny || m.Allowed("ptrace") || !m.Allowed("read") || m.ErrorNumber != 1 {
		t.Errorf("deny list from the manager: %v %v", m.Mode, m.Names())
	}
	if got, want := strings.Join(LocalNames(dbus), " "), strings.Join(LocalNames(f.Names()), " "); got != want {
		t.Errorf("native names: manager %s, model %s", got, want)
	}
	a := FromManager(f, true, []string{"read", "write", "exit_group", "ptrace:EPERM"})
	if a.Mode != ModeAllow || !a.Allowed("read") || a.Allowed("ptrace") || a.Allowed("socket") {
		t.Errorf("allow list from the manager: %v", a.Names())
	}
}
