package e2e

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/journal"
)

// kernelRuns32 probes, once, whether this kernel executes i386 code: the static i386 probe run with no
// arguments makes no test call and exits 0; a kernel without IA32 emulation refuses it with ENOEXEC.
// Machines differ (FACTS.md: PVM guests refuse it, KVM guests run it), so the i386 scenario takes the
// path this kernel takes and says which.
func kernelRuns32(probe32 string) (bool, error) {
	err := exec.Command(probe32).Run()
	if err == nil {
		return true, nil
	}
	if errors.Is(err, syscall.ENOEXEC) {
		return false, nil
	}
	return false, err
}

// A static i386 binary under SystemCallArchitectures=native and ~@chown.
func TestWhyI386(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-i386.service"
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart="+probe32+" fchown\nSystemCallArchitectures=native\nSystemCallFilter=~@chown\n", false)
	t.Logf("this kernel %s", kernelKind)
	if !runs32 {
		i386ExecFormatError(t, unit)
		return
	}
	i386Killed(t, unit)
}

// The 203/EXEC path on every kernel: the probe with its ELF e_machine set to aarch64 is a binary no x86
// kernel executes, so each kind of machine checks both answers (the i386 one above takes this path only
// where the kernel refuses 32-bit code).
func TestWhyForeignELFExecFormatError(t *testing.T) {
	need(t)
	defer timed(t)()
	raw, err := os.ReadFile(probe32)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint16(raw[18:], 183) // EM_AARCH64
	foreign := filepath.Join(e2eRoot, "bin", "probe-foreign")
	if err := os.WriteFile(foreign, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(foreign).Run(); !errors.Is(err, syscall.ENOEXEC) {
		t.Fatalf("a foreign ELF ran here (%v): the 203/EXEC scenario needs a binary this kernel refuses", err)
	}
	unit := "sysdiag-e2e-foreign.service"
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart="+foreign+" fchown\nSystemCallArchitectures=native\nSystemCallFilter=~@chown\n", false)
	i386ExecFormatError(t, unit)
}

// A kernel without IA32 emulation: the unit fails with 203/EXEC ("Exec format error") before any filter
// matters. why must say so, and not invent a syscall or propose SystemCallArchitectures=x86.
func i386ExecFormatError(t *testing.T, unit string) {
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

// A kernel that runs i386 code: the first i386 call (static glibc's brk, i386 45) meets the architecture
// filter and is killed (kill-thread, the bad-arch action, with an i386 compat record). The fix adds the
// ABI, verified against BPF built with the x86 arch; after it the unit's SystemCallFilter= applies to its
// i386 calls: fchown() is fchown32 (i386 207) in i386 glibc, killed by ~@chown. That fix in turn makes the
// unit succeed.
func i386Killed(t *testing.T, unit string) {
	since := time.Now()
	if res := run(t, unit, false); res != "core-dump" {
		t.Fatalf("Result=%s, want core-dump (killed on its first i386 call)", res)
	}
	waitCore(t, since, unit, false)
	w, code := why(t, unit, false)
	if code != 0 || len(w.Violations) != 1 {
		t.Fatalf("exit %d %+v", code, w)
	}
	v := w.Violations[0]
	if v.Arch != "i386" || v.Compat != 1 || (v.Action != "kill-thread" && v.Action != "kill-process") || v.BlockedBy.Cause != "architecture" ||
		v.BlockedBy.Line == nil || v.BlockedBy.Line.Line != 4 || v.BlockedBy.Line.Value != "native" {
		t.Fatalf("violation %+v", v)
	}
	if w.Fix == nil || len(w.Fix.Architectures) != 1 || w.Fix.Architectures[0] != "x86" || len(w.Fix.Allow) != 0 || !w.Fix.Verified {
		t.Fatalf("fix %+v", w.Fix)
	}
	t.Logf("round 1: %s (i386 %d) killed by SystemCallArchitectures=native (%s); fix SystemCallArchitectures=x86, verified", v.Syscall, v.Number, v.Action)

	since = time.Now()
	w, res := writeAndRestart(t, unit, false)
	if res != "core-dump" {
		t.Fatalf("after SystemCallArchitectures=x86: Result=%s, want core-dump (fchown32 under ~@chown)", res)
	}
	waitCore(t, since, unit, false)
	w, code = why(t, unit, false)
	if code != 0 || len(w.Violations) != 1 {
		t.Fatalf("round 2: exit %d %+v", code, w)
	}
	v = w.Violations[0]
	if v.Syscall != "fchown32" || v.Number != 207 || v.Arch != "i386" || v.Action != "kill-process" ||
		v.BlockedBy.Cause != "deny-list-entry" || v.BlockedBy.Via != "@chown" {
		t.Fatalf("round 2: violation %+v", v)
	}
	if w.Fix == nil || !w.Fix.Verified || !has(w.Fix.Allow, "fchown32") || !has(w.Fix.Architectures, "x86") {
		t.Fatalf("round 2: fix %+v (must carry SystemCallArchitectures=x86 on)", w.Fix)
	}
	t.Logf("round 2: fchown32 (i386 207) killed by ~@chown; fix %q, verified", strings.TrimSpace(w.Fix.Dropin))
	fixAndRestart(t, unit, false)
}

// buildProbe32 builds the static i386 probe (gcc-multilib) and records what this kernel does with it.
func buildProbe32() error {
	probe32 = filepath.Join(e2eRoot, "bin", "probe32")
	if out, err := exec.Command("gcc", "-m32", "-static", "-O2", "-o", probe32, "testdata/probe.c").CombinedOutput(); err != nil {
		return errors.New("gcc -m32 -static (gcc-multilib, installed by scripts/setup.sh): " + err.Error() + ": " + string(out))
	}
	var err error
	runs32, err = kernelRuns32(probe32)
	if err != nil {
		return err
	}
	kernelKind = "refuses 32-bit code (no IA32 emulation): the i386 scenario checks the 203/EXEC path"
	if runs32 {
		kernelKind = "runs 32-bit code: the i386 scenario checks the kill path (arch filter, then ~@chown on i386)"
	}
	return nil
}
