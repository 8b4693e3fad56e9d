package trial

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sysdiag/sysdiag/fixes"
)

func TestSnapshotEncodeDecode(t *testing.T) {
	s := Snapshot{{"d.service", RoleUnit, "inactive"}, {"d.socket", RoleTrigger, "inactive"}, {"db.service", RolePulled, "active"}}
	line := s.Encode()
	if line != "inactive; d.socket=inactive(trigger) db.service=active(pulled)" {
		t.Errorf("Encode: %q", line)
	}
	if got := DecodeSnapshot("d.service", line); !reflect.DeepEqual(got, s) {
		t.Errorf("Decode: %+v", got)
	}
	// A drop-in of an earlier release has the unit's state alone.
	if got := DecodeSnapshot("d.service", "active"); !reflect.DeepEqual(got, Snapshot{{"d.service", RoleUnit, "active"}}) {
		t.Errorf("old line: %+v", got)
	}
	// The state line goes through the drop-in and back.
	tb := table(t, "252.39")
	p, err := NewPlan(fixes.Build(tb, []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@swap"}}, nil), nil, Options{}, line)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := StateOf(p.Dropin); !ok || st != line {
		t.Errorf("StateOf: %q %v", st, ok)
	}
}

// The finding that made this: a socket-activated daemon, inactive with its socket before the trial.
// The trial's restart started both; the restore stopped only the service and said "as before", and the
// socket started it again under its real filter. Now the socket is stopped first, the unit after, and a
// unit that the trial's run left failed is reset.
func TestRestoreSocketActivated(t *testing.T) {
	before := Snapshot{{"d.service", RoleUnit, "inactive"}, {"d.socket", RoleTrigger, "inactive"}, {"db.service", RolePulled, "inactive"}, {"up.service", RolePulled, "active"}}
	now := Snapshot{{"d.service", RoleUnit, "active"}, {"d.socket", RoleTrigger, "active"}, {"db.service", RolePulled, "active"}, {"up.service", RolePulled, "active"}}
	var ops []string
	for _, s := range RestoreSteps(before, now) {
		ops = append(ops, s.Op+" "+s.Unit)
	}
	if want := []string{"stop d.socket", "stop d.service", "stop db.service"}; !reflect.DeepEqual(ops, want) {
		t.Errorf("steps %v, want %v", ops, want)
	}
	after := Snapshot{{"d.service", RoleUnit, "failed"}, {"d.socket", RoleTrigger, "inactive"}, {"db.service", RolePulled, "inactive"}, {"up.service", RolePulled, "active"}}
	if rs := ResetSteps(before, after); len(rs) != 1 || rs[0].Op != "reset-failed" || rs[0].Unit != "d.service" {
		t.Errorf("reset steps %+v", rs)
	}
	if d := Differences(before, after); len(d) != 1 || !strings.Contains(d[0], "d.service: inactive before the trial, failed now") {
		t.Errorf("differences %q", d)
	}
	after[0].Active = "inactive"
	if d := Differences(before, after); len(d) != 0 {
		t.Errorf("differences after reset %q", d)
	}
}

func TestRestoreRunningAndFailed(t *testing.T) {
	// A running unit is restarted; its socket, running before, is left alone.
	before := Snapshot{{"d.service", RoleUnit, "active"}, {"d.socket", RoleTrigger, "active"}}
	if s := RestoreSteps(before, before); len(s) != 1 || s[0].Op != "restart" {
		t.Errorf("steps %+v", s)
	}
	// A failed unit cannot be failed again: said plainly.
	before = Snapshot{{"d.service", RoleUnit, "failed"}}
	d := Differences(before, Snapshot{{"d.service", RoleUnit, "inactive"}})
	if len(d) != 1 || !strings.Contains(d[0], "cannot be put back") {
		t.Errorf("differences %q", d)
	}
	if d := Differences(Snapshot{{"d.service", RoleUnit, "active"}}, Snapshot{{"d.service", RoleUnit, "activating"}}); len(d) != 0 {
		t.Errorf("activating is running: %q", d)
	}
}

func TestRelated(t *testing.T) {
	got := Related("d.service", map[string][]string{
		"TriggeredBy": {"d.socket"},
		"Requires":    {"d.socket", "system.slice", "sysinit.target"},
		"Wants":       {"db.service", "network-online.target"},
	})
	want := []UnitState{{"d.socket", RoleTrigger, ""}, {"db.service", RolePulled, ""}, {"network-online.target", RolePulled, ""}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Related: %+v", got)
	}
}
