package journal

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func readJSONFixture(t *testing.T, path string) []Fields {
	return readFixture(t, path, ReadJSON)
}

func readExportFixture(t *testing.T, path string) []Fields {
	return readFixture(t, path, ReadExport)
}

func readFixture(t *testing.T, path string, read func(io.Reader, func(Fields) error) error) []Fields {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Fields
	if err := read(f, func(e Fields) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseCoredump(t *testing.T) {
	for _, c := range []struct {
		file, unit, userUnit, fn, exe string
		pid                           int
	}{
		{"deny", "sysdiag-demo-deny.service", "", "__fchown", "/tmp/testbed/bin/probe", 8062},
		{"allow", "sysdiag-demo-allow.service", "", "syscall", "/tmp/testbed/bin/probe", 0},
		{"allowminus", "sysdiag-demo-allowminus.service", "", "__fchown", "/tmp/testbed/bin/probe", 0},
		{"swap", "sysdiag-demo-swap.service", "", "syscall", "/tmp/testbed/bin/probe", 0},
		{"user", "user@0.service", "sysdiag-demo-user.service", "__fchown", "/tmp/testbed/bin/probe", 8789},
	} {
		es := readJSONFixture(t, "testdata/debian12-systemd252-x86_64-"+c.file+".coredump.json")
		if len(es) != 1 {
			t.Fatalf("%s: %d entries", c.file, len(es))
		}
		cd, err := ParseCoredump(es[0])
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if cd.Unit != c.unit || cd.UserUnit != c.userUnit || cd.Signal != SIGSYS || cd.Exe != c.exe || (c.pid != 0 && cd.PID != c.pid) {
			t.Errorf("%s: %+v", c.file, cd)
		}
		f, ok := cd.Caller()
		if !ok || f.Function != c.fn || f.Module != "libc.so.6" {
			t.Errorf("%s: caller %+v, %v; want %s in libc.so.6", c.file, f, ok, c.fn)
		}
		if cd.Time.IsZero() || cd.Time.After(cd.EntryTime) || !strings.HasSuffix(cd.Filename, ".zst") {
			t.Errorf("%s: time %v entry %v file %q", c.file, cd.Time, cd.EntryTime, cd.Filename)
		}
	}
	es := readJSONFixture(t, "testdata/debian12-systemd252-x86_64-deny.coredump.json")
	cd, _ := ParseCoredump(es[0])
	if len(cd.Frames) != 4 || cd.Frames[0].Offset != 0xf9547 || cd.Frames[1].Module != "/tmp/testbed/bin/probe" || cd.Frames[1].Function != "" || cd.Arch != "AMD x86-64" {
		t.Errorf("frames: %+v arch %q", cd.Frames, cd.Arch)
	}
	if _, err := ParseCoredump(Fields{"MESSAGE_ID": MessageProcessExit}); err != ErrNotEntry {
		t.Errorf("another kind: %v", err)
	}
	if _, err := ParseCoredump(Fields{"MESSAGE_ID": MessageCoredump, "COREDUMP_PID": "x"}); err == nil {
		t.Error("bad COREDUMP_PID accepted")
	}
}

func TestParseStackThreads(t *testing.T) {
	msg := "Process 5 (x) of user 0 dumped core.\n\nModule /x without build-id.\nStack trace of thread 5:\n" +
		"#0  0x00007f0000000001 __socket (libc.so.6 + 0x10)\n#1  0x0000000000401000 main (/usr/bin/x + 0x1000)\n\n" +
		"Stack trace of thread 6:\n#0  0x00007f0000000002 futex_wait (libc.so.6 + 0x20)\n"
	th, frames, _ := ParseStack(msg)
	if th != 5 || len(frames) != 2 || frames[1].Function != "main" || frames[1].Offset != 0x1000 {
		t.Errorf("thread %d frames %+v", th, frames)
	}
	if _, fr, _ := ParseStack("no stack here\n#0 garbage"); fr != nil {
		t.Errorf("garbage parsed: %+v", fr)
	}
}

func TestParseUnitExit(t *testing.T) {
	es := readExportFixture(t, "testdata/debian12-systemd252-x86_64-deny.exit.export")
	e, err := ParseUnitExit(es[0])
	if err != nil {
		t.Fatal(err)
	}
	if e.Unit != "sysdiag-demo-deny.service" || e.User || e.ExitCode != "dumped" || e.ExitStatus != 31 || !e.Killed() ||
		e.Command != "ExecStart" || e.InvocationID != "44d688e713024d8e8b3036db6c85f549" {
		t.Errorf("%+v", e)
	}
	us := readExportFixture(t, "testdata/debian12-systemd252-x86_64-user.exit.export")
	u, err := ParseUnitExit(us[0])
	if err != nil || u.Unit != "sysdiag-demo-user.service" || !u.User || !u.Killed() || u.UserUID != 0 {
		t.Errorf("user: %+v %v", u, err)
	}
	fs := readExportFixture(t, "testdata/debian12-systemd252-x86_64-deny.failed.export")
	r, err := ParseUnitResult(fs[0])
	if err != nil || r.Result != "core-dump" || r.Unit != "sysdiag-demo-deny.service" {
		t.Errorf("result: %+v %v", r, err)
	}
}

func TestReadExportBinaryAndHostile(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("A=1\nBIN\n")
	binary.Write(&b, binary.LittleEndian, uint64(5))
	b.WriteString("x\ny\x00z\nC=3\n\nD=4\n")
	var got []Fields
	if err := ReadExport(&b, func(f Fields) error { got = append(got, f); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0]["BIN"] != "x\ny\x00z" || got[0]["C"] != "3" || got[1]["D"] != "4" {
		t.Errorf("%q", got)
	}
	for _, bad := range []string{"BIN\n\x05\x00", "BIN\n\xff\xff\xff\xff\xff\xff\xff\x7f", "=x\n", "BIN\n\x01\x00\x00\x00\x00\x00\x00\x00xy"} {
		if err := ReadExport(strings.NewReader(bad), func(Fields) error { return nil }); err == nil {
			t.Errorf("ReadExport(%q) did not fail", bad)
		}
	}
}

func TestReadCoreSigInfo(t *testing.T) {
	si, err := ReadCoreSigInfo("testdata/debian12-systemd252-x86_64-sh-chown-fchownat.core.zst")
	if err != nil {
		t.Fatal(err)
	}
	// The matching audit record: syscall=260 arch=c000003e ip=0x7f3987fdc5aa.
	if !si.IsSeccomp() || si.Syscall != 260 || si.Arch != 0xc000003e || si.CallAddr != 0x7f3987fdc5aa {
		t.Errorf("%+v", si)
	}
	if _, err := ParseCoreSigInfo([]byte("\x7fELF garbage")); err == nil {
		t.Error("garbage accepted")
	}
}

func TestE2ECaptureInvocation(t *testing.T) {
	cds := readJSONFixture(t, "testdata/e2e-deny-fchown.coredump.json")
	exits := readExportFixture(t, "testdata/e2e-deny-fchown.exit.export")
	if len(cds) != 1 || len(exits) != 1 {
		t.Fatalf("%d coredumps, %d exits", len(cds), len(exits))
	}
	c, err := ParseCoredump(cds[0])
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseUnitExit(exits[0])
	if err != nil {
		t.Fatal(err)
	}
	// The coredump's environment carries the invocation id systemd gave the process.
	if c.Invocation == "" || c.Invocation != e.InvocationID || c.Unit != e.Unit {
		t.Errorf("coredump invocation %q unit %q; exit %q %q", c.Invocation, c.Unit, e.InvocationID, e.Unit)
	}
	invs := Invocations(exits)
	if len(invs) != 1 || invs[0].ID != e.InvocationID || len(invs[0].Exits) != 1 {
		t.Errorf("%+v", invs)
	}
}

func TestMemoryQuery(t *testing.T) {
	m, err := LoadExport("../testdata/example/journal.export")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	m.Query([]string{"MESSAGE_ID=" + MessageCoredump, "COREDUMP_UNIT=remote-ssh-agent.service"}, time.Time{}, time.Time{}, func(Fields) error { n++; return nil })
	if n != 1 {
		t.Errorf("%d coredumps in the example", n)
	}
	n = 0
	if err := m.Query([]string{"_TRANSPORT=audit", "_AUDIT_TYPE=1326"}, time.Time{}, time.Time{}, func(Fields) error { n++; return nil }); err != nil || n == 0 {
		t.Errorf("SECCOMP records in the example: %d, %v", n, err)
	}
	n = 0
	m.Query([]string{"_TRANSPORT=audit", "_AUDIT_TYPE=1326"}, time.Unix(4000000000, 0), time.Time{}, func(Fields) error { n++; return nil })
	if n != 0 {
		t.Errorf("since the future: %d entries", n)
	}
	if st := m.Stats(); st.Entries == 0 || st.Kept == 0 || st.Damaged() {
		t.Errorf("stats %+v", st)
	}
}

// A COREDUMP_FILENAME naming a FIFO (or a device) must not block: only regular files are read.
func TestReadCoreSigInfoNotRegular(t *testing.T) {
	fifo := t.TempDir() + "/fifo"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadCoreSigInfo(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a FIFO read as a core")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadCoreSigInfo blocked on a FIFO")
	}
	if _, err := ReadCoreSigInfo("/dev/null"); err == nil {
		t.Fatal("/dev/null read as a core")
	}
}
