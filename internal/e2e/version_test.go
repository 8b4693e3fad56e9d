package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/internal/testbed"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

// The scenarios whose answer depends on the systemd version. They run on every bed: the host's systemd
// 252, and (scripts/test.sh, SYSDIAG_E2E_ROOT) Debian 13's 257 booted from a trixie root. Each checks the
// answer of the version it finds, and that why picked that version's table from the manager by itself.

func bedMajor(t *testing.T) syscalls.Version {
	t.Helper()
	v, err := syscalls.ParseVersion(bedVersion)
	if err != nil {
		t.Fatalf("bed version %q: %v", bedVersion, err)
	}
	return v
}

// wantTable checks that why chose the table of the bed's manager, with no --systemd-version.
func wantTable(t *testing.T, w whyJSON) {
	t.Helper()
	v, _ := syscalls.ParseVersion(bedVersion)
	if want := syscalls.Select(v).Label(); w.Table != want {
		t.Errorf("why used table %q for systemd %s, want %q (the manager's)", w.Table, bedVersion, want)
	}
}

// probeSaid waits for the probe's report of mode in the unit's journal and returns it.
func probeSaid(t *testing.T, since time.Time, unit, mode string) string {
	t.Helper()
	var msg string
	if !testbed.Poll(15*time.Second, func() bool {
		r, err := journal.Open(bedJournal())
		if err != nil {
			return false
		}
		defer r.Close()
		_ = r.Query([]string{"_SYSTEMD_UNIT=" + unit}, since, time.Time{}, func(f journal.Fields) error {
			if strings.HasPrefix(f["MESSAGE"], "probe: "+mode+" returned") {
				msg = f["MESSAGE"]
			}
			return nil
		})
		return msg != ""
	}) {
		t.Fatalf("no report of %s from %s", mode, unit)
	}
	return msg
}

// versionScenario runs probe MODE under an allow list of @system-service. From systemd `from` on the call
// passes (the probe must report want), before it is killed: why must name it, and fixed (when fix) the
// unit must run. It returns why's answer for the kill (zero on the newer systemd).
func versionScenario(t *testing.T, unit, mode string, from int, want string) whyJSON {
	t.Helper()
	writeUnit(t, unit, "[Service]\nType=oneshot\nLimitCORE=0\nExecStart="+probe+" "+mode+"\nSystemCallFilter=@system-service\n", false)
	since := time.Now()
	res := run(t, unit, false)
	if bedMajor(t).Major >= from {
		if res != "success" {
			t.Fatalf("systemd %s: Result=%s, want success", bedVersion, res)
		}
		if msg := probeSaid(t, since, unit, mode); !strings.Contains(msg, want) {
			t.Errorf("%s under the allow list: %q, want %q", mode, msg, want)
		}
		w, code := why(t, unit, false)
		if code != 1 || len(w.Violations) != 0 {
			t.Errorf("nothing was killed: exit %d %+v", code, w)
		}
		wantTable(t, w)
		return whyJSON{}
	}
	if res != "core-dump" && res != "signal" {
		t.Fatalf("systemd %s: Result=%s, want a kill", bedVersion, res)
	}
	waitJournal(t, since, "MESSAGE_ID="+journal.MessageUnitFailed, "UNIT="+unit)
	w, code := why(t, unit, false)
	if code != 0 || len(w.Violations) != 1 || w.Violations[0].Syscall != mode {
		t.Fatalf("exit %d %+v", code, w)
	}
	wantTable(t, w)
	return w
}

// @sandbox (seccomp, landlock_*) is in @default from v257: an allow list without it kills seccomp() on
// 252 and lets it through on 257.
func TestVersionSandboxInDefault(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-v-sandbox.service"
	if w := versionScenario(t, unit, "seccomp", 257, "returned 0"); w.Unit != "" {
		if w.Fix == nil || !w.Fix.Verified {
			t.Fatalf("no verified fix: %+v", w)
		}
		fixAndRestart(t, unit, false)
	}
}

// Calls newer than systemd's @known: from v255 an allow list answers ENOSYS (so libc can fall back);
// before, they are killed like any call the list lacks.
func TestVersionENOSYSForUnknownCalls(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-v-enosys.service"
	w := versionScenario(t, unit, "open_tree_attr", 255, "Function not implemented")
	if w.Unit == "" {
		return
	}
	if w.Violations[0].Number != 467 {
		t.Errorf("number %d, want 467", w.Violations[0].Number)
	}
	// This systemd's libseccomp cannot name the call (a SystemCallFilter=open_tree_attr drop-in is ignored:
	// "Failed to parse system call, ignoring"): the fix is SystemCallErrorNumber=ENOSYS, and it must work.
	if !anyContains(w.Notes, "cannot name open_tree_attr") || w.Fix == nil || !strings.Contains(w.Fix.Dropin, "SystemCallErrorNumber=ENOSYS") || !w.Fix.Verified {
		t.Fatalf("want the ENOSYS fix, verified, and the note: %+v", w)
	}
	since := time.Now()
	if _, res := writeAndRestart(t, unit, false); res != "success" {
		t.Fatalf("after the drop-in: Result=%s", res)
	}
	if msg := probeSaid(t, since, unit, "open_tree_attr"); !strings.Contains(msg, "Function not implemented") {
		t.Errorf("after the drop-in: %q, want ENOSYS", msg)
	}
}
