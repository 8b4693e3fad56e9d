package attribute

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

var t0 = time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func kill(pid int, exe string, s float64) evidence.Violation {
	return evidence.Violation{PID: pid, Exe: exe, Time: at(s), Action: audit.ActionKillProcess, Syscall: 93, Name: "fchown"}
}

func TestAttributeMainPID(t *testing.T) {
	runs := []Run{{Unit: "a.service", Invocation: "i1", Start: at(0), Running: true, MainPID: 100, Programs: []string{"/usr/bin/a"}}}
	vs := []evidence.Violation{kill(100, "/usr/bin/a", 5), kill(100, "/usr/bin/other", 6)}
	Attribute(vs, Facts{Runs: runs})
	if vs[0].Unit != "a.service" || vs[0].How.Method != evidence.ByMainPID || vs[0].How.Invocation != "i1" {
		t.Errorf("main pid: %+v", vs[0])
	}
	if vs[1].Unit != "" {
		t.Errorf("the same pid running another program (another pid namespace, or reused) must not be tied: %+v", vs[1])
	}
}

func TestAttributeJournalPID(t *testing.T) {
	runs := []Run{{Unit: "a.service", Invocation: "i1", Start: at(0), End: at(10)}}
	procs := []journal.Process{
		{PID: 200, Exe: "/usr/bin/helper", Unit: "a.service", Invocation: "i1", First: at(1), Last: at(2)},
		{PID: 300, Exe: "/usr/bin/late", Unit: "a.service", Invocation: "i1", First: at(8), Last: at(8)},
	}
	vs := []evidence.Violation{
		kill(200, "/usr/bin/helper", 3), // logged, then killed: tied
		kill(200, "/usr/bin/chown", 4),  // same pid, other program
		kill(300, "/usr/bin/late", 5),   // the pid's entries come after the kill: another process got the number
		kill(200, "/usr/bin/helper", 30),
	}
	vs[3].Action = audit.ActionLog
	Attribute(vs, Facts{Runs: runs, Processes: procs})
	if vs[0].Unit != "a.service" || vs[0].How.Method != evidence.ByJournalPID || !strings.Contains(vs[0].How.Detail, "pid 200 (/usr/bin/helper)") {
		t.Errorf("journal pid: %+v", vs[0].How)
	}
	for _, i := range []int{1, 2, 3} {
		if vs[i].Unit != "" {
			t.Errorf("violation %d must stay unattributed: %+v", i, vs[i])
		}
	}
}

