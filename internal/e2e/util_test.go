package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"os/exec"
	"sort"
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
	cmd   *exec.Cmd
	lines chan []byte // one JSON object each; closed when watch ends
}

func startWatch(tb testing.TB, args ...string) *watchProc {
	tb.Helper()
	cmd := exec.Command(sysdiag, append([]string{"watch", "--json"}, args...)...)
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
