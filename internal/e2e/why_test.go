package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/journal"
)

type whyJSON struct {
	Unit        string   `json:"unit"`
	Table       string   `json:"table"`
	Version     string   `json:"systemd_version"`
	Invocations []string `json:"invocations"`
	Diagnosis   string   `json:"diagnosis"`
	Filter      struct {
		Mode          string `json:"mode"`
		SilentDenials bool   `json:"silent_denials"`
		MatchesDBus   *bool  `json:"matches_dbus"`
	} `json:"filter"`
	Violations []struct {
		Syscall      string   `json:"syscall"`
		Number       int      `json:"number"`
		Arch         string   `json:"arch"`
		Compat       int      `json:"compat"`
		Groups       []string `json:"groups"`
		Action       string   `json:"action"`
		PID          int      `json:"pid"`
		Exe          string   `json:"exe"`
		Sources      []string `json:"sources"`
		Function     string   `json:"function"`
		Time         string   `json:"time"`
		AttributedBy *struct {
			Method string `json:"method"`
			Detail string `json:"detail"`
		} `json:"attributed_by"`
		BlockedBy struct {
			Cause string `json:"cause"`
			Via   string `json:"via"`
			Line  *struct {
				File  string `json:"file"`
				Line  int    `json:"line"`
				Value string `json:"value"`
			} `json:"line"`
		} `json:"blocked_by"`
	} `json:"violations"`
	Notes []string `json:"notes"`
	Fix   *struct {
		Allow         []string `json:"allow"`
		Architectures []string `json:"architectures"`
		DropinPath    string   `json:"dropin_path"`
		Dropin        string   `json:"dropin"`
		Verified      bool     `json:"verified"`
		Written       bool     `json:"written"`
		Alternatives  []struct {
			Label string `json:"label"`
		} `json:"alternatives"`
	} `json:"fix"`
}

func why(t *testing.T, unit string, user bool, extra ...string) (whyJSON, int) {
	t.Helper()
	args := []string{"why", unit, "--json"}
	var env []string
	if user {
		args = append(args, "--user")
		env = []string{"XDG_RUNTIME_DIR=/run/user/0", "HOME=/root"}
	}
	out, code := sysdiagIn(t, env, append(args, extra...)...)
	var w whyJSON
	if err := json.Unmarshal(out, &w); err != nil {
		t.Fatalf("why --json: %v\n%s", err, out)
	}
	return w, code
}

// writeAndRestart lets sysdiag write its drop-in, reloads, restarts, and returns the new Result.
func writeAndRestart(t *testing.T, unit string, user bool) (whyJSON, string) {
	t.Helper()
	w, _ := why(t, unit, user, "--write")
	if w.Fix == nil || !w.Fix.Written {
		t.Fatalf("no drop-in written: %+v", w)
	}
	bed.Forget(w.Fix.DropinPath)
	bed.Forget(filepath.Dir(w.Fix.DropinPath))
	reload(t, user)
	return w, run(t, unit, user)
}

func waitCore(t *testing.T, since time.Time, unit string, user bool) {
	t.Helper()
	field := "COREDUMP_UNIT="
	if user {
		field = "COREDUMP_USER_UNIT="
	}
	waitJournal(t, since, "MESSAGE_ID="+journal.MessageCoredump, field+unit)
	// The exit entry follows the coredump: wait for it too, so the invocation is complete.
	uf := "UNIT="
	if user {
		uf = "USER_UNIT="
	}
	waitJournal(t, since, "MESSAGE_ID="+journal.MessageUnitFailed, uf+unit)
}

