package e2e

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

type checkJSON struct {
	Programs []struct {
		Path    string  `json:"path"`
		Error   string  `json:"error"`
		Seconds float64 `json:"seconds"`
		Reached []struct {
			Syscall string `json:"syscall"`
		} `json:"reached"`
	} `json:"programs"`
	Blocked []struct {
		Syscall    string `json:"syscall"`
		Confidence string `json:"confidence"`
		Implicit   string `json:"implicit"`
	} `json:"blocked"`
	Fix *struct {
		Allow    []string `json:"allow"`
		Verified bool     `json:"verified"`
	} `json:"fix"`
}

// checkUnit runs sysdiag check on a unit of the bed and returns its answer and exit status.
func checkUnit(t *testing.T, unit string, extra ...string) (checkJSON, int) {
	t.Helper()
	out, code := sysdiagInAny(t, nil, append([]string{"check", "--json", unit}, extra...)...)
	var cj checkJSON
	i := strings.Index(string(out), "{")
	if i < 0 || json.Unmarshal(out[i:strings.LastIndex(string(out), "}")+1], &cj) != nil {
		t.Fatalf("check %s: exit %d\n%s", unit, code, out)
	}
	return cj, code
}

// predictedSet is the calls check predicts SystemCallFilter= blocks (any confidence).
func predictedSet(cj checkJSON) map[string]string {
	m := map[string]string{}
	for _, b := range cj.Blocked {
		if b.Implicit == "" {
			m[b.Syscall] = b.Confidence
		}
	}
	return m
}

// The predictor against real runs: for units whose kills the suite produces elsewhere (a probe's swapon,
// sed -i's fchown, chown in an sh -c child, ncat's listener calls), a trial gives every call the filter
// blocks in one real run, and check — from the programs' code alone, before any run — must predict each.
func TestCheckPredictsRealKills(t *testing.T) {
	need(t)
	defer timed(t)()
	file := e2eRoot + "/check-sed.txt"
	os.WriteFile(file, []byte("hello\n"), 0o644)
	cases := []struct {
		unit, body string
		connect    string
	}{
		{"sysdiag-e2e-ck-probe.service", "[Service]\nType=oneshot\nExecStart=" + probe + " swapon ptrace\nSystemCallFilter=~@swap @debug\n", ""},
		{"sysdiag-e2e-ck-sed.service", "[Service]\nType=oneshot\nExecStart=/bin/sed -i s/hello/bye/ " + file + "\nSystemCallFilter=@system-service\nSystemCallFilter=~@chown\n", ""},
		{"sysdiag-e2e-ck-child.service", "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo start; chown root " + e2eRoot + "; echo still here'\nSystemCallFilter=~@chown\n", ""},
		{"sysdiag-e2e-ck-ncat.service", "[Service]\nExecStart=/usr/bin/ncat -l 127.0.0.1 47124\nSystemCallFilter=@system-service\nSystemCallFilter=~@network-io\n", "127.0.0.1:47124"},
	}
	for _, c := range cases {
		writeUnit(t, c.unit, c.body, false)
		cj, code := checkUnit(t, c.unit)
		if code != 4 {
			t.Errorf("%s: check exit %d, want 4 (kills predicted)", c.unit, code)
		}
		predicted := predictedSet(cj)
		done := trialAsync(t, c.unit, "--for", "20s", "--tighten=false")
		if c.connect != "" {
			connect(t, c.connect)
		}
		var tj trialJSON
		select {
		case tj = <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s: the trial did not end", c.unit)
		}
		var real []string
		for call := range trialCalls(tj) {
			real = append(real, call)
		}
		sort.Strings(real)
		var missed []string
		for _, call := range real {
			if predicted[call] == "" {
				missed = append(missed, call)
			}
		}
		if len(real) == 0 {
			t.Errorf("%s: the trial saw no blocked call", c.unit)
		}
		if len(missed) > 0 {
			t.Errorf("%s: check missed %v of the real %v", c.unit, missed, real)
		}
		hit := 0
		for p := range predicted {
			if trialCalls(tj)[p] > 0 {
				hit++
			}
		}
		secs := 0.0
		for _, p := range cj.Programs {
			secs += p.Seconds
		}
		t.Logf("%s: real %v; predicted %d (%d of them happened: precision %.0f%%), recall %d/%d, %.2fs",
			c.unit, real, len(predicted), hit, 100*float64(hit)/float64(max(1, len(predicted))), len(real)-len(missed), len(real), secs)
	}
}
