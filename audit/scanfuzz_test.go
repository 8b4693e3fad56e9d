package audit

import (
	"bytes"
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// refLines is the line discipline the scanners are held to: split on '\n' (a last line without one
// counts), skip and count lines longer than maxLine, hand the others to decode.
func refLines(data []byte, maxLine int, decode func(line []byte, st *Stats) (Record, bool)) (recs []Record, st Stats) {
	st.Bytes = int64(len(data))
	for len(data) > 0 {
		line := data
		if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
			line, data = data[:nl], data[nl+1:]
		} else {
			data = nil
		}
		if len(line) > maxLine {
			st.TooLong++
			continue
		}
		if r, ok := decode(line, &st); ok {
			st.Records++
			recs = append(recs, r)
		}
	}
	return recs, st
}

// refScan is the reference for audit.log text.
func refScan(data []byte, maxLine int) ([]Record, Stats) {
	return refLines(data, maxLine, func(line []byte, st *Stats) (Record, bool) {
		r, err := ParseLogLine(line)
		switch {
		case err == ErrNotSeccomp:
			return Record{}, false
		case err != nil:
			st.Malformed++
			return Record{}, false
		}
		return r, true
	})
}

// refKmsg is the same for kernel-log text.
func refKmsg(data []byte, maxLine int) ([]Record, Stats) {
	return refLines(data, maxLine, func(line []byte, st *Stats) (Record, bool) {
		if !bytes.Contains(line, kmsgMarker) {
			return Record{}, false
		}
		r, err := ParseKmsgLine(line)
		if err != nil {
			st.Malformed++
			return Record{}, false
		}
		return r, true
	})
}

// chunkReader returns its data in reads of the sizes sizes cycles through (1 to 256 bytes).
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if len(c.sizes) > 0 {
		n = min(n, int(c.sizes[c.i%len(c.sizes)])+1)
		c.i++
	}
	n = copy(p, c.data[:min(n, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

// fuzzLimits turns two fuzz numbers into small limits: lines up to 1 KiB, chunks up to 4 KiB, so that
// long lines and chunk boundaries are reached with small inputs.
func fuzzLimits(maxLine, chunk uint16) limits {
	return limits{maxLine: int(maxLine%1024) + 1, chunk: int(chunk%4096) + 1}
}

func sameRecords(t *testing.T, what string, got, want []Record, gst, wst Stats) {
	t.Helper()
	if gst != wst || len(got) != len(want) {
		t.Fatalf("%s: stats %+v with %d records, the line-by-line reference %+v with %d", what, gst, len(got), wst, len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: record %d is %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

// seedScans adds the inputs the scan fuzzers start from: the captured logs, with long lines put in.
func seedScans(f *testing.F) {
	var logs [][]byte
	for _, p := range []string{"testdata/debian12-systemd252-x86_64-auditd-enriched-swapon.audit.log",
		"testdata/written-from-format-foreign-abi-and-encodings.audit.log",
		"testdata/debian12-systemd252-x86_64-deny-fchown.dmesg.txt"} {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		logs = append(logs, raw)
	}
	long := bytes.Repeat([]byte("x"), 700)
	for _, l := range logs {
		f.Add(l, uint16(1023), uint16(4095), []byte{255})
		f.Add(l, uint16(299), uint16(64), []byte{3, 200, 17})
		withLong := append(append(append([]byte{}, long...), '\n'), l...)
		withLong = append(append(withLong, long...), l...) // a long line glued to a record
		f.Add(withLong, uint16(400), uint16(100), []byte{0, 9, 90})
		f.Add(append(l, long...), uint16(500), uint16(333), []byte{}) // a long line at the end, no newline
	}
}

// FuzzScanChunks: Scan, with small limits and arbitrary reads, finds exactly the records (and counts
// exactly the lines) a line-by-line reading does, whatever the chunk boundaries.
func FuzzScanChunks(f *testing.F) {
	seedScans(f)
	f.Fuzz(func(t *testing.T, data []byte, maxLine, chunk uint16, reads []byte) {
		lim := fuzzLimits(maxLine, chunk)
		var got []Record
		st, err := scanStream(&chunkReader{data: data, sizes: reads}, lim, func(r Record) error { got = append(got, r); return nil })
		if err != nil {
			t.Fatal(err)
		}
		want, wst := refScan(data, lim.maxLine)
		sameRecords(t, "Scan", got, want, st, wst)
	})
}

// FuzzScanMapped: the same for the mapped reader of regular files, from a line start chosen by the input.
func FuzzScanMapped(f *testing.F) {
	seedScans(f)
	f.Fuzz(func(t *testing.T, data []byte, maxLine, chunk uint16, reads []byte) {
		lim := fuzzLimits(maxLine, chunk)
		start := 0
		if len(reads) > 0 && len(data) > 0 {
			start = int(reads[0]) * len(data) / 256
			start = bytes.LastIndexByte(data[:start], '\n') + 1 // a line start, as FindOffset gives
		}
		fl := memFile(t, data)
		var got []Record
		st, err, ok := scanMapped(fl, int64(start), int64(len(data)), lim, func(r Record) error { got = append(got, r); return nil })
		if !ok && len(data) > start {
			t.Skip("not mapped")
		}
		if err != nil {
			t.Fatal(err)
		}
		want, wst := refScan(data[start:], lim.maxLine)
		sameRecords(t, "mapped", got, want, st, wst)
	})
}

// memFile is a regular file holding data, in memory (memfd): quicker than a file on disk per fuzz input.
func memFile(t *testing.T, data []byte) *os.File {
	fd, err := unix.MemfdCreate("audit.log", unix.MFD_CLOEXEC)
	if err != nil {
		t.Skip("memfd_create:", err)
	}
	f := os.NewFile(uintptr(fd), "audit.log")
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f
}

// FuzzScanKmsg: ScanKmsg, with a small line limit and arbitrary reads, matches a line-by-line reading
// and never fails on a reader that does not.
func FuzzScanKmsg(f *testing.F) {
	seedScans(f)
	f.Fuzz(func(t *testing.T, data []byte, maxLine, _ uint16, reads []byte) {
		ml := int(maxLine%1024) + 16 // bufio's smallest buffer is 16 bytes
		var got []Record
		st, err := scanKmsg(&chunkReader{data: data, sizes: reads}, Window{}, ml, func(r Record) error { got = append(got, r); return nil })
		if err != nil {
			t.Fatal(err)
		}
		want, wst := refKmsg(data, ml)
		sameRecords(t, "ScanKmsg", got, want, st, wst)
	})
}