func TestWhyDenyList(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-deny.service"
	writeUnit(t, unit, "[Unit]\nDescription=deny list\n[Service]\nType=oneshot\nExecStart="+probe+" socket fchown\nSystemCallFilter=~@chown\n", false)
	since := time.Now()
	if res := run(t, unit, false); res != "core-dump" {
		t.Fatalf("Result=%s", res)
	}
	waitCore(t, since, unit, false)
	w, code := why(t, unit, false)
	if code != 0 || len(w.Violations) != 1 {
		t.Fatalf("exit %d, %+v", code, w)
	}
	v := w.Violations[0]
	if !has(v.Sources, "journal-audit") || !has(v.Sources, "coredump") {
		t.Errorf("sources %v: want the journal's audit record joined with the coredump", v.Sources)
	}
	if v.Syscall != "fchown" || v.Number != 93 || v.Arch != "x86_64" || v.Groups[0] != "@chown" || !has(libcAliases(t, "__fchown"), v.Function) ||
		v.BlockedBy.Cause != "deny-list-entry" || v.BlockedBy.Via != "@chown" || v.BlockedBy.Line == nil ||
		v.BlockedBy.Line.File != filepath.Join(unitDir, unit) || v.BlockedBy.Line.Line != 6 {
		t.Errorf("violation %+v", v)
	}
	if w.Filter.MatchesDBus == nil || !*w.Filter.MatchesDBus {
		t.Errorf("the model's expansion differs from systemd's D-Bus SystemCallFilter")
	}
	// Shell completion of unit names asks the manager.
	if comp, _ := sysdiagIn(t, nil, "__complete", "why", "sysdiag-e2e-de"); !strings.Contains(string(comp), unit) {
		t.Errorf("completion of sysdiag-e2e-de: %q", comp)
	}
	human, _ := sysdiagIn(t, nil, "why", unit)
	t.Logf("sysdiag why %s:\n%s", unit, human)
	for _, want := range []string{"fchown (x86_64 syscall 93)", "called from " + v.Function + " in", "Fix (verified", "SystemCallFilter=fchown", "zz-sysdiag.conf"} {
		if !strings.Contains(string(human), want) {
			t.Errorf("human output lacks %q", want)
		}
	}
	if w.Fix == nil || !w.Fix.Verified || strings.Join(w.Fix.Allow, " ") != "fchown" ||
		w.Fix.DropinPath != "/etc/systemd/system/"+unit+".d/zz-sysdiag.conf" {
		t.Fatalf("fix %+v", w.Fix)
	}
	_, res := writeAndRestart(t, unit, false)
	if res != "success" {
		t.Errorf("after the drop-in: Result=%s", res)
	}
}

func TestWhyAllowListPtrace(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-allow.service"
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart="+probe+" socket ptrace\nSystemCallFilter=@system-service\n", false)
	since := time.Now()
	run(t, unit, false)
	waitCore(t, since, unit, false)
	w, _ := why(t, unit, false)
	if len(w.Violations) != 1 || w.Violations[0].Syscall != "ptrace" || w.Violations[0].Groups[0] != "@debug" ||
		w.Violations[0].BlockedBy.Cause != "not-in-allow-list" || w.Filter.Mode != "allow-list" {
		t.Fatalf("%+v", w)
	}
	if w.Filter.MatchesDBus == nil || !*w.Filter.MatchesDBus {
		t.Errorf("the model's allow-list expansion differs from systemd's")
	}
	fixAndRestart(t, unit, false)
}

