package scan

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/sysdiag/sysdiag/syscalls"
)

// build compiles a test program (gcc for C, go build for Go) into the test's directory.
func build(t *testing.T, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "prog")
	var cmd *exec.Cmd
	if args[0] == "go" {
		cmd = exec.Command("go", "build", "-o", out, args[1])
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	} else {
		if _, err := exec.LookPath("gcc"); err != nil {
			t.Skip("not run: no gcc on this machine (scripts/setup.sh installs it)")
		}
		cmd = exec.Command("gcc", append(args, "-o", out)...)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
	}
	return out
}

func open(t *testing.T, p string) *Binary {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	b, err := Open(f, st.Size(), p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reached scans a program with its libraries as the loader finds them on this machine.
func reached(t *testing.T, b *Binary) map[string]Reached {
	t.Helper()
	var libs []*Library
	seen := map[string]bool{}
	queue := append([]string(nil), b.Needed...)
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		for _, d := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64"} {
			p := filepath.Join(d, n)
			if _, err := os.Stat(p); err == nil {
				lb := open(t, p)
				libs = append(libs, NewLibrary(n, lb))
				queue = append(queue, lb.Needed...)
				break
			}
		}
	}
	var interp *Binary
	if b.Interp != "" {
		interp = open(t, b.Interp)
	}
	m := map[string]Reached{}
	for _, r := range Reach(b, libs, interp) {
		m[r.Name] = r
	}
	return m
}

func needX86(t *testing.T) {
	if syscalls.HostArch() != syscalls.ArchX86_64 {
		t.Skipf("not run: the scanner analyses x86-64 code and the test programs are built for this host (%s)", syscalls.HostArch())
	}
}

// The C program, dynamic and static: every call it makes is found, each with its way in.
func TestCProgram(t *testing.T) {
	needX86(t)
	for _, c := range []struct {
		name  string
		flags []string
	}{{"dynamic", []string{"-O2"}}, {"static", []string{"-O2", "-static"}}} {
		t.Run(c.name, func(t *testing.T) {
			p := build(t, append(c.flags, "testdata/calls.c")...)
			b := open(t, p)
			if b.Static != (c.name == "static") || b.BuildID == "" {
				t.Errorf("static %v build-id %q", b.Static, b.BuildID)
			}
			m := reached(t, b)
			for _, want := range []string{"socket", "fchown", "swapon", "clock_adjtime", "ptrace", "exit_group"} {
				r, ok := m[want]
				if !ok {
					t.Errorf("%s not found (%d calls reached)", want, len(m))
					continue
				}
				if r.Confidence != "likely" {
					t.Errorf("%s: %s via %+v, want likely", want, r.Confidence, r.Via)
				}
			}
			if c.name == "dynamic" {
				if v := m["socket"].Via[0]; v.Symbol != "socket" || v.Lib != "libc.so.6" {
					t.Errorf("socket via %+v", v)
				}
				if v := m["swapon"].Via[0]; v.Symbol != "syscall" {
					t.Errorf("swapon (syscall(SYS_swapon)) via %+v", v)
				}
				if v := m["ptrace"].Via[0]; v.Symbol != "" {
					t.Errorf("ptrace is the program's own instruction: %+v", v)
				}
			}
			if _, ok := m["mount"]; ok && c.name == "dynamic" {
				t.Logf("note: mount reached too (over-approximation through libc): %+v", m["mount"].Via)
			}
			t.Logf("%s: %d calls reached, %d sites with a computed number", c.name, len(m), b.Unknown)
		})
	}
}

// A Go program (static, its own wrappers): socket through syscall.Socket, ptrace through
// syscall.Syscall with a constant.
func TestGoProgram(t *testing.T) {
	needX86(t)
	p := build(t, "go", "./testdata/goprog")
	b := open(t, p)
	if !b.Go || !b.Static {
		t.Errorf("go %v static %v", b.Go, b.Static)
	}
	m := reached(t, b)
	for _, want := range []string{"socket", "ptrace", "exit_group", "mmap"} {
		if _, ok := m[want]; !ok {
			t.Errorf("%s not found in the Go program (%d calls reached)", want, len(m))
		}
	}
	t.Logf("go: %d calls reached, %d sites with a computed number", len(m), b.Unknown)
}

// Other ABIs are named, not guessed; garbage is an error, not a panic.
func TestNotAnalysed(t *testing.T) {
	if _, err := Open(bytes.NewReader([]byte("not an elf")), 10, "x"); err == nil {
		t.Error("garbage accepted")
	}
	if _, err := exec.LookPath("gcc"); err == nil && syscalls.HostArch() == syscalls.ArchX86_64 {
		out := filepath.Join(t.TempDir(), "p32")
		if b, err := exec.Command("gcc", "-m32", "-static", "-O2", "-o", out, "testdata/calls.c").CombinedOutput(); err != nil {
			t.Logf("no i386 build here (gcc-multilib): %v %s", err, b)
			return
		}
		f, _ := os.Open(out)
		defer f.Close()
		st, _ := f.Stat()
		b, err := Open(f, st.Size(), out)
		if err != ErrArch || b == nil || b.Arch != syscalls.ArchI386 {
			t.Errorf("i386: %v %+v", err, b)
		}
	}
}

// A file past a bound is refused as too large, with what it has and the bound, before it is decoded.
// The bounds are lowered here: the test binary itself stands for a large file.
func TestTooLarge(t *testing.T) {
	needX86(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b := open(t, exe) // within the real bounds
	if len(b.funcs) == 0 {
		t.Fatal("no functions")
	}
	for _, c := range []struct {
		name  string
		lower func()
		want  string
	}{
		{"code", func() { maxCode = 1 << 20 }, `^too large \([0-9.]+ MiB of code, the bound is 1 MiB\)$`},
		{"tables", func() { maxTables = 1 << 20 }, `^too large \([0-9.]+ MiB of symbol and relocation tables, the bound is 1 MiB\)$`},
		{"functions", func() { maxFuncs = 100 }, `^too large \(more than 100 functions, the bound is 100\)$`},
		{"one function", func() { maxFuncInsts = 10 }, `^too large \(a function of more than 10 instructions, the bound is 10\)$`},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func(code, tables int64, funcs, insts int) {
				maxCode, maxTables, maxFuncs, maxFuncInsts = code, tables, funcs, insts
			}(maxCode, maxTables, maxFuncs, maxFuncInsts)
			c.lower()
			f, err := os.Open(exe)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			b, err := Open(f, st.Size(), exe)
			var tl *TooLargeError
			if !errors.As(err, &tl) || b != nil {
				t.Fatalf("Open with the bound lowered: %v (binary %v), want a *TooLargeError and nothing", err, b != nil)
			}
			if !regexp.MustCompile(c.want).MatchString(err.Error()) {
				t.Errorf("%q does not match %s", err, c.want)
			}
		})
	}
}
