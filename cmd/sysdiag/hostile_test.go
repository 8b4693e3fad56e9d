package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// The hostile suite (testdata/script/hostile_*.txtar) feeds sysdiag the inputs of ../shared/REVIEW.md §2,
// made at test time by `gen KIND FILE [ARGS]` — nothing large is checked in. Each kind is one finding's
// input shape, small enough for CI but of the same shape (a line longer than the scanner's limit, a
// sparse file with a hole larger than a chunk, records out of order, …).

// t0 is the kills' time: 2026-11-23 10:00:00 UTC.
const t0 = 1795428000

// killLine is one auditd SECCOMP kill record (the form of audit/testdata's real captures).
func killLine(node string, sec int64, ms, serial, pid, syscall int) string {
	n := ""
	if node != "" {
		n = "node=" + node + " "
	}
	return fmt.Sprintf("%stype=SECCOMP msg=audit(%d.%03d:%d): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=%d comm=\"probe\" exe=\"/opt/hostile/probe\" sig=31 arch=c000003e syscall=%d compat=0 ip=0x7f87aaa38829 code=0x80000000\n",
		n, sec, ms, serial, pid, syscall)
}

// kmsgLine is the same record as dmesg prints it.
func kmsgLine(sec int64, serial, pid, syscall int) string {
	return fmt.Sprintf("[ 2810.565081] audit: type=1326 audit(%d.230:%d): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=%d comm=\"probe\" exe=\"/opt/hostile/probe\" sig=31 arch=c000003e syscall=%d compat=0 ip=0x7f43f7116547 code=0x80000000\n",
		sec, serial, pid, syscall)
}

func genCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: gen KIND FILE [ARGS]")
	}
	kind, out := args[0], ts.MkAbs(args[1])
	num := func(i int, def int) int {
		if len(args) > i {
			n, err := strconv.Atoi(args[i])
			ts.Check(err)
			return n
		}
		return def
	}
	var b bytes.Buffer
	switch kind {
	case "longline": // a 3 MiB line with no record, then N kills: nothing after a long line may be lost
		b.WriteString("type=UNKNOWN msg=audit(" + strconv.Itoa(t0) + ".000:1): " + strings.Repeat("x", 3<<20) + "\n")
		for i := 0; i < num(2, 50); i++ {
			b.WriteString(killLine("", t0+int64(i), 0, 1000+i, 5000+i, 93))
		}
	case "future": // N kills one second apart, the middle one dated a year ahead (a clock step)
		n := num(2, 9)
		for i := 0; i < n; i++ {
			sec := t0 + int64(i)
			if i == n/2 {
				sec += 365 * 24 * 3600
			}
			b.WriteString(killLine("", sec, 0, 2000+i, 6000+i, 93))
		}
	case "nodes": // two hosts, the same serial, time and pid, different calls: two kills
		b.WriteString(killLine("web1", t0, 500, 77, 4242, 93))
		b.WriteString(killLine("web2", t0, 500, 77, 4242, 167))
	case "reversed": // N kills in one second, newest first (descending serial and millisecond)
		n := num(2, 20000)
		for i := n - 1; i >= 0; i-- {
			b.WriteString(killLine("", t0, i%1000, 10000+i, 7000+i%30000, 93))
		}
	case "sparse": // SIZE MiB of hole with no newline, then one kill at the very end
		size := int64(num(2, 256)) << 20
		rec := "\n" + killLine("", t0, 0, 3000, 8000, 93) // the hole is one line with no newline
		f, err := os.Create(out)
		ts.Check(err)
		ts.Check(f.Truncate(size))
		_, err = f.WriteAt([]byte(rec), size-int64(len(rec)))
		ts.Check(err)
		ts.Check(f.Close())
		return
	case "kmsg-longline": // dmesg text: a 300 KiB line, then N kills
		b.WriteString("[    0.000000] " + strings.Repeat("y", 300<<10) + "\n")
		for i := 0; i < num(2, 3); i++ {
			b.WriteString(kmsgLine(t0+int64(i), 4000+i, 9000+i, 93))
		}
	case "crlf", "cut", "nots": // the bundled export with CRLF line ends / cut mid-line / without __REALTIME_TIMESTAMP
		raw, err := os.ReadFile(ts.MkAbs(args[2]))
		ts.Check(err)
		switch kind {
		case "crlf":
			raw = bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
		case "cut":
			raw = append(raw, []byte("\nMESSAGE=a copy cut in the middle of a li")...)
		case "nots":
			var keep [][]byte
			for _, l := range bytes.Split(raw, []byte("\n")) {
				if !bytes.HasPrefix(l, []byte("__REALTIME_TIMESTAMP=")) {
					keep = append(keep, l)
				}
			}
			raw = bytes.Join(keep, []byte("\n"))
		}
		b.Write(raw)
	default:
		ts.Fatalf("gen: unknown kind %q", kind)
	}
	ts.Check(os.WriteFile(out, b.Bytes(), 0o644))
}

// exitsCmd is `exits N PROG ARGS…`: runs PROG like exec and fails unless its exit status is N (the
// documented codes of `sysdiag help exit-codes`); its stdout and stderr are kept for the next checks.
func exitsCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N PROG [ARGS]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	code := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%v", err)
		}
		code = ee.ExitCode()
	}
	if code != want {
		ts.Fatalf("exit status %d, want %d", code, want)
	}
}