func TestAttributeMainExit(t *testing.T) {
	t.Run("one kill, one exit", func(t *testing.T) {
		runs := []Run{{Unit: "a.service", Invocation: "i1", Start: at(0), End: at(3), Exits: []time.Time{at(2.5)}}}
		vs := []evidence.Violation{kill(100, "/usr/bin/a", 2)}
		Attribute(vs, Facts{Runs: runs})
		if vs[0].Unit != "a.service" || vs[0].How.Method != evidence.ByMainExit {
			t.Errorf("%+v", vs[0])
		}
	})
	t.Run("two units in the same second, other programs", func(t *testing.T) {
		runs := []Run{
			{Unit: "a.service", Invocation: "ia", Exits: []time.Time{at(2.3)}, Programs: []string{"/opt/a"}},
			{Unit: "b.service", Invocation: "ib", Exits: []time.Time{at(2.4)}, Programs: []string{"/opt/b"}},
		}
		vs := []evidence.Violation{kill(101, "/opt/b", 2.1), kill(100, "/opt/a", 2.2)}
		Attribute(vs, Facts{Runs: runs})
		if vs[0].Unit != "b.service" || vs[1].Unit != "a.service" {
			t.Errorf("%+v / %+v", vs[0], vs[1])
		}
		if !strings.Contains(vs[1].How.Detail, "running /opt/a") {
			t.Errorf("detail: %s", vs[1].How.Detail)
		}
	})
	t.Run("two units in the same second, one program: never guessed", func(t *testing.T) {
		runs := []Run{
			{Unit: "a.service", Invocation: "ia", Exits: []time.Time{at(2.3)}, Programs: []string{"/opt/p"}},
			{Unit: "b.service", Invocation: "ib", Exits: []time.Time{at(2.4)}, Programs: []string{"/opt/p"}},
		}
		vs := []evidence.Violation{kill(101, "/opt/p", 2.1), kill(100, "/opt/p", 2.2)}
		Attribute(vs, Facts{Runs: runs})
		for _, v := range vs {
			if v.Unit != "" || !strings.Contains(v.How.Detail, "any of them could be") {
				t.Errorf("%+v", v)
			}
		}
	})
	t.Run("a unit of unknown programs fits every kill", func(t *testing.T) {
		runs := []Run{
			{Unit: "a.service", Invocation: "ia", Exits: []time.Time{at(2.3)}, Programs: []string{"/opt/a"}},
			{Unit: "b.service", Invocation: "ib", Exits: []time.Time{at(2.4)}},
		}
		vs := []evidence.Violation{kill(100, "/opt/a", 2.2)}
		Attribute(vs, Facts{Runs: runs})
		if vs[0].Unit != "" || !strings.Contains(vs[0].How.Detail, "any of them could be") {
			t.Errorf("%+v", vs[0])
		}
	})
	t.Run("an exit already explained frees no kill", func(t *testing.T) {
		runs := []Run{{Unit: "a.service", Invocation: "ia", Start: at(0), End: at(3), Exits: []time.Time{at(2.5)}}}
		procs := []journal.Process{{PID: 100, Exe: "/opt/a", Unit: "a.service", Invocation: "ia", First: at(1)}}
		vs := []evidence.Violation{kill(100, "/opt/a", 2), kill(555, "/opt/a", 2.2)}
		Attribute(vs, Facts{Runs: runs, Processes: procs})
		if vs[0].How.Method != evidence.ByJournalPID || vs[1].Unit != "" {
			t.Errorf("%+v / %+v", vs[0], vs[1])
		}
	})
	t.Run("an exit far from the kill", func(t *testing.T) {
		runs := []Run{{Unit: "a.service", Invocation: "ia", Exits: []time.Time{at(20)}}}
		vs := []evidence.Violation{kill(100, "/opt/a", 2)}
		Attribute(vs, Facts{Runs: runs})
		if vs[0].Unit != "" {
			t.Errorf("%+v", vs[0])
		}
	})
}

func TestAttributeKeepsCoredumpUnits(t *testing.T) {
	cores := []journal.Coredump{{PID: 100, Signal: journal.SIGSYS, Time: at(2).Truncate(time.Second), Unit: "c.service", Invocation: "ic"}}
	recs := []audit.Record{{PID: 100, Time: at(2.2), Action: audit.ActionKillProcess, Syscall: 93, Name: "fchown", Serial: 7, Source: "audit.log"}}
	vs := evidence.Merge(recs, cores, nil)
	runs := []Run{{Unit: "a.service", Invocation: "ia", MainPID: 100, Exits: []time.Time{at(2.5)}}}
	Attribute(vs, Facts{Runs: runs})
	if len(vs) != 1 || vs[0].Unit != "c.service" || vs[0].How.Method != evidence.ByCoredump || vs[0].How.Invocation != "ic" {
		t.Errorf("%+v", vs)
	}
}

func TestAttributeForeignPIDs(t *testing.T) {
	runs := []Run{{Unit: "a.service", Invocation: "i1", Start: at(0), Running: true, MainPID: 100, Exits: []time.Time{at(2.5)}, Programs: []string{"/usr/bin/a"}}}
	procs := []journal.Process{{PID: 200, Exe: "/usr/bin/helper", Unit: "a.service", Invocation: "i1", First: at(1)}}
	vs := []evidence.Violation{kill(100, "/usr/bin/a", 2), kill(200, "/usr/bin/helper", 3)}
	Attribute(vs, Facts{Runs: runs, Processes: procs, ForeignPIDs: true})
	if vs[0].Unit != "a.service" || vs[0].How.Method != evidence.ByMainExit {
		t.Errorf("a SIGSYS exit needs no pid: %+v", vs[0])
	}
	if vs[1].Unit != "" || !strings.Contains(vs[1].How.Detail, "PID namespace") {
		t.Errorf("no pid ties across namespaces: %+v", vs[1])
	}
}

