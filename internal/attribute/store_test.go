package attribute

import (
	"fmt"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/syscalls"
)

// A flood of untied kills, and a unit killed often on two calls: the store keeps only what attribution
// and the diagnosis read, within its limits, and every count it reports is exact.
func TestStoreBoundedExact(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	exit := t0.Add(100 * time.Second)
	facts := Facts{Runs: []Run{{Unit: "loop.service", Invocation: "inv-exit", Exits: []time.Time{exit}, MainPID: 7}}}
	lim := Limits{JournalPIDs: 2, PerPID: 2, PerUnit: 3, Examples: 5, Groups: 3}
	s := NewStore(facts, lim)

	type gk struct {
		exe string
		nr  int
	}
	want := map[gk]int{}
	untied, near, mains := 0, 0, 0
	kill := func(ms int, pid int, exe string, nr int) evidence.Violation {
		return evidence.Violation{Time: t0.Add(time.Duration(ms) * time.Millisecond), PID: pid, Exe: exe, Name: fmt.Sprintf("call%d", nr),
			Syscall: nr, Arch: syscalls.ArchX86_64, Action: audit.ActionKillProcess}
	}
	// 20 000 kills over 200 s, none tied yet: 5 programs × 4 calls; pids 100, 101 repeat (the
	// journal's pids), pid 7 is loop.service's main pid (its kills are tied at once), the rest unique.
	for i := 0; i < 20000; i++ {
		pid := 1000 + i
		switch i % 1000 {
		case 0, 1, 2:
			pid = 100
		case 3, 4, 5:
			pid = 101
		case 6, 7, 8:
			pid = 7
		}
		v := kill(i*10, pid, fmt.Sprintf("/bin/p%d", i%5), i%4)
		if d := exit.Sub(v.Time); d >= -exitAfter && d <= exitBefore {
			near++
		}
		if pid == 7 {
			mains++
		} else {
			want[gk{v.Exe, v.Syscall}]++
			untied++
		}
		s.Add(v)
	}
	// Logged calls are not kills.
	s.Add(evidence.Violation{Time: t0, Action: audit.ActionLog, Name: "swapon"})
	// A unit's 3000 kills, tied already (coredumps), on two calls, three invocations, oldest last.
	var unit UnitKey = UnitKey{Unit: "a.service"}
	for i := 2999; i >= 0; i-- {
		v := kill(i*50, 50000+i, "/bin/a", 93+i%2*74)
		v.Unit, v.How = "a.service", evidence.Attribution{Method: evidence.ByCoredump, Invocation: fmt.Sprintf("inv%d", i%3)}
		if d := exit.Sub(v.Time); d >= -exitAfter && d <= exitBefore {
			near++ // a tied kill near an exit may explain it
		}
		s.Add(v)
	}

	// Kept for attribution: the near-exit kills, and of pids 100 and 101 (the first two untied pids:
	// i = 0 and 3) PerPID each outside the exit's reach.
	if p := len(s.Pending()); p != near+2*lim.PerPID {
		t.Errorf("%d kept for attribution, want %d near the exit plus %d of the pids", p, near, 2*lim.PerPID)
	}
	if !s.jpids[100] || !s.jpids[101] || len(s.jpids) != 2 {
		t.Errorf("journal pids %v, want the first two untied pids", s.jpids)
	}
	s.Attribute(facts)

	// Untied: exact total and groups (three kept apart, the rest in "other"), the earliest five listed.
	total, groups, ex := s.Untied()
	if total != untied {
		t.Errorf("untied total %d, want %d", total, untied)
	}
	sum := 0
	for i, g := range groups {
		sum += g.Count
		if g.Other != (i == lim.Groups) {
			t.Errorf("group %d %+v: only the last, past %d groups, is other", i, g, lim.Groups)
		}
		if !g.Other && g.Count != want[gk{g.Exe, g.Number}] {
			t.Errorf("group %+v: count %d, want %d", g, g.Count, want[gk{g.Exe, g.Number}])
		}
	}
	if len(groups) != lim.Groups+1 || sum != untied {
		t.Errorf("%d groups counting %d kills, want %d counting %d", len(groups), sum, lim.Groups+1, untied)
	}
	if len(ex) != lim.Examples || !ex[0].Time.Equal(t0) || !ex[4].Time.Equal(t0.Add(40*time.Millisecond)) {
		t.Errorf("examples %d, first %v, last %v: want the earliest five, oldest first", len(ex), ex[0].Time, ex[len(ex)-1].Time)
	}

	if n := s.units[UnitKey{Unit: "loop.service"}]; n == nil || n.kills != mains {
		t.Errorf("loop.service: %+v, want its main pid's %d kills", n, mains)
	}

	// The unit: its kept kills bounded (one per call, per invocation, and PerUnit others), exact counts.
	by := s.Units()
	kept := by[unit]
	if len(by) != 2 || len(kept) > 2+3+lim.PerUnit || !kept[0].Time.Equal(t0) {
		t.Fatalf("units %d, kept %d of a.service (first at %v)", len(by), len(kept), kept[0].Time)
	}
	invs := map[string]bool{}
	for _, v := range kept {
		invs[invocationOf(v)] = true
	}
	if len(invs) != 3 {
		t.Errorf("invocations %v, want all three", invs)
	}
	if s.Kills(unit) != 3000 {
		t.Errorf("kills %d, want 3000", s.Kills(unit))
	}
	calls := 0
	for _, v := range kept {
		n, first, last, ok := s.Call(unit, v)
		if !ok {
			t.Fatalf("no call of %+v", v)
		}
		wf, wl := t0, t0.Add(2998*50*time.Millisecond)
		if v.Syscall == 167 {
			wf, wl = t0.Add(50*time.Millisecond), t0.Add(2999*50*time.Millisecond)
		}
		if n != 1500 || !first.Equal(wf) || !last.Equal(wl) {
			t.Errorf("call %d: %d from %v to %v, want 1500 from %v to %v", v.Syscall, n, first, last, wf, wl)
		}
		calls++
	}
	if calls == 0 {
		t.Error("no kept kill of the unit")
	}
}

