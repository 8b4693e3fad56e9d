package journal

import (
	"bufio"
	"bytes"
	"maps"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLoadExportFile loads the export files named in SYSDIAG_EXPORT (comma-separated; skipped without it)
// and asks them sysdiag's queries once. Run the test binary under /usr/bin/time -v for the peak RSS:
//
//	go test -c -o /tmp/journal.test ./journal
//	SYSDIAG_EXPORT=/var/tmp/big.export /usr/bin/time -v /tmp/journal.test -test.run '^TestLoadExportFile$' -test.v
func TestLoadExportFile(t *testing.T) {
	p := os.Getenv("SYSDIAG_EXPORT")
	if p == "" {
		t.Skip("SYSDIAG_EXPORT names no export file")
	}
	start := time.Now()
	m, err := LoadExport(strings.Split(p, ",")...)
	if err != nil {
		t.Fatal(err)
	}
	loaded := time.Since(start)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	counts := map[string]int{}
	for _, q := range [][]string{
		{"MESSAGE_ID=" + MessageCoredump, "COREDUMP_SIGNAL=31"},
		{"MESSAGE_ID=" + MessageProcessExit},
		{"_TRANSPORT=audit", "_AUDIT_TYPE=1326"},
		{"_SYSTEMD_UNIT=svc001.service"},
		{"_PID=424242"},
	} {
		k := strings.Join(q, " ")
		if err := m.Query(q, time.Time{}, time.Time{}, func(Fields) error { counts[k]++; return nil }); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	t.Logf("loaded in %v, queried in %v; live heap after GC %d MiB; %v", loaded, time.Since(start)-loaded, ms.HeapAlloc>>20, counts)
	runtime.KeepAlive(m)
}

// BenchmarkReadExport parses the example export again and again (allocations per entry show here).
func BenchmarkReadExport(b *testing.B) {
	data, err := os.ReadFile("../testdata/fleet/systemd252.export")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ReadExport(bytes.NewReader(data), func(Fields) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriteFleetExport writes SYSDIAG_WRITE_FLEET (skipped without it): the fleet's two real exports
// over and over, each copy a day later, to about 150 MB — a journal all of whose entries sysdiag keeps
// (coredumps with their stack traces, exits, audit records), the opposite of mkjournal's busy host.
func TestWriteFleetExport(t *testing.T) {
	p := os.Getenv("SYSDIAG_WRITE_FLEET")
	if p == "" {
		t.Skip("SYSDIAG_WRITE_FLEET names no file")
	}
	var base []Fields
	for _, f := range []string{"../testdata/fleet/systemd252.export", "../testdata/fleet/systemd257.export"} {
		base = append(base, readExportFixture(t, f)...)
	}
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	bw := bufio.NewWriterSize(out, 1<<20)
	written := 0
	for day := int64(0); written < 150e6; day++ {
		for _, e := range base {
			c := maps.Clone(e)
			us, _ := strconv.ParseInt(c["__REALTIME_TIMESTAMP"], 10, 64)
			c["__REALTIME_TIMESTAMP"] = strconv.FormatInt(us+day*86400e6, 10)
			n, _ := writeExportEntry(bw, c)
			written += n
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
}
