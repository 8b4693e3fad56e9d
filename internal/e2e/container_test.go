package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/testbed"
	"github.com/sysdiag/sysdiag/journal"
)

// Kills in a system container tied to their units (issue 22). The bed is a container bed
// (testbed.Options.Container): Debian 13's systemd 257 as PID 1 of its own PID namespace, with its own
// systemd-coredump, and the root's 257 helper as the kernel's core pattern, which forwards each core
// into the bed exactly as a real 257 host forwards it into an nspawn container (systemd's
// forward_coredump_to_container). The bed's entry names the container's pid (COREDUMP_FORWARDED=1,
// NSpid: that pid alone); the kernel's record the host's. sysdiag joins them by executable and second
// (evidence: ByForwarded).
//
// Run it alone on such a bed:
//
//	SYSDIAG_E2E_ROOT=<Debian 13 root with systemd-coredump> SYSDIAG_TESTBED_CONTAINER=1 go test -count=1 -v -run TestContainer ./internal/e2e
//
// On any other bed it says so and does nothing.

const ctPrefix = "sysdiag-e2e-ct-"

const forwardedMethod = "coredump-forwarded"

// ctViolation is the JSON violation events, why and watch share, with the fields this test reads.
type ctViolation struct {
	Unit         string   `json:"unit"`
	PID          int      `json:"pid"`
	Exe          string   `json:"exe"`
	Syscall      string   `json:"syscall"`
	Groups       []string `json:"groups"`
	Sources      []string `json:"sources"`
	Time         string   `json:"time"`
	AttributedBy *struct {
		Method string `json:"method"`
		Detail string `json:"detail"`
	} `json:"attributed_by"`
}

func (v ctViolation) how() string {
	if v.AttributedBy == nil {
		return "(no attributed_by)"
	}
	return v.AttributedBy.Method + ": " + v.AttributedBy.Detail
}

func (v ctViolation) forwarded() bool {
	return v.AttributedBy != nil && v.AttributedBy.Method == forwardedMethod && strings.Contains(v.AttributedBy.Detail, "joined by executable and second")
}

type ctKill struct {
	unit, prog, call string
	child            bool // killed in a child: the unit goes on and succeeds
}

