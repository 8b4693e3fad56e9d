package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func readAll(t testing.TB, data []byte) ([]Fields, ExportStats, error) {
	t.Helper()
	var got []Fields
	st, err := ReadExportStats(bytes.NewReader(data), func(f Fields) error { got = append(got, f); return nil })
	return got, st, err
}

// binaryField is "NAME\n" + a little-endian size + data + "\n", the size as given.
func binaryField(name string, size uint64, data string) string {
	var b bytes.Buffer
	b.WriteString(name + "\n")
	binary.Write(&b, binary.LittleEndian, size)
	b.WriteString(data + "\n")
	return b.String()
}

const (
	entryA = "__REALTIME_TIMESTAMP=1795300000000000\n_PID=1\nMESSAGE=a\n\n"
	entryC = "__REALTIME_TIMESTAMP=1795300000000002\n_PID=3\nMESSAGE=c\n\n"
)

// A damaged entry costs that entry, counted; the entries around it are read.
func TestReadExportSkipsDamagedEntries(t *testing.T) {
	for _, c := range []struct {
		name, bad string
		skipped   int
		long      int
	}{
		{"a lowercase field name", "_PID=2\ntype=SECCOMP msg=audit(1.2:3)\nMESSAGE=b\n\n", 1, 0},
		{"an empty field name", "=b\nMESSAGE=b\n\n", 1, 0},
		{"a name over 64 bytes", strings.Repeat("N", 65) + "=b\n\n", 1, 0},
		{"a lying binary size", binaryField("MESSAGE", 1<<63, "b") + "_PID=2\n\n", 1, 0},
		{"a binary size over DATA_SIZE_MAX", binaryField("MESSAGE", dataSizeMax+1, "b") + "\n", 1, 0},
		{"binary data not followed by a newline", binaryField("MESSAGE", 1, "bb") + "\n", 1, 0},
		{"binary data ending in \\r\\n", "_PID=2\n" + binaryField("MESSAGE", 2, "b\n\r") + "\n", 0, 0},
		{"a text line over 1 MiB", "_PID=2\nMESSAGE=" + strings.Repeat("b", maxField+1) + "\n\n", 0, 1},
		{"binary data over 1 MiB", "_PID=2\n" + binaryField("MESSAGE", maxField+1, strings.Repeat("b", maxField+1)) + "\n", 0, 1},
		{"an entry over MaxEntry", "_PID=2\n" + strings.Repeat("MESSAGE="+strings.Repeat("b", maxField-8)+"\n", MaxEntry/maxField+1) + "\n", 1, 0},
	} {
		got, st, err := readAll(t, []byte(entryA+c.bad+entryC))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		want := 3 - c.skipped
		if len(got) != want || got[0]["MESSAGE"] != "a" || got[len(got)-1]["MESSAGE"] != "c" || st.Skipped != c.skipped || st.LongFields != c.long || st.Entries != want {
			t.Errorf("%s: %d entries %+v, want %d, %d skipped, %d long", c.name, len(got), st, want, c.skipped, c.long)
		}
		if c.long > 0 && (len(got) != 3 || got[1]["_PID"] != "2" || got[1]["MESSAGE"] != "") {
			t.Errorf("%s: the long field not left out of its entry: %d entries", c.name, len(got))
		}
	}
}

// A copy cut off anywhere loses at most its last entry, counted; it is not an error while an entry came
// before the cut.
func TestReadExportTruncated(t *testing.T) {
	full := []byte(entryA + "_PID=2\n" + binaryField("MESSAGE", 3, "b\nb") + "\n" + entryC)
	whole, _, err := readAll(t, full)
	if err != nil || len(whole) != 3 {
		t.Fatalf("%d entries, %v", len(whole), err)
	}
	for cut := len(entryA); cut < len(full); cut++ {
		got, st, err := readAll(t, full[:cut])
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if st.Skipped != 0 || len(got) == 0 || !reflect.DeepEqual(got[:len(got)-1], whole[:len(got)-1]) {
			t.Fatalf("cut at %d: %d entries %+v", cut, len(got), st)
		}
		last := got[len(got)-1]
		for k, v := range last {
			if whole[len(got)-1][k] != v {
				t.Fatalf("cut at %d: the last entry has %s=%q, not in the whole", cut, k, v)
			}
		}
		// Cut inside a line (or a binary field): the entry is left out, counted.
		if midLine := full[cut-1] != '\n'; midLine && st.Truncated != 1 {
			t.Fatalf("cut at %d (%q): %+v, want one truncated", cut, full[cut-5:cut], st)
		}
	}
	if _, st, err := readAll(t, []byte(entryA[:10])); err == nil || st.Truncated != 1 {
		t.Errorf("only a cut entry: %+v %v, want an error", st, err)
	}
}

