package diagnose

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

// watchUnits is a WatchUnits over unit lines by name (nil lines: the unit cannot be read); it counts loads.
type watchUnits struct {
	mu    sync.Mutex
	lines map[string][]fixes.Assignment
	loads int
}

func (f *watchUnits) Load(_ journal.Host, name string, user bool, _ string) (*Unit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads++
	as := f.lines[name]
	if as == nil {
		return nil, errors.New("no such unit")
	}
	return &Unit{Name: name, User: user, Assigns: as}, nil
}

func (f *watchUnits) Choose(journal.Host, *Unit) (unit.Choice, error) {
	v, _ := syscalls.ParseVersion("252.39")
	return unit.Choice{Table: syscalls.Select(v)}, nil
}

var watchT0 = time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)

func watchKill(unit, name string, nr int) evidence.Violation {
	return evidence.Violation{Unit: unit, Name: name, Syscall: nr, Arch: syscalls.ArchX86_64, Action: audit.ActionKillProcess, Time: watchT0}
}

func TestWatchFilter(t *testing.T) {
	kill, logged := watchKill("nginx.service", "fchown", 93), watchKill("nginx.service", "fchown", 93)
	logged.Action = audit.ActionLog
	for _, c := range []struct {
		f    WatchFilter
		v    evidence.Violation
		pass bool
	}{
		{WatchFilter{Action: "kill"}, kill, true},
		{WatchFilter{Action: "kill"}, logged, false},
		{WatchFilter{Action: "log"}, logged, true},
		{WatchFilter{Action: "log"}, kill, false},
		{WatchFilter{Action: "all"}, logged, true},
		{WatchFilter{Action: "all", Syscall: "fchown"}, kill, true},
		{WatchFilter{Action: "all", Syscall: "chown"}, kill, false},
		{WatchFilter{Action: "all", Unit: "nginx*"}, kill, true},
		{WatchFilter{Action: "all", Unit: "apache*"}, kill, false},
		{WatchFilter{Action: "all", Unit: "nginx*"}, watchKill("", "fchown", 93), false}, // a kill tied to no unit
	} {
		if got := c.f.Pass(c.v); got != c.pass {
			t.Errorf("%+v passes %s %s: %v, want %v", c.f, c.v.Name, c.v.Action, got, c.pass)
		}
	}
	for _, f := range []WatchFilter{{Action: "kills"}, {Action: "all", Syscall: "nosuchcall"}} {
		if f.Check() == nil {
			t.Errorf("%+v: no error", f)
		}
	}
	if err := (WatchFilter{Action: "log", Syscall: "fchown"}).Check(); err != nil {
		t.Error(err)
	}
}

