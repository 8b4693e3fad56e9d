package e2e

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A SystemCallLog= flood: one process logs 200 000 swapon() calls. watch counts every record, or reports
// what the kernel or the netlink socket lost; meanwhile auditd starts and stops, and a kill after that
// is still seen.
func TestWatchFloodAndAuditdRestart(t *testing.T) {
	need(t)
	defer timed(t)()
	const calls = 200000
	raiseAuditBacklog(t)
	writeUnit(t, "sysdiag-e2e-flood.service", "[Service]\nType=oneshot\nExecStart="+probe+" loop\nSystemCallLog=swapon\n", false)
	writeUnit(t, "sysdiag-e2e-after.service", "[Service]\nType=oneshot\nExecStart="+probe+" fchown\nSystemCallFilter=~@chown\n", false)
	w := startWatch(t, "--action", "all", "--root", "/", "--systemd-version", "252.39")
	lines := w.lines
	<-lines // the source line
	t0 := time.Now()
	if res := run(t, "sysdiag-e2e-flood.service", false); res != "success" {
		t.Fatalf("flood unit: %s", res)
	}
	flood := time.Since(t0)
	// auditd starts and stops while watch runs; then a kill must still be seen.
	if err := bed.StartAuditd(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := bed.StopAuditd(); err != nil {
		t.Fatal(err)
	}
	run(t, "sysdiag-e2e-after.service", false)
	sawAfter := false
	deadline := time.After(20 * time.Second)
	for !sawAfter {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("watch ended")
			}
			sawAfter = strings.Contains(string(l), `"unit":"sysdiag-e2e-after.service"`)
		case <-deadline:
			t.Fatal("the kill after auditd's restart was not seen")
		}
	}
	w.stop()
	var sum struct {
		Summary []struct {
			Unit     string         `json:"unit"`
			Syscalls map[string]int `json:"syscalls"`
		} `json:"summary"`
		Lost struct{ Kernel, Userspace int } `json:"lost"`
	}
	for l := range lines {
		if strings.Contains(string(l), `"type":"summary"`) {
			json.Unmarshal(l, &sum)
		}
	}
	w.cmd.Wait()
	if ps := w.cmd.ProcessState; ps != nil {
		ru, _ := ps.SysUsage().(*syscall.Rusage)
		if ru != nil {
			t.Logf("watch: %v user + %v system CPU over the run, %d MiB max RSS", ps.UserTime().Round(time.Millisecond),
				ps.SystemTime().Round(time.Millisecond), ru.Maxrss/1024)
		}
	}
	counted := 0
	for _, s := range sum.Summary {
		if s.Unit == "sysdiag-e2e-flood.service" {
			counted = s.Syscalls["swapon"]
		}
	}
	lost := sum.Lost.Kernel + sum.Lost.Userspace
	t.Logf("flood: %d calls in %v (%.0f records/s); watch counted %d; reported lost: kernel %d, netlink overflows %d",
		calls, flood.Round(time.Millisecond), float64(calls)/flood.Seconds(), counted, sum.Lost.Kernel, sum.Lost.Userspace)
	if counted != calls && lost == 0 {
		t.Errorf("counted %d of %d records and reported no loss", counted, calls)
	}
	if counted == 0 {
		t.Error("the flood was not seen at all")
	}
}
