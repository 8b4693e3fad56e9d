// Package attribute ties violations to the units and invocations they belong to: every rule sysdiag
// knows (coredump entry, cgroup at record time, main pid, the process's own journal entries, the
// manager's SIGSYS exits), for every front. It is pure: the clock, /proc and the journal come in.
//
// Where to start: Attribute runs the rules on a batch, from Facts. The fronts ask the journal through
// this package (journal.go: AskUnit and UnitCase.Settle for why, WindowFacts and ProcessesOf for
// postmortem, NewStream for events) and hold their kills in it: Store (postmortem: bounded, exact
// counts), Stream (events: in order, holding only what an exit may claim), live.go (watch, trial).
package attribute

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

// Run is one invocation of a unit as the manager tells it: the journal's entries of the unit, and the
// running manager where it is reachable.
type Run struct {
	Unit       string
	User       bool
	Invocation string
	Start, End time.Time // first and last entry of the manager's about it; End zero while it runs
	Running    bool      // no end seen: a kill after End may still be in it
	MainPID    int       // the manager's ExecMainPID, 0 unknown
	// Programs are the executables the unit runs (ExecStart= paths, symlinks resolved, a script's
	// interpreter), when known. main-exit attribution needs them to tell two units' kills apart.
	Programs []string
	// Exits are when a process the manager waited for (the main process, or an ExecStartPre= and such
	// control process) died of SIGSYS: "… process exited, code=killed|dumped, status=31/SYS".
	Exits []time.Time
	// Host is the host whose journal told of the run (zero: the only host, or unknown). Pids and times
	// of one host's runs say nothing about another's kills.
	Host journal.Host
}

// RunsOf folds the manager's SIGSYS exit entries ("Main process exited, code=killed, status=31/SYS")
// into runs, one per host, unit and invocation, oldest first; programs (nil: unknown) names each unit's
// executables.
func RunsOf(exits []journal.UnitExit, programs func(h journal.Host, unit string, user bool) []string) []Run {
	type key struct {
		host      journal.Host
		unit, inv string
		user      bool
	}
	idx := map[key]int{}
	var out []Run
	for _, e := range exits {
		if !e.Killed() {
			continue
		}
		k := key{e.Host, e.Unit, e.InvocationID, e.User}
		i, ok := idx[k]
		if !ok {
			r := Run{Unit: e.Unit, User: e.User, Invocation: e.InvocationID, Host: e.Host}
			if programs != nil {
				r.Programs = programs(e.Host, e.Unit, e.User)
			}
			i = len(out)
			idx[k] = i
			out = append(out, r)
		}
		out[i].Exits = append(out[i].Exits, e.Time)
	}
	return out
}

// Facts is what the journal and the manager tell about the units' processes in a window, for
// Attribute: no core dumps needed.
type Facts struct {
	Runs      []Run
	Processes []journal.Process
	// ForeignPIDs says the journal's and the manager's pids are not the kernel's audit pids: sysdiag
	// reads a journal of another PID namespace (it runs in a container, or in the test bed). The audit
	// record always names the initial namespace's pid; then no pid ties anything.
	ForeignPIDs bool
}

// Slack bounds the clocks of the kernel's record, the journal's entries and systemd's exit entry: a
// kill is logged by systemd after the process is reaped, later when a core is written or piped.
const (
	exitBefore = 3 * time.Second        // a process's kill precedes systemd's entry of its exit by at most this (the core is written or piped first)
	exitAfter  = 100 * time.Millisecond // the entry is written after the kill; both are CLOCK_REALTIME (see clockSlack)
	runSlack   = 2 * time.Second
	// clockSlack: the audit timestamp comes from the kernel's coarse clock (a tick behind at most), the
	// journal's from journald's receipt.
	clockSlack = 100 * time.Millisecond
)