// The store keeps a kill for attribution exactly where Attribute's main-exit rule can reach
// it: the private copy of the reach (exitBefore, exitAfter) must not drift from go's.
func TestStoreKeepsWhatAttributeTies(t *testing.T) {
	exit := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	facts := Facts{Runs: []Run{{Unit: "x.service", Invocation: "i", Exits: []time.Time{exit}}}}
	for _, off := range []time.Duration{-exitBefore - time.Millisecond, -exitBefore, -time.Second, 0, exitAfter, exitAfter + time.Millisecond} {
		v := evidence.Violation{Time: exit.Add(off), PID: 5, Exe: "/bin/x", Name: "ptrace", Syscall: 101, Arch: syscalls.ArchX86_64, Action: audit.ActionKillProcess}
		vs := []evidence.Violation{v}
		Attribute(vs, facts)
		s := NewStore(facts, Limits{})
		s.Add(v)
		if tied, kept := vs[0].Unit != "", len(s.Pending()) == 1; tied != kept {
			t.Errorf("kill at exit%+v: Attribute ties it %v, the store keeps it for attribution %v", off, tied, kept)
		}
	}
	// A manager's main pid, outside any exit's reach.
	run := Run{Unit: "m.service", Invocation: "j", MainPID: 42, Running: true}
	v := evidence.Violation{Time: exit.Add(time.Hour), PID: 42, Name: "ptrace", Syscall: 101, Arch: syscalls.ArchX86_64, Action: audit.ActionKillProcess}
	s := NewStore(Facts{Runs: []Run{run}}, Limits{PerPID: 1})
	s.Add(v)
	s.Attribute(Facts{Runs: []Run{run}})
	if by := s.Units(); len(by[UnitKey{Unit: "m.service"}]) != 1 || s.untied.total != 0 {
		t.Errorf("the main pid's kill: units %v, untied %d", by, s.untied.total)
	}
}
