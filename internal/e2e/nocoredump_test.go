package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/internal/testbed"
	"github.com/sysdiag/sysdiag/journal"
)

// Hosts without systemd-coredump — Debian's and Ubuntu's default (core_pattern "core", or a pipe to a
// helper such as apport). The kernel's core pattern is global: each subtest sets it for the bed and puts
// the bed's systemd-coredump pattern back afterwards.
//
// What ties a kill to its unit there (attribute.Attribute): the manager's main pid, the process's own
// journal entries, or the unit's SIGSYS exit. The bed boots systemd in a PID namespace, like a
// container: its journal's and manager's pids are not the kernel's audit pids, so sysdiag (which runs
// in the bed) turns pid ties off and says so. The test probes which it is and checks that path.
func TestWhyWithoutSystemdCoredump(t *testing.T) {
	need(t)
	defer timed(t)()
	ns, err := bed.Exec(nil, "readlink", "/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	foreign := strings.TrimSpace(string(ns)) != "pid:[4026531836]"
	if foreign {
		t.Log("sysdiag runs in the bed's PID namespace: kills are tied by SIGSYS exits only, pid ties are off")
	} else {
		t.Log("sysdiag runs in the initial PID namespace: pid ties apply")
	}
	cores := filepath.Join(e2eRoot, "cores")
	if err := os.MkdirAll(cores, 0o755); err != nil {
		t.Fatal(err)
	}
	// The kernel runs a pipe helper in the initial mount namespace, from the host's root (not from a root
	// this suite may run in): a program every Debian host has, keeping each core under the shared /run.
	helperOut := "/run/sysdiag-e2e-core"
	os.Remove(helperOut)
	defer os.Remove(helperOut)
	progs := map[string]string{}
	for _, n := range []string{"a", "b"} {
		progs[n] = filepath.Join(e2eRoot, "bin", "probe-"+n)
		raw, _ := os.ReadFile(probe)
		if err := os.WriteFile(progs[n], raw, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	unitBody := func(exec string) string {
		return "[Service]\nType=oneshot\nWorkingDirectory=" + cores + "\nExecStart=" + exec + "\nSystemCallFilter=~@chown\n"
	}
	for _, k := range []struct{ name, pattern string }{{"core", "core"}, {"pipe", "|/usr/bin/tee " + helperOut}} {
		t.Run(k.name, func(t *testing.T) {
			setCorePattern(t, k.pattern)
			pre := "sysdiag-e2e-nc-" + k.name + "-"
			// events and watch must tie what why ties, by the same rules, and leave untied what it leaves
			// untied: watch follows the kills live in the bed (as why runs there), events reads them after.
			start := time.Now()
			wp := startWatchIn(t)
			tiedByWhy := map[string]string{} // unit → method, as why tied its kill

			// The main process killed.
			unit := pre + "main.service"
			writeUnit(t, unit, unitBody(probe+" fchown"), false)
			since := time.Now()
			if res := run(t, unit, false); res != "core-dump" && res != "signal" {
				t.Fatalf("Result=%s, want core-dump or signal", res)
			}
			waitJournal(t, since, "MESSAGE_ID="+journal.MessageUnitFailed, "UNIT="+unit)
			if n := coredumpsSince(t, since, unit); n != 0 {
				t.Fatalf("%d systemd-coredump entries: the core pattern did not take", n)
			}
			w, code := why(t, unit, false)
			if code != 0 || len(w.Violations) != 1 || w.Violations[0].Syscall != "fchown" {
				t.Fatalf("exit %d: %+v", code, w)
			}
			v := w.Violations[0]
			wantMethod := "main-pid"
			if foreign {
				wantMethod = "main-exit"
			}
			if has(v.Sources, "coredump") || v.AttributedBy == nil || v.AttributedBy.Method != wantMethod {
				t.Fatalf("sources %v, attributed by %+v, want %s", v.Sources, v.AttributedBy, wantMethod)
			}
			t.Logf("main process: %s — %s", v.AttributedBy.Method, v.AttributedBy.Detail)
			tiedByWhy[unit] = v.AttributedBy.Method
			fixAndRestart(t, unit, false)

			// A child killed, the unit succeeds.
			unit = pre + "child.service"
			writeUnit(t, unit, unitBody("/bin/sh -c '"+probe+" fchown; echo still here'"), false)
			since = time.Now()
			if res := run(t, unit, false); res != "success" {
				t.Fatalf("Result=%s, want success (only the child dies)", res)
			}
			waitJournal(t, since, "_SYSTEMD_UNIT="+unit, "MESSAGE=still here")
			waitRecord(t, since, 93)
			w, code = why(t, unit, false)
			if foreign {
				// No pid can tie it, no exit explains it: not guessed, and said so.
				if code != 1 || len(w.Violations) != 0 || !anyContains(w.Notes, "not tied to any unit") || !anyContains(w.Notes, "PID namespace") {
					t.Fatalf("a child kill that nothing ties must be a note, not a violation: exit %d %+v", code, w)
				}
				t.Logf("child: not attributed, as it must be here: %s", w.Notes[0])
			} else {
				if code != 0 || len(w.Violations) != 1 || w.Violations[0].AttributedBy == nil || w.Violations[0].AttributedBy.Method != "journal-pid" {
					t.Fatalf("exit %d %+v", code, w)
				}
				tiedByWhy[unit] = "journal-pid"
				fixAndRestart(t, unit, false)
			}

			// Two units killed in the same second: told apart by their programs.
			ua, ub := pre+"a.service", pre+"b.service"
			writeUnit(t, ua, unitBody(progs["a"]+" tick fchown"), false)
			writeUnit(t, ub, unitBody(progs["b"]+" tick fchown"), false)
			wa, wb := sameSecond(t, ua, ub)
			for _, c := range []struct {
				w    whyJSON
				prog string
			}{{wa, progs["a"]}, {wb, progs["b"]}} {
				if len(c.w.Violations) != 1 || c.w.Violations[0].Exe != c.prog || c.w.Violations[0].AttributedBy == nil || c.w.Violations[0].AttributedBy.Method != wantMethod {
					t.Fatalf("%s: %+v", c.w.Unit, c.w)
				}
			}
			t.Logf("same second: %s / %s", wa.Violations[0].AttributedBy.Detail, wb.Violations[0].AttributedBy.Detail)
			tiedByWhy[ua], tiedByWhy[ub] = wantMethod, wantMethod

			// …and two units of the same program in the same second: only a pid can tell them apart.
			uc, ud := pre+"c.service", pre+"d.service"
			writeUnit(t, uc, unitBody(probe+" tick fchown"), false)
			writeUnit(t, ud, unitBody(probe+" tick fchown"), false)
			wc, wd := sameSecond(t, uc, ud)
			if foreign {
				// Only kills close enough that either exit fits either are ambiguous. On a loaded machine
				// the two may die further apart than that: then each exit has one kill that fits and the
				// ties are right, not guesses — checked as such, and said.
				if apart, ok := killsApart(wc, wd); ok && apart > 150*time.Millisecond {
					if len(wc.Violations) != 1 || len(wd.Violations) != 1 || wc.Violations[0].AttributedBy.Method != "main-exit" || wd.Violations[0].AttributedBy.Method != "main-exit" {
						t.Fatalf("kills %v apart, each exit fits one kill: want each tied by main-exit: %+v / %+v", apart, wc, wd)
					}
					t.Logf("same program: the kills were %v apart under this load, each tied by its own exit (checked); the ambiguous case was not produced", apart)
				} else if len(wc.Violations) != 0 || !anyContains(wc.Notes, "not tied to any unit") {
					t.Fatalf("two kills of one program in one second must not be guessed: %+v", wc)
				}
			} else if len(wc.Violations) != 1 || wc.Violations[0].AttributedBy.Method != "main-pid" {
				t.Fatalf("%+v", wc)
			}
			for _, w := range []whyJSON{wc, wd} {
				if len(w.Violations) == 1 && w.Violations[0].AttributedBy != nil {
					tiedByWhy[w.Unit] = w.Violations[0].AttributedBy.Method
				}
			}
			sameTiesAsWhy(t, pre, start, wp, tiedByWhy)
		})
	}
	if fi, err := os.Stat(helperOut); err != nil || fi.Size() == 0 {
		t.Error("the pipe helper never ran: the pipe subtest did not test a pipe")
	}
}

// startWatchIn runs `sysdiag watch --json` inside the bed, where why runs: the kernel's records name the
// host's pids, so there too only the units' SIGSYS exits tie a kill. The process is killed at cleanup.
func startWatchIn(t *testing.T) *watchProc {
	t.Helper()
	// nsenter forks watch into the bed's PID namespace: both in a process group of their own, killed
	// together at cleanup (else watch lives on, holding the output pipe).
	cmd := exec.Command("nsenter", "-t", strconv.Itoa(bed.NSPid), "-m", "-p", "--", sysdiag, "watch", "--json")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	wp := runWatch(t, cmd)
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }) // runs before runWatch's Wait
	wp.stderr = &stderr
	var src struct {
		Type   string `json:"type"`
		Source string `json:"source"`
	}
	if !wp.next(&src, 15*time.Second) || src.Type != "source" {
		t.Fatalf("watch in the bed: no source line: %+v", src)
	}
	t.Logf("watch in the bed follows %s", src.Source)
	return wp
}

// sameTiesAsWhy checks that events (after the kills) and watch (live) tied exactly the units why tied, by
// the same method, and gave every kill of the scenario's units they left untied a reason.
func sameTiesAsWhy(t *testing.T, pre string, since time.Time, wp *watchProc, want map[string]string) {
	t.Helper()
	type seen struct {
		Type string `json:"type"`
		Unit string `json:"unit"`
		PID  int    `json:"pid"`
		Exe  string `json:"exe"`
		How  *struct {
			Method string `json:"method"`
			Detail string `json:"detail"`
		} `json:"attributed_by"`
	}
	check := func(front string, vs []seen) bool {
		failed := t.Failed()
		got := map[string]string{}
		for _, v := range vs {
			if !strings.Contains(v.Exe, "/probe") {
				continue // not the scenario's
			}
			switch {
			case v.Unit == "":
				if v.How == nil || v.How.Detail == "" {
					t.Errorf("%s: kill of pid %d (%s) left untied without a reason", front, v.PID, v.Exe)
				}
			case strings.HasPrefix(v.Unit, pre):
				method := ""
				if v.How != nil {
					method = v.How.Method
				}
				got[v.Unit] = method
			}
		}
		for u, m := range want {
			if got[u] != m {
				t.Errorf("%s: %s tied by %q, why ties it by %q", front, u, got[u], m)
			}
		}
		for u, m := range got {
			if _, ok := want[u]; !ok {
				t.Errorf("%s: tied a kill to %s (%s), which why does not", front, u, m)
			}
		}
		t.Logf("%s: tied %v, as why", front, got)
		return failed || !t.Failed()
	}
	out, _ := sysdiagIn(t, nil, "events", "--json", "--since", epoch(since.Add(-time.Second)))
	var ev struct{ Violations []seen }
	if err := json.Unmarshal(out, &ev); err != nil {
		t.Fatalf("events --json: %v\n%s", err, out)
	}
	_ = check("events", ev.Violations)
	// watch decides a kill whose process was gone up to 3 s after it arrived: take what it printed until
	// it has been quiet for longer than that.
	var live []seen
	for {
		var v seen
		if !wp.next(&v, 4*time.Second) {
			break
		}
		if v.Type == "violation" {
			live = append(live, v)
		}
	}
	if !check("watch", live) {
		for _, v := range live {
			how := "(none)"
			if v.How != nil {
				how = v.How.Method + ": " + v.How.Detail
			}
			t.Logf("watch saw pid %d %s unit %q — %s", v.PID, v.Exe, v.Unit, how)
		}
		if wp.stderr != nil {
			t.Logf("watch's stderr: %s", wp.stderr.String())
		}
	}
}

// sameSecond starts two units together (each sleeps to just past the next full second, then dies) and
// returns why's answer for each; it retries once if the kills missed a common second.
func sameSecond(t *testing.T, a, b string) (whyJSON, whyJSON) {
	t.Helper()
	for try := 0; ; try++ {
		since := time.Now()
		bed.Systemctl("reset-failed", a, b)
		bed.Systemctl("start", "--no-block", a, b)
		for _, u := range []string{a, b} {
			if _, err := bed.WaitDone(u, false, 15*time.Second); err != nil {
				t.Fatal(err)
			}
			waitJournal(t, since, "MESSAGE_ID="+journal.MessageUnitFailed, "UNIT="+u)
		}
		wa, _ := why(t, a, false)
		wb, _ := why(t, b, false)
		secs := map[string]bool{}
		for _, w := range []whyJSON{wa, wb} {
			for _, v := range w.Violations {
				secs[v.Time[:19]] = true
			}
			for _, n := range w.Notes {
				if strings.Contains(n, "not tied") {
					secs["ambiguous"] = true
				}
			}
		}
		if len(secs) <= 1 || try == 1 {
			if len(secs) > 1 {
				t.Logf("the two kills fell into different seconds twice: %v", secs)
			}
			return wa, wb
		}
	}
}

// killsApart is how far apart the two units' kills were, when both were tied (each why found its kill).
func killsApart(a, b whyJSON) (time.Duration, bool) {
	if len(a.Violations) != 1 || len(b.Violations) != 1 {
		return 0, false
	}
	ta, err1 := time.Parse(time.RFC3339Nano, a.Violations[0].Time)
	tb, err2 := time.Parse(time.RFC3339Nano, b.Violations[0].Time)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (ta.Sub(tb)).Abs(), true
}

func anyContains(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// setCorePattern points the kernel's (global) core pattern at p for this test and puts the previous
// one back afterwards.
func setCorePattern(t *testing.T, p string) {
	t.Helper()
	const f = "/proc/sys/kernel/core_pattern"
	was, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(f, []byte(strings.TrimSpace(string(was))), 0o644); err != nil {
			t.Errorf("putting back the core pattern: %v", err)
		}
	})
}

// waitRecord waits for the SECCOMP record of an x86_64 syscall in the bed's journal: from journald's audit
// socket where it has one (252), else as a kernel-log line (257 does not enable the audit socket).
func waitRecord(t *testing.T, since time.Time, nr int) {
	t.Helper()
	field := fmt.Sprintf("syscall=%d ", nr)
	if !testbed.Poll(15*time.Second, func() bool {
		r, err := journal.Open(bedJournal())
		if err != nil {
			return false
		}
		defer r.Close()
		found := false
		_ = r.Query([]string{"_TRANSPORT=audit", "_AUDIT_TYPE=1326", fmt.Sprintf("_AUDIT_FIELD_SYSCALL=%d", nr)}, since, time.Time{}, func(journal.Fields) error {
			found = true
			return journal.ErrStop
		})
		_ = r.Query([]string{"_TRANSPORT=kernel"}, since, time.Time{}, func(f journal.Fields) error {
			if m := f["MESSAGE"]; strings.Contains(m, "type=1326") && strings.Contains(m, field) {
				found = true
				return journal.ErrStop
			}
			return nil
		})
		return found
	}) {
		t.Fatalf("no SECCOMP record of syscall %d in the journal since %s", nr, since.Format(time.RFC3339Nano))
	}
}
