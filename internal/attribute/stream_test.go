package attribute

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

// streamCase is a window drawn at random: the manager's runs with their SIGSYS exits and main pids, the
// processes' own journal entries, and the violations oldest first — crowded into a few seconds, so that
// exits, kills and pids meet.
func streamCase(r *rand.Rand) (Facts, *queryFake, []evidence.Violation) {
	span := 2 + r.Float64()*40 // seconds
	units := []string{"a.service", "b.service", "c.service", "d.service"}
	exes := []string{"/bin/p0", "/bin/p1", "/bin/p2", ""}
	machines := []string{"", "", "m1", "m2"}
	pid := func() int { return 100 + r.IntN(8) }
	var f Facts
	f.ForeignPIDs = r.IntN(10) == 0
	for i, n := 0, r.IntN(7); i < n; i++ {
		run := Run{Unit: units[r.IntN(len(units))], User: r.IntN(5) == 0, Invocation: fmt.Sprintf("i%d", i), Host: journal.Host{MachineID: machines[r.IntN(len(machines))]}}
		for j, m := 0, 1+r.IntN(2); j < m; j++ {
			run.Exits = append(run.Exits, at(r.Float64()*span))
		}
		sort.Slice(run.Exits, func(a, b int) bool { return run.Exits[a].Before(run.Exits[b]) })
		if r.IntN(2) == 0 {
			run.Programs = []string{exes[r.IntN(3)]}
		}
		if r.IntN(3) == 0 {
			run.Start = run.Exits[0].Add(-time.Duration(r.Float64() * 5 * float64(time.Second)))
		}
		if r.IntN(3) == 0 {
			run.MainPID = pid()
			run.Running = r.IntN(2) == 0
			if !run.Running && r.IntN(2) == 0 {
				run.End = run.Exits[len(run.Exits)-1].Add(time.Second)
			}
		}
		f.Runs = append(f.Runs, run)
	}
	q := &queryFake{}
	for i, n := 0, r.IntN(8); i < n; i++ {
		inv := fmt.Sprintf("i%d", r.IntN(len(f.Runs)+2))
		e := procEntry(pid(), "/bin/p"+fmt.Sprint(r.IntN(3)), units[r.IntN(len(units))], inv, at(-2+r.Float64()*(span+2)))
		if r.IntN(4) == 0 {
			delete(e, "_EXE")
		}
		if m := machines[r.IntN(len(machines))]; m != "" {
			e["_MACHINE_ID"] = m
		}
		q.entries = append(q.entries, e)
	}
	sort.SliceStable(q.entries, func(a, b int) bool {
		return q.entries[a]["__REALTIME_TIMESTAMP"] < q.entries[b]["__REALTIME_TIMESTAMP"]
	})
	var vs []evidence.Violation
	for i, n := 0, r.IntN(40); i < n; i++ {
		exe := exes[r.IntN(len(exes))]
		v := evidence.Violation{Serial: uint64(i + 1), PID: pid(), Exe: exe, Comm: strings.TrimPrefix(exe, "/bin/"), Time: at(r.Float64() * span),
			Action: audit.ActionKillProcess, Syscall: 93, Name: "fchown", Machine: machines[r.IntN(len(machines))]}
		switch r.IntN(8) {
		case 0:
			v.Action = audit.ActionLog
		case 1:
			v.Unit = units[r.IntN(len(units))] // a coredump named it
			v.How = evidence.Attribution{Method: evidence.ByCoredump}
			if r.IntN(2) == 0 {
				v.How.Invocation = fmt.Sprintf("i%d", r.IntN(len(f.Runs)+1))
			}
		}
		vs = append(vs, v)
	}
	sort.SliceStable(vs, func(a, b int) bool { return vs[a].Time.Before(vs[b].Time) })
	return f, q, vs
}

// batch is what a batch front does over the whole window: ask about the untied kills' pids, then run
// Attribute on the kills (the stream ties kills; logged calls pass as they came).
func batch(f Facts, q journal.Querier, vs []evidence.Violation) []evidence.Violation {
	out := append([]evidence.Violation(nil), vs...)
	var kills []evidence.Violation
	var idx []int
	for i, v := range out {
		if v.Action.IsKill() {
			kills, idx = append(kills, v), append(idx, i)
		}
	}
	g := Facts{Runs: f.Runs, ForeignPIDs: f.ForeignPIDs}
	if !f.ForeignPIDs {
		g.Processes, g.Runs = ProcessesOf(q, kills, time.Time{}, append([]Run(nil), f.Runs...))
	}
	Attribute(kills, g)
	for j, i := range idx {
		out[i] = kills[j]
	}
	return out
}

