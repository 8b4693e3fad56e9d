package e2e

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/internal/testbed"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func pollT(d time.Duration, f func() bool) bool { return testbed.Poll(d, f) }

func sortStrings(s []string) { sort.Strings(s) }

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 && s[i] != '\t' {
			return false
		}
	}
	return true
}

// watchProc is a running `sysdiag watch --json` on the host.
type watchProc struct {
	cmd    *exec.Cmd
	lines  chan []byte   // one JSON object each; closed when watch ends
	stderr *bytes.Buffer // where the caller keeps it, for a failure's message
}

func startWatch(tb testing.TB, args ...string) *watchProc {
	tb.Helper()
	return runWatch(tb, exec.Command(sysdiag, append([]string{"watch", "--json"}, args...)...))
}

// runWatch starts a watch command (on the host, or through nsenter in the bed) and collects its lines.
func runWatch(tb testing.TB, cmd *exec.Cmd) *watchProc {
	tb.Helper()
	cmd.WaitDelay = 5 * time.Second // a child that outlives the killed process must not hold Wait forever
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	w := &watchProc{cmd: cmd, lines: make(chan []byte, 1000)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			w.lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(w.lines)
	}()
	return w
}

// next decodes the next line into v; false after d or when watch ended.
func (w *watchProc) next(v any, d time.Duration) bool {
	select {
	case l, ok := <-w.lines:
		return ok && json.Unmarshal(l, v) == nil
	case <-time.After(d):
		return false
	}
}

// stop sends SIGINT (watch prints its summary) and waits.
func (w *watchProc) stop() { w.cmd.Process.Signal(syscall.SIGINT) }

// libcAliases lists every name libc's dynamic symbol table gives the address of name (fchown and
// __fchown are one function): which of them a stack trace shows depends on the root the libraries
// come from, so a check on a frame accepts any of them.
func libcAliases(t *testing.T, name string) []string {
	t.Helper()
	var lib string
	for _, p := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"} {
		if _, err := os.Stat(p); err == nil {
			lib = p
			break
		}
	}
	if lib == "" {
		return []string{name}
	}
	f, err := elf.Open(lib)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	// A local name (__fchown) may be absent from the dynamic table, which exports its public alias
	// (fchown): look both up.
	addrs := map[uint64]bool{}
	for _, s := range syms {
		if (s.Name == name || s.Name == strings.TrimLeft(name, "_")) && s.Value != 0 && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			addrs[s.Value] = true
		}
	}
	out := []string{name}
	for _, s := range syms {
		if addrs[s.Value] && elf.ST_TYPE(s.Info) == elf.STT_FUNC && !slices.Contains(out, s.Name) {
			out = append(out, s.Name)
		}
	}
	return out
}

func TestLibcAliases(t *testing.T) {
	a := libcAliases(t, "__fchown")
	if !slices.Contains(a, "fchown") || !slices.Contains(a, "__fchown") {
		t.Fatalf("aliases of __fchown: %v", a)
	}
}

// userManager starts root's user manager (user@0.service) in the bed for the test, and stops it after.
func userManager(t *testing.T) {
	t.Helper()
	if _, err := bed.Systemctl("start", "user@0.service"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bed.Systemctl("stop", "user@0.service") })
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// raiseAuditBacklog raises the kernel's audit backlog limit for a flood test, as auditd's rules would, and
// puts it back. At the default 64 (no auditd rules) a flooding process waits in audit_log_start for room
// (backlog_wait_time, 60 s) whenever kauditd falls behind: on a loaded 2-core machine the flood then
// stalls (measured: 36 582 records in 0.8 s, then 50 s of nothing; backlog_wait_time_actual 112 151) —
// the kernel throttling the unit, not what the test measures. The test says which it did.
func raiseAuditBacklog(t *testing.T) {
	t.Helper()
	was, err := testbed.AuditBacklog()
	if err != nil {
		t.Logf("the audit backlog limit is unknown (%v): left as it is", err)
		return
	}
	if n, _ := strconv.Atoi(was); n >= 8192 {
		return
	}
	if err := testbed.SetAuditBacklog("8192"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testbed.SetAuditBacklog(was); err != nil {
			t.Errorf("putting the audit backlog limit back: %v", err)
		}
	})
	t.Logf("the kernel's audit backlog limit was %s (no auditd rules): raised to 8192, as auditd's would, for the flood", was)
}
