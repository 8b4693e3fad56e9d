package e2e

import (
	"strconv"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/journal"
)

// Runs last (files run in name order): events over the whole suite finds every kill the test bed
// produced, each exactly once, with the journal's audit record joined to the coredump.
func TestZZEventsFindsEveryKill(t *testing.T) {
	need(t)
	defer timed(t)()
	r, err := journal.Open(bedJournal())
	if err != nil {
		t.Fatal(err)
	}
	pids := map[int]string{}
	r.Query([]string{"MESSAGE_ID=" + journal.MessageCoredump, "COREDUMP_SIGNAL=31"}, suiteStart, time.Time{}, func(f journal.Fields) error {
		pid, _ := strconv.Atoi(f["COREDUMP_PID"])
		u := f["COREDUMP_UNIT"]
		if uu := f["COREDUMP_USER_UNIT"]; uu != "" {
			u = uu
		}
		pids[pid] = u
		return nil
	})
	r.Close()
	if len(pids) == 0 {
		t.Skip("no kills yet: this test checks what the whole suite produced (run it with the others)")
	}
	if len(pids) < 10 {
		t.Fatalf("only %d SIGSYS coredumps in the suite", len(pids))
	}
	ev := events(t, "--since", epoch(suiteStart))
	seen := map[int]int{}
	for _, v := range ev.Violations {
		if _, ok := pids[v.PID]; !ok || (v.Action != "kill-process" && v.Action != "kill-thread") {
			continue
		}
		seen[v.PID]++
		if !has(v.Sources, "coredump") || !(has(v.Sources, "journal-audit") || has(v.Sources, "audit.log")) || v.Unit != pids[v.PID] {
			t.Errorf("pid %d (%s): sources %v unit %q", v.PID, pids[v.PID], v.Sources, v.Unit)
		}
	}
	for pid, u := range pids {
		if seen[pid] != 1 {
			t.Errorf("kill of %s (pid %d) listed %d times", u, pid, seen[pid])
		}
	}
	t.Logf("%d kills, each listed once", len(pids))
}
