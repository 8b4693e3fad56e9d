package check

import (
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/scan"
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

// A tree with the programs but not their libraries: what was not analysed is named, with why, once per
// file for all the programs it concerns; a program that is not ELF is named too.
func TestIncomplete(t *testing.T) {
	if syscalls.HostArch() != syscalls.ArchX86_64 {
		t.Skipf("not run: x86-64 only; this host is %s", syscalls.HostArch())
	}
	prog, err := os.ReadFile("/usr/bin/true")
	if err != nil {
		t.Skipf("not run: no /usr/bin/true to copy: %v", err)
	}
	fsys := fstest.MapFS{
		"usr/bin/true":  {Data: prog, Mode: 0o755},
		"usr/bin/true2": {Data: prog, Mode: 0o755},
		"usr/bin/fake":  {Data: []byte("not an ELF file"), Mode: 0o755},
	}
	l := NewLoader(fsys)
	var progs []*Program
	for _, p := range []string{"/usr/bin/true", "/usr/bin/true2", "/usr/bin/fake", "/usr/bin/absent"} {
		progs = append(progs, l.AnalyzeTarget(Target{Path: p}))
	}
	progs = append(progs, l.AnalyzeTarget(Target{Path: "/usr/lib/%h/x", NotAnalysed: "a specifier in its path that is not known offline"}))
	if progs[0].Error != "" || len(progs[0].NotAnalysed) != 2 {
		t.Fatalf("true: %+v", progs[0])
	}
	got := map[string]NotAnalysed{}
	for _, n := range Incomplete(progs) {
		got[n.Path] = n
	}
	want := map[string]struct{ what, reason, progs string }{
		"libc.so.6":                   {"library", "not found in the loader's search path (needed by /usr/bin/true)", "/usr/bin/true /usr/bin/true2"},
		"/lib64/ld-linux-x86-64.so.2": {"dynamic loader", "not found", "/usr/bin/true /usr/bin/true2"},
		"/usr/bin/fake":               {"program", "not an ELF file", "/usr/bin/fake"},
		"/usr/bin/absent":             {"program", "not found", "/usr/bin/absent"},
		"/usr/lib/%h/x":               {"program", "a specifier in its path that is not known offline", "/usr/lib/%h/x"},
	}
	if len(got) != len(want) {
		t.Errorf("%d not analysed, want %d: %+v", len(got), len(want), got)
	}
	for p, w := range want {
		n := got[p]
		if n.What != w.what || n.Reason != w.reason || strings.Join(n.Programs, " ") != w.progs {
			t.Errorf("%s: %+v, want %+v", p, n, w)
		}
	}
	if ns := Incomplete(nil); ns == nil || len(ns) != 0 {
		t.Errorf("nothing analysed, nothing left out: %v", ns)
	}
}

// The reasons people read: the scanner's refusals keep their numbers.
func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		&scan.TooLargeError{What: "code", Size: 80 << 20, Bound: 64 << 20}: "too large (80.0 MiB of code, the bound is 64 MiB)",
		&fs.PathError{Op: "open", Path: "x", Err: fs.ErrPermission}:        "permission denied",
		&fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}:          "not found",
		errNotRegular: "not a regular file",
		io.EOF:        "not an ELF file",
	} {
		if got := reason(nil, err); got != want {
			t.Errorf("reason(%v) = %q, want %q", err, got, want)
		}
	}
	if got := reason(&scan.Binary{Arch: syscalls.ArchAARCH64}, scan.ErrArch); got != "aarch64 code: only x86-64 is analysed" {
		t.Errorf("aarch64: %q", got)
	}
}