func TestAttributeMainExitNeighbours(t *testing.T) {
	// Kills of one program a second apart, each unit's exit just after its own kill: the exits fit the
	// neighbours' kills too, but one by one each pair is the only fit once the other is tied.
	runs := []Run{
		{Unit: "a.service", Invocation: "ia", Exits: []time.Time{at(0.3)}, Programs: []string{"/opt/p"}},
		{Unit: "b.service", Invocation: "ib", Exits: []time.Time{at(1.6)}, Programs: []string{"/opt/p"}},
	}
	vs := []evidence.Violation{kill(100, "/opt/p", 0.2), kill(101, "/opt/p", 1.5)}
	Attribute(vs, Facts{Runs: runs})
	if vs[0].Unit != "a.service" || vs[1].Unit != "b.service" {
		t.Errorf("%+v / %+v", vs[0].How, vs[1].How)
	}
}

func TestAttributeMainExitNotBeforeTheRun(t *testing.T) {
	// A silent child of another unit killed just before this run began fits the exit's time, not the run.
	runs := []Run{{Unit: "a.service", Invocation: "ia", Start: at(1), End: at(1.2), Exits: []time.Time{at(1.1)}, Programs: []string{"/opt/p"}}}
	vs := []evidence.Violation{kill(100, "/opt/p", 0.5), kill(101, "/opt/p", 1.05)}
	Attribute(vs, Facts{Runs: runs})
	if vs[0].Unit != "" || vs[1].Unit != "a.service" {
		t.Errorf("%+v / %+v", vs[0].How, vs[1].How)
	}
}

// A child killed right after its last stdout line: journald (252, measured in the guest) read its
// credentials' pid and comm but found /proc/PID/exe gone, so the entry has _PID and _COMM, no _EXE.
func TestAttributeJournalPIDWithoutExe(t *testing.T) {
	runs := []Run{{Unit: "g-child.service", Invocation: "fb7e8755", Start: at(0), End: at(10)}}
	procs := journal.Processes([]journal.Fields{{
		"_PID": "375", "_COMM": "probe", "_SYSTEMD_UNIT": "g-child.service", "_SYSTEMD_INVOCATION_ID": "fb7e8755",
		"__REALTIME_TIMESTAMP": fmt.Sprint(at(2).UnixMicro()), "MESSAGE": "probe[375]: calling fchown", "_TRANSPORT": "stdout",
	}})
	vs := []evidence.Violation{kill(375, "/opt/sysdiag/probe", 2.01), kill(375, "/usr/bin/chown", 2.02)}
	vs[0].Comm, vs[1].Comm = "probe", "chown"
	Attribute(vs, Facts{Runs: runs, Processes: procs})
	if vs[0].Unit != "g-child.service" || vs[0].How.Method != evidence.ByJournalPID || !strings.Contains(vs[0].How.Detail, `named "probe" in both`) {
		t.Errorf("pid and comm: %+v", vs[0].How)
	}
	if vs[1].Unit != "" {
		t.Errorf("the pid with another comm must not be tied: %+v", vs[1])
	}
}

// Two hosts in one journal (journal-remote's): the same pid and program on both, each with its own run.
// A kill is tied to its own host's run only; an exit of one host does not explain the other's kill.
func TestAttributeAcrossHosts(t *testing.T) {
	a := journal.Host{Hostname: "web", MachineID: "aaaa"}
	b := journal.Host{Hostname: "web", MachineID: "bbbb"}
	runs := []Run{
		{Unit: "a.service", Invocation: "ia", Start: at(0), Running: true, MainPID: 100, Host: a},
		{Unit: "b.service", Invocation: "ib", Start: at(0), Running: true, MainPID: 100, Host: b},
		{Unit: "x.service", Invocation: "ix", Start: at(0), End: at(30), Exits: []time.Time{at(20.5)}, Host: a},
	}
	vs := []evidence.Violation{kill(100, "/usr/bin/a", 5), kill(100, "/usr/bin/a", 6), kill(300, "/usr/bin/x", 20)}
	vs[0].Node, vs[0].Machine = "web", "bbbb"
	vs[1].Node, vs[1].Machine = "web", "aaaa"
	vs[2].Node, vs[2].Machine = "web", "bbbb"
	Attribute(vs, Facts{Runs: runs})
	if vs[0].Unit != "b.service" || vs[1].Unit != "a.service" {
		t.Errorf("main pid across hosts: %q %q", vs[0].Unit, vs[1].Unit)
	}
	if vs[2].Unit != "" {
		t.Errorf("host aaaa's exit tied host bbbb's kill: %+v", vs[2].How)
	}
}
