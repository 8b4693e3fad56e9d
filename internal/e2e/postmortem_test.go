package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/internal/testbed"
	"github.com/sysdiag/sysdiag/journal"
)

type postmortemJSON struct {
	Hosts []struct {
		Host  string `json:"host"`
		Units []struct {
			Unit  string `json:"unit"`
			User  bool   `json:"user"`
			Kills int    `json:"kills"`
			Calls []struct {
				Syscall string `json:"syscall"`
				Count   int    `json:"count"`
			} `json:"calls"`
			NRestarts  *uint32 `json:"n_restarts"`
			Violations []struct {
				Syscall   string `json:"syscall"`
				BlockedBy struct {
					Cause string `json:"cause"`
				} `json:"blocked_by"`
			} `json:"violations"`
			Fix *struct {
				Dropin     string `json:"dropin"`
				DropinPath string `json:"dropin_path"`
				Verified   bool   `json:"verified"`
				Written    bool   `json:"written"`
			} `json:"fix"`
		} `json:"units"`
	} `json:"hosts"`
	Unattributed []struct {
		PID int `json:"pid"`
	} `json:"unattributed"`
	Silent []struct {
		Unit string `json:"unit"`
	} `json:"silent"`
}

func postmortem(t *testing.T, args ...string) (postmortemJSON, int) {
	t.Helper()
	out, err := bed.Exec(nil, append([]string{sysdiag, "postmortem", "--json"}, args...)...)
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errorsAs(err, &ee) {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	var pm postmortemJSON
	if err := json.Unmarshal(out, &pm); err != nil {
		t.Fatalf("postmortem --json (exit %d): %v\n%s\n%v", code, err, out, err)
	}
	return pm, code
}

// A deploy on the bed: seven units started at once after T0 — allow list, deny list, a child killed while
// its unit succeeds, a restart loop, a unit that fails quietly under SystemCallErrorNumber=EPERM, a
// healthy one, a --user unit — and one unit killed before T0. postmortem --since T0 lists exactly the killed ones, folds
// the loop, keeps the early one out and the quiet one under silent, exits 4, and --write fixes them all.
func TestPostmortemDeploy(t *testing.T) {
	need(t)
	defer timed(t)()
	pre := "sysdiag-e2e-pm-"
	svc := func(body string) string { return "[Service]\nType=oneshot\n" + body }
	early := pre + "early.service"
	writeUnit(t, early, svc("ExecStart="+probe+" fchown\nSystemCallFilter=~@chown\n"), false)
	if res := run(t, early, false); res != "core-dump" {
		t.Fatalf("%s: Result=%s", early, res)
	}
	waitCore(t, suiteStart, early, false)
	time.Sleep(1100 * time.Millisecond) // T0 a second after the early kill: the window starts at a second

	units := map[string]string{
		pre + "allow.service": svc("ExecStart=" + probe + " ptrace\nSystemCallFilter=@system-service\n"),
		pre + "deny.service":  svc("ExecStart=" + probe + " fchown\nSystemCallFilter=~@chown\n"),
		pre + "child.service": svc("ExecStart=/bin/sh -c '" + probe + " fchown; echo survived'\nSystemCallFilter=~@chown\n"),
		pre + "loop.service": "[Unit]\nStartLimitIntervalSec=60\nStartLimitBurst=4\n[Service]\nType=simple\nRestart=on-failure\nRestartSec=200ms\n" +
			"ExecStart=" + probe + " swapon\nSystemCallFilter=~@swap\n",
		pre + "quiet.service":   svc("ExecStart=" + probe + " strict mount\nSystemCallFilter=~@mount\nSystemCallErrorNumber=EPERM\n"),
		pre + "healthy.service": svc("ExecStart=" + probe + " socket\n"),
	}
	var names []string
	for n, body := range units {
		writeUnit(t, n, body, false)
		names = append(names, n)
	}
	// And a --user unit of root's manager.
	userManager(t)
	userUnit := pre + "user.service"
	writeUnit(t, userUnit, svc("ExecStart="+probe+" fchown\nSystemCallFilter=~@chown\n"), true)
	t0 := time.Now()
	bed.UserSystemctl("start", "--no-block", userUnit)
	bed.Systemctl(append([]string{"start", "--no-block"}, names...)...)
	for _, n := range names {
		if _, err := bed.WaitDone(n, false, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// The loop dies until the start limit stops it: wait for its last restart to be over.
	if !testbed.Poll(30*time.Second, func() bool {
		found := false
		r, err := journal.Open(bedJournal())
		if err != nil {
			return false
		}
		defer r.Close()
		_ = r.Query([]string{"UNIT=" + pre + "loop.service"}, t0, time.Time{}, func(f journal.Fields) error {
			if strings.Contains(f["MESSAGE"], "Start request repeated too quickly") {
				found = true
			}
			return nil
		})
		return found
	}) {
		t.Fatal("the restart loop never hit its start limit")
	}
	for _, n := range []string{"allow", "deny", "child"} {
		waitJournal(t, t0, "MESSAGE_ID="+journal.MessageCoredump, "COREDUMP_UNIT="+pre+n+".service")
	}
	waitJournal(t, t0, "MESSAGE_ID="+journal.MessageUnitFailed, "UNIT="+pre+"quiet.service")
	waitCore(t, t0, userUnit, true)

	pm, code := postmortem(t, "--since", epoch(t0), "--unit", pre+"*")
	if code != 4 {
		t.Errorf("exit %d, want 4 (units killed)", code)
	}
	got := map[string]int{}
	calls := map[string]string{}
	for _, h := range pm.Hosts {
		for _, u := range h.Units {
			if u.User != (u.Unit == userUnit) {
				t.Errorf("%s: user %v", u.Unit, u.User)
			}
			got[u.Unit] = u.Kills
			var cs []string
			for _, c := range u.Calls {
				cs = append(cs, c.Syscall)
			}
			calls[u.Unit] = strings.Join(cs, " ")
			if u.Fix == nil || !u.Fix.Verified {
				t.Errorf("%s: no verified fix: %+v", u.Unit, u.Fix)
			}
		}
	}
	want := map[string]string{pre + "allow.service": "ptrace", pre + "deny.service": "fchown", pre + "child.service": "fchown", pre + "loop.service": "swapon",
		userUnit: "fchown"}
	for u, c := range want {
		if calls[u] != c {
			t.Errorf("%s: calls %q, want %q", u, calls[u], c)
		}
	}
	if len(got) != len(want) {
		t.Errorf("units %v, want exactly %v (the early and the healthy one absent)", got, want)
	}
	if got[pre+"loop.service"] < 2 {
		t.Errorf("the restart loop: %d kills, want it folded from several", got[pre+"loop.service"])
	}
	if len(pm.Silent) != 1 || pm.Silent[0].Unit != pre+"quiet.service" {
		t.Errorf("silent: %+v, want the quiet unit", pm.Silent)
	}
	t.Logf("postmortem: %v; silent %+v", got, pm.Silent)

	// --write, reload, restart: every killed unit gets past its calls.
	pm, _ = postmortem(t, "--since", epoch(t0), "--unit", pre+"*", "--write")
	for _, h := range pm.Hosts {
		for _, u := range h.Units {
			if u.Fix == nil || !u.Fix.Written {
				t.Fatalf("%s: not written: %+v", u.Unit, u.Fix)
			}
			bed.Forget(u.Fix.DropinPath)
		}
	}
	reload(t, false)
	reload(t, true)
	for u := range want {
		if u == userUnit {
			if res := run(t, u, true); res != "success" {
				t.Errorf("%s after the drop-in: Result=%s", u, res)
			}
			continue
		}
		since := time.Now()
		if res := run(t, u, false); res != "success" {
			t.Errorf("%s after the drop-in: Result=%s", u, res)
		}
		if n := coredumpsSince(t, since, u); n != 0 {
			t.Errorf("%s still killed after the drop-in", u)
		}
	}
}
