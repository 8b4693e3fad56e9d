package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/internal/auditgen"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n"))
}

func ms(sec, msec int64) time.Time { return time.Unix(sec, msec*1e6).UTC() }

func TestParseLogLineEnriched(t *testing.T) {
	lines := readLines(t, "testdata/debian12-systemd252-x86_64-auditd-enriched-swapon.audit.log")
	r, err := ParseLogLine(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	want := Record{Source: "audit.log", Time: ms(1795346355, 946), Serial: 185, AUID: Unset, UID: 0, GID: 0,
		Ses: Unset, PID: 8575, Comm: "probe", Exe: "/tmp/testbed/bin/probe", Sig: 31, Arch: syscalls.ArchX86_64,
		Syscall: 167, Name: "swapon", IP: 0x7f87aaa38829, Code: 0x80000000, Action: ActionKillProcess}
	if r != want {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
	// The ENRICHED tail says SYSCALL=unknown-syscall(-1): it must not leak into any field.
	if _, err := ParseLogLine(lines[1]); !errors.Is(err, ErrNotSeccomp) {
		t.Errorf("ANOM_ABEND line: %v, want ErrNotSeccomp", err)
	}
}

func TestSameKillInEverySource(t *testing.T) {
	// One fchown kill as dmesg printed it and as journald's audit and kernel transports stored it.
	dm := readLines(t, "testdata/debian12-systemd252-x86_64-deny-fchown.dmesg.txt")
	k, err := ParseKmsgLine(dm[0])
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for _, f := range []string{"testdata/debian12-systemd252-x86_64-deny-fchown.journal-audit.export",
		"testdata/debian12-systemd252-x86_64-deny-fchown.journal-kernel.export"} {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		err = journal.ReadExport(fh, func(fields journal.Fields) error {
			r, err := FromJournal(fields)
			if err != nil {
				return err
			}
			recs = append(recs, r)
			return nil
		})
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if len(recs) != 2 {
		t.Fatalf("%d journal records, want 2", len(recs))
	}
	if recs[0].Source != "journal-audit" || recs[1].Source != "journal-kernel" || k.Source != "kmsg" {
		t.Errorf("sources: %s %s %s", recs[0].Source, recs[1].Source, k.Source)
	}
	for _, r := range append(recs, k) {
		r.Source = ""
		want := Record{Time: ms(1795346348, 230), Serial: 178, AUID: Unset, Ses: Unset, PID: 8062, Comm: "probe",
			Exe: "/tmp/testbed/bin/probe", Sig: 31, Arch: syscalls.ArchX86_64, Syscall: 93, Name: "fchown",
			IP: 0x7f43f7116547, Code: 0x80000000, Action: ActionKillProcess}
		if r != want {
			t.Errorf("got  %+v\nwant %+v", r, want)
		}
	}
}

func TestWrittenFromFormat(t *testing.T) {
	lines := readLines(t, "testdata/written-from-format-foreign-abi-and-encodings.audit.log")
	var got []Record
	for _, l := range lines {
		r, err := ParseLogLine(l)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, r)
	}
	check := func(i int, name string, arch syscalls.Arch, compat int, action Action) {
		t.Helper()
		r := got[i]
		if r.Name != name || r.Arch != arch || r.Compat != compat || r.Action != action {
			t.Errorf("record %d: %s/%s compat=%d %s; want %s/%s compat=%d %s", i, r.Name, r.Arch, r.Compat, r.Action, name, arch, compat, action)
		}
	}
	check(0, "fchown32", syscalls.ArchI386, 1, ActionKillProcess)
	check(1, "socketcall", syscalls.ArchI386, 1, ActionKillThread)
	check(2, "socket", syscalls.ArchAARCH64, 0, ActionKillProcess)
	check(3, "fchown", syscalls.ArchX86_64, 0, ActionKillProcess)
	check(4, "swapon", syscalls.ArchX86_64, 0, ActionLog)
	check(5, "ptrace", syscalls.ArchX86_64, 0, ActionErrno)
	check(6, "mseal", syscalls.ArchLOONGARCH64, 0, ActionKillProcess)
	check(7, "riscv_flush_icache", syscalls.ArchRISCV64, 0, ActionKillProcess)
	if got[2].Node != "arm-builder" || got[2].Subj != "snap.agent.agent (enforce)" {
		t.Errorf("node/subj: %q %q", got[2].Node, got[2].Subj)
	}
	if got[3].Exe != "/opt/my app/probe" || got[3].Comm != "probe" {
		t.Errorf("hex decoding: comm %q exe %q", got[3].Comm, got[3].Exe)
	}
	if got[5].Code&0xffff != 1 || got[1].Code != 0 {
		t.Errorf("codes: %#x %#x", got[5].Code, got[1].Code)
	}
	if got[0].UID != 1000 || got[0].AUID != 1000 || got[0].Ses != 3 {
		t.Errorf("ids: %+v", got[0])
	}
}

func TestScanHostile(t *testing.T) {
	f, err := os.Open("testdata/hostile.audit.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []Record
	st, err := Scan(f, func(r Record) error { got = append(got, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	// Decoded: the control-byte record (CRLF) and the last one (no newline at EOF). Malformed: bad arch,
	// bad header, missing code, text glued to a closing quote. Too long: the 360 KB line. The marker inside USER_CMD is not a record.
	if st.Records != 2 || len(got) != 2 || st.Malformed != 4 || st.TooLong != 1 {
		t.Errorf("stats %+v, %d records", st, len(got))
	}
	if len(got) == 2 && (got[0].Comm != "evil\x1b[2J" || got[0].PID != 77 || got[1].PID != 78) {
		t.Errorf("records: %+v", got)
	}
	if fi, _ := f.Stat(); st.Bytes != fi.Size() {
		t.Errorf("read %d bytes of %d", st.Bytes, fi.Size())
	}
}

func TestScanMatchesGrep(t *testing.T) {
	// A generated log: every SECCOMP line is found once, across chunk boundaries.
	var buf bytes.Buffer
	n, err := auditgen.Generate(&buf, auditgen.Options{Size: 5 << 20, SeccompShare: 0.01, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Count(buf.Bytes(), []byte("type=SECCOMP msg=audit("))
	st, err := Scan(bytes.NewReader(buf.Bytes()), func(Record) error { return nil })
	if err != nil || st.Records != want || st.Records != n || st.Malformed != 0 {
		t.Errorf("Scan: %+v %v; grep counts %d, generator wrote %d", st, err, want, n)
	}
	stopped := 0
	if _, err := Scan(bytes.NewReader(buf.Bytes()), func(Record) error { stopped++; return ErrStop }); err != nil || stopped != 1 {
		t.Errorf("ErrStop: %v after %d", err, stopped)
	}
	// Records come in file order across chunks and workers.
	var last uint64
	inOrder := true
	Scan(bytes.NewReader(buf.Bytes()), func(r Record) error {
		inOrder = inOrder && r.Serial > last
		last = r.Serial
		return nil
	})
	if !inOrder {
		t.Error("records out of file order")
	}
}

func TestFindOffsetAndWindow(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/audit.log"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auditgen.Generate(f, auditgen.Options{Size: 8 << 20, SeccompShare: 0.01, Seed: 3, Start: 1795300000, MeanGapMS: 1000}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var all []Record
	if _, err := ReadLogFile(path, Window{}, func(r Record) error { all = append(all, r); return nil }); err != nil {
		t.Fatal(err)
	}
	since := all[len(all)*3/4].Time
	until := all[len(all)*7/8].Time
	var want []Record
	for _, r := range all {
		if !r.Time.Before(since) && !r.Time.After(until) {
			want = append(want, r)
		}
	}
	var got []Record
	st, err := ReadLogFile(path, Window{Since: since, Until: until}, func(r Record) error { got = append(got, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) == 0 || got[0] != want[0] || got[len(got)-1] != want[len(want)-1] {
		t.Errorf("window: %d records, want %d", len(got), len(want))
	}
	fi, _ := os.Stat(path)
	if st.Bytes > fi.Size()/3 {
		t.Errorf("a window near the end read %d of %d bytes: it did not seek", st.Bytes, fi.Size())
	}
}

func TestLogFilesRotations(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"audit.log", "audit.log.1", "audit.log.2", "audit.log.10", "other.log"} {
		os.WriteFile(dir+"/"+n, nil, 0o644)
	}
	got, err := LogFiles([]string{dir + "/audit.log"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range got {
		names = append(names, strings.TrimPrefix(g, dir+"/"))
	}
	if strings.Join(names, " ") != "audit.log.10 audit.log.2 audit.log.1 audit.log" {
		t.Errorf("rotations: %v", names)
	}
	if _, err := LogFiles([]string{dir + "/nomatch*"}); err == nil {
		t.Error("a glob matching nothing did not fail")
	}
}

func TestParseFieldsRejects(t *testing.T) {
	for _, s := range []string{"", "pid=1", "pid=x arch=c000003e syscall=1 code=0x0", `pid=1 comm="x arch=c000003e`} {
		if r, err := ParseFields(s); err == nil || r != (Record{}) {
			t.Errorf("ParseFields(%q) = %+v, %v", s, r, err)
		}
	}
}

func TestE2ECaptures(t *testing.T) {
	// Refreshed by the real-systemd tests: auditd ENRICHED with a binary at a path with a space.
	lines := readLines(t, "testdata/e2e-auditd-enriched-hexexe-swapon.audit.log")
	r, err := ParseLogLine(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.Exe != "/opt/sysdiag-e2e/my app/probe" || r.Name != "swapon" || r.Action != ActionKillProcess {
		t.Errorf("%+v", r)
	}
	f, err := os.Open("testdata/e2e-deny-fchown.journal-audit.export")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	err = journal.ReadExport(f, func(fl journal.Fields) error {
		r, err := FromJournal(fl)
		if err == nil && r.Name == "fchown" && r.Source == "journal-audit" && r.Serial != 0 {
			n++
		}
		return err
	})
	if err != nil || n != 1 {
		t.Errorf("journal-audit capture: %d records, %v", n, err)
	}
}

func TestReadLogFileMappedMatchesScan(t *testing.T) {
	for _, p := range []string{"testdata/hostile.audit.log", "testdata/written-from-format-foreign-abi-and-encodings.audit.log"} {
		f, _ := os.Open(p)
		var a, b []Record
		sa, err1 := Scan(f, func(r Record) error { a = append(a, r); return nil })
		f.Close()
		sb, err2 := ReadLogFile(p, Window{}, func(r Record) error { b = append(b, r); return nil })
		if err1 != nil || err2 != nil || sa != sb || len(a) != len(b) {
			t.Errorf("%s: Scan %+v %v, mapped %+v %v", p, sa, err1, sb, err2)
		}
		for i := range a {
			if i < len(b) && a[i] != b[i] {
				t.Errorf("%s: record %d differs", p, i)
			}
		}
	}
}

func TestMappedStopEarly(t *testing.T) {
	// Stopping in the first chunk of a large mapped log while later chunks are being searched must not
	// touch the mapping after it is gone (run with -race; it crashed before the producer was awaited).
	path := t.TempDir() + "/audit.log"
	f, _ := os.Create(path)
	auditgen.Generate(f, auditgen.Options{Size: 64 << 20, SeccompShare: 0.01, Seed: 9})
	f.Close()
	for i := 0; i < 20; i++ {
		n := 0
		if _, err := ReadLogFile(path, Window{}, func(Record) error { n++; return ErrStop }); err != nil || n != 1 {
			t.Fatalf("%d callbacks, %v", n, err)
		}
	}
}

func TestFollowLogRotation(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/audit.log"
	line := func(serial int) string {
		return fmt.Sprintf("type=SECCOMP msg=audit(1795346400.%03d:%d): pid=%d comm=\"p\" exe=\"/p\" sig=31 arch=c000003e syscall=41 compat=0 ip=0x1 code=0x80000000\n", serial%1000, serial, serial)
	}
	os.WriteFile(path, []byte(line(1)), 0o644) // before the start: not reported
	lf, err := FollowLog(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan int, 10)
	done := make(chan error)
	go func() {
		done <- lf.Run(ctx, func(r Record) error { got <- r.PID; return nil })
	}()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(line(2))
	f.Close()
	// auditd rotates: the log moves to audit.log.1 and a new one starts.
	os.Rename(path, path+".1")
	os.WriteFile(path, []byte(line(3)), 0o644)
	var pids []int
	for len(pids) < 2 {
		select {
		case p := <-got:
			pids = append(pids, p)
		case <-time.After(5 * time.Second):
			t.Fatalf("followed %v", pids)
		}
	}
	cancel()
	if err := <-done; err != nil || pids[0] != 2 || pids[1] != 3 {
		t.Errorf("pids %v, err %v", pids, err)
	}
}

func TestMappedTruncatedWhileRead(t *testing.T) {
	// logrotate's copytruncate empties the live log while sysdiag reads it: the mapped pages past the new
	// end fault with SIGBUS. That must be an error for this file, not a crash. The first record's callback
	// truncates the file; at most 2×workers chunks are in flight then, so later chunks fault for sure.
	path := t.TempDir() + "/audit.log"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	auditgen.Generate(f, auditgen.Options{Size: 128 << 20, SeccompShare: 0.01, Seed: 3})
	f.Close()
	n := 0
	_, err = ReadLogFile(path, Window{}, func(Record) error {
		if n++; n == 1 {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("after %d records: err = %v, want ErrTruncated", n, err)
	}
	// A record that is not the fault's is never half-delivered: the callback saw whole records only.
	if n == 0 {
		t.Fatal("no record before the truncation")
	}
}

// A line longer than MaxLine appended to a followed log, written in pieces: dropped whole (its tail is
// not taken for a line of its own, even when the tail looks like a record), counted once, and the record
// after it is reported.
func TestFollowLogLongLine(t *testing.T) {
	path := t.TempDir() + "/audit.log"
	os.WriteFile(path, nil, 0o644)
	lf, err := FollowLog(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(pid int) string {
		return fmt.Sprintf("type=SECCOMP msg=audit(1795346400.000:%d): pid=%d comm=\"p\" exe=\"/p\" sig=31 arch=c000003e syscall=41 compat=0 ip=0x1 code=0x80000000", pid, pid)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	// 3 MiB of junk, then — on the same line — text shaped like a record, then a real record.
	for i := 0; i < 3; i++ {
		f.WriteString(strings.Repeat("x", 1<<20))
	}
	f.WriteString(" " + rec(666) + "\n" + rec(7) + "\n")
	f.Close()
	var pids []int
	if err := lf.drain(make([]byte, 1<<20), func(r Record) error { pids = append(pids, r.PID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pids, []int{7}) || lf.Stats().TooLong != 1 {
		t.Errorf("pids %v, too long %d; want [7], 1", pids, lf.Stats().TooLong)
	}
}
