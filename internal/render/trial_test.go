package render

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/trial"
)

// trialAnswer is a trial that saw chown blocked by the filter (twice by one program, once by another)
// and clock_settime answered by ProtectClock=, with a fix, groups to tighten, a directive it could not
// see, and a unit name and program that carry terminal escapes.
func trialAnswer() *trial.Answer {
	return &trial.Answer{
		Unit: "demo\x1b[2J.service", Seconds: 2.04, Records: 4,
		Calls: []trial.Call{
			{Syscall: "chown", Arch: "x86_64", Exe: "/usr/bin/demo\x1b]0;x", Count: 2, FirstPID: 42},
			{Syscall: "chown", Arch: "x86_64", Exe: "/usr/bin/helper", Count: 1, FirstPID: 43},
			{Syscall: "clock_settime", Arch: "x86_64", Exe: "/usr/bin/demo", Count: 1, FirstPID: 42},
		},
		Findings: []diagnose.Finding{{
			Violation: diagnose.Violation{Syscall: "chown", Arch: "x86_64", Groups: []string{"@chown", "@privileged"}},
			BlockedBy: diagnose.BlockedBy{Explain: "SystemCallFilter=@system-service (demo.service:9) leaves out @chown"},
		}},
		Implicit: []trial.ImplicitHit{{Syscall: "clock_settime", Arch: "x86_64", Directive: "ProtectClock", Where: "demo.service:7", Errno: "EPERM"}},
		Fix: &diagnose.Fix{Alt: diagnose.Alt{Dropin: "[Service]\nSystemCallFilter=chown\n"}, DropinPath: "/etc/systemd/system/demo.service.d/zz-sysdiag.conf",
			Verified: true, Commands: []string{"systemctl daemon-reload", "systemctl restart demo.service"}, Written: true},
		Tighten: &trial.Tighten{Watched: []string{"@mount", "@debug"}, Used: map[string][]string{"@debug": {"ptrace"}}, Untouched: []string{"@mount"},
			Dropin: "[Service]\nSystemCallFilter=~@mount\n", DropinPath: "/etc/systemd/system/demo.service.d/zz-sysdiag-tighten.conf",
			Before: 0.6, After: 0.45, Verified: true},
		Unseen:   []fixes.Implicit{{Directive: "ProtectKernelModules", Where: "demo.service:8", Calls: []string{"init_module"}, Errno: "EPERM"}},
		Notes:    []string{"the unit ran 2.0 s"},
		Restored: "demo.service running again under its real filter",
	}
}

func TestTrial(t *testing.T) {
	var out bytes.Buffer
	if err := Trial(&out, trialAnswer()); err != nil {
		t.Fatal(err)
	}
	want := `trial of demo\x1b[2J.service: 2.0 s, 4 records, 2 call(s) the filter would have blocked
  CALL           ARCH    COUNT  FIRST BY                        GROUP   BLOCKED BY
  chown          x86_64  3      /usr/bin/demo\x1b]0;x (pid 42)  @chown  SystemCallFilter=@system-service (demo.service:9) leaves out @chown
  clock_settime  x86_64  1      /usr/bin/demo (pid 42)          -       ProtectClock= (demo.service:7) answers EPERM

One fix for all of them (verified): /etc/systemd/system/demo.service.d/zz-sysdiag.conf
    [Service]
    SystemCallFilter=chown
  then: systemctl daemon-reload && systemctl restart demo.service (or sysdiag trial --write)

Can be tightened (safe for what the trial exercised; verified): never touched @mount
  exposure of the SystemCallFilter rows: 0.6 -> 0.5
  used, so left open: @debug (ptrace)
  /etc/systemd/system/demo.service.d/zz-sysdiag-tighten.conf:
    [Service]
    SystemCallFilter=~@mount
  never written unless asked: sysdiag trial --write-tighten demo\x1b[2J.service

Not seen by this trial (enforced, answering with an errno and no record):
  ProtectKernelModules= (demo.service:8): init_module answer EPERM
note: the unit ran 2.0 s
restored: demo.service running again under its real filter
`
	if got := out.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// What --write and --write-tighten did replaces the advice under each drop-in; a trial that saw nothing
// blocked has no table and no fix; a filter whose open groups were all used has nothing to tighten.
func TestTrialWrittenAndNothingToTighten(t *testing.T) {
	a := trialAnswer()
	a.Verified = "written; the unit ran 10 s under it without a kill"
	var out bytes.Buffer
	if err := Trial(&out, a); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out.Bytes(), []byte("    SystemCallFilter=chown\n  --write: written; the unit ran 10 s under it without a kill\n")) {
		t.Errorf("--write's line missing:\n%s", out.String())
	}

	a = &trial.Answer{Unit: "demo.service", Seconds: 1, Restored: "demo.service stopped (it was before)",
		Tighten: &trial.Tighten{Watched: []string{"@mount", "@debug"}, Used: map[string][]string{"@mount": {"mount"}, "@debug": {"ptrace"}}}}
	out.Reset()
	if err := Trial(&out, a); err != nil {
		t.Fatal(err)
	}
	want := `trial of demo.service: 1.0 s, 0 records, 0 call(s) the filter would have blocked

Nothing to tighten: the unit used a call of every group its filter leaves open (@mount (mount), @debug (ptrace))
restored: demo.service stopped (it was before)
`
	if got := out.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// A failed write is returned, not lost.
func TestTrialWriteError(t *testing.T) {
	if err := Trial(failWriter{}, trialAnswer()); err == nil || err.Error() != "broken pipe" {
		t.Errorf("err = %v, want broken pipe", err)
	}
}
