package attribute

import (
	"errors"
	"testing"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

// why's host step, with the host replaced: the sources are read over the chosen invocation's window
// with the unit's coredumps, and what they gave is tied; no journal and no --since: nothing is read.
func TestGatherUnit(t *testing.T) {
	q := &queryFake{entries: []journal.Fields{
		{"__REALTIME_TIMESTAMP": usec(at(0)), "UNIT": "a.service", "INVOCATION_ID": "i1", "MESSAGE": "Starting"},
		exitEntry("a.service", "i1", at(5.2), "killed", 31),
		{"__REALTIME_TIMESTAMP": usec(at(6)), "UNIT": "a.service", "INVOCATION_ID": "i1", "MESSAGE_ID": journal.MessageUnitFailed, "UNIT_RESULT": "signal"},
	}}
	var window audit.Window
	read := func(w audit.Window, _ []journal.Coredump, emit func(evidence.Violation) error) error {
		window = w
		return emit(kill(300, "/usr/bin/a", 5.1))
	}
	ev, err := GatherUnit(q, UnitQuery{Unit: Target{Name: "a.service", Programs: []string{"/usr/bin/a"}}}, read)
	if err != nil {
		t.Fatal(err)
	}
	if window.Since.IsZero() || !window.Since.Before(at(0)) || !window.Until.After(at(5.2)) {
		t.Errorf("read over %v, want the window around i1", window)
	}
	if len(ev.Invocations) != 1 || len(ev.Violations) != 1 || ev.Violations[0].How.Method != evidence.ByMainExit || ev.LastExit == nil {
		t.Errorf("evidence %+v", ev)
	}
	if ev.Searched != "1 invocations and 0 SIGSYS coredumps of a.service in the journal" {
		t.Errorf("searched %q", ev.Searched)
	}

	bad := errors.New("bad glob")
	if _, err := GatherUnit(q, UnitQuery{Unit: Target{Name: "a.service"}}, func(audit.Window, []journal.Coredump, func(evidence.Violation) error) error { return bad }); err != bad {
		t.Errorf("read's error came back as %v", err)
	}
	called := false
	ev, err = GatherUnit(nil, UnitQuery{Unit: Target{Name: "a.service"}}, func(audit.Window, []journal.Coredump, func(evidence.Violation) error) error {
		called = true
		return nil
	})
	if err != nil || called || ev.Searched != "" {
		t.Errorf("no journal: read %v, evidence %+v, %v", called, ev, err)
	}
}

// Another program's logged calls in the window (a SystemCallLog= flood of another unit) are not held:
// why's memory follows its unit's kills, not the window's records.
func TestGatherUnitDropsOthersLoggedCalls(t *testing.T) {
	q := &queryFake{entries: []journal.Fields{
		{"__REALTIME_TIMESTAMP": usec(at(0)), "UNIT": "a.service", "INVOCATION_ID": "i1", "MESSAGE": "Starting"},
		exitEntry("a.service", "i1", at(5.2), "killed", 31),
	}}
	held := 0
	read := func(_ audit.Window, _ []journal.Coredump, emit func(evidence.Violation) error) error {
		for i := 0; i < 200000; i++ {
			v := kill(400, "/usr/bin/flood", 1)
			v.Action = audit.ActionLog
			if err := emit(v); err != nil {
				return err
			}
		}
		own := kill(300, "/usr/bin/a", 2)
		own.Action = audit.ActionLog
		_ = emit(own)
		return emit(kill(300, "/usr/bin/a", 5.1))
	}
	ev, err := GatherUnit(q, UnitQuery{Unit: Target{Name: "a.service", Programs: []string{"/usr/bin/a"}}}, func(w audit.Window, c []journal.Coredump, emit func(evidence.Violation) error) error {
		return read(w, c, func(v evidence.Violation) error { held++; return emit(v) })
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Violations) != 1 || ev.Violations[0].How.Method != evidence.ByMainExit {
		t.Errorf("the unit's kill: %+v", ev.Violations)
	}
	if held != 200002 {
		t.Fatalf("read emitted %d", held)
	}
}

// A child's logged call (SystemCallLog=) of a program that is not the unit's own — a script's tar — is
// kept when the child wrote to the journal as the unit's: the journal-pid rule ties it, as for a kill.
func TestGatherUnitKeepsAChildsLoggedCall(t *testing.T) {
	q := &queryFake{entries: []journal.Fields{
		{"__REALTIME_TIMESTAMP": usec(at(0)), "UNIT": "a.service", "INVOCATION_ID": "i1", "MESSAGE": "Starting"},
		{"__REALTIME_TIMESTAMP": usec(at(1)), "_PID": "301", "_EXE": "/usr/bin/tar", "_COMM": "tar", "_SYSTEMD_UNIT": "a.service", "_SYSTEMD_INVOCATION_ID": "i1", "MESSAGE": "tar: starting"},
		exitEntry("a.service", "i1", at(5.2), "killed", 31),
	}}
	read := func(_ audit.Window, _ []journal.Coredump, emit func(evidence.Violation) error) error {
		v := kill(301, "/usr/bin/tar", 2)
		v.Action = audit.ActionLog
		if err := emit(v); err != nil {
			return err
		}
		return emit(kill(300, "/usr/bin/a", 5.1))
	}
	ev, err := GatherUnit(q, UnitQuery{Unit: Target{Name: "a.service", Programs: []string{"/usr/bin/a"}}}, read)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range ev.Violations {
		found = found || v.PID == 301 && v.How.Method == evidence.ByJournalPID
	}
	if !found {
		t.Errorf("the child's logged call is not among the unit's: %+v", ev.Violations)
	}
}
