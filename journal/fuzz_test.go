package journal

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func FuzzParseStack(f *testing.F) {
	f.Add("Stack trace of thread 67:\n#0  0x00007f43f7116547 __fchown (libc.so.6 + 0xf9547)\n")
	f.Add("#0 0x1 n/a (n/a + 0x0)\nStack trace of thread 1:\n#9 0xffffffffffffffffff x (y + 0xzz)")
	f.Fuzz(func(t *testing.T, s string) {
		_, frames, _ := ParseStack(s)
		for _, fr := range frames {
			if fr.Function == "n/a" || fr.Module == "n/a" {
				t.Fatalf("n/a kept: %+v", fr)
			}
		}
	})
}

// FuzzParseCoreSigInfo: hostile core bytes never panic; an error comes with a zero SigInfo.
func FuzzParseCoreSigInfo(f *testing.F) {
	raw, err := os.ReadFile("testdata/debian12-systemd252-x86_64-sh-chown-fchownat.core.zst")
	if err != nil {
		f.Fatal(err)
	}
	d, _ := zstd.NewReader(nil) // for DecodeAll: no stream decoding in the background
	core, err := d.DecodeAll(raw, nil)
	d.Close()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(core[:min(len(core), 8192)])
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		si, err := ParseCoreSigInfo(data)
		if err != nil && si != (SigInfo{}) {
			t.Fatalf("error %v with %+v", err, si)
		}
	})
}

// FuzzReadExport: hostile export text never panics, allocates in proportion to its length (a lying
// binary size allocates nothing), and gives fn only well-formed entries — none at all when it is an
// error. Every entry given reads back the same when written out again.
func FuzzReadExport(f *testing.F) {
	f.Add([]byte("A=1\nB=2\n\nC=3\n"))
	f.Add([]byte("BIN\n\x03\x00\x00\x00\x00\x00\x00\x00abc\n\n"))
	f.Add([]byte("__CURSOR=x\r\nA=1\r\n\r\n__CURSOR=y\r\nbad\r\n\r\n__CURSOR=z\r\nMESSAGE=cut"))
	f.Add([]byte("BIN\n\xff\xff\xff\xff\xff\xff\xff\x7f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []Fields
		var st ExportStats
		var err error
		if alloc, bound := allocated(func() {
			got = nil
			st, err = ReadExportStats(bytes.NewReader(data), func(f Fields) error { got = append(got, f); return nil })
		}), uint64(256<<10+64*len(data)); alloc > bound {
			t.Fatalf("%d bytes allocated for %d bytes of input", alloc, len(data))
		}
		var ee *ExportError
		if err != nil && (!errors.As(err, &ee) || len(got) > 0 || ee.Line < 1 || ee.Offset < 0 || ee.Offset > int64(len(data))) {
			t.Fatalf("error %v after %d entries", err, len(got))
		}
		if st.Entries < len(got) || st.Kept != len(got) || (st.Entries > len(got) && st.LongFields == 0) {
			t.Fatalf("stats %+v for %d entries", st, len(got))
		}
		for _, e := range got {
			size := 0
			for k, v := range e {
				if !validName([]byte(k)) || len(v) > maxField {
					t.Fatalf("field %q of %d bytes given", k, len(v))
				}
				size += len(k) + len(v)
			}
			if len(e) == 0 || size > MaxEntry {
				t.Fatalf("entry of %d fields, %d bytes given", len(e), size)
			}
		}
		if len(got) > 0 {
			again, st2, err := readAll(t, exportText(got...))
			if err != nil || st2.Damaged() || !reflect.DeepEqual(again, got) {
				t.Fatalf("written out and read again: %q %+v %v, was %q", again, st2, err, got)
			}
		}
	})
}

// FuzzLoadExport: a Memory loaded from hostile text answers every query sysdiag asks as the whole text
// read by ReadExport does (in the fields the callers read), and counts what it left out.
func FuzzLoadExport(f *testing.F) {
	for _, d := range corpus(f) {
		if len(d) < 64<<10 {
			f.Add(d)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var entries []Fields
		rerr := ReadExport(bytes.NewReader(data), func(f Fields) error { entries = append(entries, f); return nil })
		m, err := loadBytes(t, data)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("LoadExport: %v; ReadExport: %v", err, rerr)
		}
		if err != nil {
			return
		}
		if st := m.Stats(); st.Entries != len(entries) || st.Kept+st.NoTimestamp > st.Entries || st.Kept != len(m.entries) {
			t.Fatalf("stats %+v for %d entries, %d kept", st, len(entries), len(m.entries))
		}
		checkAgainstReference(t, m, entries, [][2]time.Time{{}, {time.UnixMicro(1795300000000004), time.Time{}}})
	})
}

// allocated is how many bytes fn allocates: the least of three runs, as the count is the whole
// process's.
func allocated(fn func()) uint64 {
	least := ^uint64(0)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fn()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
		if least < 64<<10 {
			break
		}
	}
	return least
}
