package check

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

// The programs of a unit's commands: prefixes, names searched in systemd's path, a script's interpreter,
// and the plain commands of sh -c.
func TestTargets(t *testing.T) {
	fsys := fstest.MapFS{
		"usr/bin/ncat":         {Data: []byte("\x7fELF"), Mode: 0o755},
		"usr/bin/sh":           {Data: []byte("\x7fELF"), Mode: 0o755},
		"usr/bin/chown":        {Data: []byte("\x7fELF"), Mode: 0o755},
		"usr/bin/python3":      {Data: []byte("\x7fELF"), Mode: 0o755},
		"usr/local/bin/app.py": {Data: []byte("#!/usr/bin/python3\nprint(1)\n"), Mode: 0o755},
		"etc/systemd/system/a.service": {Data: []byte("[Service]\nExecStartPre=-/usr/bin/sh -c 'chown nobody /run/a; exec $CMD; echo done'\n" +
			"ExecStart=@ncat ncat -l 1\nExecStartPost=/usr/local/bin/app.py\n")},
	}
	cmds, err := unitfile.Commands(fsys, []string{"/etc/systemd/system/a.service"})
	if err != nil {
		t.Fatal(err)
	}
	ts := Targets(fsys, cmds, "a.service")
	got := map[string]Target{}
	for _, tg := range ts {
		got[tg.Path] = tg
	}
	for _, want := range []string{"/usr/bin/sh", "/usr/bin/chown", "/usr/bin/ncat", "/usr/local/bin/app.py", "/usr/bin/python3"} {
		if _, ok := got[want]; !ok {
			t.Errorf("missing %s in %+v", want, ts)
		}
	}
	if tg := got["/usr/bin/python3"]; tg.Interp != "/usr/local/bin/app.py" || !strings.Contains(strings.Join(tg.Notes, " "), "not followed") {
		t.Errorf("interpreter: %+v", tg)
	}
	if tg := got["/usr/bin/chown"]; !strings.Contains(tg.From[0], "via sh -c") {
		t.Errorf("sh -c: %+v", tg)
	}
	for in, want := range map[string]string{"/usr/lib/%p/%i-helper": "/usr/lib/getty/tty1-helper", "/usr/bin/%N": "/usr/bin/getty@tty1", "/x/%%": "/x/%", "%h/bin": ""} {
		got, ok := Specifiers(in, "getty@tty1.service")
		if got != want || ok != (want != "") {
			t.Errorf("Specifiers(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	if s := simpleCommands(`if [ -e /x ]; then exec /usr/bin/a --x; else b=1 c; fi && "$X" | grep y`); strings.Join(s, " ") != "/usr/bin/a c grep" {
		t.Errorf("simple commands: %q", s)
	}
}

// A program built here (gcc), checked against a filter: the calls it makes that the filter denies are
// predicted, with the implicit filters' too, and the fix covers the likely ones.
func TestPredict(t *testing.T) {
	if syscalls.HostArch() != syscalls.ArchX86_64 {
		t.Skipf("not run: the scanner analyses x86-64 code; this host is %s", syscalls.HostArch())
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("not run: no gcc (scripts/setup.sh installs it)")
	}
	bin := filepath.Join(t.TempDir(), "calls")
	if out, err := exec.Command("gcc", "-O2", "-o", bin, "../scan/testdata/calls.c").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	l := NewLoader(os.DirFS("/"))
	p := l.Analyze(bin)
	if p.Error != "" || len(p.Libs) == 0 {
		t.Fatalf("%+v", p)
	}
	v, _ := syscalls.ParseVersion("252.39")
	tb := syscalls.Select(v)
	as := []fixes.Assignment{{Directive: "SystemCallFilter", Value: "@system-service", File: "u", Line: 1},
		{Directive: "SystemCallFilter", Value: "~@network-io", File: "u", Line: 2}, {Directive: "ProtectClock", Value: "yes", File: "u", Line: 3}}
	f := fixes.Build(tb, as, nil)
	bs := Predict(f, fixes.Implicits(tb, as), []*Program{p}, syscalls.ArchX86_64)
	got := map[string]Blocked{}
	for _, b := range bs {
		got[b.Syscall+"/"+b.Implicit] = b
	}
	for _, want := range []string{"socket/", "swapon/", "ptrace/", "clock_adjtime/ProtectClock"} {
		if b, ok := got[want]; !ok || b.Confidence != "likely" {
			t.Errorf("%s: %+v (of %d predicted)", want, b, len(bs))
		}
	}
	if _, ok := got["fchown/"]; ok {
		t.Error("fchown is in @system-service: not blocked")
	}
	// clock_adjtime: denied by the allow list (it is @clock) and by ProtectClock=: both are named.
	if _, ok := got["clock_adjtime/"]; !ok {
		t.Error("clock_adjtime is outside @system-service too")
	}
	vs := Violations(bs, true)
	n := 0
	for _, v := range vs {
		if v.Name == "clock_adjtime" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("clock_adjtime once in the violations to fix (SystemCallFilter='s), got %d", n)
	}
	t.Logf("%d predicted blocked, %d likely for the fix; %.2fs", len(bs), len(vs), p.Seconds)
}

// The cache: a library's summaries by build-id, read back without a scan, and the same answer.
func TestCache(t *testing.T) {
	if syscalls.HostArch() != syscalls.ArchX86_64 {
		t.Skipf("not run: x86-64 only; this host is %s", syscalls.HostArch())
	}
	dir := t.TempDir()
	cold := NewLoader(os.DirFS("/"))
	cold.Cache = &Cache{Dir: dir}
	a := cold.Analyze("/usr/bin/sleep")
	if err := cold.Save(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Fatal("nothing cached")
	}
	warm := NewLoader(os.DirFS("/"))
	warm.Cache = &Cache{Dir: dir}
	b := warm.Analyze("/usr/bin/sleep")
	if len(a.Reached) != len(b.Reached) || len(a.Reached) == 0 {
		t.Errorf("cold %d calls, warm %d", len(a.Reached), len(b.Reached))
	}
	for _, lib := range warm.libs {
		if !lib.Cached() {
			t.Errorf("%s scanned again", lib.Name)
		}
	}
	t.Logf("sleep: cold %.3fs, warm %.3fs", a.Seconds, b.Seconds)
}
