package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/journal"
)

// A deny-list kill seen without auditd: journald's audit and kernel transports, /dev/kmsg and the coredump
// all name the same kill, and events lists it once with all of them.
func TestEventsDenyListWithoutAuditd(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-ev-deny.service"
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart="+probe+" socket fchown\nSystemCallFilter=~@chown\n", false)
	since := time.Now()
	if res := run(t, unit, false); res != "core-dump" {
		t.Fatalf("Result=%s, want core-dump (SIGSYS with systemd-coredump)", res)
	}
	cd := waitJournal(t, since, "MESSAGE_ID="+journal.MessageCoredump, "COREDUMP_UNIT="+unit)
	ev := events(t, "--since", epoch(since), "--unit", unit)
	if len(ev.Violations) != 1 {
		t.Fatalf("%d violations, want 1: %+v", len(ev.Violations), ev)
	}
	v := ev.Violations[0]
	if v.Syscall != "fchown" || v.Number != 93 || v.Arch != "x86_64" || v.Action != "kill-process" || !has(libcAliases(t, "__fchown"), v.Function) ||
		len(v.Groups) == 0 || v.Groups[0] != "@chown" || v.PID != pidOf(cd, "COREDUMP_PID") {
		t.Errorf("violation %+v", v)
	}
	for _, s := range []string{"coredump", "journal-audit", "journal-kernel"} {
		if !has(v.Sources, s) {
			t.Errorf("sources %v lack %s", v.Sources, s)
		}
	}
	if updating {
		capture(t, since, unit, "e2e-deny-fchown")
	}
}

// auditd on the host writes audit.log (ENRICHED); the binary sits at a path with a space, so audit
// hex-encodes exe=. events decodes it and joins audit.log with the journal's copy.
func TestEventsAuditdHexExe(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-ev-auditd.service"
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart=\""+probeSp+"\" swapon\nSystemCallFilter=~@swap\n", false)
	if err := bed.StartAuditd(); err != nil {
		t.Fatal(err)
	}
	defer bed.StopAuditd()
	since := time.Now()
	if res := run(t, unit, false); res != "core-dump" {
		t.Fatalf("Result=%s", res)
	}
	cd := waitJournal(t, since, "MESSAGE_ID="+journal.MessageCoredump, "COREDUMP_UNIT="+unit)
	pid := cd["COREDUMP_PID"]
	var line string
	if !pollFile("/var/log/audit/audit.log", "type=SECCOMP", "pid="+pid+" ", &line) {
		t.Fatal("the kill is not in /var/log/audit/audit.log")
	}
	if !strings.Contains(line, "exe=2F6F7074") || !strings.Contains(line, "\x1d") {
		t.Errorf("expected a hex-encoded exe and an ENRICHED tail: %q", line)
	}
	ev := events(t, "--since", epoch(since), "--unit", unit)
	if len(ev.Violations) != 1 {
		t.Fatalf("%d violations: %+v", len(ev.Violations), ev)
	}
	v := ev.Violations[0]
	if v.Exe != probeSp || v.Syscall != "swapon" || !has(v.Sources, "audit.log") || !has(v.Sources, "journal-audit") || !has(v.Sources, "coredump") {
		t.Errorf("violation %+v", v)
	}
	if updating {
		writeFixture(t, "../../audit/testdata/e2e-auditd-enriched-hexexe-swapon.audit.log", line+"\n")
	}
	// why, with auditd running: the same kill from audit.log, and a fix that works.
	w, _ := why(t, unit, false)
	if len(w.Violations) != 1 || !has(w.Violations[0].Sources, "audit.log") || w.Violations[0].Exe != probeSp || w.Violations[0].Syscall != "swapon" {
		t.Fatalf("why: %+v", w)
	}
	fixAndRestart(t, unit, false)
}

// SystemCallLog= lets the call through and logs it with code=0x7ffc0000: events reports action "log".
func TestEventsSystemCallLog(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-ev-log.service"
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart="+probe+" fchown\nSystemCallLog=fchown\n", false)
	since := time.Now()
	if res := run(t, unit, false); res != "success" {
		t.Fatalf("Result=%s, want success", res)
	}
	waitJournal(t, since, "_TRANSPORT=audit", "_AUDIT_TYPE=1326", "_AUDIT_FIELD_CODE=0x7ffc0000")
	ev := events(t, "--since", epoch(since), "--syscall", "fchown")
	found := false
	for _, v := range ev.Violations {
		if v.Action == "log" && v.Syscall == "fchown" && v.Exe == probe {
			found = true
		}
	}
	if !found {
		t.Errorf("no logged fchown: %+v", ev)
	}
}

func pollFile(path, must1, must2 string, line *string) bool {
	return pollT(10*time.Second, func() bool {
		raw, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.Contains(l, must1) && strings.Contains(l, must2) {
				*line = l
				return true
			}
		}
		return false
	})
}

// capture refreshes journal fixtures of one kill from the real journal (SYSDIAG_UPDATE_FIXTURES=1).
func capture(t *testing.T, since time.Time, unit, name string) {
	t.Helper()
	ex := func(args ...string) string {
		out, err := exec.Command("journalctl", append([]string{"-q", "--since", epoch(since)}, args...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	cd := waitJournal(t, since, "MESSAGE_ID="+journal.MessageCoredump, "COREDUMP_UNIT="+unit)
	writeFixture(t, "../../journal/testdata/"+name+".coredump.json", ex("-o", "json", "MESSAGE_ID="+journal.MessageCoredump, "COREDUMP_UNIT="+unit))
	writeFixture(t, "../../journal/testdata/"+name+".exit.export", ex("-o", "export", "MESSAGE_ID="+journal.MessageProcessExit, "UNIT="+unit))
	writeFixture(t, "../../audit/testdata/"+name+".journal-audit.export", ex("-o", "export", "_TRANSPORT=audit", "_AUDIT_TYPE=1326", "_PID="+cd["COREDUMP_PID"]))
}

func writeFixture(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("fixture refreshed: %s", path)
}
