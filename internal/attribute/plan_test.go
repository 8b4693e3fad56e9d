package attribute

import (
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

func TestPlanAndSelect(t *testing.T) {
	invs := []journal.Invocation{
		{ID: "a", Start: at(0), End: at(1), Result: "core-dump", Exits: []journal.UnitExit{{ExitCode: "dumped", ExitStatus: 31, Time: at(0.9)}}},
		{ID: "b", Start: at(10), End: at(11), Result: "success"},
		{ID: "c", Start: at(20), End: at(21), Result: "success"},
	}
	p, ok := PlanUnit(invs, nil, time.Time{}, true)
	if !ok || len(p.Candidates) != 2 || p.Candidates[0].ID != "a" || p.Candidates[1].ID != "c" {
		t.Fatalf("candidates %+v", p.Candidates)
	}
	if !p.Window.Since.Equal(at(-2)) || !p.Window.Until.Equal(at(24)) {
		t.Errorf("window %v", p.Window)
	}
	u := Target{Name: "x.service", Programs: []string{"/usr/bin/x"}}
	kill := func(unit, inv string, s float64) evidence.Violation {
		return evidence.Violation{Unit: unit, Time: at(s), Action: audit.ActionKillProcess, Exe: "/usr/bin/chown", How: evidence.Attribution{Invocation: inv}}
	}
	all := []evidence.Violation{kill("x.service", "a", 0.8), kill("", "", 20.5), kill("y.service", "", 20.6), kill("", "", 15)}
	chosen, mine, lost := p.Select(u, all)
	if len(chosen) != 1 || chosen[0].ID != "a" || len(mine) != 1 {
		t.Errorf("chosen %+v mine %d", chosen, len(mine))
	}
	if len(lost) != 0 {
		t.Errorf("untied kills of another program in another run are no note when the unit has its own: %+v", lost)
	}
	// No kill the manager saw: the latest run, and the untied kill in it is the note.
	p, _ = PlanUnit(invs[1:], nil, time.Time{}, true)
	u.Programs = nil
	chosen, mine, lost = p.Select(u, all[1:])
	if len(mine) != 0 || len(lost) != 1 || !lost[0].Time.Equal(at(20.5)) || len(chosen) != 1 || chosen[0].ID != "c" {
		t.Errorf("chosen %+v mine %d lost %+v", chosen, len(mine), lost)
	}
	if _, ok := PlanUnit(nil, nil, time.Time{}, true); ok {
		t.Error("no invocations and no coredumps: nothing to look at")
	}
}

// When the latest run had the kill, it is the only candidate: an older killed run (hours before, in a
// journal that kept it) would stretch the window over everything between — a flood of logged calls once
// made why read 1.2 M records for one kill.
func TestPlanLatestKilledRunAlone(t *testing.T) {
	killed := func(id string, s float64) journal.Invocation {
		return journal.Invocation{ID: id, Start: at(s), End: at(s + 1), Result: "core-dump", Exits: []journal.UnitExit{{ExitCode: "dumped", ExitStatus: 31, Time: at(s + 0.9)}}}
	}
	p, ok := PlanUnit([]journal.Invocation{killed("old", 0), killed("new", 3600)}, nil, time.Time{}, true)
	if !ok || len(p.Candidates) != 1 || p.Candidates[0].ID != "new" {
		t.Fatalf("candidates %+v", p.Candidates)
	}
	if p.Window.Since.Before(at(3590)) {
		t.Errorf("window %v reaches back to the old run", p.Window)
	}
}