func stream(t *testing.T, f Facts, q journal.Querier, vs []evidence.Violation, lim StreamLimits) []evidence.Violation {
	t.Helper()
	var out []evidence.Violation
	s := newStream(q, time.Time{}, f, lim, func(v evidence.Violation) error { out = append(out, v); return nil })
	for _, v := range vs {
		if err := s.Add(v); err != nil {
			t.Fatal(err)
		}
		if s.kills > lim.Kills || len(s.hold) > lim.Held {
			t.Fatalf("holding %d kills, %d violations: over %+v", s.kills, len(s.hold), lim)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The stream ties every kill as Attribute does over the whole window — same unit, same method, same
// words — and hands the violations on in the order they came.
func TestStreamIsBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 22))
	tied := map[evidence.Method]int{}
	for n := 0; n < 3000; n++ {
		f, q, vs := streamCase(r)
		want := batch(f, q, vs)
		got := stream(t, f, q, vs, DefaultStreamLimits)
		if len(got) != len(want) {
			t.Fatalf("case %d: %d violations out, want %d", n, len(got), len(want))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("case %d, violation %d:\nstream %+v\nbatch  %+v\nruns %+v", n, i, got[i], want[i], f.Runs)
			}
			tied[got[i].How.Method]++
		}
	}
	// The cases reach every rule (else this test proves little).
	for _, m := range []evidence.Method{evidence.ByMainPID, evidence.ByJournalPID, evidence.ByMainExit} {
		if tied[m] == 0 {
			t.Errorf("no kill tied by %s in the cases: %v", m, tied)
		}
	}
}

// Past its limits the stream holds no more: the kills of that stretch go on untied by any exit, with the
// reason, and nothing is tied that the batch would not tie so; the order is kept.
func TestStreamBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	overflowed := 0
	for n := 0; n < 3000; n++ {
		f, q, vs := streamCase(r)
		lim := StreamLimits{Kills: 1 + r.IntN(3), Held: 2 + r.IntN(4), JournalPIDs: MaxJournalPIDs}
		want := batch(f, q, vs)
		got := stream(t, f, q, vs, lim)
		if len(got) != len(want) {
			t.Fatalf("case %d: %d violations out, want %d", n, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.Serial != w.Serial {
				t.Fatalf("case %d: violation %d is #%d, want #%d: the order changed", n, i, g.Serial, w.Serial)
			}
			if !strings.Contains(g.How.Detail, "not matched against the manager's SIGSYS exits") {
				if !reflect.DeepEqual(g, w) {
					t.Fatalf("case %d, violation %d outside an overflow:\nstream %+v\nbatch  %+v", n, i, g, w)
				}
				continue
			}
			overflowed++
			if g.How.Method == evidence.ByMainExit || w.How.Method != evidence.ByMainExit && (g.Unit != w.Unit || g.How.Method != w.How.Method) {
				t.Fatalf("case %d, violation %d: stream %+v, batch %+v", n, i, g.How, w.How)
			}
		}
	}
	if overflowed == 0 {
		t.Error("no case overflowed the limits")
	}
}

// A kill waits only while an exit can still claim it: one far from every exit goes on at once, one near an
// exit when the stream has moved past the exit's reach.
func TestStreamHoldsOnlyWhatAnExitCanClaim(t *testing.T) {
	f := Facts{Runs: []Run{{Unit: "a.service", Invocation: "i", Exits: []time.Time{at(10)}}}}
	var out []evidence.Violation
	s := newStream(nil, time.Time{}, f, DefaultStreamLimits, func(v evidence.Violation) error { out = append(out, v); return nil })
	add := func(v evidence.Violation, wantOut int) {
		t.Helper()
		if err := s.Add(v); err != nil {
			t.Fatal(err)
		}
		if len(out) != wantOut {
			t.Fatalf("after the kill at %v: %d out, want %d", v.Time, len(out), wantOut)
		}
	}
	add(kill(1, "/bin/x", 1), 1)   // no exit within reach: at once
	add(kill(2, "/bin/x", 9.5), 1) // the exit at 10 may be its: held
	log := kill(3, "/bin/y", 9.6)
	log.Action = audit.ActionLog
	add(log, 1)                     // after a held kill: waits, for the order
	add(kill(4, "/bin/z", 12), 1)   // within lateBy of the reach: a coredump's kill may still come
	add(kill(5, "/bin/z", 14.2), 5) // past it: the held go, tied, and this one
	if out[1].Unit != "a.service" || out[1].How.Method != evidence.ByMainExit || out[2].PID != 3 {
		t.Errorf("out %+v", out)
	}
}
