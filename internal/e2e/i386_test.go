package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/journal"
)

// A static i386 binary under SystemCallArchitectures=native. This VM's kernel runs no 32-bit code: the
// unit fails with 203/EXEC ("Exec format error") before any filter matters. why must say so, and not
// invent a syscall or propose SystemCallArchitectures=x86. (Where a kernel runs i386 code the same unit
// is killed with kill-thread and an i386 record: events' fixtures cover that path.)
func TestWhyI386ExecFormatError(t *testing.T) {
	need(t)
	defer timed(t)()
	probe32 := filepath.Join(e2eRoot, "bin", "probe32")
	if out, err := exec.Command("gcc", "-m32", "-static", "-O2", "-o", probe32, "testdata/probe.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc -m32 -static (gcc-multilib): %v: %s", err, out)
	}
	unit := "sysdiag-e2e-i386.service"
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart="+probe32+" fchown\nSystemCallArchitectures=native\nSystemCallFilter=~@chown\n", false)
	since := time.Now()
	if res := run(t, unit, false); res != "exit-code" {
		t.Fatalf("Result=%s, want exit-code (203/EXEC)", res)
	}
	st, _ := bed.Systemctl("show", "--value", "-p", "ExecMainStatus", unit)
	if st != "203" {
		t.Fatalf("ExecMainStatus=%s, want 203", st)
	}
	waitJournal(t, since, "MESSAGE_ID="+journal.MessageProcessExit, "UNIT="+unit)
	w, code := why(t, unit, false)
	if code != 1 || len(w.Violations) != 0 || w.Fix != nil || !strings.Contains(w.Diagnosis, "203/EXEC") ||
		!strings.Contains(w.Diagnosis, "no SystemCallFilter= or SystemCallArchitectures= change will help") {
		t.Errorf("exit %d %+v", code, w)
	}
}
