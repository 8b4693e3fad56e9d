package attribute

import (
	"fmt"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

// Read reads the evidence sources over window w, the unit's SIGSYS coredumps given beside them, and sends
// each violation to emit: the host step of GatherUnit.
type Read func(w audit.Window, cores []journal.Coredump, emit func(evidence.Violation) error) error

// UnitEvidence is what the journal and the sources say of why's unit.
type UnitEvidence struct {
	Searched     string               // what the journal was searched for ("" without a journal)
	LastExit     *journal.UnitExit    // the latest exit entry of the unit's latest invocation
	Invocations  []journal.Invocation // the invocations looked at, oldest first
	Violations   []evidence.Violation // the unit's own in them, child processes included
	Unattributed []evidence.Violation // kills during them that no evidence ties to any unit
}

// GatherUnit finds the unit's latest invocation with a seccomp kill (or every one since q.Since) and its
// violations: it asks the journal jr (nil: there is none) about the unit (AskUnit), reads the evidence of
// the window of the invocations chosen (read), and ties what it gave (Settle). read's error comes back
// as it is.
func GatherUnit(jr journal.Querier, q UnitQuery, read Read) (UnitEvidence, error) {
	var ev UnitEvidence
	c, err := AskUnit(jr, q)
	if err != nil {
		return ev, err
	}
	ev.LastExit = c.LastExit()
	if jr != nil {
		ev.Searched = c.Searched()
	}
	if !c.OK {
		return ev, nil
	}
	var all []evidence.Violation
	logged := 0
	own := map[int]bool{} // the pids the unit's runs and its processes' own entries name
	for _, r := range c.Facts.Runs {
		if r.MainPID > 0 {
			own[r.MainPID] = true
		}
	}
	for _, pr := range c.Facts.Processes {
		own[pr.PID] = true
	}
	if err := read(c.Plan.Window, c.Cores, func(v evidence.Violation) error {
		if !v.Action.IsKill() && !ownLog(v, q.Unit, own) {
			return nil // another program's logged call (a SystemCallLog= flood): nothing here can use it
		}
		if !v.Action.IsKill() {
			if logged >= MaxLogged {
				return nil
			}
			logged++
		}
		all = append(all, v)
		return nil
	}); err != nil {
		return ev, err
	}
	ev.Invocations, ev.Violations, ev.Unattributed = c.Settle(all)
	return ev, nil
}

// MaxLogged bounds the unit's own logged calls (SystemCallLog=) why holds: kills are what it explains,
// and a flood of logged calls in the window must not hold memory in proportion to it.
const MaxLogged = 1 << 16

// ownLog: a logged call that may be the unit's — tied to it already, of a pid its runs or its processes'
// own entries name (the main-pid and journal-pid rules may tie it: a child's too), or run by one of its
// programs; with its programs unknown, any.
func ownLog(v evidence.Violation, u Target, pids map[int]bool) bool {
	if v.Unit != "" {
		return v.Unit == u.Name && v.UserUnit == u.User
	}
	return pids[v.PID] || len(u.Programs) == 0 || contains(u.Programs, v.Exe)
}

// Searched says what AskUnit looked for in the journal, for the answer's "nothing found".
func (c *UnitCase) Searched() string {
	return fmt.Sprintf("%d invocations and %d SIGSYS coredumps of %s in the journal", len(c.Invocations), len(c.Cores), c.Unit.Name)
}