// Attribute ties every violation without a unit to one, from facts, in place, and records how on each
// (also on those a coredump or the cgroup already tied). It never guesses: a pid is trusted only with a
// matching executable and inside the invocation, and a kill is tied to a main process's SIGSYS exit only
// when it is the only kill that fits that exit and that exit the only one that fits the kill.
func Attribute(vs []evidence.Violation, f Facts) {
	byPIDs(vs, f)
	byExits(vs, f)
}

// byPIDs is Attribute's first step: the manager's main pid, and the process's own journal entries. It
// decides each violation on its own, from the facts alone.
func byPIDs(vs []evidence.Violation, f Facts) {
	for i := range vs {
		v := &vs[i]
		if v.Unit != "" {
			continue
		}
		if f.ForeignPIDs {
			if v.Action.IsKill() {
				note(v, "the journal's pids are another PID namespace's than the kernel's (sysdiag runs in a container or PID namespace), so the pid ties nothing")
			}
			continue
		}
		if r, ok := byMainPID(*v, f.Runs); ok {
			tie(v, r, evidence.ByMainPID, fmt.Sprintf("pid %d is the main process (ExecMainPID) of invocation %s", v.PID, r.Invocation))
			continue
		}
		if r, p, ok := byJournal(*v, f); ok {
			who := exeOr(p.Exe, v.Exe)
			if p.Exe == "" {
				who = fmt.Sprintf("%s, named %q in both", who, p.Comm)
			}
			tie(v, r, evidence.ByJournalPID, fmt.Sprintf("pid %d (%s) wrote to the journal as part of invocation %s at %s",
				v.PID, who, r.Invocation, p.First.UTC().Format(time.RFC3339)))
		}
	}
}

// byExits is Attribute's second step, over the violations byPIDs left: the manager's SIGSYS exits. Its
// decisions about a kill depend on every kill within reach of the exits that could be its (the stream
// holds those together: stream.go).
func byExits(vs []evidence.Violation, f Facts) {
	// A process the manager waited for died of SIGSYS, and its kill record is among the records (the
	// sources were complete): an exit that only one kill fits, of the kills not yet tied, is that kill's;
	// repeat while that frees more. Two exits that only the same kill fits tie nothing. An exit that a
	// kill already tied to its unit explains is not free.
	type exit struct {
		run  *Run
		at   time.Time
		used bool
	}
	var exits []*exit
	for i := range f.Runs {
		r := &f.Runs[i]
		for _, t := range r.Exits {
			explained := false
			for _, v := range vs {
				if v.Unit == r.Unit && v.UserUnit == r.User && v.Action.IsKill() && (v.How.Invocation == "" || v.How.Invocation == r.Invocation) && r.Host.Compatible(v.Host()) {
					if d := t.Sub(v.Time); d >= -exitAfter && d <= exitBefore {
						explained = true
					}
				}
			}
			if !explained {
				exits = append(exits, &exit{run: r, at: t})
			}
		}
	}
	fits := func(v *evidence.Violation, e *exit) bool {
		if v.Unit != "" || !v.Action.IsKill() || e.used || !e.run.Host.Compatible(v.Host()) {
			return false
		}
		if d := e.at.Sub(v.Time); d < -exitAfter || d > exitBefore {
			return false
		}
		if !e.run.Start.IsZero() && v.Time.Before(e.run.Start.Add(-clockSlack)) {
			return false // before the run began: another run's, or a child's
		}
		return len(e.run.Programs) == 0 || v.Exe == "" || contains(e.run.Programs, v.Exe)
	}
	candidates := func(e *exit) []int {
		var c []int
		for vi := range vs {
			if fits(&vs[vi], e) {
				c = append(c, vi)
			}
		}
		return c
	}
	for progress := true; progress; {
		progress = false
		single := map[int][]*exit{} // kill → the free exits whose only fitting kill it is
		for _, e := range exits {
			if c := candidates(e); len(c) == 1 {
				single[c[0]] = append(single[c[0]], e)
			}
		}
		for vi, es := range single {
			if len(es) != 1 {
				continue // two exits with one kill between them: a record is missing, and nothing says whose
			}
			v, e := &vs[vi], es[0]
			prog := ""
			if len(e.run.Programs) > 0 && v.Exe != "" {
				prog = " running " + v.Exe
			}
			tie(v, e.run, evidence.ByMainExit, fmt.Sprintf("the process%s that systemd waited for in invocation %s died of SIGSYS at %s, and this is the only kill that fits",
				prog, e.run.Invocation, e.at.UTC().Format(time.RFC3339Nano)))
			e.used, progress = true, true
		}
	}
	// Say why a kill that exits could explain stays untied.
	for vi := range vs {
		v := &vs[vi]
		var units []string
		for _, e := range exits {
			if fits(v, e) {
				units = append(units, e.run.Unit)
			}
		}
		switch {
		case len(units) > 1:
			note(v, fmt.Sprintf("processes of %s died of SIGSYS at that time and any of them could be this kill", strings.Join(uniqStrings(units), ", ")))
		case len(units) == 1:
			note(v, fmt.Sprintf("a process of %s died of SIGSYS at that time, but other kills fit it as well", units[0]))
		}
	}
}