// Repeats fold on (host, unit, call, arch, action); the summary counts every one, by host, unit, system
// before user.
func TestWatchFoldAndSummary(t *testing.T) {
	w := &Watch{Filter: WatchFilter{Action: "all"}}
	a := watchKill("a.service", "fchown", 93)
	user := a
	user.UserUnit = true
	compat := a
	compat.Arch, compat.Syscall = syscalls.ArchI386, 207
	logged := a
	logged.Action = audit.ActionLog
	remote := a
	remote.Node, remote.Machine = "web1", "m1"
	for i, c := range []struct {
		v     evidence.Violation
		first bool
	}{
		{a, true}, {a, false}, {user, true}, {compat, true}, {logged, true}, {remote, true}, {remote, false},
		{watchKill("", "ptrace", 101), true}, {watchKill("", "ptrace", 101), false}, {watchKill("b.service", "fchown", 93), true},
	} {
		if got := w.Admit(c.v); got != c.first {
			t.Errorf("%d: Admit = %v, want %v", i, got, c.first)
		}
	}
	if (&Watch{Filter: WatchFilter{Action: "kill"}}).Admit(logged) {
		t.Error("a filtered-out violation admitted")
	}
	w.Lost(3, 1)
	s := w.Summary()
	var got []string
	for _, c := range s.Units {
		got = append(got, fmt.Sprintf("%s/%s %s user=%v %v %d", c.Host, c.MachineID, c.Unit, c.UserUnit, c.Syscalls, c.Total))
	}
	want := []string{
		"/ a.service user=false map[fchown:4] 4", // two kills, the i386 one and the logged one: one call
		"/ a.service user=true map[fchown:1] 1",
		"/ b.service user=false map[fchown:1] 1",
		"/ unknown user=false map[ptrace:2] 2",
		"web1/m1 a.service user=false map[fchown:2] 2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("summary:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s.Kernel != 3 || s.Overflows != 1 {
		t.Errorf("lost %d/%d", s.Kernel, s.Overflows)
	}
}

// A unit's filter is read once per FilterCacheFor (per host and unit), then again: the admin may be
// editing it. A unit that cannot be read is asked again at once.
func TestWatchFilterCache(t *testing.T) {
	now := watchT0
	units := &watchUnits{lines: map[string][]fixes.Assignment{"a.service": {{Directive: "SystemCallFilter", Value: "~@chown"}}}}
	w := &Watch{Units: units, Host: syscalls.ArchX86_64, Now: func() time.Time { return now }}
	v := watchKill("a.service", "fchown", 93)
	w.Explain(v, true)
	now = now.Add(FilterCacheFor - time.Millisecond)
	w.Explain(v, true)
	if units.loads != 1 {
		t.Errorf("%d loads within %v, want 1", units.loads, FilterCacheFor)
	}
	other := v
	other.Node = "web1"
	w.Explain(other, true)
	if units.loads != 2 {
		t.Errorf("%d loads: another host's unit of the same name is another unit", units.loads)
	}
	now = now.Add(time.Millisecond)
	w.Explain(v, true)
	if units.loads != 3 {
		t.Errorf("%d loads after %v, want it read again", units.loads, FilterCacheFor)
	}
	gone := watchKill("gone.service", "fchown", 93)
	w.Explain(gone, true)
	w.Explain(gone, true)
	if units.loads != 5 {
		t.Errorf("%d loads: a unit that could not be read is not cached", units.loads)
	}
	if f := w.Explain(v, false); units.loads != 5 || f.Note != NotDiagnosed || f.Fix != nil {
		t.Errorf("undiagnosed: %d loads, %+v", units.loads, f)
	}
}

func TestWatchExplain(t *testing.T) {
	units := &watchUnits{lines: map[string][]fixes.Assignment{
		"a.service": {{Directive: "SystemCallFilter", Value: "~@chown", File: "/etc/systemd/system/a.service", Line: 7}}}}
	w := &Watch{Units: units, Host: syscalls.ArchX86_64}
	f := w.Explain(watchKill("a.service", "fchown", 93), true)
	if f.BlockedBy.Line == nil || f.BlockedBy.Line.Line != 7 || f.Fix == nil || strings.Join(f.Fix.Allow, " ") == "" || f.Note != "" {
		t.Fatalf("%+v fix %+v", f.BlockedBy, f.Fix)
	}
	if len(f.Groups) == 0 || f.Groups[len(f.Groups)-1] == "@known" {
		t.Errorf("groups %v", f.Groups)
	}
	if f := w.Explain(watchKill("", "fchown", 93), true); !strings.Contains(f.Note, "gone before its cgroup") {
		t.Errorf("no unit: %q", f.Note)
	}
	remote := watchKill("", "fchown", 93)
	remote.Machine = "m1"
	if f := w.Explain(remote, true); !strings.Contains(f.Note, "no coredump entry of that host") {
		t.Errorf("another host's, no unit: %q", f.Note)
	}
	if f := w.Explain(watchKill("gone.service", "fchown", 93), true); f.Note != "" || f.Fix != nil {
		t.Errorf("unreadable unit: %+v", f)
	}
}

// noMachine is a unit.Local with systemd 252 and no trees.
type noMachine struct{}

func (noMachine) SystemdVersion() (syscalls.Version, bool) {
	v, _ := syscalls.ParseVersion("252.39")
	return v, true
}
func (noMachine) OpenTree(string) (fs.FS, error) { return nil, fs.ErrNotExist }

// Another host's unit without a copy of its files: the note names the flag that would give them.
func TestWatchNoTree(t *testing.T) {
	fleet := &unit.Fleet{Here: journal.Host{Hostname: "here", MachineID: "m-here"}, Tables: unit.NewChooser(noMachine{})}
	w := &Watch{Units: fleet}
	v := watchKill("web.service", "fchown", 93)
	v.Node, v.Machine = "web1", "m1"
	f := w.Explain(v, true)
	if want := "no copy of host web1 (machine m1)'s unit files (--root m1=DIR): no line, no fix"; f.Note != want {
		t.Errorf("note %q, want %q", f.Note, want)
	}
}

// Live violations are diagnosed by the worker; when it is behind, shown at once without the diagnosis.
// A replay is diagnosed at once, in order.
func TestWatchHandle(t *testing.T) {
	units := &watchUnits{lines: map[string][]fixes.Assignment{"a.service": {{Directive: "SystemCallFilter", Value: "~@chown"}}}}
	var mu sync.Mutex
	var shown []WatchFinding
	var delays []int64
	hold, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	w := &Watch{Filter: WatchFilter{Action: "kill"}, Units: units, Now: func() time.Time { return watchT0.Add(time.Second) }}
	w.Show = func(f WatchFinding, delay int64) {
		if f.Diagnosed && f.V.Node == "h0" {
			once.Do(func() { close(held); <-hold })
		}
		mu.Lock()
		shown, delays = append(shown, f), append(delays, delay)
		mu.Unlock()
	}
	w.Handle(watchKill("a.service", "fchown", 93), false)
	if len(shown) != 1 || !shown[0].Diagnosed || delays[0] != 0 {
		t.Fatalf("replay: %d shown, delays %v", len(shown), delays)
	}
	w.Start()
	for i := 0; i < WatchQueue+2; i++ {
		v := watchKill("a.service", "fchown", 93)
		v.Node = fmt.Sprintf("h%d", i)
		w.Handle(v, true)
		if i == 0 {
			<-held // the worker is busy with the first
		}
	}
	mu.Lock()
	if n := len(shown); n != 2 || shown[1].Diagnosed || shown[1].Note != NotDiagnosed || shown[1].V.Node != fmt.Sprintf("h%d", WatchQueue+1) {
		t.Errorf("with the queue full: %d shown, last %+v", n, shown[n-1].V)
	}
	mu.Unlock()
	close(hold)
	w.Drain()
	if len(shown) != WatchQueue+3 || delays[len(delays)-1] != 1000 {
		t.Errorf("%d shown after Drain, want %d; last delay %d ms", len(shown), WatchQueue+3, delays[len(delays)-1])
	}
}
