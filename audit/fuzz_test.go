package audit

import (
	"bytes"
	"os"
	"testing"
)

func seedLines(f *testing.F) {
	for _, p := range []string{"testdata/debian12-systemd252-x86_64-auditd-enriched-swapon.audit.log",
		"testdata/written-from-format-foreign-abi-and-encodings.audit.log",
		"testdata/debian12-systemd252-x86_64-deny-fchown.dmesg.txt"} {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range bytes.Split(raw, []byte("\n")) {
			f.Add(l)
		}
	}
}

// FuzzParseLogLine: never panics; an error returns a zero Record; a record has its required fields.
func FuzzParseLogLine(f *testing.F) {
	seedLines(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseLogLine(line)
		if err != nil {
			if r != (Record{}) {
				t.Fatalf("error %v with %+v", err, r)
			}
			return
		}
		if r.Source != "audit.log" || r.Time.IsZero() {
			t.Fatalf("bad record %+v", r)
		}
	})
}

func FuzzParseKmsgLine(f *testing.F) {
	seedLines(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseKmsgLine(line)
		if err != nil && r != (Record{}) {
			t.Fatalf("error %v with %+v", err, r)
		}
	})
}

// FuzzScan: any bytes; the stats add up and the scan never fails on a reader that does not.
func FuzzScan(f *testing.F) {
	seedLines(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		st, err := Scan(bytes.NewReader(data), func(Record) error { n++; return nil })
		if err != nil || st.Records != n || st.Bytes != int64(len(data)) {
			t.Fatalf("stats %+v, %d callbacks, err %v", st, n, err)
		}
	})
}
