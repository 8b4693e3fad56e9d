package attribute

import (
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

// Target is the unit why asks about, as attribution needs it: the manager's latest invocation and its
// main pid (zero when unknown), and the executables the unit runs (nil: unknown).
type Target struct {
	Name       string
	User       bool
	Invocation string
	MainPID    int
	Programs   []string
}

// Plan is which of a unit's invocations why looks at, and the window of evidence around them.
type Plan struct {
	Candidates []journal.Invocation // oldest first
	Had        map[string]bool      // invocations with a SIGSYS coredump or a process dead of SIGSYS
	Window     audit.Window
	Since      time.Time // --since; zero: only the latest invocation that has violations
}

// PlanUnit picks the invocations to look at — those with a SIGSYS coredump or a process dead of SIGSYS,
// and the latest one (a child killed without a coredump leaves no other trace in the manager's entries);
// without since only the latest of those two — and the window around them. ok is false when there is
// nothing to look at.
func PlanUnit(invs []journal.Invocation, cores []journal.Coredump, since time.Time, haveJournal bool) (Plan, bool) {
	p := Plan{Had: map[string]bool{}, Since: since}
	for _, c := range cores {
		if id := InvocationOf(c, invs); id != "" {
			p.Had[id] = true
		}
	}
	for _, inv := range invs {
		for _, e := range inv.Exits {
			if e.Killed() {
				p.Had[inv.ID] = true
			}
		}
	}
	for i, inv := range invs {
		if p.Had[inv.ID] || i == len(invs)-1 {
			p.Candidates = append(p.Candidates, inv)
		}
	}
	if n := len(p.Candidates); since.IsZero() && n > 1 && p.Had[p.Candidates[n-1].ID] {
		p.Candidates = p.Candidates[n-1:] // the latest had a kill: it is both, and an older run would only widen the window
	} else if since.IsZero() && n > 2 {
		p.Candidates = p.Candidates[n-2:] // the latest with a kill, and the latest
	}
	switch {
	case len(p.Candidates) > 0:
		last := p.Candidates[len(p.Candidates)-1]
		p.Window = audit.Window{Since: p.Candidates[0].Start.Add(-windowBefore), Until: last.End.Add(windowAfter)}
		if last.Result == "" {
			p.Window.Until = time.Time{} // still running: a child may be killed any time
		}
	case len(cores) > 0: // the unit's own entries are gone (rotated): the newest coredump alone
		c := cores[len(cores)-1]
		p.Window = audit.Window{Since: c.Time.Add(-windowBefore), Until: c.EntryTime.Add(windowAfter)}
	case !haveJournal && !since.IsZero():
		p.Window = audit.Window{Since: since}
	default:
		return p, false
	}
	return p, true
}

// The evidence window around an invocation: its first manager entry comes after the process started
// (and a coredump's time is truncated to the second); its last comes after the kill was reaped.
const (
	windowBefore = 2 * time.Second
	windowAfter  = 3 * time.Second
)

// Runs are the candidate invocations as Attribute's facts.
func (p Plan) Runs(u Target) []Run {
	var out []Run
	for i, inv := range p.Candidates {
		r := Run{Unit: u.Name, User: u.User, Invocation: inv.ID, Start: inv.Start, End: inv.End, Programs: u.Programs,
			Running: inv.Result == "" && i == len(p.Candidates)-1}
		if u.Invocation == inv.ID {
			r.MainPID = u.MainPID
		}
		for _, e := range inv.Exits {
			if e.Killed() {
				r.Exits = append(r.Exits, e.Time)
			}
		}
		out = append(out, r)
	}
	return out
}

// inRun names the candidate invocation a violation belongs to: the one its attribution names, else the
// one whose window holds it ("" for none).
func (p Plan) inRun(v evidence.Violation) string {
	if id := v.How.Invocation; id != "" {
		return id
	}
	c := p.Candidates
	for i := len(c) - 1; i >= 0; i-- {
		if !v.Time.Before(c[i].Start.Add(-windowBefore)) && (i == len(c)-1 && p.Window.Until.IsZero() || !v.Time.After(c[i].End.Add(windowAfter))) {
			return c[i].ID
		}
	}
	return ""
}

// during reports whether v lies strictly inside one of the candidate invocations.
func (p Plan) during(v evidence.Violation) bool {
	c := p.Candidates
	for i, inv := range c {
		if !v.Time.Before(inv.Start.Add(-100*time.Millisecond)) && (i == len(c)-1 && p.Window.Until.IsZero() || !v.Time.After(inv.End)) {
			return true
		}
	}
	return false
}

// Select takes, from the window's violations (already attributed), the unit's own in the chosen
// invocations, and the kills that nothing tied to any unit but that may explain this one's failure:
// when the unit has none of its own, or when they ran one of its programs. Without Since the chosen
// invocation is the latest that has violations (else the latest with a kill, else — for untied kills —
// the latest).
func (p Plan) Select(u Target, all []evidence.Violation) (chosen []journal.Invocation, mine, lost []evidence.Violation) {
	ids := map[string]bool{}
	for _, inv := range p.Candidates {
		ids[inv.ID] = true
	}
	w := p.Window
	for _, v := range all {
		if !w.Contains(v.Time) && !(v.CoarseTime && w.Contains(v.Time.Add(time.Second))) {
			continue
		}
		switch {
		case v.Unit == u.Name && v.UserUnit == u.User:
			if id := p.inRun(v); id == "" || len(ids) == 0 || ids[id] {
				mine = append(mine, v)
			}
		case v.Unit == "" && v.Action.IsKill() && p.during(v):
			lost = append(lost, v) // another unit's, or this one's: nothing says which
		}
	}
	if len(mine) > 0 {
		lost = filterViolations(lost, func(v evidence.Violation) bool { return contains(u.Programs, v.Exe) })
	}
	chosen = p.Candidates
	if !p.Since.IsZero() || len(p.Candidates) == 0 {
		return chosen, mine, lost
	}
	pick := ""
	for _, v := range mine {
		pick = p.inRun(v)
	}
	for i := len(p.Candidates) - 1; i >= 0 && pick == ""; i-- {
		if p.Had[p.Candidates[i].ID] {
			pick = p.Candidates[i].ID
		}
	}
	if pick == "" && len(lost) > 0 {
		pick = p.Candidates[len(p.Candidates)-1].ID // nothing of its own: the latest run, for the untied kills in it
	}
	chosen = nil
	for _, inv := range p.Candidates {
		if inv.ID == pick {
			chosen = append(chosen, inv)
		}
	}
	mine = filterViolations(mine, func(v evidence.Violation) bool { id := p.inRun(v); return id == "" || id == pick })
	lost = filterViolations(lost, func(v evidence.Violation) bool { return p.inRun(v) == pick })
	return chosen, mine, lost
}

func filterViolations(vs []evidence.Violation, keep func(evidence.Violation) bool) []evidence.Violation {
	out := vs[:0]
	for _, v := range vs {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// InvocationOf finds the invocation a coredump belongs to: by INVOCATION_ID in its environment, else by time.
func InvocationOf(c journal.Coredump, invs []journal.Invocation) string {
	if c.Invocation != "" {
		return c.Invocation
	}
	for i := len(invs) - 1; i >= 0; i-- {
		if !c.Time.Before(invs[i].Start.Truncate(time.Second)) && !c.Time.After(invs[i].End.Add(time.Second)) {
			return invs[i].ID
		}
	}
	return ""
}
