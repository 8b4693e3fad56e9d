package e2e

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// watch --source audit-log follows auditd's log (and --since first replays the journal): the replayed
// kill and the live one both show, with their units.
func TestWatchAuditLogAndReplay(t *testing.T) {
	need(t)
	defer timed(t)()
	writeUnit(t, "sysdiag-e2e-wr-old.service", "[Service]\nType=oneshot\nExecStart="+probe+" swapon\nSystemCallFilter=~@swap\n", false)
	writeUnit(t, "sysdiag-e2e-wr-new.service", "[Service]\nType=oneshot\nExecStart="+probe+" fchown\nSystemCallFilter=~@chown\n", false)
	since := time.Now()
	run(t, "sysdiag-e2e-wr-old.service", false)
	waitCore(t, since, "sysdiag-e2e-wr-old.service", false)
	if err := bed.StartAuditd(); err != nil {
		t.Fatal(err)
	}
	defer bed.StopAuditd()
	w := startWatch(t, "--source", "audit-log", "--since", epoch(since), "--root", "/", "--systemd-version", "252.39")
	type line struct {
		Type, Unit, Syscall, Source string
	}
	// Only this test's two units count: a --since replay may also show another test's kill of the same
	// second (a flake seen once: the loop stopped at two units before this test's second kill came).
	mine := map[string]bool{"sysdiag-e2e-wr-old.service": true, "sysdiag-e2e-wr-new.service": true}
	seen := map[string]string{}
	started := false
	deadline := time.After(20 * time.Second)
	for len(seen) < 2 {
		select {
		case raw, ok := <-w.lines:
			if !ok {
				t.Fatalf("watch ended; saw %v", seen)
			}
			var l line
			json.Unmarshal(raw, &l)
			switch l.Type {
			case "source":
				if l.Source != "/var/log/audit/audit.log" {
					t.Errorf("source %q", l.Source)
				}
				if _, ok := seen["sysdiag-e2e-wr-old.service"]; !ok {
					t.Error("the replay did not come before following")
				}
				started = true
				run(t, "sysdiag-e2e-wr-new.service", false)
			case "violation":
				if mine[l.Unit] {
					seen[l.Unit] = l.Syscall
				}
			}
		case <-deadline:
			t.Fatalf("saw %v (following: %v)", seen, started)
		}
	}
	if seen["sysdiag-e2e-wr-old.service"] != "swapon" || seen["sysdiag-e2e-wr-new.service"] != "fchown" {
		t.Errorf("%v", seen)
	}
	w.stop()
}

// watch --source journal follows journald's audit transport; the human line names unit, call and fix.
func TestWatchJournalSourceHuman(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-wj.service"
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart="+probe+" ptrace\nSystemCallFilter=@system-service\n", false)
	cmd := exec.Command(sysdiag, "watch", "--source", "journal", "--root", "/", "--systemd-version", "252.39")
	out, _ := cmd.StdoutPipe()
	errp, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// "watching …" on stderr comes once the follower is at the journal's end.
	esc := bufio.NewScanner(errp)
	if !esc.Scan() || !strings.Contains(esc.Text(), "watching journald's audit transport") {
		t.Fatalf("stderr: %q", esc.Text())
	}
	run(t, unit, false)
	select {
	case l := <-lines:
		for _, want := range []string{unit, "ptrace (x86_64 101)", "@debug", "kill-process", "fix: SystemCallFilter=ptrace"} {
			if !strings.Contains(l, want) {
				t.Errorf("line lacks %q: %s", want, l)
			}
		}
	case <-time.After(15 * time.Second):
		t.Fatal("nothing printed")
	}
	cmd.Process.Signal(syscall.SIGINT)
	go func() {
		for esc.Scan() {
		}
	}()
	cmd.Wait()
}
