package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/journal"
)

// The shipped sysdiag-watch.service runs under its own hardening (its own SystemCallFilter=, DynamicUser,
// ProtectSystem=strict, …): it must start, stay up through a kill it reports, and write JSON lines.
func TestWatchServiceHardened(t *testing.T) {
	need(t)
	defer timed(t)()
	raw, err := os.ReadFile("../dist/sysdiag-watch.service")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(raw), "/usr/local/bin/sysdiag", sysdiag, 1)
	writeUnit(t, "sysdiag-watch.service", body, false)
	writeUnit(t, "sysdiag-e2e-ws.service", "[Service]\nType=oneshot\nExecStart="+probe+" swapon\nSystemCallFilter=~@swap\n", false)
	since := time.Now()
	if _, err := bed.Systemctl("start", "sysdiag-watch.service"); err != nil {
		t.Fatal(err)
	}
	defer bed.Systemctl("stop", "sysdiag-watch.service")
	// If its own filter kills it, sysdiag says why (that is how this unit's filter was tuned).
	if pollT(2*time.Second, func() bool {
		r, _ := bed.Systemctl("show", "--value", "-p", "NRestarts", "sysdiag-watch.service")
		return r != "0"
	}) {
		out, _ := sysdiagIn(t, nil, "why", "sysdiag-watch.service")
		t.Fatalf("sysdiag-watch.service dies under its own hardening:\n%s", out)
	}
	waitJournal(t, since, "_SYSTEMD_UNIT=sysdiag-watch.service")
	run(t, "sysdiag-e2e-ws.service", false)
	f := waitJournal(t, since, "_SYSTEMD_UNIT=sysdiag-watch.service", "_TRANSPORT=stdout")
	got := ""
	pollT(10*time.Second, func() bool {
		r, _ := journal.Open(bedJournal())
		defer r.Close()
		r.Query([]string{"_SYSTEMD_UNIT=sysdiag-watch.service"}, since, time.Time{}, func(e journal.Fields) error {
			// Inside the bed the service cannot read host pids' cgroups: the unit comes from the coredump.
			if strings.Contains(e["MESSAGE"], `"syscall":"swapon"`) && strings.Contains(e["MESSAGE"], `"unit":"sysdiag-e2e-ws.service"`) {
				got = e["MESSAGE"]
			}
			return nil
		})
		return got != ""
	})
	if got == "" {
		t.Errorf("no violation line from the service; first line: %s", f["MESSAGE"])
	}
	if st, _ := bed.Systemctl("show", "--value", "-p", "ActiveState", "sysdiag-watch.service"); st != "active" {
		t.Errorf("sysdiag-watch.service is %s: its own filter stopped it", st)
	}
	t.Logf("service line: %.200s", got)
}
