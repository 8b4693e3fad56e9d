package audit

import (
	"bytes"
	"os"
	"testing"

	"github.com/sysdiag/sysdiag/internal/auditgen"
)

// The big-log benchmarks read the file named by $SYSDIAG_BENCH_LOG (e.g. made by
// `go run ./internal/auditgen/mkauditlog -size 1GiB -o /var/tmp/audit.log`); they are skipped without it.
func benchLog(b *testing.B) (*os.File, int64) {
	path := os.Getenv("SYSDIAG_BENCH_LOG")
	if path == "" {
		b.Skip("SYSDIAG_BENCH_LOG not set")
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	return f, fi.Size()
}

func BenchmarkBigLogMapped(b *testing.B) {
	f, size := benchLog(b)
	for b.Loop() {
		if _, err, ok := scanFileMapped(f, 0, size, func(Record) error { return nil }); err != nil || !ok {
			b.Fatal(err, ok)
		}
	}
}

func BenchmarkBigLogStream(b *testing.B) {
	f, _ := benchLog(b)
	for b.Loop() {
		if _, err := f.Seek(0, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := Scan(f, func(Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// The parts of a block search, on a generated log held in memory: what counting too-long lines adds to the
// search for records. (Counting every line with bytes.Count was measured here at +30 % CPU: not done.)
func benchBlock(b *testing.B) []byte {
	var buf bytes.Buffer
	if _, err := auditgen.Generate(&buf, auditgen.Options{Size: 64 << 20, SeccompShare: 0.001, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	return buf.Bytes()
}

func BenchmarkBlockSearch(b *testing.B) {
	data := benchBlock(b)
	for b.Loop() {
		var st Stats
		scanBlockMax(data, MaxLine, &st, func(Record) error { return nil })
	}
}

func BenchmarkBlockCountTooLong(b *testing.B) {
	data := benchBlock(b)
	for b.Loop() {
		countTooLong(data, MaxLine)
	}
}
