package e2e

import (
	"strings"
	"testing"
	"time"
)

type watchLine struct {
	Type     string   `json:"type"`
	Source   string   `json:"source"`
	Unit     string   `json:"unit"`
	UserUnit bool     `json:"user_unit"`
	Syscall  string   `json:"syscall"`
	Groups   []string `json:"groups"`
	Action   string   `json:"action"`
	DelayMS  int64    `json:"delay_ms"`
	Fix      *struct {
		Allow []string `json:"allow"`
	} `json:"fix"`
	Summary []struct {
		Unit     string         `json:"unit"`
		UserUnit bool           `json:"user_unit"`
		Syscalls map[string]int `json:"syscalls"`
	} `json:"summary"`
}

// watch follows the audit multicast group while three units are killed (allow list, deny list, user
// unit): each appears once, attributed to its unit from its cgroup, with group and fix; Ctrl-C summarises.
func TestWatchThreeKills(t *testing.T) {
	need(t)
	defer timed(t)()
	userManager(t)
	units := map[string]string{ // unit -> expected syscall
		"sysdiag-e2e-w-allow.service": "ptrace",
		"sysdiag-e2e-w-deny.service":  "fchown",
		"sysdiag-e2e-w-user.service":  "fchown",
	}
	writeUnit(t, "sysdiag-e2e-w-allow.service", "[Service]\nType=oneshot\nExecStart="+probe+" ptrace\nSystemCallFilter=@system-service\n", false)
	writeUnit(t, "sysdiag-e2e-w-deny.service", "[Service]\nType=oneshot\nExecStart="+probe+" fchown\nSystemCallFilter=~@chown\n", false)
	writeUnit(t, "sysdiag-e2e-w-user.service", "[Service]\nType=oneshot\nExecStart="+probe+" fchown\nSystemCallFilter=~@chown\n", true)

	w := startWatch(t, "--root", "/", "--systemd-version", "252.39")
	next := func(d time.Duration) (watchLine, bool) {
		var l watchLine
		ok := w.next(&l, d)
		return l, ok
	}
	if l, ok := next(10 * time.Second); !ok || l.Type != "source" {
		t.Fatalf("no source line: %+v", l)
	} else {
		t.Logf("source: %s", l.Source)
	}
	run(t, "sysdiag-e2e-w-allow.service", false)
	run(t, "sysdiag-e2e-w-deny.service", false)
	run(t, "sysdiag-e2e-w-user.service", true)
	run(t, "sysdiag-e2e-w-deny.service", false) // a repeat: folded into the count
	got := map[string]watchLine{}
	for len(got) < 3 {
		l, ok := next(10 * time.Second)
		if !ok {
			t.Fatalf("watch saw only %v", got)
		}
		if l.Type != "violation" {
			continue
		}
		if _, dup := got[l.Unit]; dup {
			t.Errorf("%s shown twice", l.Unit)
		}
		got[l.Unit] = l
	}
	for u, sc := range units {
		l := got[u]
		if l.Syscall != sc || l.Fix == nil || len(l.Fix.Allow) != 1 || l.Fix.Allow[0] != sc || len(l.Groups) == 0 {
			t.Errorf("%s: %+v", u, l)
		}
		t.Logf("%s: %s %s, %d ms after the kill", u, l.Syscall, l.Groups[0], l.DelayMS)
	}
	if !got["sysdiag-e2e-w-user.service"].UserUnit {
		t.Error("the user unit is not marked as one")
	}
	w.stop()
	for {
		l, ok := next(10 * time.Second)
		if !ok {
			t.Fatal("no summary after SIGINT")
		}
		if l.Type == "summary" {
			userSeen := false
			for _, s := range l.Summary {
				if s.Unit == "sysdiag-e2e-w-deny.service" && s.Syscalls["fchown"] != 2 {
					t.Errorf("the repeat was not counted: %+v", s)
				}
				if strings.Contains(s.Unit, " ") {
					t.Errorf("summary unit name %q is not a unit name (user units carry user_unit)", s.Unit)
				}
				userSeen = userSeen || s.Unit == "sysdiag-e2e-w-user.service" && s.UserUnit
			}
			if !userSeen {
				t.Errorf("the summary lacks the user unit with user_unit: %+v", l.Summary)
			}
			break
		}
	}
	if err := w.cmd.Wait(); err != nil {
		t.Errorf("watch exit: %v", err)
	}
}
