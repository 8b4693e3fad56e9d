package attribute

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

// queryFake is a journal in memory: every match equal, the window on __REALTIME_TIMESTAMP, oldest first
// as given. It records the queries asked.
type queryFake struct {
	entries []journal.Fields
	asked   [][]string
}

func (q *queryFake) Query(matches []string, since, until time.Time, fn func(journal.Fields) error) error {
	q.asked = append(q.asked, matches)
next:
	for _, e := range q.entries {
		us, _ := strconv.ParseInt(e["__REALTIME_TIMESTAMP"], 10, 64)
		t := time.UnixMicro(us)
		if !since.IsZero() && t.Before(since) || !until.IsZero() && t.After(until) {
			continue
		}
		for _, m := range matches {
			k, v, _ := strings.Cut(m, "=")
			if e[k] != v {
				continue next
			}
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (q *queryFake) Only(...string) journal.Querier { return q }
func (q *queryFake) Close() error                   { return nil }

// asks counts the queries whose first match starts with prefix.
func (q *queryFake) asks(prefix string) int {
	n := 0
	for _, m := range q.asked {
		if len(m) > 0 && strings.HasPrefix(m[0], prefix) {
			n++
		}
	}
	return n
}

func usec(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

func exitEntry(unit, inv string, t time.Time, code string, status int) journal.Fields {
	return journal.Fields{"__REALTIME_TIMESTAMP": usec(t), "MESSAGE_ID": journal.MessageProcessExit, "UNIT": unit, "INVOCATION_ID": inv,
		"EXIT_CODE": code, "EXIT_STATUS": strconv.Itoa(status)}
}

func procEntry(pid int, exe, unit, inv string, t time.Time) journal.Fields {
	return journal.Fields{"__REALTIME_TIMESTAMP": usec(t), "_PID": strconv.Itoa(pid), "_EXE": exe, "_COMM": exe[strings.LastIndex(exe, "/")+1:],
		"_SYSTEMD_UNIT": unit, "_SYSTEMD_INVOCATION_ID": inv}
}

// why's questions: the unit's runs from its entries, its coredumps, its processes' entries in the window
// of the chosen runs, and the other units' SIGSYS exits — and Settle ties by them.
func TestAskUnit(t *testing.T) {
	q := &queryFake{entries: []journal.Fields{
		{"__REALTIME_TIMESTAMP": usec(at(0)), "UNIT": "a.service", "INVOCATION_ID": "i1", "MESSAGE": "Starting"},
		procEntry(200, "/usr/bin/helper", "a.service", "i1", at(1)),
		exitEntry("a.service", "i1", at(5.2), "killed", 31),
		exitEntry("b.service", "j1", at(5.3), "killed", 31), // another unit's, at the same second
		exitEntry("c.service", "k1", at(5.3), "exited", 1),  // not a SIGSYS death
		{"__REALTIME_TIMESTAMP": usec(at(6)), "UNIT": "a.service", "INVOCATION_ID": "i1", "MESSAGE_ID": journal.MessageUnitFailed, "UNIT_RESULT": "signal"},
		procEntry(200, "/usr/bin/helper", "x.service", "z", at(400)), // the pid reused long after: outside the window
	}}
	progs := map[string][]string{"a.service": {"/usr/bin/a"}, "b.service": {"/usr/bin/b"}}
	c, err := AskUnit(q, UnitQuery{Unit: Target{Name: "a.service", Programs: progs["a.service"]},
		Programs: func(unit string, _ bool) []string { return progs[unit] }})
	if err != nil {
		t.Fatal(err)
	}
	if !c.OK || len(c.Invocations) != 1 || c.Invocations[0].ID != "i1" || c.LastExit() == nil || !c.LastExit().Time.Equal(at(5.2)) {
		t.Fatalf("case %+v", c)
	}
	if len(c.Facts.Processes) != 1 || c.Facts.Processes[0].PID != 200 {
		t.Errorf("processes %+v: want pid 200's in the window, not the later one's", c.Facts.Processes)
	}
	if len(c.Facts.Runs) != 2 || c.Facts.Runs[1].Unit != "b.service" || !slices.Equal(c.Facts.Runs[1].Programs, []string{"/usr/bin/b"}) {
		t.Errorf("runs %+v: want a.service's and b.service's SIGSYS exit, not c.service's", c.Facts.Runs)
	}
	all := []evidence.Violation{kill(200, "/usr/bin/helper", 2), kill(300, "/usr/bin/a", 5.1), kill(301, "/usr/bin/b", 5.1)}
	_, mine, lost := c.Settle(all)
	if len(mine) != 2 || len(lost) != 0 || mine[0].How.Method != evidence.ByJournalPID || mine[1].How.Method != evidence.ByMainExit || mine[1].PID != 300 {
		t.Errorf("mine %+v lost %+v", mine, lost)
	}
	if all[2].Unit != "b.service" {
		t.Errorf("b.service's kill: %+v", all[2])
	}

	// No journal: nothing to plan from, and no query.
	if c, err := AskUnit(nil, UnitQuery{Unit: Target{Name: "a.service"}}); err != nil || c.OK {
		t.Errorf("no journal: %+v %v", c, err)
	}
	// A user unit is asked by its own fields.
	q.asked = nil
	AskUnit(q, UnitQuery{Unit: Target{Name: "a.service", User: true}})
	if q.asks("USER_UNIT=a.service") != 1 || q.asks("UNIT=") != 0 {
		t.Errorf("user unit asked %q", q.asked)
	}
}

// The post-mortem's window: SIGSYS exits as runs, failed units with an exit code.
func TestWindowFacts(t *testing.T) {
	q := &queryFake{entries: []journal.Fields{
		exitEntry("a.service", "i1", at(1), "killed", 31),
		exitEntry("a.service", "i1", at(2), "dumped", 31),
		exitEntry("a.service", "i2", at(3), "killed", 31),
		exitEntry("b.service", "j1", at(4), "killed", 9),
		exitEntry("a.service", "i3", at(100), "killed", 31), // outside the window
		{"__REALTIME_TIMESTAMP": usec(at(5)), "MESSAGE_ID": journal.MessageUnitFailed, "UNIT": "c.service", "INVOCATION_ID": "k", "UNIT_RESULT": "exit-code"},
		{"__REALTIME_TIMESTAMP": usec(at(5)), "MESSAGE_ID": journal.MessageUnitFailed, "UNIT": "d.service", "INVOCATION_ID": "l", "UNIT_RESULT": "core-dump"},
	}}
	f, failed, err := WindowFacts(q, audit.Window{Since: at(0), Until: at(10)}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if !f.ForeignPIDs || len(f.Runs) != 2 || len(f.Runs[0].Exits) != 2 || f.Runs[1].Invocation != "i2" {
		t.Errorf("runs %+v", f.Runs)
	}
	if len(failed) != 1 || failed[0].Unit != "c.service" {
		t.Errorf("failed %+v", failed)
	}
}

// ProcessesOf asks once per untied kill's pid, at most MaxJournalPIDs pids, and adds the runs they name.
func TestProcessesOf(t *testing.T) {
	var entries []journal.Fields
	var vs []evidence.Violation
	for i := 0; i < MaxJournalPIDs+10; i++ {
		entries = append(entries, procEntry(1000+i, "/usr/bin/p", "p.service", "inv"+strconv.Itoa(i%3), at(0)))
		vs = append(vs, kill(1000+i, "/usr/bin/p", 1), kill(1000+i, "/usr/bin/p", 2))
	}
	vs = append(vs, evidence.Violation{PID: 1, Time: at(1), Action: audit.ActionLog}) // not a kill
	vs[0].Unit = "tied.service"                                                       // tied already: not asked
	q := &queryFake{entries: entries}
	procs, runs := ProcessesOf(q, vs, at(-10), []Run{{Unit: "p.service", Invocation: "inv0"}})
	if n := q.asks("_PID="); n != MaxJournalPIDs {
		t.Errorf("%d pids asked, want %d", n, MaxJournalPIDs)
	}
	if q.asked[0][0] != "_PID=1000" {
		t.Errorf("first asked %q: pid 1000's second kill is untied, it is asked", q.asked[0])
	}
	if len(procs) != MaxJournalPIDs || len(runs) != 3 || !runs[1].Running {
		t.Errorf("%d processes, runs %+v", len(procs), runs)
	}
}
