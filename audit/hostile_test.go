package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The hostile-input findings of the review (REVIEW.md §2), each rebuilt at test time.

func seccompLine(sec int64, serial int) string {
	return fmt.Sprintf("type=SECCOMP msg=audit(%d.%03d:%d): auid=1000 uid=0 gid=0 ses=1 pid=%d comm=\"p\" exe=\"/p\" sig=31 arch=c000003e syscall=41 compat=0 ip=0x1 code=0x80000000\n", sec, serial%1000, serial, serial)
}

func kmsgRecordLine(sec int64, serial int) string {
	return fmt.Sprintf("[ 2810.565081] audit: type=1326 audit(%d.%03d:%d): auid=1000 uid=0 gid=0 ses=1 pid=%d comm=\"p\" exe=\"/p\" sig=31 arch=c000003e syscall=41 compat=0 ip=0x1 code=0x80000000\n", sec, serial%1000, serial, serial)
}

// A piped log with lines longer than MaxLine (one of ~3 MiB, as in the review, and others around the
// limit and the chunk size, one holding the SECCOMP marker) loses no record after them, and every line
// skipped for its length is counted.
func TestScanPipeLongLines(t *testing.T) {
	var log bytes.Buffer
	serial := 0
	records := func(n int) {
		for i := 0; i < n; i++ {
			serial++
			log.WriteString(seccompLine(1795346400, serial))
		}
	}
	long := func(n int, fill string) {
		log.WriteString(strings.Repeat(fill, n/len(fill)))
		log.WriteByte('\n')
	}
	long(3<<20, "junk ")
	records(1000)
	long(MaxLine+5, "x")
	records(10)
	long(MaxLine, "y") // exactly MaxLine: read, not too long
	records(10)
	long(chunkSize+MaxLine+100, "type=SECCOMP msg=audit(") // holds the marker
	records(10)
	long(5<<20, "z")
	records(1000)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeInPieces(pw, log.Bytes())) }()
	var got []Record
	var st Stats
	var err error
	within(t, 20*time.Second, "Scan", func() {
		st, err = Scan(pr, func(r Record) error { got = append(got, r); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != serial || st.Records != serial || st.TooLong != 4 || st.Malformed != 0 || st.Bytes != int64(log.Len()) {
		t.Fatalf("%d records of %d, stats %+v (want 4 too long, %d bytes)", len(got), serial, st, log.Len())
	}
	for i, r := range got {
		if r.Serial != uint64(i+1) {
			t.Fatalf("record %d has serial %d: out of order", i, r.Serial)
		}
	}
}

// writeInPieces writes b in uneven pieces, as a pipe delivers it.
func writeInPieces(w io.Writer, b []byte) error {
	for i := 0; len(b) > 0; i++ {
		n := min(len(b), 1+(i*7919)%100000)
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// A line with no newline for hundreds of MiB is passed over in linear time and bounded memory.
func TestScanEndlessLine(t *testing.T) {
	const junk = 512 << 20
	tail := seccompLine(1795346400, 1)
	r := io.MultiReader(io.LimitReader(repeatReader('A'), junk), strings.NewReader("\n"+tail))
	var st Stats
	var err error
	n := 0
	within(t, 30*time.Second, "Scan", func() {
		st, err = Scan(r, func(Record) error { n++; return nil })
	})
	if err != nil || n != 1 || st.TooLong != 1 || st.Bytes != junk+1+int64(len(tail)) {
		t.Fatalf("%d records, stats %+v, %v", n, st, err)
	}
}

type repeatReader byte

func (c repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// rssFile is this process's resident file-backed memory (mapped files), from /proc/self/status; -1
// when it cannot be read.
func rssFile() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			var kb int64
			if _, err := fmt.Sscan(v, &kb); err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

// A regular file that is one long run without a newline, then a record: the mapped reader finds the
// record, counts the run once, in time linear in the run, and keeps only a few chunks resident.
func TestMappedLongRunData(t *testing.T) {
	const run = 160 << 20
	path := t.TempDir() + "/audit.log"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	block := bytes.Repeat([]byte("x"), 1<<20)
	for i := 0; i < run>>20; i++ {
		f.Write(block)
	}
	f.WriteString("\n" + seccompLine(1795346400, 1))
	f.Close()
	before := rssFile()
	if before < 0 {
		t.Skip("no RssFile in /proc/self/status")
	}
	var grew int64
	var st Stats
	n := 0
	within(t, 20*time.Second, "ReadLogFile", func() {
		st, err = ReadLogFile(path, Window{}, func(Record) error {
			n++
			grew = rssFile() - before // the run is behind: its pages must have been dropped
			return nil
		})
	})
	if err != nil || n != 1 || st.TooLong != 1 || st.Records != 1 {
		t.Fatalf("%d records, stats %+v, %v", n, st, err)
	}
	if grew > 64<<20 {
		t.Errorf("%d MiB of the file resident when its last record was read: pages not dropped", grew>>20)
	}
}

// A sparse file: a 2 GiB hole (NUL bytes, no newline) then a record. The hole is passed with a seek, not
// read; the record is found and the hole counted as one too-long line.
func TestMappedSparseHole(t *testing.T) {
	path := t.TempDir() + "/audit.log"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(2 << 30); err != nil {
		t.Skip("no sparse files here:", err)
	}
	if _, err := f.WriteAt([]byte("\n"+seccompLine(1795346400, 7)), 2<<30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var got []Record
	var st Stats
	begin := time.Now()
	within(t, 20*time.Second, "ReadLogFile", func() {
		st, err = ReadLogFile(path, Window{}, func(r Record) error { got = append(got, r); return nil })
	})
	if err != nil || len(got) != 1 || got[0].Serial != 7 || st.TooLong != 1 {
		t.Fatalf("%d records, stats %+v, %v", len(got), st, err)
	}
	t.Logf("2 GiB hole passed in %v", time.Since(begin))
}

// One record dated a year ahead (a clock step) in the middle of a log does not end the read of a
// window: the records after it are found, and it is counted out of the window.
func TestReadLogFileFutureRecord(t *testing.T) {
	const t0 = 1795300000
	var log strings.Builder
	for i := 0; i < 200; i++ {
		sec := int64(t0 + i)
		if i == 100 {
			sec += 365 * 24 * 3600
		}
		log.WriteString(seccompLine(sec, i+1))
	}
	path := t.TempDir() + "/audit.log"
	os.WriteFile(path, []byte(log.String()), 0o644)
	until := time.Unix(t0+150, 999e6) // record i is at t0+i and (i+1) ms
	for _, w := range []Window{{Until: until}, {Since: time.Unix(t0+10, 0), Until: until}} {
		var got []uint64
		st, err := ReadLogFile(path, w, func(r Record) error { got = append(got, r.Serial); return nil })
		if err != nil {
			t.Fatal(err)
		}
		want := 150 // records 0..150 but the future one
		out := 1 + 49
		if !w.Since.IsZero() {
			want, out = 140, out+10
		}
		if len(got) != want || got[len(got)-1] != 151 || st.OutOfWindow != out {
			t.Errorf("window %v: %d records (last %v), %d out of the window; want %d, last serial 151, %d out", w, len(got), got[len(got)-1:], st.OutOfWindow, want, out)
		}
	}
}

// The early stop that remains: a time-ordered log stops after stopRun records past Until+disorder that
// span more than disorder; a log that has gone back in time once is read to its end.
func TestReadLogFileStopsOnProvenRun(t *testing.T) {
	const t0 = 1795300000
	write := func(step int) string {
		var log strings.Builder
		for i := 0; i < 400; i++ {
			sec := int64(t0 + i)
			if i == step {
				sec += 365 * 24 * 3600
			}
			log.WriteString(seccompLine(sec, i+1))
		}
		path := t.TempDir() + "/audit.log"
		os.WriteFile(path, []byte(log.String()), 0o644)
		return path
	}
	w := Window{Until: time.Unix(t0+50, 999e6)}
	// Ordered: 51..110 are past Until but within disorder; 111..174 are the run of 64 spanning 63 s.
	st, err := ReadLogFile(write(-1), w, func(Record) error { return nil })
	if err != nil || st.OutOfWindow != 60+stopRun {
		t.Errorf("ordered log: %d out of the window, %v; want a stop after %d", st.OutOfWindow, err, 60+stopRun)
	}
	// A record a year ahead at 20, then back: not ordered, read to the end.
	st, err = ReadLogFile(write(20), w, func(Record) error { return nil })
	if err != nil || st.OutOfWindow != 1+349 {
		t.Errorf("log with a step back: %d out of the window, %v; want all %d", st.OutOfWindow, err, 1+349)
	}
}

// A kernel-log line longer than MaxLine is skipped and counted; the read goes on.
func TestScanKmsgLongLine(t *testing.T) {
	text := kmsgRecordLine(1795346400, 1) +
		strings.Repeat("k", MaxLine+1) + "\n" +
		"[ 1.0] audit: type=1326 audit(1795346400.002:2): pid=1 arch=zz\n" + // malformed
		kmsgRecordLine(1795346400, 3) +
		"[ 2.0] audit: type=1326 audit(1795346400.004:4): " + strings.Repeat("m", 3<<20) + "\n" + // too long, with the marker
		kmsgRecordLine(1795346400, 5) + strings.TrimSuffix(kmsgRecordLine(1795346400, 6), "\n")
	var got []uint64
	st, err := ScanKmsg(strings.NewReader(text), Window{}, func(r Record) error { got = append(got, r.Serial); return nil })
	if err != nil || fmt.Sprint(got) != "[1 3 5 6]" || st.TooLong != 2 || st.Malformed != 1 || st.Bytes != int64(len(text)) {
		t.Errorf("records %v, stats %+v, %v", got, st, err)
	}
}

// A named pipe called audit.log.1 beside a log is not taken for a rotation (it would block the read
// forever); nor is a directory matched by a wildcard.
func TestLogFilesSkipsNonRegular(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/audit.log", []byte(seccompLine(1795346400, 1)), 0o644)
	os.WriteFile(dir+"/audit.log.2", []byte(seccompLine(1795346300, 1)), 0o644)
	if err := syscall.Mkfifo(dir+"/audit.log.1", 0o644); err != nil {
		t.Skip(err)
	}
	os.Mkdir(dir+"/audit.log.3", 0o755)
	files, err := LogFiles([]string{dir + "/audit.log"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(files, " "); got != dir+"/audit.log.2 "+dir+"/audit.log" {
		t.Fatalf("files %q", got)
	}
	n := 0
	within(t, 10*time.Second, "reading the logs", func() {
		for _, p := range files {
			if _, err := ReadLogFile(p, Window{}, func(Record) error { n++; return nil }); err != nil {
				t.Error(err)
			}
		}
	})
	if n != 2 {
		t.Errorf("%d records", n)
	}
	found, skipped, err := FindLogFiles([]string{dir + "/audit.log*"})
	if err != nil || len(found) != 2 || fmt.Sprint(skipped) != fmt.Sprintf("[{%[1]s/audit.log.1 a named pipe} {%[1]s/audit.log.3 a directory}]", dir) {
		t.Errorf("wildcard: %v, skipped %v, %v", found, skipped, err)
	}
}

// A named pipe named by the user is read as a stream; a character device, a directory or a socket is
// refused, quickly and with a clear error.
func TestOpenLogKinds(t *testing.T) {
	dir := t.TempDir()
	fifo := dir + "/pipe"
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		w.WriteString(seccompLine(1795346400, 1) + seccompLine(1795346400, 2))
		w.Close()
	}()
	n := 0
	within(t, 10*time.Second, "a named pipe", func() {
		if _, err := ReadLogFile(fifo, Window{}, func(Record) error { n++; return nil }); err != nil {
			t.Error(err)
		}
	})
	if n != 2 {
		t.Errorf("named pipe: %d records", n)
	}
	l, err := net.Listen("unix", dir+"/sock")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for path, want := range map[string]string{
		"/dev/zero":     "a character device is not a log: name a file or a pipe",
		dir:             "a directory is not a log",
		dir + "/sock":   "a socket is not a log",
		dir + "/absent": "no such file",
	} {
		within(t, 5*time.Second, path, func() {
			_, err := ReadLogFile(path, Window{}, func(Record) error { return nil })
			if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(want, "not a log") != errors.Is(err, ErrNotLog) {
				t.Errorf("%s: %v, want %q", path, err, want)
			}
			if _, err := ReadKmsgFile(path, Window{}, func(Record) error { return nil }); err == nil {
				t.Errorf("%s read as kernel-log text", path)
			}
		})
	}
}

// within runs f and fails the test if it has not returned after d (a hang is a failure, not a timeout
// of the whole run). f reports with t.Error, not t.Fatal.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still running after %v", what, d)
	}
}
