package e2e

import (
	"encoding/json"
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
				seen[l.Unit] = l.Syscall
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
