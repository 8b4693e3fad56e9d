package attribute

import (
	"strconv"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

// What attribution asks the journal. Every question here takes a journal.Querier the caller opened (a
// test passes a fake); the caller decides whether the journal's pids are the kernel's (ForeignPIDs) and
// names the units' programs.

// Programs names the executables a unit of a host runs (nil: unknown), for telling two units' kills of one
// second apart.
type Programs func(h journal.Host, unit string, user bool) []string

// UnitQuery is why's question: a unit's latest invocation with a seccomp kill, or every one since Since.
type UnitQuery struct {
	Unit  Target
	Since time.Time
	// Programs names other units' executables (the unit's own are Unit.Programs).
	Programs    func(unit string, user bool) []string
	ForeignPIDs bool
}

// UnitCase is what the journal tells of the unit before the evidence is read: its invocations and SIGSYS
// coredumps, which invocations to look at and the window of evidence around them (Plan, when OK), and
// the facts that tie a kill to the unit without a coredump.
type UnitCase struct {
	Unit        Target
	Invocations []journal.Invocation // every invocation of the unit since Since, oldest first
	Cores       []journal.Coredump   // its SIGSYS coredumps since Since
	Plan        Plan
	OK          bool // something to look at: read the evidence of Plan.Window
	Facts       Facts
}

// AskUnit asks the journal jr (nil: there is none) about the unit: its entries (invocations, exits), its
// SIGSYS coredumps, and — for the window of the invocations chosen — its processes' own entries and
// every other unit's SIGSYS exits (to tell two units' kills of one second apart).
func AskUnit(jr journal.Querier, q UnitQuery) (*UnitCase, error) {
	c := &UnitCase{Unit: q.Unit}
	if jr != nil {
		var err error
		if c.Invocations, c.Cores, err = unitHistory(jr, q.Unit, q.Since); err != nil {
			return nil, err
		}
	}
	c.Plan, c.OK = PlanUnit(c.Invocations, c.Cores, q.Since, jr != nil)
	if !c.OK {
		return c, nil
	}
	w := c.Plan.Window
	c.Facts = Facts{ForeignPIDs: q.ForeignPIDs, Runs: c.Plan.Runs(q.Unit)}
	if jr == nil {
		return c, nil
	}
	procField := "_SYSTEMD_UNIT="
	if q.Unit.User {
		procField = "_SYSTEMD_USER_UNIT="
	}
	var entries []journal.Fields
	if err := jr.Only(journal.ProcessFields...).Query([]string{procField + q.Unit.Name}, w.Since, w.Until, collectFields(&entries)); err != nil {
		return nil, err
	}
	c.Facts.Processes = journal.Processes(entries)
	others, err := KilledExits(jr, audit.Window{Since: w.Since.Add(-time.Second), Until: w.Until}, func(e journal.UnitExit) bool {
		return e.Unit != q.Unit.Name || e.User != q.Unit.User
	})
	if err != nil {
		return nil, err
	}
	var programs Programs
	if q.Programs != nil {
		programs = func(_ journal.Host, unit string, user bool) []string { return q.Programs(unit, user) }
	}
	c.Facts.Runs = append(c.Facts.Runs, RunsOf(others, programs)...)
	return c, nil
}

// LastExit is the latest exit entry of the unit's latest invocation (nil: none).
func (c *UnitCase) LastExit() *journal.UnitExit {
	if n := len(c.Invocations); n > 0 {
		if exits := c.Invocations[n-1].Exits; len(exits) > 0 {
			return &exits[len(exits)-1]
		}
	}
	return nil
}

// Settle ties the window's violations (all, as the sources gave them) by the case's facts, in place,
// and takes the unit's own in the chosen invocations and the kills nothing tied that may be its (Plan.Select).
func (c *UnitCase) Settle(all []evidence.Violation) (chosen []journal.Invocation, mine, lost []evidence.Violation) {
	Attribute(all, c.Facts)
	return c.Plan.Select(c.Unit, all)
}

// unitHistory reads the unit's own entries since since (its invocations) and its SIGSYS coredumps.
func unitHistory(jr journal.Querier, u Target, since time.Time) ([]journal.Invocation, []journal.Coredump, error) {
	unitField, coreField := "UNIT=", "COREDUMP_UNIT="
	if u.User {
		unitField, coreField = "USER_UNIT=", "COREDUMP_USER_UNIT="
	}
	var entries []journal.Fields
	if err := jr.Query([]string{unitField + u.Name}, since, time.Time{}, collectFields(&entries)); err != nil {
		return nil, nil, err
	}
	var cores []journal.Coredump
	if err := jr.Query([]string{"MESSAGE_ID=" + journal.MessageCoredump, coreField + u.Name}, since, time.Time{}, func(f journal.Fields) error {
		if c, err := journal.ParseCoredump(f); err == nil && c.Signal == journal.SIGSYS {
			cores = append(cores, c)
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	return journal.Invocations(entries), cores, nil
}

// KilledExits are the manager's entries of processes it waited for that died of SIGSYS in w ("Main
// process exited, code=killed, status=31/SYS"), oldest first, those keep (nil: all) accepts.
func KilledExits(jr journal.Querier, w audit.Window, keep func(journal.UnitExit) bool) ([]journal.UnitExit, error) {
	var exits []journal.UnitExit
	err := jr.Query([]string{"MESSAGE_ID=" + journal.MessageProcessExit}, w.Since, w.Until, func(f journal.Fields) error {
		if e, err := journal.ParseUnitExit(f); err == nil && e.Killed() && (keep == nil || keep(e)) {
			exits = append(exits, e)
		}
		return nil
	})
	return exits, err
}

// WindowFacts is what the journal tells of a window before its kills are read: the runs whose processes
// died of SIGSYS (Facts.Runs, for NewStore), and the units that failed with an exit code (for the
// post-mortem's "possibly denied silently").
func WindowFacts(jr journal.Querier, w audit.Window, programs Programs, foreign bool) (Facts, []journal.UnitResult, error) {
	f := Facts{ForeignPIDs: foreign}
	exits, err := KilledExits(jr, w, nil)
	if err != nil {
		return f, nil, err
	}
	f.Runs = RunsOf(exits, programs)
	var failed []journal.UnitResult
	if err := jr.Query([]string{"MESSAGE_ID=" + journal.MessageUnitFailed}, w.Since, w.Until, func(f journal.Fields) error {
		if res, err := journal.ParseUnitResult(f); err == nil && res.Result == "exit-code" {
			failed = append(failed, res)
		}
		return nil
	}); err != nil {
		return f, nil, err
	}
	return f, failed, nil
}

// ProcessesOf asks the journal, for each untied kill's pid (at most MaxJournalPIDs pids, in the order of
// vs), what that process wrote itself since since: journald's trusted fields name its unit and
// invocation. The runs of those not in runs already are added, open-ended. A pid whose query fails
// gives nothing.
func ProcessesOf(jr journal.Querier, vs []evidence.Violation, since time.Time, runs []Run) ([]journal.Process, []Run) {
	pids := map[int]bool{}
	var entries []journal.Fields
	for _, v := range vs {
		if v.Unit != "" || !v.Action.IsKill() || pids[v.PID] || len(pids) >= MaxJournalPIDs {
			continue
		}
		pids[v.PID] = true
		entries = append(entries, pidEntries(jr, v.PID, since, v.Time)...)
	}
	procs := journal.Processes(entries)
	return procs, withRunsOf(procs, runs)
}

// pidEntries are the entries a process of pid wrote from since to a second after at (a kill's time).
func pidEntries(jr journal.Querier, pid int, since, at time.Time) []journal.Fields {
	var entries []journal.Fields
	_ = jr.Only(journal.ProcessFields...).Query([]string{"_PID=" + strconv.Itoa(pid)}, since, at.Add(time.Second), collectFields(&entries))
	return entries
}

// withRunsOf adds to runs, open-ended, the run of each process whose host, unit and invocation none names
// (a user unit's run is not a system unit's of the same name). Every process then has a run that Attribute's
// journal-pid rule finds, whatever other processes were asked about: the rule decides on a pid's entries alone.
func withRunsOf(procs []journal.Process, runs []Run) []Run {
	type key struct {
		host      journal.Host
		unit, inv string
		user      bool
	}
	have := map[key]bool{}
	for _, r := range runs {
		have[key{r.Host, r.Unit, r.Invocation, r.User}] = true
	}
	for _, p := range procs {
		if k := (key{p.Host, p.Unit, p.Invocation, p.User}); p.Unit != "" && !have[k] {
			have[k] = true
			runs = append(runs, Run{Unit: p.Unit, User: p.User, Invocation: p.Invocation, Running: true, Host: p.Host})
		}
	}
	return runs
}

func collectFields(into *[]journal.Fields) func(journal.Fields) error {
	return func(f journal.Fields) error {
		*into = append(*into, f)
		return nil
	}
}