// CRLF line ends (a copy through a Windows host) read like LF ones. A conversion that also rewrote the
// newlines inside a binary field's data made its size a lie: that entry is skipped, counted.
func TestReadExportCRLF(t *testing.T) {
	lf, err := os.ReadFile("../testdata/example/journal.export")
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := readAll(t, lf)
	if err != nil {
		t.Fatal(err)
	}
	var crlf bytes.Buffer
	for _, e := range want {
		writeExportEntryEOL(&crlf, e, "\r\n")
	}
	got, st, err := readAll(t, crlf.Bytes())
	if err != nil || st.Skipped != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("CRLF: %d entries %+v %v, want %d", len(got), st, err, len(want))
	}
	m, err := LoadExport(writeTemp(t, crlf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	m.Query([]string{"MESSAGE_ID=" + MessageCoredump, "COREDUMP_UNIT=remote-ssh-agent.service"}, time.Time{}, time.Time{}, func(f Fields) error {
		if c, err := ParseCoredump(f); err != nil || c.Exe != "/usr/bin/ncat" || c.Invocation == "" {
			t.Errorf("coredump from CRLF text: %+v %v", c, err)
		}
		n++
		return nil
	})
	if n != 1 {
		t.Errorf("%d coredumps in the CRLF example", n)
	}
	// unix2dos: every "\n" becomes "\r\n", in binary data too, where it makes the size a lie. A real
	// export's entries begin with __CURSOR=: each entry so damaged is skipped whole, and only it.
	lf, err = os.ReadFile("../testdata/fleet/systemd252.export")
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := readAll(t, lf)
	if err != nil {
		t.Fatal(err)
	}
	var intact []Fields
	damaged := 0
	for _, e := range all {
		var plain, dos bytes.Buffer
		writeExportEntry(&plain, e)
		writeExportEntryEOL(&dos, e, "\r\n")
		if bytes.Equal(bytes.ReplaceAll(plain.Bytes(), []byte("\n"), []byte("\r\n")), dos.Bytes()) {
			intact = append(intact, e)
		} else {
			damaged++
		}
	}
	got, st, err = readAll(t, bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n")))
	if err != nil || damaged == 0 || st.Skipped != damaged || !reflect.DeepEqual(got, intact) {
		t.Errorf("unix2dos: %d entries %+v %v; want the %d intact, %d skipped", len(got), st, err, len(intact), damaged)
	}
}

// Input with no well-formed entry is not an export: an *ExportError naming the first problem, and fn
// never called.
func TestReadExportNotAnExport(t *testing.T) {
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7919 + i>>3)
	}
	for name, data := range map[string][]byte{
		"binary garbage":     garbage,
		"a binary journal":   append([]byte(journalMagic), make([]byte, 256)...),
		"an audit log":       []byte("type=SECCOMP msg=audit(1795300000.000:5): auid=0 uid=0\n\ntype=SECCOMP msg=audit(1795300000.000:6): auid=0\n"),
		"journalctl -o json": []byte(`{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1795300000000000","MESSAGE":"x"}` + "\n"),
		"a lying size":       []byte(binaryField("BIN", 1<<63, "")),
		"cut in a size":      []byte("BIN\n\x05\x00"),
	} {
		called := false
		_, err := ReadExportStats(bytes.NewReader(data), func(Fields) error { called = true; return nil })
		var ee *ExportError
		if !errors.As(err, &ee) || called || ee.Line < 1 || ee.Reason == "" {
			t.Errorf("%s: %v (called %v), want an *ExportError", name, err, called)
		}
	}
	if got, st, err := readAll(t, nil); err != nil || len(got) != 0 || st != (ExportStats{}) {
		t.Errorf("empty input: %d %+v %v", len(got), st, err)
	}
	_, err := LoadExport(writeTemp(t, garbage))
	var ee *ExportError
	if !errors.As(err, &ee) || ee.Path == "" || !strings.Contains(err.Error(), ee.Path+": not journal export text: line ") {
		t.Errorf("LoadExport of garbage: %v", err)
	}
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.export")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A binary size is not trusted for an allocation: a lie costs what the input holds.
func TestReadExportLyingSizeAllocatesLittle(t *testing.T) {
	for _, size := range []uint64{1 << 63, 1<<64 - 1, dataSizeMax, maxField, maxField + 1} {
		data := []byte(entryA + binaryField("MESSAGE", size, "short"))
		var got []Fields
		var st ExportStats
		var err error
		if alloc := allocated(func() { got, st, err = readAll(t, data) }); alloc > 256<<10 {
			t.Errorf("size %d: %d bytes allocated", size, alloc)
		}
		if err != nil || len(got) != 1 || st.Truncated+st.Skipped != 1 {
			t.Errorf("size %d: %d entries %+v %v", size, len(got), st, err)
		}
	}
}

// An entry without __REALTIME_TIMESTAMP is timed by _SOURCE_REALTIME_TIMESTAMP, or left out; both counted.
func TestLoadExportTimes(t *testing.T) {
	data := entryA +
		"_SOURCE_REALTIME_TIMESTAMP=1795300000000001\n_PID=2\n\n" +
		"_PID=3\n\n" +
		"__REALTIME_TIMESTAMP=-5\n_PID=4\n\n" +
		"_PID=5\nMESSAGE=cut"
	m, err := LoadExport(writeTemp(t, []byte(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := ExportStats{Entries: 4, Kept: 2, Truncated: 1, SourceTime: 1, NoTimestamp: 2}
	if st := m.Stats(); st != want || !st.Damaged() {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	var got []string
	m.Only(ProcessFields...).Query([]string{"_PID=2"}, time.UnixMicro(1795300000000001), time.Time{}, func(f Fields) error {
		got = append(got, f["__REALTIME_TIMESTAMP"])
		return nil
	})
	if len(got) != 1 || got[0] != "1795300000000001" {
		t.Errorf("the entry timed by its source: %q", got)
	}
}

// Loads of the same unchanged files share one Memory (a command opens its journal once per stream); a
// changed file is loaded anew.
func TestLoadExportShared(t *testing.T) {
	p := writeTemp(t, []byte(entryA))
	m1, err1 := LoadExport(p)
	m2, err2 := LoadExport(p)
	if err1 != nil || err2 != nil || m1 != m2 {
		t.Fatalf("two loads: %p %v, %p %v; want one Memory", m1, err1, m2, err2)
	}
	if err := os.WriteFile(p, []byte(entryA+entryC), 0o600); err != nil {
		t.Fatal(err)
	}
	m3, err := LoadExport(p)
	if err != nil || m3 == m1 || m3.Stats().Entries != 2 {
		t.Fatalf("after a change: %p %+v %v", m3, m3.Stats(), err)
	}
	runtime.KeepAlive(m1)
}