func TestContainerForwardedKills(t *testing.T) {
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
	ci := bed.Container()
	if ci == nil {
		t.Skipf("NOT RUN: this needs the container bed (SYSDIAG_E2E_ROOT=<Debian 13 root with systemd-coredump> %s=1, -run TestContainer); this bed runs systemd %s from %q",
			testbed.ContainerEnv, bedVersion, bedRoot)
	}
	defer timed(t)()
	host, _ := os.Hostname()
	t.Logf("machine: host %s; bed: systemd %s from %s\n%s", host, bedVersion, bedRoot, ci.Describe())

	bin := filepath.Join(e2eRoot, "bin")
	prog := func(name string) string {
		p := filepath.Join(bin, "probe-ct-"+name)
		raw, _ := os.ReadFile(probe)
		if err := os.WriteFile(p, raw, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// One program per unit: the join is by executable and second.
	kills := []ctKill{
		{ctPrefix + "main.service", prog("main"), "fchown", false},
		{ctPrefix + "child.service", prog("child"), "fchown", true},
		{ctPrefix + "a.service", prog("a"), "fchown", false},
		{ctPrefix + "b.service", prog("b"), "swapon", false},
	}
	cores := filepath.Join(e2eRoot, "cores")
	_ = os.MkdirAll(cores, 0o755)
	filter := map[string]string{"fchown": "~@chown", "swapon": "~@swap"}
	for _, k := range kills {
		cmdline := k.prog + " " + k.call
		switch {
		case k.child:
			cmdline = "/bin/sh -c '" + k.prog + " " + k.call + "; echo still here'"
		case strings.HasSuffix(k.unit, "-a.service") || strings.HasSuffix(k.unit, "-b.service"):
			cmdline = k.prog + " tick " + k.call // both die just past the same full second
		}
		writeUnit(t, k.unit, "[Unit]\nDescription=container kill\n[Service]\nType=oneshot\nWorkingDirectory="+cores+"\nExecStart="+cmdline+
			"\nSystemCallFilter="+filter[k.call]+"\n", false)
	}

	// watch follows the bed's journal directory from the host while the kills happen.
	jdir := filepath.Join(bedRoot, "var/log/journal")
	w := startWatch(t, "--journal-dir", jdir, "--root", bedRoot, "--systemd-version", bedVersion)
	var src struct {
		Type   string `json:"type"`
		Source string `json:"source"`
	}
	if !w.next(&src, 15*time.Second) || src.Type != "source" {
		t.Fatalf("watch --journal-dir: no source line: %+v", src)
	}
	t.Logf("watch source: %s", src.Source)

	since := time.Now()
	if res := run(t, kills[0].unit, false); res != "core-dump" {
		t.Fatalf("%s: Result=%s, want core-dump", kills[0].unit, res)
	}
	if res := run(t, kills[1].unit, false); res != "success" {
		t.Fatalf("%s: Result=%s, want success (only the child dies)", kills[1].unit, res)
	}
	bed.Systemctl("reset-failed", kills[2].unit, kills[3].unit)
	if _, err := bed.Systemctl("start", "--no-block", kills[2].unit, kills[3].unit); err != nil {
		t.Fatal(err)
	}
	for _, k := range kills[2:] {
		if _, err := bed.WaitDone(k.unit, false, 15*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	// The bed's journal: a forwarded entry per unit, naming the container's pid; the kernel's record the host's.
	recPID := map[string]int{}
	recTime := map[string]time.Time{}
	for _, k := range kills {
		f := waitJournal(t, since, "MESSAGE_ID="+journal.MessageCoredump, "COREDUMP_UNIT="+k.unit)
		c, err := journal.ParseCoredump(f)
		if err != nil {
			t.Fatal(err)
		}
		r := waitRecordOf(t, since, k.prog)
		recPID[k.unit], recTime[k.unit] = r.PID, r.Time
		t.Logf("%s: entry COREDUMP_PID=%d NSpid %v FORWARDED=%q BY_PIDFD=%q CGROUP=%s _MACHINE_ID=%s; record pid=%d %s at %s",
			k.unit, c.PID, c.NSPids, f["COREDUMP_FORWARDED"], f["COREDUMP_BY_PIDFD"], c.Cgroup, f["_MACHINE_ID"], r.PID, r.Name, r.Time.Format("15:04:05.000"))
		if !c.Forwarded || c.PID == r.PID || len(c.NSPids) != 1 || c.NSPids[0] != c.PID || c.Exe != k.prog || c.Cgroup != "/system.slice/"+k.unit {
			t.Fatalf("%s: not a forwarded entry of the container's pid: %+v", k.unit, f)
		}
		if r.Name != k.call {
			t.Fatalf("%s: the record's call is %s, want %s", k.unit, r.Name, k.call)
		}
	}
	if a, b := recTime[kills[2].unit], recTime[kills[3].unit]; a.Unix() == b.Unix() {
		t.Logf("two units killed in one second (%s): %s and %s", a.Format("15:04:05"), a.Format(".000"), b.Format(".000"))
	} else {
		t.Logf("the two units' kills fell into different seconds on this machine (%s, %s): each is still its own program's", a.Format("15:04:05.000"), b.Format("15:04:05.000"))
	}
	if out, err := exec.Command("dmesg").Output(); err == nil {
		for _, k := range kills {
			if line := fmt.Sprintf("Process %d (probe-ct-", recPID[k.unit]); strings.Contains(string(out), line) {
				t.Logf("host kernel log has the 257 helper's line for host pid %d", recPID[k.unit])
			}
		}
	}

	check := func(front string, k ctKill, v ctViolation) {
		t.Helper()
		if v.Unit != k.unit || v.Syscall != k.call || len(v.Groups) == 0 || !v.forwarded() || v.PID != recPID[k.unit] {
			t.Errorf("%s %s: %+v, how %s", front, k.unit, v, v.how())
		}
	}

	// watch: each kill once, tied to its unit, with the fix.
	type watchViolation struct {
		Type string `json:"type"`
		ctViolation
		Fix *struct {
			Allow []string `json:"allow"`
		} `json:"fix"`
	}
	seen := map[string]watchViolation{}
	for deadline := time.Now().Add(20 * time.Second); len(seen) < len(kills) && time.Now().Before(deadline); {
		var l watchViolation
		if !w.next(&l, time.Until(deadline)) {
			break
		}
		if l.Type == "violation" && strings.HasPrefix(l.Unit, ctPrefix) {
			seen[l.Unit] = l
		}
	}
	w.stop()
	for _, k := range kills {
		l, ok := seen[k.unit]
		if !ok {
			t.Errorf("watch --journal-dir: no violation of %s (saw %d of ours)", k.unit, len(seen))
			continue
		}
		check("watch", k, l.ctViolation)
		if l.Fix == nil || len(l.Fix.Allow) != 1 || l.Fix.Allow[0] != k.call {
			t.Errorf("watch %s: fix %+v", k.unit, l.Fix)
		}
	}

	// events (on the host: the bed's journal directory and the kernel's log).
	out, _ := sysdiagOut(t, "events", "--json", "--journal-dir", jdir, "--since", epoch(since), "--systemd-version", bedVersion)
	var ev struct {
		Violations []ctViolation `json:"violations"`
	}
	if err := json.Unmarshal(out, &ev); err != nil {
		t.Fatalf("events --json: %v\n%s", err, out)
	}
	for _, k := range kills {
		n := 0
		for _, v := range ev.Violations {
			if v.Exe == k.prog {
				n++
				check("events", k, v)
			}
		}
		if n != 1 {
			t.Errorf("events: %d violations of %s, want 1", n, k.prog)
		}
	}

	// why, in the bed (its manager and journal), with the 257 table and a verified fix.
	for _, k := range kills {
		raw, code := sysdiagIn(t, nil, "why", k.unit, "--json")
		var wj whyJSON
		var vs struct {
			Violations []ctViolation `json:"violations"`
		}
		if json.Unmarshal(raw, &wj) != nil || json.Unmarshal(raw, &vs) != nil {
			t.Fatalf("why %s --json: %s", k.unit, raw)
		}
		if code != 0 || len(vs.Violations) != 1 || !strings.HasPrefix(wj.Version, "257") || wj.Fix == nil || !wj.Fix.Verified ||
			len(wj.Fix.Allow) != 1 || wj.Fix.Allow[0] != k.call {
			t.Errorf("why %s: exit %d, version %s table %s, fix %+v, violations %+v", k.unit, code, wj.Version, wj.Table, wj.Fix, vs.Violations)
			continue
		}
		check("why", k, vs.Violations[0])
		t.Logf("why %s: %s (%s table %s) — %s", k.unit, vs.Violations[0].Syscall, wj.Version, wj.Table, vs.Violations[0].how())
	}

	// postmortem, in the bed: one fix per unit.
	raw, err := bed.Exec(nil, sysdiag, "postmortem", "--json", "--since", epoch(since))
	if err != nil {
		var ee *exec.ExitError
		if !errorsAs(err, &ee) {
			t.Fatal(err)
		}
	}
	var pm struct {
		Hosts []struct {
			Units []struct {
				Unit       string        `json:"unit"`
				Kills      int           `json:"kills"`
				Violations []ctViolation `json:"violations"`
				Fix        *struct {
					Verified bool `json:"verified"`
				} `json:"fix"`
			} `json:"units"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal(raw, &pm); err != nil {
		t.Fatalf("postmortem --json: %v\n%s", err, raw)
	}
	found := map[string]bool{}
	for _, h := range pm.Hosts {
		for _, u := range h.Units {
			for _, k := range kills {
				if u.Unit != k.unit {
					continue
				}
				found[k.unit] = true
				if u.Kills != 1 || len(u.Violations) != 1 || u.Fix == nil || !u.Fix.Verified {
					t.Errorf("postmortem %s: %+v", k.unit, u)
					continue
				}
				check("postmortem", k, u.Violations[0])
			}
		}
	}
	for _, k := range kills {
		if !found[k.unit] {
			t.Errorf("postmortem: no unit %s", k.unit)
		}
	}
	if t.Failed() {
		return
	}

	// The fix makes each failed unit run.
	for _, k := range []ctKill{kills[0], kills[2], kills[3]} {
		if _, res := writeAndRestart(t, k.unit, false); res != "success" {
			t.Errorf("%s after the fix: Result=%s", k.unit, res)
		}
	}
}

// waitRecordOf waits for the kill record of prog in the bed's journal (the audit transport, else the
// kernel log) and returns it.
func waitRecordOf(t *testing.T, since time.Time, prog string) audit.Record {
	t.Helper()
	var got audit.Record
	if !testbed.Poll(15*time.Second, func() bool {
		r, err := journal.Open(bedJournal())
		if err != nil {
			return false
		}
		defer r.Close()
		for _, m := range [][]string{{"_TRANSPORT=audit", "_AUDIT_TYPE=1326"}, {"_TRANSPORT=kernel"}} {
			_ = r.Query(m, since, time.Time{}, func(f journal.Fields) error {
				if rec, err := audit.FromJournal(f); err == nil && rec.Exe == prog && rec.Action.IsKill() {
					got = rec
					return journal.ErrStop
				}
				return nil
			})
			if got.PID != 0 {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no kill record of %s in the bed's journal since %s", prog, since.Format(time.RFC3339Nano))
	}
	return got
}
