package check

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/scan"
	"github.com/sysdiag/sysdiag/syscalls"
)

func statusOf(err error) Status {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// check --exec: the program under the filters given, in order; no filter, or one that names nothing, is
// the user's mistake.
func TestExecUnit(t *testing.T) {
	fsys := fstest.MapFS{"usr/bin/ncat": {Data: []byte("\x7fELF"), Mode: 0o755}}
	if _, _, err := ExecUnit(fsys, "/usr/bin/ncat", nil); statusOf(err) != StatusUsage {
		t.Errorf("ExecUnit with no --filter: %v", err)
	}
	u, ts, err := ExecUnit(fsys, "/usr/bin/ncat", []string{"@system-service", "~@network-io"})
	if err != nil || u.Name != "(--exec /usr/bin/ncat)" || len(u.Assigns) != 2 || u.Assigns[1].Line != 2 ||
		u.Assigns[1].File != "--filter" || len(ts) != 1 || ts[0].Path != "/usr/bin/ncat" {
		t.Fatalf("ExecUnit = %+v, %+v, %v", u, ts, err)
	}
	tab := syscalls.Select(syscalls.Version{Major: 252})
	if s, err := NewSubject(u, tab, "", nil, true); err != nil || len(s.Filter.Warnings) != 0 {
		t.Errorf("NewSubject: %+v, %v", s, err)
	}
	u.Assigns[1].Value = "~@network-iox"
	_, err = NewSubject(u, tab, "", nil, true)
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusUsage || !strings.HasPrefix(err.Error(), "--filter:2: unknown group @network-iox") ||
		!strings.Contains(e.Hint, "systemd v252") {
		t.Errorf("a misspelled --filter: %v (%+v)", err, e)
	}
	// In a unit, the same line is one systemd skips: a warning, not an error.
	if s, err := NewSubject(u, tab, "", nil, false); err != nil || len(s.Filter.Warnings) != 1 {
		t.Errorf("NewSubject of a unit: %+v, %v", s, err)
	}
}

// A unit's targets: none is "not found"; none because every command was skipped is a failure, and says
// which.
func TestUnitTargets(t *testing.T) {
	fsys := fstest.MapFS{
		"usr/bin/a":                    {Data: []byte("\x7fELF"), Mode: 0o755},
		"etc/systemd/system/a.service": {Data: []byte("[Service]\nExecStart=/usr/bin/a\n")},
		"etc/systemd/system/b.service": {Data: []byte("[Service]\nType=oneshot\n")},
		"etc/systemd/system/c.service": {Data: []byte("[Service]\nExecStart=/usr/bin/a 'open\n")},
	}
	unit := func(n string) *diagnose.Unit {
		return &diagnose.Unit{Name: n, Files: []string{"/etc/systemd/system/" + n}}
	}
	if ts, skipped, err := UnitTargets(fsys, unit("a.service")); err != nil || len(ts) != 1 || len(skipped) != 0 {
		t.Errorf("a.service: %+v %v %v", ts, skipped, err)
	}
	if _, _, err := UnitTargets(fsys, unit("b.service")); statusOf(err) != StatusNotFound ||
		err.Error() != "b.service runs no program sysdiag can find (no Exec*= line)" {
		t.Errorf("b.service: %v", err)
	}
	_, skipped, err := UnitTargets(fsys, unit("c.service"))
	if statusOf(err) != StatusFailure || len(skipped) != 1 || !strings.Contains(err.Error(), "c.service: no command could be read: ") {
		t.Errorf("c.service: %v, skipped %v", err, skipped)
	}
}

func TestRetarget(t *testing.T) {
	fsys := fstest.MapFS{"usr/bin/a": {Data: []byte("\x7fELF"), Mode: 0o755}}
	ts := Retarget(fsys, []Target{{Path: "/usr/bin/a", From: []string{"ExecStart (a.service:2)"}}, {Path: "/usr/bin/python3", Interp: "/x.py"}})
	if len(ts) != 1 || ts[0].Path != "/usr/bin/a" || !strings.HasPrefix(ts[0].From[0], "ExecStart (a.service:2)") {
		t.Errorf("Retarget = %+v", ts)
	}
}

// The answer and what it means for the exit status: nothing analysed is no answer; a call predicted
// blocked is found even when the prediction is incomplete; incomplete is never clean.
func TestAnswerStatus(t *testing.T) {
	tab := syscalls.Select(syscalls.Version{Major: 252})
	u, _, _ := ExecUnit(fstest.MapFS{}, "/a", []string{"@system-service", "~@network-io"})
	u.Name = "a.service"
	s, err := NewSubject(u, tab, "note", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Analysed(s, []*Program{{Path: "/a", Error: "not found"}, {Path: "/s", RunBy: "/a"}}); statusOf(err) != StatusIncomplete ||
		err.Error() != "none of a.service's programs could be analysed: /a: not found; /s: " {
		t.Errorf("nothing analysed: %v", err)
	}
	socket := scan.Reached{Nr: 41, Name: "socket", Confidence: "likely"}
	fchown := scan.Reached{Nr: 93, Name: "fchown", Confidence: "likely"}
	missing := NotAnalysed{Path: "libx.so.1", What: "library", Reason: "not found under the root"}
	for _, c := range []struct {
		name      string
		reached   []scan.Reached
		missing   bool
		rootOnly  bool
		status    Status
		msg, hint string
	}{
		{"clean", []scan.Reached{fchown}, false, false, 0, "", ""},
		{"blocked", []scan.Reached{socket}, false, false, StatusPredicted, "1 call(s) of a.service's programs would be blocked by its filter (a prediction)", ""},
		{"blocked, incomplete", []scan.Reached{socket}, true, true, StatusPredicted, "(a prediction; incomplete: 1 file(s) could not be analysed)", ""},
		{"incomplete", []scan.Reached{fchown}, true, false, StatusIncomplete, "the prediction for a.service is incomplete: 1 file(s)", ""},
		{"incomplete under --root", []scan.Reached{fchown}, true, true, StatusIncomplete, "incomplete", "--programs-root /"},
	} {
		p := &Program{Path: "/a", Reached: c.reached}
		if c.missing {
			p.NotAnalysed = []NotAnalysed{missing}
		}
		a, err := Analysed(s, []*Program{p})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		a.Predict(syscalls.ArchX86_64, false)
		if a.Unit != "a.service" || !a.Prediction || a.TableNote != "note" || a.Incomplete != c.missing || a.Filter != "allow-list" {
			t.Errorf("%s: answer %+v", c.name, a)
		}
		err = a.Status(c.rootOnly)
		var e *Error
		if statusOf(err) != c.status || err != nil && (!strings.Contains(err.Error(), c.msg) || !errors.As(err, &e) || !strings.Contains(e.Hint, c.hint) || c.hint == "" && e.Hint != "") {
			t.Errorf("%s: Status = %v (%+v); want status %d, %q, hint %q", c.name, err, e, c.status, c.msg, c.hint)
		}
		if c.status == StatusPredicted && (a.Fix == nil || len(a.Findings) != 1 || a.Blocked[0].Syscall != "socket") {
			t.Errorf("%s: blocked %+v, findings %+v, fix %+v", c.name, a.Blocked, a.Findings, a.Fix)
		}
		if c.status != StatusPredicted && (a.Blocked == nil || len(a.Blocked) != 0 || a.Fix != nil) {
			t.Errorf("%s: blocked %#v (want an empty list), fix %+v", c.name, a.Blocked, a.Fix)
		}
	}
	// No filter at all: said, and nothing is blocked.
	s, _ = NewSubject(&diagnose.Unit{Name: "b.service"}, tab, "", nil, false)
	a, _ := Analysed(s, []*Program{{Path: "/a", Reached: []scan.Reached{socket}}})
	a.Predict(syscalls.ArchX86_64, false)
	if len(a.Blocked) != 0 || len(a.Notes) != 1 || !strings.Contains(a.Notes[0], "no SystemCallFilter=") {
		t.Errorf("no filter: blocked %+v, notes %q", a.Blocked, a.Notes)
	}
}