// Real GNU sed -i under @system-service + ~@chown: sed fchowns its temporary file.
func TestWhySedAllowMinusChown(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-sed.service"
	file := filepath.Join(e2eRoot, "sed-target.txt")
	if err := os.WriteFile(file, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart=/bin/sed -i s/hello/bye/ "+file+"\nSystemCallFilter=@system-service\nSystemCallFilter=~@chown\n", false)
	since := time.Now()
	if res := run(t, unit, false); res != "core-dump" {
		t.Fatalf("Result=%s", res)
	}
	waitCore(t, since, unit, false)
	w, _ := why(t, unit, false)
	if len(w.Violations) != 1 {
		t.Fatalf("%+v", w)
	}
	v := w.Violations[0]
	if !strings.Contains(v.Syscall, "chown") || v.BlockedBy.Cause != "removed-from-allow" || v.BlockedBy.Line == nil || v.BlockedBy.Line.Line != 5 ||
		v.Function == "" || v.Exe != "/usr/bin/sed" {
		t.Errorf("violation %+v", v)
	}
	t.Logf("sed: %s from %s", v.Syscall, v.Function)
	fixAndRestart(t, unit, false)
	if raw, _ := os.ReadFile(file); string(raw) != "bye\n" {
		t.Errorf("sed did not finish: %q", raw)
	}
}

// A child dies, the main process lives on and the unit ends "success": only the audit record and the
// coredump tell.
func TestWhyChildKilled(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-child.service"
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo start; chown root "+e2eRoot+"; echo still here'\nSystemCallFilter=~@chown\n", false)
	since := time.Now()
	if res := run(t, unit, false); res != "success" {
		t.Fatalf("Result=%s, want success (only the child dies)", res)
	}
	waitJournal(t, since, "MESSAGE_ID="+journal.MessageCoredump, "COREDUMP_UNIT="+unit)
	w, code := why(t, unit, false)
	if code != 0 || len(w.Violations) != 1 || w.Violations[0].Exe != "/usr/bin/chown" || w.Violations[0].Syscall != "fchownat" {
		t.Fatalf("exit %d %+v", code, w)
	}
	since2 := time.Now()
	fixAndRestart(t, unit, false)
	if n := coredumpsSince(t, since2, unit); n != 0 {
		t.Errorf("the child still dies after the drop-in (%d coredumps)", n)
	}
}

func TestWhyUserUnit(t *testing.T) {
	need(t)
	defer timed(t)()
	userManager(t)
	unit := "sysdiag-e2e-user.service"
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart="+probe+" fchown\nSystemCallFilter=~@chown\n", true)
	since := time.Now()
	if res := run(t, unit, true); res != "core-dump" {
		t.Fatalf("Result=%s", res)
	}
	waitCore(t, since, unit, true)
	w, _ := why(t, unit, true)
	if len(w.Violations) != 1 || w.Violations[0].Syscall != "fchown" || w.Fix == nil || w.Fix.DropinPath != "/root/.config/systemd/user/"+unit+".d/zz-sysdiag.conf" {
		t.Fatalf("%+v", w)
	}
	fixAndRestart(t, unit, true)
}

// Killed twice on different syscalls in two runs: why names the last.
func TestWhyKilledTwice(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-twice.service"
	mode := filepath.Join(e2eRoot, "twice.mode")
	os.WriteFile(mode, []byte("fchown"), 0o644)
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'exec "+probe+" $(cat "+mode+")'\nSystemCallFilter=~@chown @swap\n", false)
	since := time.Now()
	run(t, unit, false)
	waitCore(t, since, unit, false)
	os.WriteFile(mode, []byte("swapon"), 0o644)
	since2 := time.Now()
	run(t, unit, false)
	waitCore(t, since2, unit, false)
	w, _ := why(t, unit, false)
	if len(w.Violations) != 1 || w.Violations[0].Syscall != "swapon" || len(w.Invocations) != 1 {
		t.Fatalf("%+v", w)
	}
	all, _ := why(t, unit, false, "--since", epoch(since))
	if len(all.Violations) != 2 || len(all.Invocations) != 2 {
		t.Errorf("--since: %+v", all)
	}
	// The fix of the last kill gets the unit past swapon; fchown is still blocked, and why then names it.
	since3 := time.Now()
	fixAndRestart(t, unit, false)
	os.WriteFile(mode, []byte("fchown"), 0o644)
	run(t, unit, false)
	waitCore(t, since3, unit, false)
	w, _ = why(t, unit, false)
	if len(w.Violations) != 1 || w.Violations[0].Syscall != "fchown" || w.Fix == nil || strings.Join(w.Fix.Allow, " ") != "swapon fchown" {
		t.Errorf("after swapon was allowed: %+v", w)
	}
}

// SystemCallErrorNumber=EPERM: the denial fails silently; why says so and exits 1.
func TestWhyErrnoSilent(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "sysdiag-e2e-errno.service"
	writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart="+probe+" fchown\nSystemCallFilter=~@chown\nSystemCallErrorNumber=EPERM\n", false)
	if res := run(t, unit, false); res != "success" {
		t.Fatalf("Result=%s", res)
	}
	w, code := why(t, unit, false)
	if code != 1 || len(w.Violations) != 0 || !w.Filter.SilentDenials || !strings.Contains(w.Diagnosis, "no audit record") {
		t.Errorf("exit %d %+v", code, w)
	}
}

// Another unit killed in the same second must not leak into the first unit's answer.
func TestWhyNoLeak(t *testing.T) {
	need(t)
	defer timed(t)()
	a, b := "sysdiag-e2e-leak-a.service", "sysdiag-e2e-leak-b.service"
	writeUnit(t, a, "[Service]\nType=oneshot\nExecStart="+probe+" fchown\nSystemCallFilter=~@chown\n", false)
	writeUnit(t, b, "[Service]\nType=oneshot\nExecStart="+probe+" swapon\nSystemCallFilter=~@swap\n", false)
	since := time.Now()
	if _, err := bed.Systemctl("start", "--no-block", a, b); err != nil {
		t.Fatal(err)
	}
	bed.WaitDone(a, false, 15*time.Second)
	bed.WaitDone(b, false, 15*time.Second)
	waitCore(t, since, a, false)
	waitCore(t, since, b, false)
	w, _ := why(t, a, false)
	if len(w.Violations) != 1 || w.Violations[0].Syscall != "fchown" {
		t.Errorf("%s: %+v", a, w)
	}
	w, _ = why(t, b, false)
	if len(w.Violations) != 1 || w.Violations[0].Syscall != "swapon" {
		t.Errorf("%s: %+v", b, w)
	}
	for _, u := range []string{a, b} {
		fixAndRestart(t, u, false)
	}
}

// fixAndRestart has sysdiag write its drop-in and checks that the restarted unit gets past the call.
func fixAndRestart(t *testing.T, unit string, user bool) {
	t.Helper()
	if _, res := writeAndRestart(t, unit, user); res != "success" {
		t.Errorf("%s after the drop-in: Result=%s", unit, res)
	}
}

func coredumpsSince(t *testing.T, since time.Time, unit string) int {
	t.Helper()
	r, err := journal.Open(bedJournal())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	r.Query([]string{"MESSAGE_ID=" + journal.MessageCoredump, "COREDUMP_UNIT=" + unit}, since, time.Time{}, func(journal.Fields) error { n++; return nil })
	return n
}