func tie(v *evidence.Violation, r *Run, m evidence.Method, detail string) {
	v.Unit, v.UserUnit = r.Unit, r.User
	if v.Node == "" && v.Machine == "" {
		v.Node, v.Machine = r.Host.Hostname, r.Host.MachineID
	}
	v.How = evidence.Attribution{Method: m, Invocation: r.Invocation, Detail: detail}
}

func note(v *evidence.Violation, why string) {
	if v.How.Detail == "" {
		v.How.Detail = why
	} else {
		v.How.Detail += "; " + why
	}
}

func byMainPID(v evidence.Violation, runs []Run) (*Run, bool) {
	var found *Run
	for i := range runs {
		r := &runs[i]
		if r.MainPID == 0 || r.MainPID != v.PID || !r.contains(v.Time) || !r.Host.Compatible(v.Host()) {
			continue
		}
		if len(r.Programs) > 0 && v.Exe != "" && !contains(r.Programs, v.Exe) {
			continue // the same number in another pid namespace, or reused
		}
		if found != nil {
			return nil, false
		}
		found = r
	}
	return found, found != nil
}

func byJournal(v evidence.Violation, f Facts) (*Run, journal.Process, bool) {
	var found *Run
	var proc journal.Process
	for _, p := range f.Processes {
		if p.PID != v.PID || p.First.After(v.Time.Add(exitAfter)) || !p.Host.Compatible(v.Host()) {
			continue // another pid, or a later process that got the number after this one died
		}
		if !sameProgram(p, v) {
			continue // the pid alone could be another namespace's, or reused
		}
		r := runOf(f.Runs, p)
		if r == nil || !r.contains(v.Time) {
			continue
		}
		if found != nil && found != r {
			return nil, journal.Process{}, false
		}
		found, proc = r, p
	}
	return found, proc, found != nil
}

// sameProgram: the journal's process ran the record's program. journald reads a writer's _EXE from
// /proc when the message arrives; a process killed right after its last line is often gone by then
// (measured on 252: a child's stdout line with _PID and _COMM but no _EXE), and its _COMM is then what
// is left — the kernel's comm, as in the record.
func sameProgram(p journal.Process, v evidence.Violation) bool {
	if p.Exe != "" && v.Exe != "" {
		return p.Exe == v.Exe
	}
	return p.Exe == "" && p.Comm != "" && p.Comm == v.Comm
}

func runOf(runs []Run, p journal.Process) *Run {
	for i := range runs {
		if runs[i].Invocation == p.Invocation && runs[i].Unit == p.Unit && runs[i].User == p.User && runs[i].Host.Compatible(p.Host) {
			return &runs[i]
		}
	}
	return nil
}

// contains reports whether t may lie in the run.
func (r *Run) contains(t time.Time) bool {
	if !r.Start.IsZero() && t.Before(r.Start.Add(-runSlack)) {
		return false
	}
	return r.Running || r.End.IsZero() || !t.After(r.End.Add(runSlack))
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func uniqStrings(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func exeOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
